"""PC/SC chip encoder: any reader pcscd knows (the contactless reader at the encoding station).

``pcsc://`` talks to the PC/SC daemon through pyscard (``pip install 'printctl[pcsc]'``; the
import fails without it, and the registry then lists the driver as unavailable with that
hint). URL options (unknown options are rejected)::

    reader=NAME        part of the reader's name, any case (``reader=OMNIKEY``); a name that
                       matches exactly wins over substrings. Omitted: the only reader there
                       is. Several matches: DriverConfigError listing the readers.
    timeout=2          seconds read_uid / run_script wait for a card to enter the field
    protocol=any       any | t0 | t1: the protocols offered when connecting to the card
    virtual_card=UID   training mode: while the driver is open, a virtual card with this UID
                       (hex) sits in vsmartcard's virtual reader (see :mod:`drivers.vicc`)
    vpcd=127.0.0.1:35963   where that virtual reader listens for its card (slot 00)

For example ``pcsc://?reader=OMNIKEY&timeout=5`` at a station, or
``pcsc://?reader=Virtual%20PCD%2000%2000&virtual_card=04A1B2C3D4E5F6`` to rehearse without a
card (needs ``pcscd`` and ``vsmartcard-vpcd``).

What a call does. ``read_uid`` connects to the card (waiting up to ``timeout`` for one) and
sends the PC/SC GET DATA pseudo-APDU ``FF CA 00 00 00``. ``run_script`` first checks every
command is a well-formed APDU (nothing is sent otherwise), then, inside a PC/SC transaction so
no other program interleaves, reads the UID and sends the commands in order. A status word
equal to the expected one is accepted as is; otherwise ``61xx`` is followed by GET RESPONSE
and ``6Cxx`` by the same command with Le = ``xx`` (T=0 style chaining), and the final status
word is compared. The first mismatch raises :class:`StatusWordMismatch` (index, got, expected)
and stops the script.

Errors (pyscard's result codes are translated here, at the boundary)::

    no card in the field within timeout               NoCard (retryable)
    the card left mid-command / answered nothing      CardRemoved
    pcscd not running, reader unplugged or not found  ReaderGone (retryable; says what to do)
    several readers match, bad option, bad protocol   DriverConfigError
    another program holds the card exclusively        PermissionDenied (retryable)
    a malformed APDU in the script                    MalformedCommand (nothing sent)

A reader named in the URL that is not connected raises :class:`ReaderGone`, not a
configuration error: at a station that almost always means the reader was unplugged, which
plugging it back fixes; the message lists the readers pcscd does see, so a misspelt name is
obvious too.

Calls before :meth:`PcscEncoder.open` open the driver themselves, and a call that finds pcscd
restarted re-establishes its PC/SC context on the next try, so a long-running worker recovers
from a pcscd restart without being rebuilt.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from smartcard import scard  # no pyscard: ImportError, which the registry turns into a hint

from drivers.sim import MalformedCommand, apdu_problem
from drivers.urls import OptionReader, parse_driver_url
from drivers.vicc import VPCD_HOST, VPCD_PORT, VirtualCardError, VirtualCardHandle
from drivers.vicc import start_virtual_card as _start_virtual_card
from printctl.hardware import (
    CardRemoved,
    DriverConfigError,
    EncoderError,
    HardwareError,
    NoCard,
    PermissionDenied,
    ReaderGone,
    StatusWordMismatch,
)

if TYPE_CHECKING:
    from printctl.domain import ChipCommand

__all__ = ["GET_UID_APDU", "PcscEncoder", "find_reader", "status_word_text"]

#: PC/SC part 3 GET DATA pseudo-APDU: the reader answers with the card's UID + 9000.
GET_UID_APDU: Final = bytes.fromhex("FFCA000000")

_PROTOCOLS: Final = {
    "any": scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
    "t0": scard.SCARD_PROTOCOL_T0,
    "t1": scard.SCARD_PROTOCOL_T1,
}
_SW_OK: Final = b"\x90\x00"
#: A chip that keeps answering 61xx / 6Cxx is broken; stop chaining after this many rounds.
_MAX_CHAIN: Final = 64
#: After a transmission failure, how long to wait for pcscd (which polls readers a few times a
#: second) to confirm the card has left, before calling it a communication error instead.
_REMOVAL_CONFIRM_S: Final = 1.0
#: How long close() waits for the reader to see a virtual card leave, so a reopen starts clean.
_VIRTUAL_LEAVE_S: Final = 3.0

_START_PCSCD: Final = (
    "start the PC/SC daemon: 'sudo systemctl start pcscd' (or run 'pcscd'); on a test"
    " machine run .ci/pcsc-setup.sh"
)


def _code(hresult: int) -> int:
    """pyscard returns result codes signed or unsigned depending on the platform."""
    return hresult & 0xFFFFFFFF


_NO_SERVICE: Final = frozenset(
    _code(c) for c in (scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED)
)
_READER_GONE: Final = frozenset(
    _code(c)
    for c in (
        scard.SCARD_E_UNKNOWN_READER,
        scard.SCARD_E_READER_UNAVAILABLE,
        scard.SCARD_E_NO_READERS_AVAILABLE,
    )
)
_NO_CARD: Final = frozenset(
    _code(c)
    for c in (scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_TIMEOUT)
)
_CARD_LEFT: Final = frozenset(
    _code(c)
    for c in (
        scard.SCARD_W_REMOVED_CARD,
        scard.SCARD_E_NO_SMARTCARD,
        scard.SCARD_E_NOT_TRANSACTED,
        scard.SCARD_F_COMM_ERROR,
        scard.SCARD_W_UNPOWERED_CARD,
        scard.SCARD_W_UNRESPONSIVE_CARD,
    )
)
_SUCCESS: Final = _code(scard.SCARD_S_SUCCESS)
_TIMEOUT: Final = _code(scard.SCARD_E_TIMEOUT)
_INVALID_HANDLE: Final = _code(scard.SCARD_E_INVALID_HANDLE)


def _message(hresult: int) -> str:
    try:
        text = str(scard.SCardGetErrorMessage(hresult)).strip().rstrip(".")
    except Exception:  # a message lookup must never hide the code itself
        text = "unknown error"
    return f"{text} (0x{_code(hresult):08X})"


def status_word_text(sw: bytes) -> str:
    """A status word as printed in messages and logs: upper-case hex, e.g. ``6A82``."""
    return sw.hex().upper()


def find_reader(readers: Sequence[str], query: str | None, url: str) -> str:
    """The reader ``query`` names among ``readers`` (see the module doc for the rules).

    Raises :class:`ReaderGone` when none matches (or none is connected) and
    :class:`DriverConfigError` when the choice is ambiguous.
    """
    listing = ", ".join(repr(r) for r in readers) or "none"
    if query is None:
        if len(readers) == 1:
            return readers[0]
        if not readers:
            raise ReaderGone(
                f"{url}: no PC/SC reader is connected; plug the reader in (pcscd sees none)"
            )
        raise DriverConfigError(
            f"{url}: {len(readers)} PC/SC readers are connected ({listing});"
            " choose one with ?reader=NAME"
        )
    wanted = query.casefold()
    exact = [r for r in readers if r.casefold() == wanted]
    if len(exact) == 1:
        return exact[0]
    matches = [r for r in readers if wanted in r.casefold()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ReaderGone(
            f"{url}: no connected reader matches {query!r} (connected: {listing});"
            " plug the reader in or correct ?reader="
        )
    raise DriverConfigError(
        f"{url}: reader={query!r} matches {len(matches)} readers"
        f" ({', '.join(repr(r) for r in matches)}); give more of the name"
    )


@dataclass(frozen=True)
class _VirtualCardConfig:
    uid: bytes
    host: str
    port: int


def _virtual_card_option(opts: OptionReader) -> _VirtualCardConfig | None:
    uid_hex = opts.get_optional_str("virtual_card")
    vpcd = opts.get_str("vpcd", f"{VPCD_HOST}:{VPCD_PORT}")
    if uid_hex is None:
        return None
    try:
        uid = bytes.fromhex(uid_hex)
    except ValueError:
        raise opts.error(f"option virtual_card={uid_hex!r}: expected a UID in hex") from None
    if len(uid) not in (4, 7, 10):
        raise opts.error(f"option virtual_card={uid_hex!r}: a UID has 4, 7 or 10 bytes")
    host, sep, port = vpcd.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise opts.error(f"option vpcd={vpcd!r}: expected HOST:PORT, e.g. 127.0.0.1:35963")
    return _VirtualCardConfig(uid, host, int(port))


class PcscEncoder:
    """A chip encoder behind pcscd, configured by a ``pcsc://`` URL (options in the module doc).

    Thread-safe: every public method holds one lock, so two threads never interleave APDUs.
    ``reader`` is the reader name found at the last connect (for logs and tests).
    """

    def __init__(self, url: str = "pcsc://") -> None:
        self.url = url
        parsed = parse_driver_url(url)
        if parsed.netloc or parsed.path not in ("", "/"):
            raise DriverConfigError(
                f"{url}: pcsc:// takes no host or path; name the reader with ?reader=NAME"
            )
        opts = parsed.options_reader()
        self._query = opts.get_optional_str("reader")
        if self._query is not None and not self._query.strip():
            raise opts.error("option reader= is empty; omit it to use the only reader")
        self._timeout = opts.get_float("timeout", 2.0, minimum=0.0, maximum=3600.0)
        self._protocols = _PROTOCOLS[opts.get_str("protocol", "any", choices=tuple(_PROTOCOLS))]
        self._virtual = _virtual_card_option(opts)
        opts.done()
        self._lock = threading.RLock()
        self._context: int | None = None
        self._card: VirtualCardHandle | None = None
        self.reader: str | None = None

    def __repr__(self) -> str:
        return f"PcscEncoder({self.url!r})"

    # ----------------------------------------------------------------- Encoder protocol

    def open(self) -> None:
        """Connect to pcscd and find the reader (idempotent).

        With ``virtual_card=``, also put the virtual card in the field and wait (up to
        ``timeout``, at least 2 s: pcscd polls the virtual reader) until the reader sees it.
        """
        with self._lock:
            context = self._require_context()
            reader = self._find_reader(context)
            if self._virtual is not None and self._card is None:
                try:
                    self._card = _start_virtual_card(
                        self._virtual.uid, host=self._virtual.host, port=self._virtual.port
                    )
                except VirtualCardError as exc:
                    raise ReaderGone(f"{self.url}: virtual card: {exc}") from exc
                self._wait_for_card(context, reader, max(self._timeout, 2.0))

    def close(self) -> None:
        """Release the PC/SC context (idempotent; never raises).

        A virtual card leaves the field, and close waits (bounded) until the reader agrees,
        so that opening again starts from an empty reader.
        """
        with self._lock:
            card, self._card = self._card, None
            if card is not None:
                card.stop()
                with contextlib.suppress(HardwareError):
                    if self._context is not None and self.reader is not None:
                        self._wait_for_state(
                            self._context, self.reader, present=False, timeout=_VIRTUAL_LEAVE_S
                        )
            self._release_context()

    def detect(self) -> bool:
        """True when a card is in the reader's field right now (does not wait)."""
        with self._lock:
            context = self._require_context()
            reader = self._find_reader(context)
            state = self._reader_state(context, reader)
            return _card_present(state)

    def read_uid(self) -> str:
        """The UID of the card in the field, upper-case hex (waits up to ``timeout``)."""
        with self._lock, self._session() as session:
            return session.uid()

    def run_script(self, script: Sequence[ChipCommand]) -> str:
        """Send each command in order, compare status words, and return the chip UID.

        Raises :class:`MalformedCommand` before sending anything if a command is not a
        well-formed APDU, :class:`StatusWordMismatch` at the first unexpected status word.
        """
        for index, command in enumerate(script):
            problem = apdu_problem(bytes(command.apdu))
            if problem is None and len(command.expect) != 2:
                problem = f"expected status word is {len(command.expect)} bytes, not 2"
            if problem is not None:
                raise MalformedCommand(f"{self.url}: run_script: command {index}: {problem}")
        with self._lock, self._session(transaction=True) as session:
            uid = session.uid()
            for index, command in enumerate(script):
                expected = bytes(command.expect)
                _data, got = session.exchange(bytes(command.apdu), expected, index)
                if got != expected:
                    raise StatusWordMismatch(
                        f"{self.url}: run_script: command {index} returned"
                        f" {status_word_text(got)}, expected {status_word_text(expected)}",
                        index=index,
                        got=got,
                        expected=expected,
                    )
            return uid

    # ----------------------------------------------------------------- context and reader

    def _call(self, step: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call a pyscard function, turning its own exceptions into driver errors."""
        try:
            return fn(*args)
        except scard.error as exc:
            raise EncoderError(f"{self.url}: {step}: pyscard failed: {exc}") from exc

    def _require_context(self) -> int:
        if self._context is None:
            result, context = self._call(
                "connect to pcscd", scard.SCardEstablishContext, scard.SCARD_SCOPE_USER
            )
            if _code(result) != _SUCCESS:
                raise self._error(result, "connect to pcscd")
            self._context = int(context)
        return self._context

    def _release_context(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            with contextlib.suppress(Exception):  # pcscd may be gone already: nothing to free
                scard.SCardReleaseContext(context)

    def _find_reader(self, context: int) -> str:
        result, readers = self._call("list readers", scard.SCardListReaders, context, [])
        code = _code(result)
        if code == _code(scard.SCARD_E_NO_READERS_AVAILABLE):
            readers = []
        elif code != _SUCCESS:
            raise self._error(result, "list readers")
        self.reader = find_reader([str(r) for r in readers], self._query, self.url)
        return self.reader

    def _reader_state(self, context: int, reader: str, current: int | None = None) -> int:
        """The reader's event state now (``current`` None) or after it changes from ``current``."""
        state = scard.SCARD_STATE_UNAWARE if current is None else current
        result, states = self._call(
            "read reader state", scard.SCardGetStatusChange, context, 0, [(reader, state)]
        )
        if _code(result) not in (_SUCCESS, _TIMEOUT):
            raise self._error(result, "read reader state")
        return int(states[0][1])

    def _wait_for_state(self, context: int, reader: str, *, present: bool, timeout: float) -> bool:
        """Wait (bounded) until a card is / is no longer in the field; True if it happened."""
        deadline = time.monotonic() + timeout
        state = self._reader_state(context, reader)
        while _card_present(state) != present:
            if state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                raise ReaderGone(f"{self.url}: reader {reader!r} disappeared")
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                return False
            # Blocks in pcscd until the state differs from the one we pass (or time is up);
            # the CHANGED bit must be cleared or the call returns at once.
            result, states = self._call(
                "wait for the card",
                scard.SCardGetStatusChange,
                context,
                left_ms,
                [(reader, state & ~scard.SCARD_STATE_CHANGED)],
            )
            if _code(result) == _TIMEOUT:
                return False
            if _code(result) != _SUCCESS:
                raise self._error(result, "wait for the card")
            state = int(states[0][1])
        return True

    def _wait_for_card(self, context: int, reader: str, timeout: float) -> None:
        if not self._wait_for_state(context, reader, present=True, timeout=timeout):
            raise NoCard(
                f"{self.url}: no card in the field of {reader!r} within {timeout:g} s",
                card_may_have_moved=False,
            )

    @contextlib.contextmanager
    def _session(self, *, transaction: bool = False) -> Iterator[_Session]:
        """Connected to the card for the duration of the ``with`` (in a transaction if asked)."""
        context = self._require_context()
        reader = self._find_reader(context)
        self._wait_for_card(context, reader, self._timeout)
        result, handle, protocol = self._call(
            "connect to the card",
            scard.SCardConnect,
            context,
            reader,
            scard.SCARD_SHARE_SHARED,
            self._protocols,
        )
        if _code(result) != _SUCCESS:
            raise self._error(result, "connect to the card")
        session = _Session(self, context, reader, int(handle), int(protocol))
        try:
            if transaction:
                result = self._call(
                    "begin transaction", scard.SCardBeginTransaction, session.handle
                )
                if _code(result) != _SUCCESS:
                    raise self._error(result, "begin transaction")
            yield session
            if transaction:
                # Best effort: disconnecting below ends the transaction anyway.
                self._call(
                    "end transaction",
                    scard.SCardEndTransaction,
                    session.handle,
                    scard.SCARD_LEAVE_CARD,
                )
        finally:
            # Leaving the card powered keeps a retry fast; the next script starts with SELECT.
            with contextlib.suppress(Exception):
                scard.SCardDisconnect(session.handle, scard.SCARD_LEAVE_CARD)

    # ----------------------------------------------------------------- errors

    def _error(self, hresult: int, step: str, *, in_script: bool = False) -> HardwareError:
        """The driver error for a failed PC/SC call (and forget a context pcscd dropped)."""
        code = _code(hresult)
        where = f"{self.url}: {step}"
        reader = self.reader or "the reader"
        if code in _NO_SERVICE or code == _INVALID_HANDLE:
            self._release_context()
            return ReaderGone(
                f"{where}: pcscd is not running or was restarted ({_message(hresult)});"
                f" {_START_PCSCD}"
            )
        if code in _READER_GONE:
            return ReaderGone(
                f"{where}: {reader!r} is gone ({_message(hresult)}); check its cable, or"
                " that pcscd still lists it ('pcsc_scan')"
            )
        if in_script and code in _CARD_LEFT:
            return CardRemoved(f"{where}: the card left the field ({_message(hresult)})")
        if code in _NO_CARD:
            return NoCard(f"{where}: no card in the field ({_message(hresult)})")
        if code == _code(scard.SCARD_W_UNRESPONSIVE_CARD):
            return NoCard(f"{where}: the card in the field does not answer ({_message(hresult)})")
        if code == _code(scard.SCARD_E_SHARING_VIOLATION):
            return PermissionDenied(
                f"{where}: another program holds {reader!r} exclusively ({_message(hresult)})",
                retryable=True,
            )
        if code == _code(scard.SCARD_E_PROTO_MISMATCH):
            return DriverConfigError(
                f"{where}: the card does not speak the protocol asked for ({_message(hresult)});"
                " use protocol=any"
            )
        return EncoderError(f"{where}: {_message(hresult)}")


def _card_present(state: int) -> bool:
    """A card is usable: present and not mute (a mute card does not answer its reset)."""
    return bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE


class _Session:
    """One connection to the card: transmits APDUs and chains 61xx / 6Cxx answers."""

    def __init__(
        self, encoder: PcscEncoder, context: int, reader: str, handle: int, protocol: int
    ) -> None:
        self.encoder = encoder
        self.context = context
        self.reader = reader
        self.handle = handle
        self.protocol = protocol

    def uid(self) -> str:
        """The card's UID via GET DATA, upper-case hex."""
        data, sw = self.exchange(GET_UID_APDU, _SW_OK, None)
        if sw != _SW_OK or not data:
            raise EncoderError(
                f"{self.encoder.url}: the reader did not give the card's UID"
                f" (GET DATA answered {status_word_text(sw)}); is this a contactless reader?"
            )
        return data.hex().upper()

    def exchange(self, apdu: bytes, expected: bytes, index: int | None) -> tuple[bytes, bytes]:
        """Send ``apdu``; return (data, final status word), chaining unless SW is ``expected``."""
        data, sw = self._transmit(apdu, index)
        collected = b""
        for _ in range(_MAX_CHAIN):
            if sw == expected:
                break
            if sw[0] == 0x61:  # more data waits: GET RESPONSE, same class byte (channel)
                collected += data
                data, sw = self._transmit(bytes([apdu[0], 0xC0, 0x00, 0x00, sw[1]]), index)
            elif sw[0] == 0x6C and len(apdu) in (4, 5):  # wrong Le on a case 2: resend with it
                data, sw = self._transmit(apdu[:4] + bytes([sw[1]]), index)
            else:
                break
        return collected + data, sw

    def _transmit(self, apdu: bytes, index: int | None) -> tuple[bytes, bytes]:
        encoder = self.encoder
        step = "read UID" if index is None else f"run_script: command {index}"
        result, response = encoder._call(
            step, scard.SCardTransmit, self.handle, self.protocol, list(apdu)
        )
        if _code(result) != _SUCCESS:
            error = encoder._error(result, step, in_script=True)
            if type(error) is EncoderError:  # not yet classified: did the card leave?
                error = self._if_card_left(error, step)
            raise error
        raw = bytes(response)
        if len(raw) < 2:
            # No status word at all: the link to the card broke mid-command (vpcd, for one,
            # reports a vanished card this way). Ask pcscd whether the card is still there.
            raise self._if_card_left(
                EncoderError(f"{encoder.url}: {step}: the card answered {len(raw)} bytes"), step
            )
        return raw[:-2], raw[-2:]

    def _if_card_left(self, error: EncoderError, step: str) -> EncoderError:
        """``CardRemoved`` if pcscd confirms (bounded wait) the card left; else ``error``."""
        encoder = self.encoder
        try:
            left = encoder._wait_for_state(
                self.context, self.reader, present=False, timeout=_REMOVAL_CONFIRM_S
            )
        except ReaderGone as gone:
            return gone
        if left:
            return CardRemoved(f"{encoder.url}: {step}: the card left the field mid-script")
        return error
