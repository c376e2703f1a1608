"""``EvolisPrinter``: the :class:`~printctl.hardware.Printer` Protocol over Evolis commands.

URLs (unknown options are rejected)::

    evolis+usb://?serial=E1234            evolis+usb://?vid=0f49&pid=0011
    evolis+serial:///dev/ttyUSB0?baud=9600&flow=none
    evolis+tcp://10.0.0.5:9100            evolis+file:///dev/usb/lp0

    timeout=10          seconds: bound on each write and on each reply
    ribbon=ymckok       ymcko | ymckok | ko | k (front panels / back panels, see RIBBONS)
    duplex=true         print the back when the card image has one
    station=contactless contactless (Sic) | contact (Sis) | none
    levels=64           colour levels for Y/M/C: 32 | 64 | 128
    compress=ko         panels sent compressed (Dbc): none | ko | all

The job sequence, chosen to fit printctl's card life (spec §2; unverified parts marked):

- ``open``: ``Pem;4`` (ACK/NACK mode, other Pem settings untouched, so the printer still
  recovers from media errors itself), ``Rtp``/``Rsn``/``Rfv`` for capabilities, ``Pr;<ribbon>``;
- ``feed``: ``Si``: insert a card to the print sync position. ``Si`` *starts the sequence*
  (``Se`` ends a sequence "started by Ss, Si or Sr"), so no ``Ss`` is sent: an ``Ss`` after
  ``Si`` might take a second blank;
- ``move_to_encoder``: ``Sic`` (contactless) or ``Sis`` (contact). The printer is assumed to
  bring the card back to the print position on its own when printing starts (unverified);
  this is why the driver declares ``encode_before_print``;
- ``print_card``: ``Sr``, one ``Db``/``Dbc`` per front panel, then ``Sv`` and the back
  panels. Each download starts printing the panel before it ([E] p.69), so the last panel
  prints when the card is ejected;
- ``eject``: ``Se`` (prints the last panel, ejects to the output tray); ``reject``: ``Ser``.

Replies: every command waits for its ACK (or NACK + code, mapped by
:func:`~drivers.evolis.framing.error_for_nack`); ``R…`` commands wait for their string. A
reply that does not come within ``timeout`` raises :class:`DeviceTimeout`, whose
``card_may_have_moved`` is true for ``feed`` and ``print_card`` (a blank may have been
taken, by the feed or by the printer's own reprint) and false otherwise.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from drivers.evolis.framing import (
    DEFAULT_DELIMITERS,
    Delimiters,
    FramingError,
    Reply,
    ReplyKind,
    build_command,
    decode_reply,
    error_for_nack,
    parse_command_text,
    parse_counter,
    reply_length,
)
from drivers.evolis.panels import PanelError, download_commands
from drivers.evolis.transports import DEFAULT_TCP_PORT, FileTransport, TcpTransport, Transport
from drivers.sim import CardSequenceError, ImageRejected
from drivers.urls import OptionReader, parse_driver_url
from printctl.hardware import (
    PANEL_SIZE,
    CardImage,
    CardJam,
    CardPosition,
    ConnectionLost,
    DeviceTimeout,
    DriverConfigError,
    EncoderStation,
    MediaError,
    PrinterCapabilities,
    PrinterState,
    PrinterStatus,
    RibbonOut,
)

__all__ = ["RIBBONS", "SCHEMES", "EvolisPrinter", "ProtocolError"]

SCHEMES = ("evolis+usb", "evolis+serial", "evolis+tcp", "evolis+file")
#: Ribbon type (sent as ``Pr;<type>``) → (front panels, back panels), in ribbon order.
RIBBONS: dict[str, tuple[str, str]] = {
    "ymcko": ("ymcko", "ymcko"),
    "ymckok": ("ymcko", "k"),
    "ko": ("ko", "ko"),
    "k": ("k", "k"),
}
#: After the first byte of a text reply without its NUL, this much silence ends it.
REPLY_GAP = 0.25
#: How long ``open`` waits for the ACK of ``Pem;4``: a printer still in its default mode
#: answers nothing to it, so do not wait the whole timeout.
PEM_PROBE = 0.5


class ProtocolError(ConnectionLost):
    """The printer answered something that makes no sense for the command sent.

    Usually a wrong port or speed, another device, or a firmware dialect we do not know.
    Not retryable: a person must look at it.
    """

    retryable = False
    code = "protocol-error"


class EvolisPrinter:
    """An Evolis card printer reached over USB, serial, TCP or a device file.

    ``transport_factory`` replaces the transport the URL names (tests, rehearsals);
    ``usb_backend`` is the pyusb backend for ``evolis+usb`` (the URL cannot carry one);
    ``clock`` and ``sleep`` are injected so that tests never wait for real.
    """

    def __init__(
        self,
        url: str,
        *,
        transport_factory: Callable[[], Transport] | None = None,
        usb_backend: Any = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        parsed = parse_driver_url(url)
        if parsed.scheme not in SCHEMES:
            raise DriverConfigError(f"{url}: not an Evolis URL (schemes: {', '.join(SCHEMES)})")
        opts = parsed.options_reader()
        self.timeout = opts.get_float("timeout", 10.0, minimum=0.01, maximum=3600.0)
        self.ribbon = opts.get_str("ribbon", "ymckok", choices=RIBBONS)
        duplex = opts.get_bool("duplex", True)
        station = opts.get_str("station", "contactless", choices=("contactless", "contact", "none"))
        self.levels = int(opts.get_str("levels", "64", choices=("32", "64", "128")))
        compress = opts.get_str("compress", "ko", choices=("none", "ko", "all"))
        self._compress = frozenset({"none": "", "ko": "ko", "all": "ymcko"}[compress])
        self._clock = clock
        self._sleep = sleep
        self._usb_backend = usb_backend
        self._factory = transport_factory or self._transport_for(parsed.scheme, parsed, opts)
        opts.done()
        self._config_caps = PrinterCapabilities(
            model="Evolis",
            colour="y" in RIBBONS[self.ribbon][0],
            duplex=duplex,
            encoder_station=None if station == "none" else EncoderStation(station),
            encode_before_print=True,
        )
        self._caps = self._config_caps
        self._firmware = ""
        self._transport: Transport | None = None
        self._delimiters: Delimiters = DEFAULT_DELIMITERS
        self._pending = bytearray()
        self._dirty = False
        self._stray_ack = False
        self._card = False  # a card may be in the card path
        self._printed = False
        self.position = CardPosition.NONE

    def __repr__(self) -> str:
        return f"EvolisPrinter({self.url!r})"

    # ----------------------------------------------------------------- URL → transport

    def _transport_for(
        self, scheme: str, parsed: Any, opts: OptionReader
    ) -> Callable[[], Transport]:
        timeout = self.timeout
        if scheme == "evolis+tcp":
            if not parsed.host:
                raise opts.error("evolis+tcp needs a host: evolis+tcp://HOST[:PORT]")
            host, port = parsed.host, parsed.port or DEFAULT_TCP_PORT
            return lambda: TcpTransport(host, port, timeout=timeout)
        if scheme == "evolis+file":
            path = _path(parsed, opts, "evolis+file:///dev/usb/lp0")
            return lambda: FileTransport(path, timeout=timeout, clock=self._clock)
        if scheme == "evolis+serial":
            path = _path(parsed, opts, "evolis+serial:///dev/ttyUSB0")
            baud = opts.get_int("baud", 9600, minimum=1200, maximum=115200)
            flow = opts.get_str("flow", "none", choices=("none", "xonxoff", "rtscts"))

            def serial_transport() -> Transport:
                from drivers.evolis.serialtransport import SerialTransport

                return SerialTransport(path, baud=baud, timeout=timeout, flow=flow)

            return serial_transport
        if parsed.netloc or parsed.path not in ("", "/"):
            raise opts.error("evolis+usb takes no host or path: evolis+usb://?serial=…")
        serial = opts.get_optional_str("serial")
        vid = _hex(opts, "vid", "0f49")
        pid_text = opts.get_optional_str("pid")
        pid = None if pid_text is None else _hex(opts, "pid", pid_text)

        def usb_transport() -> Transport:
            from drivers.evolis.usbtransport import UsbTransport

            return UsbTransport(
                serial=serial,
                vid=vid,
                pid=pid,
                timeout=timeout,
                backend=self._usb_backend,
                sleep=self._sleep,
            )

        return usb_transport

    # ----------------------------------------------------------------- Printer protocol

    def open(self) -> None:
        """Connect, switch on ACK/NACK mode, read model/serial/firmware, set the ribbon."""
        if self._transport is not None:
            return
        self._transport = self._factory()
        self._pending.clear()
        self._delimiters = DEFAULT_DELIMITERS
        self._dirty = True  # whatever a previous session left unread is not ours
        try:
            self._pem_probe()
            model = self._read("Rtp", step="open").strip()
            serial = self._read("Rsn", step="open").strip()
            self._firmware = self._read("Rfv", step="open", optional=True)
            self._command("Pr", self.ribbon, step="open")
        except BaseException:
            self._drop_transport()
            raise
        caps = self._config_caps
        self._caps = PrinterCapabilities(
            model=f"Evolis {model}".strip() if not model.lower().startswith("evolis") else model,
            serial=serial,
            colour=caps.colour,
            duplex=caps.duplex,
            encoder_station=caps.encoder_station,
            encode_before_print=True,
        )

    def close(self) -> None:
        """Release the transport (idempotent, never raises). The card state is forgotten."""
        self._drop_transport()

    def capabilities(self) -> PrinterCapabilities:
        """Model and serial as the printer reported them at ``open``; the rest from the URL."""
        return self._caps

    def status(self) -> PrinterStatus:
        """Counters (``Rco;c``, ``Rco;p``), ribbon (``Rco;l``, ``Rcr``), last answer (``Rlr;p``)."""
        inserted = parse_counter(self._read("Rco;c", step="status", optional=True))
        panels = parse_counter(self._read("Rco;p", step="status", optional=True))
        ribbon_cards = parse_counter(self._read("Rco;l", step="status", optional=True))
        ribbon_check = self._read("Rcr", step="status", optional=True)
        last = self._read("Rlr;p", step="status", optional=True)
        conditions: list[str] = []
        if ribbon_check and ribbon_check.upper() != "OK":
            # [E]: Rcr answers "OK" unless the ribbon is at its black end mark.
            conditions.append("ribbon-empty")
        front, back = RIBBONS[self.ribbon]
        per_card = len(front) + (len(back) if self._caps.duplex else 0)
        detail = {
            "serial": self._caps.serial,
            "firmware": self._firmware,
            "ribbon": self.ribbon,
            "ribbon_check": ribbon_check,
            "last_answer": last,
        }
        return PrinterStatus(
            state=PrinterState.ERROR if conditions else PrinterState.READY,
            conditions=tuple(conditions),
            cards_in_hopper=None,  # Evolis printers do not count their hopper
            ribbon_panels_left=None if ribbon_cards is None else ribbon_cards * per_card,
            cards_inserted=inserted,
            panels_printed=panels,
            card_position=self.position,
            detail=detail,
        )

    def feed(self) -> None:
        """``Si``: take a blank into the card path (starts the printer's card sequence)."""
        self._require_open("feed")
        if self._card:
            raise self._sequence("feed", "a card is already in the card path")
        self._step("Si", step="feed", moved=True)
        self._card, self._printed = True, False
        self.position = CardPosition.PRINT

    def move_to_encoder(self, station: EncoderStation) -> None:
        """``Sic`` (contactless) or ``Sis`` (contact): park the fed card at the chip station."""
        self._require_open("move_to_encoder")
        if not self._card:
            raise self._sequence("move_to_encoder", "no card in the card path; feed one first")
        if self._printed:
            raise self._sequence("move_to_encoder", "this printer encodes before printing")
        name = "Sic" if station is EncoderStation.CONTACTLESS else "Sis"
        self._step(name, step="move_to_encoder", moved=False)
        self.position = CardPosition.ENCODER

    def print_card(self, image: CardImage) -> None:
        """``Sr`` + front panels, then ``Sv`` + back panels (the last prints on eject)."""
        self._require_open("print_card")
        if not self._card:
            raise self._sequence("print_card", "no card in the card path; feed one first")
        if self._printed:
            raise self._sequence("print_card", "the card is already printed")
        downloads = self._downloads(image)
        for side, panels in downloads:
            self._step(side, step="print_card", moved=True)
            for panel, command in panels:
                self._moving(command, step=f"print_card: panel {panel}", moved=True)
        self._printed = True
        self.position = CardPosition.PRINT

    def eject(self) -> None:
        """``Se``: print the last panel and send the card to the output tray."""
        self._require_open("eject")
        if not self._card:
            raise self._sequence("eject", "no card in the card path")
        if not self._printed:
            raise self._sequence("eject", "the card is not printed; reject it instead")
        self._step("Se", step="eject", moved=False)
        self._clear_card()

    def reject(self) -> None:
        """``Ser``: send the current card, printed or not, to the reject box."""
        self._require_open("reject")
        if not self._card:
            raise self._sequence("reject", "no card in the card path")
        self._step("Ser", step="reject", moved=False)
        self._clear_card()

    # ----------------------------------------------------------------- technician console

    def send_command(self, text: str) -> Reply:
        """Send one command typed by a technician (``"Rco;c"``, ``"Pem;4"``) and return the
        printer's reply: ACK, NACK with its code, or the text. NACK is returned, not raised.

        ``Psc`` is followed (the driver frames later commands with the new delimiters).
        Binary downloads cannot be typed. A ``Pem`` value that switches ACK/NACK mode off
        makes every later command time out until the printer is reopened.
        """
        transport = self._require_open("send_command")
        try:
            name, params = parse_command_text(text)
            raw = build_command(name, *params, delimiters=self._delimiters)
        except FramingError as exc:
            raise DriverConfigError(f"{self.url}: send_command: {exc}") from exc
        reply = self._exchange(transport, raw, step=f"send_command {name}", moved=False)
        if name == "Psc" and reply.ok:
            try:
                codes = [int(p) for p in params]
                self._delimiters = Delimiters(*codes) if codes else DEFAULT_DELIMITERS
            except (TypeError, ValueError, FramingError):
                pass  # the printer accepted what we could not parse; it will be NACKed later
        return reply

    # ----------------------------------------------------------------- internals

    def _downloads(self, image: CardImage) -> list[tuple[str, list[tuple[str, bytes]]]]:
        front_panels, back_panels = RIBBONS[self.ribbon]
        sides = [("Sr", image.front, front_panels)]
        if image.back is not None:
            if not self._caps.duplex:
                raise ImageRejected(
                    f"{self.url}: print_card: the image has a back but duplex=false",
                    card_may_have_moved=False,
                )
            sides.append(("Sv", image.back, back_panels))
        out: list[tuple[str, list[tuple[str, bytes]]]] = []
        for command, side, panels in sides:
            for layer in (side.colour, side.black, side.overlay):
                if layer is not None and layer.size != PANEL_SIZE:
                    raise ImageRejected(
                        f"{self.url}: print_card: a layer is {layer.size}, expected {PANEL_SIZE}",
                        card_may_have_moved=False,
                    )
            try:
                framed = download_commands(
                    side,
                    panels,
                    levels=self.levels,
                    compress=self._compress,
                    delimiters=self._delimiters,
                )
            except (PanelError, FramingError) as exc:
                raise ImageRejected(
                    f"{self.url}: print_card: {exc}", card_may_have_moved=False
                ) from exc
            out.append((command, framed))
        return out

    def _require_open(self, step: str) -> Transport:
        if self._transport is None:
            raise ConnectionLost(
                f"{self.url}: {step}: the printer is not open; call open() first",
                retryable=False,
            )
        return self._transport

    def _sequence(self, step: str, why: str) -> CardSequenceError:
        return CardSequenceError(
            f"{self.url}: {step}: {why} (card life: feed → [move_to_encoder] → print_card"
            " → eject | reject)",
            retryable=False,
            card_may_have_moved=False,
        )

    def _clear_card(self) -> None:
        self._card = self._printed = False
        self.position = CardPosition.NONE

    def _drop_transport(self) -> None:
        transport, self._transport = self._transport, None
        self._clear_card()
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()

    def _pem_probe(self) -> None:
        transport = self._require_open("open")
        transport.write(build_command("Pem", 4, delimiters=self._delimiters))
        deadline = self._clock() + min(self.timeout, PEM_PROBE)
        reply = self._read_reply(transport, deadline, step="open: Pem;4", moved=False, quiet=True)
        if reply is not None and reply.kind is ReplyKind.NACK:
            raise error_for_nack(reply.code, f"{self.url}: open: Pem;4", card_may_have_moved=False)
        # No ACK within the probe: the printer was in its default (silent) mode when Pem;4
        # arrived, or it is slow; a late ACK may still come and must not answer Rtp.
        self._stray_ack = reply is None
        self._dirty = False

    def _command(self, name: str, *params: str | int, step: str) -> None:
        raw = build_command(name, *params, delimiters=self._delimiters)
        self._exchange_ack(raw, step=f"{step}: {name}", moved=False)

    def _step(self, name: str, *, step: str, moved: bool) -> None:
        """Send a card-moving command and map a NACK, updating the card state."""
        raw = build_command(name, delimiters=self._delimiters)
        self._moving(raw, step=f"{step}: {name}", moved=moved)

    def _moving(self, raw: bytes, *, step: str, moved: bool) -> None:
        try:
            self._exchange_ack(raw, step=step, moved=moved)
        except (CardJam, RibbonOut, MediaError):
            # The printer reported a jam or media fault on the card it was moving: the card
            # is spoiled, the printer ends the sequence and the operator clears the path.
            self._clear_card()
            raise
        except DeviceTimeout:
            if moved:
                # Unknown outcome: a card may be in the path; allow reject, refuse feed.
                self._card = True
                self.position = CardPosition.PRINT
            raise

    def _exchange_ack(self, raw: bytes, *, step: str, moved: bool) -> None:
        transport = self._require_open(step)
        reply = self._exchange(transport, raw, step=step, moved=moved)
        if reply.kind is ReplyKind.NACK:
            with_move = moved and reply.code not in ("C", "F", "1", "2")
            raise error_for_nack(reply.code, f"{self.url}: {step}", card_may_have_moved=with_move)
        if reply.kind is not ReplyKind.ACK:
            self._dirty = True
            raise ProtocolError(
                f"{self.url}: {step}: expected ACK, got {reply.text!r}",
                card_may_have_moved=moved,
            )

    def _read(self, command: str, *, step: str, optional: bool = False) -> str:
        """The text reply to an ``R…`` command; ``optional`` turns a NACK into ``""``."""
        transport = self._require_open(step)
        name, params = parse_command_text(command)
        raw = build_command(name, *params, delimiters=self._delimiters)
        reply = self._exchange(transport, raw, step=f"{step}: {command}", moved=False)
        if reply.kind is ReplyKind.ACK and self._stray_ack:
            self._stray_ack = False
            deadline = self._clock() + self.timeout
            late = self._read_reply(transport, deadline, step=step, moved=False)
            assert late is not None
            reply = late
        self._stray_ack = False
        if reply.kind is ReplyKind.TEXT:
            return reply.text
        if reply.kind is ReplyKind.NACK:
            if optional:
                return ""
            raise error_for_nack(reply.code, f"{self.url}: {step}: {command}")
        self._dirty = True
        raise ProtocolError(f"{self.url}: {step}: {command} answered ACK instead of a value")

    def _exchange(self, transport: Transport, raw: bytes, *, step: str, moved: bool) -> Reply:
        if self._dirty:
            self._drain(transport)
        deadline = self._clock() + self.timeout
        try:
            transport.write(raw)
            reply = self._read_reply(transport, deadline, step=step, moved=moved)
        except ConnectionLost as exc:
            self._dirty = True
            if isinstance(exc, ProtocolError):
                raise
            cls = DeviceTimeout if isinstance(exc, DeviceTimeout) else ConnectionLost
            raise cls(f"{self.url}: {step}: {exc}", card_may_have_moved=moved) from exc
        assert reply is not None
        return reply

    def _read_reply(
        self,
        transport: Transport,
        deadline: float,
        *,
        step: str,
        moved: bool,
        quiet: bool = False,
    ) -> Reply | None:
        """One reply: ACK, NACK + code, or text up to its NUL (or up to a silence).

        Raises DeviceTimeout at ``deadline`` (returns ``None`` instead when ``quiet``).
        """
        buf = self._pending
        while True:
            length = reply_length(buf)
            if length is not None:
                reply = decode_reply(buf[:length])
                del buf[:length]
                if buf:
                    self._dirty = True  # more than one reply: stale bytes, drop before next
                return reply
            remaining = deadline - self._clock()
            if remaining <= 0:
                if buf:  # a text reply without its NUL, ended by the deadline
                    return self._take_text(buf)
                if quiet:
                    return None
                raise DeviceTimeout(
                    f"no reply within {self.timeout:g} s (the printer stopped answering)",
                    card_may_have_moved=moved,
                )
            wait = min(remaining, REPLY_GAP) if buf else remaining
            chunk = transport.read(wait)
            if chunk:
                buf += chunk
            elif buf:
                return self._take_text(buf)  # silence after text: the reply is complete

    @staticmethod
    def _take_text(buf: bytearray) -> Reply:
        reply = decode_reply(bytes(buf))
        buf.clear()
        return reply

    def _drain(self, transport: Transport) -> None:
        """Drop late replies of a command that timed out, or extra bytes, before the next one."""
        self._pending.clear()
        for _ in range(64):  # bounded: a printer streaming garbage must not hang us here
            if not transport.read(0.02):
                break
        self._dirty = False


def _path(parsed: Any, opts: OptionReader, example: str) -> str:
    path = str(parsed.path)
    if parsed.netloc or not path or path == "/":
        raise opts.error(f"expected a device path, e.g. {example}")
    return path


def _hex(opts: OptionReader, name: str, default: str) -> int:
    text = opts.get_str(name, default)
    try:
        value = int(text, 16)
    except ValueError:
        raise opts.error(f"option {name}={text!r}: expected a hexadecimal USB id") from None
    if not 0 <= value <= 0xFFFF:
        raise opts.error(f"option {name}={text!r}: a USB id is 16 bits")
    return value
