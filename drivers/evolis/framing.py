"""Evolis escape-command framing: pure functions on byte strings, no I/O.

What goes to the printer (spec §1, §3)::

    ESC name ; p1 ; … ; pn CR                         a command
    ESC Db ; k ; 2 ; <82 296 bytes> CR                a full 2-level panel
    ESC Dbc ; k ; 2 ; <n> ; <n bytes> CR              a compressed panel (3-field form)
    ESC Dbc ; k ; 2 ; <first line> ; <n> ; <n bytes> CR   (4-field start-line form)

What comes back (spec §1, §7) once ACK/NACK mode is on (``Pem;4``): ``ACK`` (0x06) for an
accepted command, ``NACK`` (0x15) plus one code character for a refused one, and for ``R…``
commands an ASCII string, NUL-terminated or ended by silence.

Assumptions where the spec says "unverified" (each is written down again where it is used):

- NACK is 0x15 and ACK 0x06 (the guide gives no byte values; p.66 implies 6 for ACK).
- In ACK/NACK mode a data reply *replaces* the ACK: an ``R…`` command answers with its
  string only, or with NACK + code when refused. The guide does not say how the two combine.
- Reply strings end with a NUL ([PAR]); a reply without one ends when the line falls silent.
- Dbc with four numeric fields is the start-line form; with three, the byte count. A
  three-field payload that itself begins with ``digits;`` would read as the start-line form,
  so :func:`build_compressed_download` refuses to produce one (:mod:`.panels` never does).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from printctl.hardware import (
    CardJam,
    CoverOpen,
    FeederEmpty,
    HardwareError,
    MediaError,
    PrinterError,
    RibbonOut,
)

__all__ = [
    "ACK",
    "BINARY_COMMANDS",
    "CR",
    "DEFAULT_DELIMITERS",
    "ESC",
    "LEVEL_BITS",
    "LINE_PIXELS",
    "NACK",
    "NACK_MEANINGS",
    "NUL",
    "PANEL_LINES",
    "SEP",
    "Command",
    "CommandRejected",
    "Delimiters",
    "FramingError",
    "Reply",
    "ReplyKind",
    "StreamParser",
    "ambiguous_dbc_payload",
    "build_command",
    "build_compressed_download",
    "build_download",
    "decode_reply",
    "encode_ack",
    "encode_nack",
    "encode_text",
    "error_for_nack",
    "line_bytes",
    "panel_bytes",
    "parse_command_text",
    "parse_counter",
    "parse_stream",
    "reply_length",
]

ESC = 0x1B
SEP = 0x3B
CR = 0x0D
NUL = 0x00
#: Assumed byte values (spec §1: ACK implied by [E] p.66, NACK our assumption).
ACK = 0x06
NACK = 0x15

#: A panel is 1016 protocol lines of 648 pixels (spec §3 "Geometry").
PANEL_LINES = 1016
LINE_PIXELS = 648
#: Bits per pixel for each ``levels`` value of ``Db``/``Dbc``.
LEVEL_BITS: dict[int, int] = {2: 1, 32: 5, 64: 6, 128: 7}
_PANEL_NAMES = frozenset("ymcko")
#: Commands whose last part is binary data of a length given by their header.
BINARY_COMMANDS = frozenset({"Db", "Dbc", "Dbp", "Dbpc"})
#: Longest header or plain command the parser buffers before declaring the stream garbage.
MAX_COMMAND = 4096
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_DIGITS = re.compile(rb"^[0-9]{1,7}")

#: What each NACK code character means ([E] p.7).
NACK_MEANINGS: dict[str, str] = {
    "1": "command error",
    "2": "parameter error",
    "T": "time-out or mechanical error",
    "C": "cover open",
    "F": "feeder: no card",
    "R": "ribbon: end or error",
    "K": "magnetic checksum error",
    "D": "magnetic data error",
    "W": "magnetic write error",
}


class FramingError(ValueError):
    """Bytes or arguments that cannot be framed as an Evolis command (a programming error)."""


def line_bytes(levels: int) -> int:
    """Bytes in one uncompressed protocol line at ``levels`` (81 for 2 levels)."""
    return LINE_PIXELS * _bits(levels) // 8


def panel_bytes(levels: int) -> int:
    """Bytes in one uncompressed panel: 82 296 at 2 levels, 493 776 at 64 (spec §3 table)."""
    return line_bytes(levels) * PANEL_LINES


def _bits(levels: int) -> int:
    try:
        return LEVEL_BITS[levels]
    except KeyError:
        raise FramingError(f"levels must be one of 2, 32, 64, 128, not {levels}") from None


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class Delimiters:
    """The three framing bytes; ``Psc;start;sep;end`` changes them (defaults 27, 59, 13)."""

    start: int = ESC
    separator: int = SEP
    end: int = CR

    def __post_init__(self) -> None:
        values = (self.start, self.separator, self.end)
        if len(set(values)) != 3 or not all(1 <= v <= 255 for v in values):
            # NUL is padding (spec §1), so it can never be a delimiter.
            raise FramingError(f"delimiters must be three distinct bytes 1–255, not {values}")


DEFAULT_DELIMITERS = Delimiters()


def build_command(
    name: str, *params: str | int, delimiters: Delimiters = DEFAULT_DELIMITERS
) -> bytes:
    """``ESC name ; p1 ; … CR`` for a command without binary data.

    Raises :class:`FramingError` for a malformed name or a parameter holding a delimiter.
    """
    if not _NAME.match(name):
        raise FramingError(f"bad command name {name!r}")
    if name in BINARY_COMMANDS:
        raise FramingError(f"{name} carries binary data: use build_download/…compressed…")
    parts = [name.encode("ascii")]
    for param in params:
        raw = str(param).encode("latin-1")
        if delimiters.separator in raw or delimiters.end in raw:
            raise FramingError(f"parameter {param!r} of {name} contains a delimiter")
        parts.append(raw)
    return (
        bytes([delimiters.start])
        + bytes([delimiters.separator]).join(parts)
        + bytes([delimiters.end])
    )


def _header(name: str, fields: Iterable[str | int], delimiters: Delimiters) -> bytes:
    sep = bytes([delimiters.separator])
    body = sep.join([name.encode("ascii"), *(str(f).encode("ascii") for f in fields)])
    return bytes([delimiters.start]) + body + sep


def _check_panel(panel: str, levels: int) -> None:
    if panel not in _PANEL_NAMES:
        raise FramingError(f"panel must be one of y, m, c, k, o, not {panel!r}")
    _bits(levels)


def build_download(
    panel: str, levels: int, data: bytes, *, delimiters: Delimiters = DEFAULT_DELIMITERS
) -> bytes:
    """``ESC Db;panel;levels;<data> CR``; ``data`` must be exactly one full panel.

    The closing CR is sent as [DRV] does (spec §1), though [E]'s Db example omits it.
    """
    _check_panel(panel, levels)
    expected = panel_bytes(levels)
    if len(data) != expected:
        raise FramingError(
            f"Db;{panel};{levels} needs exactly {expected} bytes of data, got {len(data)}"
        )
    return _header("Db", (panel, levels), delimiters) + data + bytes([delimiters.end])


def build_compressed_download(
    panel: str,
    levels: int,
    data: bytes,
    *,
    start_line: int | None = None,
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> bytes:
    """``ESC Dbc;panel;levels;n;<n bytes> CR`` ([WIN]'s 3-field form) or, with ``start_line``,
    the 4-field start-line form ``Dbc;panel;levels;start;n;<data>``.

    Refuses a 3-field payload that begins with ``digits;``: a parser would take it for the
    4-field form (see the module doc).
    """
    _check_panel(panel, levels)
    fields: list[str | int] = [panel, levels]
    if start_line is not None:
        if not 0 <= start_line < PANEL_LINES:
            raise FramingError(f"start line must be 0–{PANEL_LINES - 1}, not {start_line}")
        fields.append(start_line)
    elif ambiguous_dbc_payload(data, delimiters.separator):
        raise FramingError("a 3-field Dbc payload must not begin with 'digits;' (ambiguous)")
    fields.append(len(data))
    return _header("Dbc", fields, delimiters) + data + bytes([delimiters.end])


def ambiguous_dbc_payload(data: bytes | bytearray, separator: int = SEP) -> bool:
    """True when a 3-field Dbc payload would read as the 4-field form (starts ``digits;``)."""
    match = _DIGITS.match(bytes(data[:8]))
    return match is not None and len(data) > match.end() and data[match.end()] == separator


def parse_command_text(text: str) -> tuple[str, list[str]]:
    """Split a technician's ``"Rco;c"`` (an optional leading ESC ignored) into name and params."""
    cleaned = text.strip().lstrip("\x1b").rstrip("\r")
    name, *params = cleaned.split(";")
    if not _NAME.match(name):
        raise FramingError(f"bad command {text!r}: expected name;param;…, e.g. Rco;c")
    return name, params


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Command:
    """One command parsed from a printer-bound stream.

    ``payload`` holds the binary data of ``Db``/``Dbc``/``Dbp``/``Dbpc``. ``error`` is set
    (and ``name`` may be empty) for bytes that do not frame as a command; a printer answers
    those with NACK ``1``.
    """

    name: str
    params: tuple[str, ...] = ()
    payload: bytes | None = None
    error: str | None = None

    def param(self, index: int, default: str = "") -> str:
        """Parameter ``index`` (0-based), or ``default`` when absent."""
        return self.params[index] if index < len(self.params) else default

    def __str__(self) -> str:
        text = ";".join((self.name, *self.params))
        if self.payload is not None:
            text += f";<{len(self.payload)} bytes>"
        return text if self.error is None else f"<{self.error}>"


class _Incomplete(Exception):
    """More bytes are needed before the next command can be framed."""


class StreamParser:
    """A length-driven parser for the byte stream a printer receives; feed it any chunking.

    - NULs between commands are padding and skipped;
    - ESC may be left out after a CR (spec §1);
    - ``Psc;start;sep;end`` changes the delimiters for what follows, a bare ``Psc`` resets;
    - binary payloads are read by their length from the header, never split on CR or ESC,
      and the CR closing them is optional (consumed when present).
    """

    def __init__(self, delimiters: Delimiters = DEFAULT_DELIMITERS) -> None:
        self.delimiters = delimiters
        self._buf = bytearray()
        self._after_end = False
        self._swallow_end = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet framed into a command."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget any partial command and go back to the default delimiters."""
        self._buf.clear()
        self.delimiters = DEFAULT_DELIMITERS
        self._after_end = False
        self._swallow_end = False

    def feed(self, data: bytes) -> list[Command]:
        """Add ``data`` and return every command it completes, in order."""
        self._buf += data
        commands: list[Command] = []
        while True:
            try:
                command = self._next()
            except _Incomplete:
                return commands
            if command is not None:
                commands.append(command)

    def _consume(self, count: int) -> None:
        del self._buf[:count]

    def _next(self) -> Command | None:
        buf, d = self._buf, self.delimiters
        if self._swallow_end and buf:
            # The CR closing a binary payload (optional: [E]'s Db example has none).
            self._swallow_end = False
            if buf[0] == d.end:
                self._consume(1)
                return None
        i = 0
        while i < len(buf) and buf[i] in (NUL, d.end):
            # NUL padding ([WIN], [DRV]); a lone CR is an empty command, also ignored.
            if buf[i] == d.end:
                self._after_end = True
            i += 1
        self._consume(i)
        if not buf:
            raise _Incomplete
        if buf[0] == d.start:
            begin = 1
        elif self._after_end:
            begin = 0
        else:
            skip = buf.find(bytes([d.start]))
            skip = len(buf) if skip < 0 else skip
            junk = bytes(buf[:skip])
            self._consume(skip)
            return Command("", error=f"{len(junk)} bytes without a leading ESC: {junk[:16]!r}")
        name_end = _find_any(buf, begin, (d.separator, d.end))
        if name_end < 0:
            return self._overlong(begin)
        name = bytes(buf[begin:name_end]).decode("latin-1")
        if name in BINARY_COMMANDS and buf[name_end] == d.separator:
            return self._binary(name, name_end + 1)
        end = buf.find(bytes([d.end]), begin)
        if end < 0:
            return self._overlong(begin)
        fields = bytes(buf[begin:end]).split(bytes([d.separator]))
        self._consume(end + 1)
        self._after_end = True
        command = Command(
            fields[0].decode("latin-1"), tuple(f.decode("latin-1") for f in fields[1:])
        )
        if not _NAME.match(command.name):
            return Command(command.name, command.params, error=f"bad command name {name!r}")
        if command.name == "Psc":
            return self._set_delimiters(command)
        return command

    def _overlong(self, begin: int) -> Command | None:
        if len(self._buf) - begin <= MAX_COMMAND:
            raise _Incomplete
        junk = bytes(self._buf[: begin + 16])
        self._consume(len(self._buf))
        return Command("", error=f"no command end within {MAX_COMMAND} bytes: {junk!r}…")

    def _fields(self, pos: int, count: int) -> tuple[list[str], int]:
        """``count`` separator-terminated ASCII fields from ``pos``; returns them and the end."""
        d = self.delimiters
        fields: list[str] = []
        for _ in range(count):
            stop = self._buf.find(bytes([d.separator]), pos, pos + 16)
            if stop < 0:
                if len(self._buf) - pos < 16:
                    raise _Incomplete
                raise FramingError("header field too long")
            fields.append(bytes(self._buf[pos:stop]).decode("latin-1"))
            pos = stop + 1
        return fields, pos

    def _binary(self, name: str, pos: int) -> Command | None:
        try:
            head, pos = self._fields(pos, 2)
            _panel, levels_text = head
            levels = int(levels_text)
            if name == "Db":
                params, length = head, panel_bytes(levels)
            elif name == "Dbc":
                (first,), pos = self._fields(pos, 1)
                if self._starts_with_count(pos):
                    (count,), pos = self._fields(pos, 1)
                    params, length = [*head, first, count], int(count)
                else:
                    params, length = [*head, first], int(first)
            else:  # Dbp;panel;levels;start;nlines / Dbpc;panel;levels;start;nbytes
                more, pos = self._fields(pos, 2)
                params = [*head, *more]
                length = int(more[1]) * (line_bytes(levels) if name == "Dbp" else 1)
            if length < 0:
                raise FramingError(f"negative length {length}")
        except (ValueError, FramingError) as exc:
            # Without a length the payload cannot be skipped: drop the header and resync on
            # the next ESC, which may lie inside the payload; the printer NACKs the command.
            bad = bytes(self._buf[: min(pos, 32)])
            self._consume(max(pos, 1))
            self._after_end = False
            return Command(name, error=f"bad {name} header {bad!r}: {exc}")
        if len(self._buf) < pos + length:
            raise _Incomplete
        payload = bytes(self._buf[pos : pos + length])
        self._consume(pos + length)
        self._after_end = True
        self._swallow_end = True
        return Command(name, tuple(params), payload)

    def _starts_with_count(self, pos: int) -> bool:
        """True when the bytes at ``pos`` are ``digits;``: the 4-field Dbc form."""
        window = bytes(self._buf[pos : pos + 9])
        match = _DIGITS.match(window)
        if match is None:
            return False
        if match.end() == len(window):
            raise _Incomplete  # "123" so far: a count, or the payload's first bytes?
        return window[match.end()] == self.delimiters.separator

    def _set_delimiters(self, command: Command) -> Command:
        if not command.params:
            self.delimiters = DEFAULT_DELIMITERS
            return command
        try:
            start, sep, end = (int(p) for p in command.params)
            self.delimiters = Delimiters(start, sep, end)
        except (ValueError, FramingError) as exc:
            return Command(command.name, command.params, error=f"bad Psc: {exc}")
        return command


def _find_any(buf: bytearray, start: int, values: tuple[int, ...]) -> int:
    found = [p for p in (buf.find(bytes([v]), start) for v in values) if p >= 0]
    return min(found) if found else -1


def parse_stream(data: bytes, delimiters: Delimiters = DEFAULT_DELIMITERS) -> list[Command]:
    """Every command in a complete stream; raises :class:`FramingError` on leftover bytes."""
    parser = StreamParser(delimiters)
    commands = parser.feed(data)
    if parser.buffered:
        raise FramingError(f"{parser.buffered} bytes left over after the last command")
    return commands


# --------------------------------------------------------------------------- replies


class ReplyKind(enum.StrEnum):
    """What a printer reply is."""

    ACK = "ack"
    NACK = "nack"
    TEXT = "text"


@dataclass(frozen=True)
class Reply:
    """A decoded printer reply: ACK, NACK with its code character, or a text string."""

    kind: ReplyKind
    code: str = ""
    text: str = ""

    @property
    def ok(self) -> bool:
        """True unless the printer refused the command (NACK)."""
        return self.kind is not ReplyKind.NACK

    def __str__(self) -> str:
        if self.kind is ReplyKind.ACK:
            return "ACK"
        if self.kind is ReplyKind.NACK:
            return f"NACK {self.code} ({NACK_MEANINGS.get(self.code, 'unknown code')})"
        return self.text


def reply_length(buf: bytes | bytearray) -> int | None:
    """Length of the complete reply at the start of ``buf``, or ``None`` if it may go on.

    ACK is one byte, NACK two; a text reply ends at its NUL. A text reply without a NUL is
    complete only when the line falls silent, which the caller decides.
    """
    if not buf:
        return None
    if buf[0] == ACK:
        return 1
    if buf[0] == NACK:
        return 2 if len(buf) >= 2 else None
    end = buf.find(b"\0")
    return end + 1 if end >= 0 else None


def decode_reply(raw: bytes | bytearray) -> Reply:
    """Decode one reply as delimited by :func:`reply_length` (or by silence)."""
    if raw[:1] == bytes([ACK]):
        return Reply(ReplyKind.ACK)
    if raw[:1] == bytes([NACK]):
        return Reply(ReplyKind.NACK, code=bytes(raw[1:2]).decode("latin-1"))
    text = bytes(raw).split(b"\0", 1)[0].decode("latin-1")
    return Reply(ReplyKind.TEXT, text=text.strip("\r\n "))


def encode_ack() -> bytes:
    """The ACK byte a printer sends for an accepted command."""
    return bytes([ACK])


def encode_nack(code: str) -> bytes:
    """NACK followed by its code character."""
    if code not in NACK_MEANINGS:
        raise FramingError(f"unknown NACK code {code!r}")
    return bytes([NACK]) + code.encode("ascii")


def encode_text(text: str) -> bytes:
    """A NUL-terminated text reply."""
    return text.encode("latin-1") + b"\0"


def parse_counter(text: str) -> int | None:
    """The first whole number in a reply such as ``"1234"`` or ``"CARDS 1234"``; else ``None``.

    The format of ``Rco`` replies is not documented (spec §7), so be lenient.
    """
    match = re.search(r"\d+", text)
    return int(match.group()) if match else None


# --------------------------------------------------------------------------- errors


class CommandRejected(PrinterError):
    """The printer refused a command as malformed (NACK ``1``) or out of range (NACK ``2``).

    A driver or technician bug, not a printer condition: never retryable, and the printer
    did nothing, so no card moved.
    """

    retryable = False
    code = "command-rejected"

    def __init__(self, message: str, *, nack_code: str = "1") -> None:
        super().__init__(message, card_may_have_moved=False)
        self.nack_code = nack_code


def error_for_nack(
    code: str, message: str, *, card_may_have_moved: bool | None = None
) -> HardwareError:
    """The :mod:`printctl.hardware` error for a NACK code (``message`` prefixes the text).

    ``C`` → CoverOpen, ``F`` → FeederEmpty, ``R`` → RibbonOut, ``1``/``2`` →
    :class:`CommandRejected`, ``K``/``D``/``W`` (magnetic) → MediaError. ``T`` ("time-out or
    mechanical error") → **CardJam**: it is the printer reporting a mechanical fault it could
    not clear, not our link timing out (that is DeviceTimeout), and the card must be removed
    by hand. ``card_may_have_moved`` overrides the class default (the caller knows the step).
    """
    text = f"{message}: printer answered NACK {code} ({NACK_MEANINGS.get(code, 'unknown code')})"
    if code in ("1", "2"):
        return CommandRejected(text, nack_code=code)
    cls: type[HardwareError]
    cls = {
        "C": CoverOpen,
        "F": FeederEmpty,
        "R": RibbonOut,
        "T": CardJam,
        "K": MediaError,
        "D": MediaError,
        "W": MediaError,
    }.get(code, PrinterError)
    return cls(text, card_may_have_moved=card_may_have_moved)
