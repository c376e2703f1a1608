"""A small virtual contactless card for vsmartcard's virtual reader (vpcd), for training and tests.

With Debian's ``pcscd`` and ``vsmartcard-vpcd`` installed, pcscd shows virtual readers
(``Virtual PCD 00 00``, ``Virtual PCD 00 01``) whose driver listens on TCP 127.0.0.1:35963,
35964… for a virtual card to connect. This module is such a card, so that the real PC/SC
stack — pcscd, the reader driver, pyscard and :mod:`drivers.pcsc` — can be exercised and a
technician can rehearse chip encoding without a blank::

    python -m drivers.vicc --uid 04A1B2C3D4E5F6        # a card in "Virtual PCD 00 00"
    printctl driver check 'pcsc://?reader=Virtual%20PCD%2000%2000'

The vpcd protocol (the card is the TCP client; vpcd listens). Every message, both ways, is a
2-byte big-endian length followed by that many bytes. vpcd sends one-byte control messages —
``00`` power off, ``01`` power on, ``02`` reset (no answer), ``04`` get ATR (answered with
the ATR) — and anything longer is a command APDU, answered with the response APDU. vpcd asks
for the ATR every time pcscd polls for the card's presence (a few times a second), so a card
"leaves the field" by closing its socket.

The card (:class:`VirtualCard`, a pure state machine over bytes) presents a PC/SC part 3 ATR
for an ISO 14443-4 type A card and implements what personalization scripts use:

- ``FF CA 00 00 Le`` (PC/SC GET DATA: UID): the UID + ``9000`` (``6Cxx`` if Le is too short);
- ``00 A4 04 P2 Lc AID``: SELECT by AID, ``9000`` (with an FCI unless P2 = ``0C``) when the
  AID is one of the card's applications, ``6A82`` otherwise;
- ``00 D6 off off Lc data``: UPDATE BINARY into the selected application's file, ``9000``;
- ``00 B0 off off Le``: READ BINARY from it (``6282`` when the file ends first);
- ``00 C0 00 00 Le``: GET RESPONSE, when ``chain_responses`` makes READ BINARY answer
  ``61xx`` as a T=0 card would;
- anything else: ``6D00`` (unknown INS) or ``6E00`` (unknown class).

It misbehaves on request, counted in received APDUs: answer the N-th with a given status word
(:meth:`VirtualCardHandle.fail_next`), or leave the field on receiving it, without answering
(:meth:`VirtualCardHandle.remove_on`). :func:`start_virtual_card` runs a card in a thread.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType

__all__ = [
    "DEFAULT_AIDS",
    "DEFAULT_UID",
    "LEAVE",
    "VPCD_HOST",
    "VPCD_PORT",
    "VirtualCard",
    "VirtualCardError",
    "VirtualCardHandle",
    "contactless_atr",
    "decode_frames",
    "encode_frame",
    "handle_message",
    "main",
    "start_virtual_card",
]

#: Where vpcd listens for the card of its first reader slot (``Virtual PCD 00 00``); slot n
#: listens on ``VPCD_PORT + n``. These are vsmartcard's compiled-in defaults (0x8C7B).
VPCD_HOST = "127.0.0.1"
VPCD_PORT = 35963

#: A 7-byte UID, as an NXP chip of an e-KTP has (double-size UID, first byte 04 = NXP).
DEFAULT_UID = bytes.fromhex("04A1B2C3D4E5F6")

#: Applications the card knows unless told otherwise: the ICAO eMRTD LDS application and the
#: AID used by the worker tests' sample personalization script.
DEFAULT_AIDS: tuple[bytes, ...] = (
    bytes.fromhex("A0000002471001"),
    bytes.fromhex("A000000077010800"),
)

POWER_OFF = 0x00
POWER_ON = 0x01
RESET = 0x02
GET_ATR = 0x04

SW_OK = b"\x90\x00"
SW_END_OF_FILE = b"\x62\x82"
SW_WRONG_LENGTH = b"\x67\x00"
SW_NOT_ALLOWED = b"\x69\x86"  # command not allowed: no current EF
SW_FUNCTION_NOT_SUPPORTED = b"\x6a\x81"
SW_NOT_FOUND = b"\x6a\x82"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_OFFSET_OUTSIDE = b"\x6b\x00"
SW_UNKNOWN_INS = b"\x6d\x00"
SW_UNKNOWN_CLA = b"\x6e\x00"

#: How long a connect to vpcd may take before :func:`start_virtual_card` gives up.
_CONNECT_TIMEOUT_S = 5.0
#: How long stopping waits for the card's thread (it only waits for its socket to close).
_JOIN_TIMEOUT_S = 5.0


class VirtualCardError(ConnectionError):
    """The virtual card could not connect to vpcd (not installed, or pcscd not running)."""


def contactless_atr(historical: bytes = b"") -> bytes:
    """The ATR a PC/SC reader builds for an ISO 14443-4 card (PC/SC part 3, §3.1.3.2.3).

    ``3B 8n 80 01`` + ``n`` historical bytes (the ATS's) + TCK, the XOR of all bytes after TS.
    TD1 = ``80`` and TD2 = ``01`` announce T=1, the protocol PC/SC maps contactless onto.
    """
    if len(historical) > 15:
        raise ValueError(f"{len(historical)} historical bytes; an ATR holds at most 15")
    body = bytes([0x80 | len(historical), 0x80, 0x01]) + historical
    tck = 0
    for byte in body:
        tck ^= byte
    return b"\x3b" + body + bytes([tck])


class VirtualCard:
    """The card's behaviour: ATR, power state and APDU answers, with no I/O.

    ``uid`` is what GET DATA returns; ``aids`` the applications SELECT finds, each with an
    elementary file of ``file_size`` zero bytes that UPDATE/READ BINARY work on once it is
    selected. Written data survives power cycles (it is "EEPROM"); the selection does not.

    ``faults`` maps the index of a received APDU (0-based, counted over the card's life,
    i.e. the position in :attr:`received`) to the status word to answer instead; ``removals``
    holds indices at which the card leaves the field (:meth:`transmit` returns ``None``).
    With ``chain_responses``, READ BINARY answers ``61xx`` and hands its data out through
    GET RESPONSE, like a T=0 card. Not thread-safe: :class:`VirtualCardHandle` locks.
    """

    def __init__(
        self,
        uid: bytes = DEFAULT_UID,
        *,
        aids: Iterable[bytes] = DEFAULT_AIDS,
        file_size: int = 1024,
        historical: bytes = b"",
        faults: Mapping[int, bytes] | None = None,
        removals: Iterable[int] = (),
        chain_responses: bool = False,
    ) -> None:
        if len(uid) not in (4, 7, 10):
            raise ValueError(f"UID of {len(uid)} bytes; ISO 14443-A UIDs have 4, 7 or 10")
        self.uid = bytes(uid)
        self.atr = contactless_atr(historical)
        self.files: dict[bytes, bytearray] = {bytes(aid): bytearray(file_size) for aid in aids}
        self.faults: dict[int, bytes] = dict(faults or {})
        self.removals: set[int] = set(removals)
        self.chain_responses = chain_responses
        self.received: list[bytes] = []
        self.powered = False
        self.selected: bytes | None = None
        self._pending = b""  # data waiting for GET RESPONSE

    # ----------------------------------------------------------------- power

    def power_on(self) -> None:
        """The field comes up: the card answers again, nothing is selected."""
        self.powered = True
        self._forget_session()

    def power_off(self) -> None:
        """The field goes down: volatile state (the selection) is lost."""
        self.powered = False
        self._forget_session()

    def reset(self) -> None:
        """A warm reset: like a power cycle for the card's volatile state."""
        self._forget_session()

    def _forget_session(self) -> None:
        self.selected = None
        self._pending = b""

    # ----------------------------------------------------------------- APDUs

    def transmit(self, apdu: bytes) -> bytes | None:
        """Record ``apdu`` and return the response APDU, or ``None`` if the card leaves now."""
        index = len(self.received)
        self.received.append(bytes(apdu))
        if index in self.removals:
            return None
        response = self.answer(bytes(apdu))
        fault = self.faults.get(index)
        if fault is not None:
            return fault  # a failing chip answers with its status word and no data
        return response

    def answer(self, apdu: bytes) -> bytes:
        """The response APDU (data + SW1 SW2) to ``apdu``, without recording or faults."""
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
        body = apdu[4:]
        if cla == 0xFF:
            if ins == 0xCA:
                return self._get_uid(p1, p2, body)
            return SW_UNKNOWN_INS
        if cla & 0xF0 not in (0x00, 0x80, 0x90):  # 0x0X interindustry, 0x8X/0x9X proprietary
            return SW_UNKNOWN_CLA
        if ins != 0xC0:
            self._pending = b""  # ISO 7816-4: GET RESPONSE must follow the answer it chains
        if ins == 0xA4:
            return self._select(p1, p2, body)
        if ins == 0xD6:
            return self._update_binary(p1, p2, body)
        if ins == 0xB0:
            return self._read_binary(p1, p2, body)
        if ins == 0xC0:
            return self._get_response(body)
        return SW_UNKNOWN_INS

    def _get_uid(self, p1: int, p2: int, body: bytes) -> bytes:
        if (p1, p2) != (0x00, 0x00):
            return SW_FUNCTION_NOT_SUPPORTED  # P1 = 01 (ATS historical bytes) is not emulated
        le = body[0] if len(body) == 1 else 0
        if 0 < le < len(self.uid):
            return bytes([0x6C, len(self.uid)])  # PC/SC part 3: wrong Le, here is the right one
        return self.uid + SW_OK

    def _select(self, p1: int, p2: int, body: bytes) -> bytes:
        if p1 != 0x04:
            return SW_WRONG_P1P2  # only selection by DF name (AID) is emulated
        if not body or len(body) < 1 + body[0]:
            return SW_WRONG_LENGTH
        aid = body[1 : 1 + body[0]]
        if aid not in self.files:
            return SW_NOT_FOUND
        self.selected = aid
        if p2 & 0x0C == 0x0C:
            return SW_OK  # "no response data" requested
        fci = b"\x84" + bytes([len(aid)]) + aid
        return b"\x6f" + bytes([len(fci)]) + fci + SW_OK

    def _current_file(self) -> bytearray | None:
        return None if self.selected is None else self.files[self.selected]

    def _update_binary(self, p1: int, p2: int, body: bytes) -> bytes:
        if p1 & 0x80:
            return SW_FUNCTION_NOT_SUPPORTED  # short EF identifiers are not emulated
        if not body or len(body) != 1 + body[0] or body[0] == 0:
            return SW_WRONG_LENGTH
        ef = self._current_file()
        if ef is None:
            return SW_NOT_ALLOWED
        offset, data = (p1 << 8) | p2, body[1:]
        if offset + len(data) > len(ef):
            return SW_OFFSET_OUTSIDE
        ef[offset : offset + len(data)] = data
        return SW_OK

    def _read_binary(self, p1: int, p2: int, body: bytes) -> bytes:
        if p1 & 0x80:
            return SW_FUNCTION_NOT_SUPPORTED
        if len(body) > 1:
            return SW_WRONG_LENGTH
        ef = self._current_file()
        if ef is None:
            return SW_NOT_ALLOWED
        offset = (p1 << 8) | p2
        if offset >= len(ef):
            return SW_OFFSET_OUTSIDE
        wanted = (body[0] or 256) if body else 256
        data = bytes(ef[offset : offset + wanted])
        if self.chain_responses:
            self._pending = data
            return bytes([0x61, len(data) & 0xFF])
        return data + (SW_END_OF_FILE if len(data) < wanted else SW_OK)

    def _get_response(self, body: bytes) -> bytes:
        if not self._pending:
            return SW_NOT_ALLOWED
        wanted = (body[0] or 256) if body else 256
        data, self._pending = self._pending[:wanted], self._pending[wanted:]
        if self._pending:
            return data + bytes([0x61, len(self._pending) & 0xFF])
        return data + SW_OK


# --------------------------------------------------------------------------- vpcd protocol


def encode_frame(payload: bytes) -> bytes:
    """One vpcd message: 2-byte big-endian length, then ``payload``."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"{len(payload)} bytes do not fit one vpcd message")
    return len(payload).to_bytes(2, "big") + payload


def decode_frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Split ``buffer`` into whole vpcd messages and the incomplete rest."""
    frames: list[bytes] = []
    while len(buffer) >= 2:
        size = int.from_bytes(buffer[:2], "big")
        if len(buffer) < 2 + size:
            break
        frames.append(buffer[2 : 2 + size])
        buffer = buffer[2 + size :]
    return frames, buffer


class _Leave:
    """Marker: the card leaves the field instead of answering."""


LEAVE = _Leave()


def handle_message(card: VirtualCard, message: bytes) -> bytes | _Leave | None:
    """What ``card`` sends back for one vpcd message: bytes, nothing (``None``) or :data:`LEAVE`.

    A one-byte message is a control message (no APDU is shorter than 4 bytes); an unknown
    control byte is ignored, as vsmartcard's own card does.
    """
    if len(message) == 1:
        control = message[0]
        if control == GET_ATR:
            return card.atr
        if control == POWER_ON:
            card.power_on()
        elif control == POWER_OFF:
            card.power_off()
        elif control == RESET:
            card.reset()
        return None
    response = card.transmit(message)
    return LEAVE if response is None else response


# --------------------------------------------------------------------------- running a card


class VirtualCardHandle:
    """A :class:`VirtualCard` connected to vpcd by a background thread.

    :meth:`remove` takes the card out of the field (closes the socket), :meth:`insert` puts
    it back (reconnects, keeping its data), :meth:`stop` removes it for good. ``received``
    lists the APDUs the card got, in order. pcscd notices a change at its next poll, so a
    caller that needs the reader to agree waits for the reader state (see ``tests/pcsc_support``).
    """

    def __init__(self, card: VirtualCard, host: str, port: int) -> None:
        self.card = card
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._left = threading.Event()  # set once the card has left the field on its own

    def __enter__(self) -> VirtualCardHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def received(self) -> tuple[bytes, ...]:
        """Every APDU the card received, in order (including one it left the field on)."""
        with self._lock:
            return tuple(self.card.received)

    @property
    def inserted(self) -> bool:
        """True while the card is connected to vpcd (in the reader's field)."""
        with self._lock:
            return self._sock is not None

    def fail_next(self, status_word: bytes, n: int = 1) -> None:
        """Answer the ``n``-th APDU from now (1 = the next one) with ``status_word`` only."""
        if len(status_word) != 2 or n < 1:
            raise ValueError("a status word is 2 bytes and n counts from 1")
        with self._lock:
            self.card.faults[len(self.card.received) + n - 1] = bytes(status_word)

    def remove_on(self, n: int = 1) -> None:
        """Leave the field on receiving the ``n``-th APDU from now, without answering it."""
        if n < 1:
            raise ValueError("n counts from 1")
        with self._lock:
            self.card.removals.add(len(self.card.received) + n - 1)

    def wait_left(self, timeout: float) -> bool:
        """Wait until the card left the field on its own (a :meth:`remove_on`); True if it did."""
        return self._left.wait(timeout)

    def insert(self) -> None:
        """Put the card (back) into the field: connect to vpcd. Idempotent."""
        with self._lock:
            if self._sock is not None:
                return
            try:
                sock = socket.create_connection((self.host, self.port), _CONNECT_TIMEOUT_S)
            except OSError as exc:
                raise VirtualCardError(
                    f"cannot reach vpcd at {self.host}:{self.port} ({exc}); is pcscd running"
                    " with vsmartcard-vpcd installed? (see .ci/pcsc-setup.sh)"
                ) from exc
            # vpcd may not accept() until its next presence poll; reads then block, which
            # is what the serving thread wants, so no timeout once connected.
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self._left.clear()
            self._thread = threading.Thread(
                target=self._serve, args=(sock,), name=f"vicc-{self.port}", daemon=True
            )
            self._thread.start()

    def remove(self) -> None:
        """Take the card out of the field: close the connection. Idempotent."""
        with self._lock:
            sock, thread = self._sock, self._thread
            self._sock = self._thread = None
        if sock is not None:
            _close(sock)
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT_S)

    def stop(self) -> None:
        """Remove the card for good (same as :meth:`remove`; the handle may be reinserted)."""
        self.remove()

    def _serve(self, sock: socket.socket) -> None:
        buffer = b""
        while True:
            try:
                chunk = sock.recv(4096)
            except OSError:
                chunk = b""  # closed under us by remove(): same as vpcd hanging up
            if not chunk:
                break
            frames, buffer = decode_frames(buffer + chunk)
            for message in frames:
                with self._lock:
                    if self._sock is not sock:
                        return  # removed meanwhile; answer nothing more
                    reply = handle_message(self.card, message)
                    if isinstance(reply, _Leave):
                        self._sock = self._thread = None
                        self._left.set()
                        _close(sock)
                        return
                try:
                    if reply is not None:
                        sock.sendall(encode_frame(reply))
                except OSError:
                    break
        with self._lock:
            if self._sock is sock:  # vpcd hung up (pcscd stopped): the card is out
                self._sock = self._thread = None
                self._left.set()
        _close(sock)


def _close(sock: socket.socket) -> None:
    # shutdown() wakes a recv() blocked in the serving thread; close() alone may not.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def start_virtual_card(
    uid: bytes | str = DEFAULT_UID,
    *,
    host: str = VPCD_HOST,
    port: int = VPCD_PORT,
    aids: Iterable[bytes] = DEFAULT_AIDS,
    chain_responses: bool = False,
) -> VirtualCardHandle:
    """Connect a new virtual card to vpcd at ``host:port`` and serve it from a thread.

    ``uid`` is bytes or hex. Raises :class:`VirtualCardError` when vpcd does not listen there
    (pcscd not running, or vsmartcard-vpcd not installed).
    """
    raw = bytes.fromhex(uid) if isinstance(uid, str) else uid
    card = VirtualCard(raw, aids=aids, chain_responses=chain_responses)
    handle = VirtualCardHandle(card, host, port)
    handle.insert()
    return handle


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m drivers.vicc``: keep a virtual card in a vpcd reader until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m drivers.vicc",
        description="A virtual contactless card for vsmartcard's vpcd reader (training, tests).",
    )
    parser.add_argument("--uid", default=DEFAULT_UID.hex().upper(), help="UID, hex (4/7/10 B)")
    parser.add_argument("--host", default=VPCD_HOST, help="where vpcd listens")
    parser.add_argument(
        "--port", type=int, default=VPCD_PORT, help="vpcd port: 35963 = reader slot 00"
    )
    parser.add_argument(
        "--aid", action="append", default=None, help="an application AID, hex (repeatable)"
    )
    args = parser.parse_args(argv)
    aids = [bytes.fromhex(a) for a in args.aid] if args.aid else list(DEFAULT_AIDS)
    try:
        handle = start_virtual_card(args.uid, host=args.host, port=args.port, aids=aids)
    except (VirtualCardError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")
    print(f"virtual card {args.uid.upper()} in the field of vpcd {args.host}:{args.port};")
    print("Ctrl-C removes it.")
    try:
        while handle.inserted:
            handle.wait_left(3600)
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
    for apdu in handle.received:
        print(apdu.hex().upper())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
