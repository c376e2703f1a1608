"""An Evolis device simulator: the printer end of the byte stream, shipped in the product.

It parses exactly what a real printer receives with :class:`~drivers.evolis.framing.
StreamParser`, keeps the printer's state (hopper, ribbon, card position, lifetime counters,
ACK/NACK mode), answers like the printer (ACK / NACK + code / NUL-terminated strings), and
keeps every card's downloaded panels so that tests can compare them with what was rendered.
Serve it over TCP (:meth:`EvolisSimulator.serve_tcp`), a pseudo-terminal
(:meth:`EvolisSimulator.serve_pty`, for ``evolis+serial`` and ``evolis+file``) or pyusb
(:class:`drivers.evolis.usbsim.SimulatedBackend`). A technician runs it with
``printctl driver simulate evolis --tcp PORT`` (:func:`run_simulator`).

Options, as a URL query string (unknown options are rejected)::

    cards=100  ribbon=200  counter=0  panels=0      hopper, ribbon (cards), lifetime counters
    model=Primacy  serial=EVSIM0001  firmware=SIM-1.0
    ackmode=false       start in ACK/NACK mode (a real printer starts without, until Pem;4)
    cover=closed|open   an open cover NACKs every card-moving command with C
    nul=true            end text replies with NUL (false: the host must wait for silence)
    fault=…  fault_rate=…  seed=0      the drivers.faults grammar over the steps below
    silent_after=N      misbehave: stop answering (and acting) after N commands
    garble=false        misbehave: answer every command with the text "?"

Fault steps and kinds: ``feed`` (``Si``, or a card inserted by ``Sr``/a download inside an
``Ss`` sequence): jam, cover, empty, timeout; ``encode`` (``Sic``/``Sis``): jam, cover,
timeout; ``print`` (the first ``Sr``/download on a card): jam, cover, ribbon, media-reprint,
timeout; ``eject`` (``Se``) and ``reject`` (``Ser``): jam, cover, timeout; ``status`` (``R…``):
timeout. ``timeout`` means the printer acts but its reply is lost. ``jam`` (NACK ``T``) and
``ribbon`` (NACK ``R``) spoil the card into the reject box and end the sequence, as the
printer's own recovery does. ``media-reprint`` reproduces spec §5: the print fails, the
printer takes a second blank and prints the job again by itself; the host only sees the
``Se`` ACK, and ``Rco;c`` goes up by 2.

Printing follows [E] p.69: each download prints the panel sent before it, ``Sv`` finishes
the front, ``Se`` prints the last panel and ejects. ``Rco;p`` counts printed panels.
Assumed reply strings (undocumented, spec §7): ``Rlr;p`` answers ``NO CARD`` or ``CARD``,
``Rcr`` ``OK`` or ``RIBBON END``, ``Rco;…`` a bare decimal number.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

from drivers.evolis.framing import (
    BINARY_COMMANDS,
    Command,
    StreamParser,
    encode_ack,
    encode_nack,
    encode_text,
)
from drivers.evolis.panels import (
    DecodedPanel,
    PanelError,
    colour_image,
    decode_download,
    mono_image,
)
from drivers.faults import Fault, FaultPlan, FaultProfile
from drivers.urls import parse_driver_url

__all__ = ["EVOLIS_FAULTS", "EvolisSimulator", "SimCard", "run_simulator"]

#: Fault steps of the simulated Evolis printer (grammar in :mod:`drivers.faults`).
EVOLIS_FAULTS = FaultProfile(
    device="evolis",
    allowed={
        "feed": frozenset({"jam", "cover", "empty", "timeout"}),
        "encode": frozenset({"jam", "cover", "timeout"}),
        "print": frozenset({"jam", "cover", "ribbon", "media-reprint", "timeout"}),
        "eject": frozenset({"jam", "cover", "timeout"}),
        "reject": frozenset({"jam", "cover", "timeout"}),
        "status": frozenset({"timeout"}),
    },
    random_pool={"feed": ("jam",), "print": ("media-reprint", "jam")},
    aliases={"si": "feed", "sic": "encode", "sis": "encode", "se": "eject", "ser": "reject"},
)

#: Ribbon types ``Pr`` accepts (spec §2), and [WIN]'s undocumented ``k``.
_RIBBONS = frozenset(
    {"ymcko", "ymckos", "ymckok", "ko", "h", "ho", "k", "Ktc", "Ktp", "Ka"}
    | {"kb", "kw", "kr", "kbl", "kgr", "kgo", "ksi", "ksc"}
)
_NACK_FOR = {"jam": "T", "cover": "C", "empty": "F", "ribbon": "R"}


@dataclass
class SimCard:
    """One card that went through the simulator: its downloaded panels and where it ended.

    ``downloads`` maps (side, panel) — side ``"front"``/``"back"`` — to the parsed download
    command; decode with :meth:`panel`, :meth:`black` or :meth:`colour`.
    """

    downloads: dict[tuple[str, str], Command] = field(default_factory=dict)
    outcome: str = "in-printer"  # output | reject | in-printer
    reprinted: bool = False
    encoded_at: str | None = None

    def panel(self, side: str, name: str) -> DecodedPanel:
        """The decoded ``name`` panel (y m c k o) of ``side``."""
        return decode_download(self.downloads[(side, name)])

    def black(self, side: str = "front") -> Image.Image:
        """The K panel of ``side`` as an upright mode-1 image (black = printed)."""
        return mono_image(self.panel(side, "k").data)

    def colour(self, side: str = "front") -> Image.Image:
        """The Y, M and C panels of ``side`` as an upright RGB image."""
        y, m, c = (self.panel(side, name) for name in "ymc")
        return colour_image(y.data, m.data, c.data, y.levels)


class EvolisSimulator:
    """A simulated Evolis printer; thread-safe, one state shared by all connections."""

    def __init__(self, options: str = "") -> None:
        opts = parse_driver_url(f"evolis-sim://?{options.lstrip('?')}").options_reader()
        self.hopper = opts.get_int("cards", 100, minimum=0)
        self.ribbon_left = opts.get_int("ribbon", 200, minimum=0)
        self.cards_inserted = opts.get_int("counter", 0, minimum=0)
        self.panels_printed = opts.get_int("panels", 0, minimum=0)
        self.model = opts.get_str("model", "Primacy")
        self.serial = opts.get_str("serial", "EVSIM0001")
        self.firmware = opts.get_str("firmware", "SIM-1.0")
        self.ack_mode = opts.get_bool("ackmode", False)
        self.cover_open = opts.get_str("cover", "closed", choices=("closed", "open")) == "open"
        self._nul = opts.get_bool("nul", True)
        seed = opts.get_int("seed", 0)
        self.plan = FaultPlan.from_options(opts, EVOLIS_FAULTS, seed=seed)
        self._silent_after = opts.get_int("silent_after", 0, minimum=0)
        self._garble = opts.get_bool("garble", False)
        opts.done()
        self.output_tray = 0
        self.reject_bin = 0
        self.ribbon_type = "ymcko"
        self.position = "none"  # none | print | contactless | contact
        self.cards: list[SimCard] = []
        #: Every command received, payloads elided: what tests assert on for sequences.
        self.log: list[str] = []
        self._card: SimCard | None = None
        self._sequence = False
        self._side = "front"
        self._pending: tuple[str, str] | None = None
        self._printed_on_card = 0
        self._print_fault: Fault | None = None
        self._commands = 0
        self._lose_reply = False
        self._parser = StreamParser()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._closers: list[Callable[[], None]] = []

    # ----------------------------------------------------------------- the byte stream

    def connect(self) -> None:
        """A new host connection: forget any half-received command."""
        with self._lock:
            # The delimiters are a printer setting (Psc) and survive; a partial command not.
            self._parser = StreamParser(self._parser.delimiters)

    def receive(self, data: bytes) -> bytes:
        """Process bytes from the host; return the bytes the printer sends back."""
        with self._lock:
            out = bytearray()
            for command in self._parser.feed(data):
                out += self._handle(command)
            return bytes(out)

    @property
    def last_card(self) -> SimCard:
        """The most recent card (raises IndexError when none was inserted)."""
        return self.cards[-1]

    def _handle(self, command: Command) -> bytes:
        self._commands += 1
        self.log.append(str(command))
        if self._silent_after and self._commands > self._silent_after:
            return b""  # misbehaving: hung, ignores everything
        if self._garble:
            return encode_text("?") if self._nul else b"?"
        self._lose_reply = False
        reply = self._dispatch(command)
        if self._lose_reply:  # fault "timeout": the command was carried out, the reply lost
            return b""
        if reply is None:  # an accepted command
            return encode_ack() if self.ack_mode else b""
        if isinstance(reply, str) and len(reply) == 1 and reply in "12TCFRKDW":
            return encode_nack(reply) if self.ack_mode else b""
        text = reply[1:]  # "=text": a data reply, sent in every mode
        return encode_text(text) if self._nul else text.encode("latin-1")

    def _dispatch(self, command: Command) -> str | None:
        """``None`` = ACK, a single code character = NACK, ``"=text"`` = a string reply."""
        if command.error is not None:
            return "1"
        name = command.name
        if name.startswith("R"):
            return self._read(command)
        handler = {
            "Pem": self._pem,
            "Psc": lambda c: None,  # the parser already follows the new delimiters
            "Pr": self._ribbon,
            "Ss": self._start,
            "Si": self._insert,
            "Sic": self._encode,
            "Sis": self._encode,
            "Sr": self._set_side,
            "Sv": self._set_side,
            "Se": self._end,
            "Ser": self._reject,
            "Seb": self._reject,
            "Srs": self._reset,
        }.get(name)
        if handler is not None:
            return handler(command)
        if name in BINARY_COMMANDS:
            return self._download(command)
        if name.startswith(("P", "M", "W")) or name in ("Sdm", "Sdu", "Scs", "Sk"):
            return None  # settings, motors and drawing: accepted, not simulated
        return "1"

    # ----------------------------------------------------------------- settings, reads

    def _pem(self, command: Command) -> str | None:
        if command.param(0) == "4":
            self.ack_mode = True  # Pem;4 switches ACK/NACK on, other settings untouched
        elif not command.param(0).isdigit():
            return "2"
        return None

    def _ribbon(self, command: Command) -> str | None:
        if command.param(0) not in _RIBBONS:
            return "2"
        self.ribbon_type = command.param(0)
        return None

    def _read(self, command: Command) -> str:
        fault = self.plan.next("status")
        values = {
            ("Rtp", ""): self.model,
            ("Rsn", ""): self.serial,
            ("Rfv", ""): self.firmware,
            ("Rck", ""): "0000",
            ("Rco", "c"): str(self.cards_inserted),
            ("Rco", "p"): str(self.panels_printed),
            ("Rco", "l"): str(self.ribbon_left),
            ("Rco", "a"): "0",
            ("Rco", "m"): "0",
            ("Rco", "n"): "0",
            ("Rcr", ""): "OK" if self.ribbon_left > 0 else "RIBBON END",
            ("Rlr", "p"): "NO CARD" if self._card is None else "CARD",
            ("Rlr", "r"): "OK",
            ("Rr", ""): self.ribbon_type,
            ("Rrs", ""): "L",
            ("Rem", ""): "4;0" if self.ack_mode else "0;0",
            ("Rsc", ""): ";".join(
                str(v)
                for v in (
                    self._parser.delimiters.start,
                    self._parser.delimiters.separator,
                    self._parser.delimiters.end,
                )
            ),
        }
        value = values.get((command.name, command.param(0)))
        if value is None:
            return "1"
        if fault is not None:
            self._lose_reply = True
        return "=" + value

    # ----------------------------------------------------------------- card movement

    def _fault_nack(self, fault: Fault | None, *, spoil: bool = True) -> str | None:
        """The NACK for a fault that stops a step, spoiling the card for jam/ribbon."""
        if fault is None or fault.kind in ("timeout", "media-reprint"):
            return None
        if fault.kind in ("jam", "ribbon") and spoil:
            if fault.kind == "ribbon":
                self.ribbon_left = 0
            self._finish("reject")
        return _NACK_FOR[fault.kind]

    def _start(self, command: Command) -> str | None:
        self._sequence = True
        return None

    def _insert(self, command: Command) -> str | None:
        if self._card is not None:
            return "1"
        return self._take_blank()

    def _take_blank(self) -> str | None:
        fault = self.plan.next("feed")
        if self.cover_open or (fault is not None and fault.kind == "cover"):
            return "C"
        if self.hopper == 0 or (fault is not None and fault.kind == "empty"):
            return "F"
        self.hopper -= 1
        self.cards_inserted += 1
        self._card = SimCard()
        self.cards.append(self._card)
        self._sequence = True
        self._side = "front"
        self._pending = None
        self._printed_on_card = 0
        self._print_fault = None
        self.position = "print"
        nack = self._fault_nack(fault)
        if fault is not None and fault.kind == "timeout":
            self._lose_reply = True
        return nack

    def _encode(self, command: Command) -> str | None:
        if self._card is None or self._printed_on_card or self._pending:
            return "1"
        fault = self.plan.next("encode")
        if self.cover_open:
            return "C"
        nack = self._fault_nack(fault)
        if nack is not None:
            return nack
        self.position = "contactless" if command.name == "Sic" else "contact"
        self._card.encoded_at = self.position
        if fault is not None:
            self._lose_reply = True
        return None

    def _ensure_card(self) -> str | None:
        """Inside an ``Ss`` sequence, the first print command inserts the card ([WIN])."""
        if self._card is not None:
            return None
        if not self._sequence:
            return "1"
        return self._take_blank()

    def _start_printing(self) -> str | None:
        """The first print command on a card meets the ``print`` fault plan."""
        if self._print_fault is not None or self._printed_on_card or self._pending:
            return None
        fault = self.plan.next("print")
        self._print_fault = fault or Fault("print", 0, "none", "plan")
        if self.cover_open or (fault is not None and fault.kind == "cover"):
            self._print_fault = None
            return "C"
        if self.ribbon_left == 0:
            self._finish("reject")
            return "R"
        nack = self._fault_nack(fault)
        if fault is not None and fault.kind == "timeout":
            self._lose_reply = True
        return nack

    def _set_side(self, command: Command) -> str | None:
        nack = self._ensure_card() or self._start_printing()
        if nack is not None:
            return nack
        self._flush()  # the printer finishes the front before it turns the card
        self._side = "front" if command.name == "Sr" else "back"
        self.position = "print"
        return None

    def _download(self, command: Command) -> str | None:
        panel = command.param(0)
        if command.name not in ("Db", "Dbc") or panel not in ("y", "m", "c", "k", "o"):
            return "2"  # half panels (Dbp/Dbpc) are not simulated
        nack = self._ensure_card() or self._start_printing()
        if nack is not None:
            return nack
        assert self._card is not None
        try:
            if command.name == "Dbc" or panel in "ko":
                decode_download(command)  # colour Db is decoded lazily: it is large and slow
        except PanelError:
            return "2"
        self._flush()  # each download prints the panel sent before it ([E] p.69)
        self._card.downloads[(self._side, panel)] = command
        self._pending = (self._side, panel)
        self.position = "print"
        return None

    def _flush(self) -> None:
        if self._pending is not None:
            self._pending = None
            self._printed_on_card += 1
            self.panels_printed += 1

    def _end(self, command: Command) -> str | None:
        if self._card is None:
            self._sequence = False
            return None
        fault = self.plan.next("eject")
        if self.cover_open or (fault is not None and fault.kind == "cover"):
            return "C"
        self._flush()
        if self._printed_on_card:
            self.ribbon_left = max(0, self.ribbon_left - 1)
        if self._print_fault is not None and self._print_fault.kind == "media-reprint":
            nack = self._reprint()
            if nack is not None:
                return nack
        nack = self._fault_nack(fault)
        if nack is not None:
            return nack
        self._finish("output")
        if fault is not None:
            self._lose_reply = True
        return None

    def _reprint(self) -> str | None:
        # Spec §5: the print failed; the printer spoils this blank and re-runs the job on a
        # second one by itself. One host job, two blanks: Rco;c +2, panels printed twice.
        assert self._card is not None
        self.reject_bin += 1
        self._card.reprinted = True
        if self.hopper == 0:
            self._finish(None)
            return "F"
        self.hopper -= 1
        self.cards_inserted += 1
        self.panels_printed += self._printed_on_card
        self.ribbon_left = max(0, self.ribbon_left - 1)
        return None

    def _reject(self, command: Command) -> str | None:
        if self._card is None:
            return "1"
        fault = self.plan.next("reject")
        if self.cover_open or (fault is not None and fault.kind == "cover"):
            return "C"
        nack = self._fault_nack(fault)
        if nack is not None:
            return nack
        self._finish("reject")
        if fault is not None:
            self._lose_reply = True
        return None

    def _reset(self, command: Command) -> str | None:
        if self._card is not None:
            self._finish("reject")
        self.ack_mode = False  # Srs is a power cycle: Pem goes back to its saved value
        self._parser.delimiters = StreamParser().delimiters
        return None

    def _finish(self, outcome: str | None) -> None:
        if self._card is not None and outcome is not None:
            self._card.outcome = outcome
            if outcome == "output":
                self.output_tray += 1
            else:
                self.reject_bin += 1
        self._card = None
        self._sequence = False
        self._pending = None
        self._printed_on_card = 0
        self._print_fault = None
        self._side = "front"
        self.position = "none"

    # ----------------------------------------------------------------- operator hooks

    def set_cover(self, is_open: bool) -> None:
        """Open or close the cover."""
        with self._lock:
            self.cover_open = is_open

    def load_cards(self, count: int) -> None:
        """Put ``count`` more blanks in the hopper."""
        with self._lock:
            self.hopper += count

    # ----------------------------------------------------------------- servers

    def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0 = an ephemeral port) in a thread; return the port."""
        server = socket.create_server((host, port))
        server.settimeout(0.05)
        bound = int(server.getsockname()[1])
        self._closers.append(server.close)
        self._spawn(self._accept_loop, server)
        return bound

    def _accept_loop(self, server: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connect()
            self._spawn(self._serve_connection, conn)

    def _serve_connection(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                reply = self.receive(data)
                if reply:
                    try:
                        conn.sendall(reply)
                    except OSError:
                        return

    def serve_pty(self) -> str:
        """Serve on a new pseudo-terminal; return its slave path for ``evolis+serial``.

        The slave is put in raw mode (no CR translation, no echo) and one slave descriptor
        stays open here, so the host may close and reopen the path between jobs.
        """
        master, slave = os.openpty()
        tty.setraw(slave)
        path = os.ttyname(slave)
        self._closers.append(lambda: _close_fd(slave))
        self._closers.append(lambda: _close_fd(master))
        self._spawn(self._pty_loop, master)
        return path

    def _pty_loop(self, master: int) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(master, 65536)
            except OSError:
                return
            reply = self.receive(data)
            view = memoryview(reply)
            while view and not self._stop.is_set():
                try:
                    view = view[os.write(master, view) :]
                except BlockingIOError:
                    time.sleep(0.001)
                except OSError:
                    return

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="evolis-sim")
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        """Stop every server this simulator runs and wait for their threads."""
        self._stop.set()
        for close in self._closers:
            with contextlib.suppress(OSError):
                close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2)
        self._closers.clear()
        self._threads.clear()

    def __enter__(self) -> EvolisSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _close_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def run_simulator(
    tcp_port: int | None = None,
    pty: bool = False,
    options: str = "",
    *,
    host: str = "127.0.0.1",
    echo: Callable[[str], None] = print,
    wait: Callable[[], None] | None = None,
) -> None:
    """Run a simulator until Ctrl-C, printing where it listens and the URLs to use.

    Backs ``printctl driver simulate evolis [--tcp PORT] [--pty] [--options …]``. ``wait``
    replaces the blocking wait (tests); by default it sleeps until KeyboardInterrupt.
    """
    simulator = EvolisSimulator(options)
    if tcp_port is None and not pty:
        tcp_port = 0
    try:
        if tcp_port is not None:
            port = simulator.serve_tcp(host, tcp_port)
            echo(f"Evolis simulator on tcp {host}:{port}  →  evolis+tcp://{host}:{port}")
        if pty:
            path = simulator.serve_pty()
            echo(
                f"Evolis simulator on pty {path}  →  evolis+serial://{path}"
                f"  or  evolis+file://{path}"
            )
        echo("Ctrl-C to stop.")
        try:
            if wait is not None:
                wait()
            else:
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
    finally:
        simulator.stop()
        echo(
            f"stopped: {simulator.cards_inserted} cards inserted,"
            f" {simulator.panels_printed} panels printed"
        )
