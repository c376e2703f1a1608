"""Simulated card printer and chip encoder: stateful, timed, and scripted to fail on cue.

``sim://`` behaves like a desktop retransfer-free card printer (hopper, ribbon, output tray,
reject bin, lifetime counters, card position) so that the worker, the blank ledger and the
reconciliation can be exercised without hardware, and a technician can rehearse trouble with
``printctl driver check 'sim://?cards=5&fault=print:3:jam'``.

Printer URL options (unknown options are rejected)::

    cards=100         blanks in the hopper
    ribbon=200        ribbon left, in cards (one YMCKO-K panel set per card, see below)
    ribbon_low=10     status reports the warning ``ribbon-low`` at this many cards left or fewer
    counter=0         start value of the lifetime ``cards_inserted`` counter
    panels=0          start value of the lifetime ``panels_printed`` counter
    card_ms=0         simulated milliseconds per card: 25 % feed, 50 % print, 25 % eject/reject
    timescale=1       divide every simulated duration by this (``card_ms=120000&timescale=100``)
    serial=SIM0001    model=printctl-sim
    colour=true       duplex=true
    station=contactless|contact|none          where move_to_encoder parks the card
    encode=before|after                       encode before (default) or after printing
    fault=…  fault_rate=0…1  seed=0           see :mod:`drivers.faults`
    state=PATH        keep hopper, ribbon, counters, trays and fault-call counts in this
                      JSON file, so that a process started again finds the printer as the
                      last one left it (a card left in the path goes to the reject bin)

Ribbon accounting. The ribbon is counted in cards because that is how ribbons are sold and
rated ("200 cards"): every printed card consumes one panel set whether or not it has a back,
as on a real YMCKO-K ribbon. ``PrinterStatus.ribbon_panels_left`` reports cards left × panels
per set (YMCKO + K = 6 when duplex, 5 simplex; 1 (+1) for a monochrome printer).
``panels_printed`` counts panels actually printed: 5 for a colour front (Y, M, C, K, O), 1 for
a monochrome front, plus 1 for a back (K).

Card life. ``feed → [move_to_encoder] → print_card → eject | reject`` (with ``encode=after``:
``feed → print_card → [move_to_encoder] → eject | reject``); ``reject`` is allowed at any
point after ``feed``. A call out of order raises :class:`CardSequenceError` and changes
nothing. A card is ejected only once printed: a blank card goes to the reject bin.

What each fault kind does to the card (see :mod:`drivers.faults` for the plan grammar):

- ``jam``, ``media``, ``ribbon``: the card is spoiled and ends in the reject bin (the operator
  cleared the path); nothing is left in the printer. ``ribbon`` also empties the ribbon.
  ``jam`` on ``feed`` takes a blank from the hopper first.
- ``media-reprint``: the first attempt is spoiled into the reject bin and the printer prints
  again on a second blank; the call succeeds. If no blank or ribbon is left for the reprint,
  the call raises :class:`MediaError` / :class:`RibbonOut` instead.
- ``cover``, ``empty``, ``offline``, ``denied``: the step did not happen; nothing moved.
- ``timeout``: the step DID happen but its reply was lost, so the caller cannot know; on
  ``feed`` the error says ``card_may_have_moved``. This is the "outcome unknown" case.
- ``power`` (``print`` only): the power fails half-way through printing. The state file is
  written with the card in the path and the whole process ends at once (exit status 137,
  as if killed), so that recovery after a restart can be rehearsed.

A persistent open cover (:meth:`SimPrinter.set_cover`) makes every moving step raise
:class:`CoverOpen` until it is closed.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from drivers.faults import ENCODER_FAULTS, PRINTER_FAULTS, Fault, FaultPlan, error_for
from drivers.urls import parse_driver_url
from printctl.hardware import (
    PANEL_SIZE,
    CardImage,
    CardPosition,
    CoverOpen,
    DeviceTimeout,
    DriverConfigError,
    EncoderError,
    EncoderStation,
    FeederEmpty,
    HardwareError,
    MediaError,
    PrinterCapabilities,
    PrinterError,
    PrinterState,
    PrinterStatus,
    RibbonOut,
    SidePanels,
    StatusWordMismatch,
)

if TYPE_CHECKING:
    from printctl.domain import ChipCommand

__all__ = [
    "CardSequenceError",
    "DeviceNotOpen",
    "ImageRejected",
    "MalformedCommand",
    "SimEncoder",
    "SimPrinter",
    "apdu_problem",
    "simulated_status_word",
]

#: The exit status of a process a simulated power loss ends (as if killed by SIGKILL).
POWER_LOSS_EXIT = 137

#: Share of ``card_ms`` each moving step takes; encoding time belongs to the encoder.
_TIME_SHARE = {"feed": 0.25, "encode": 0.0, "print": 0.5, "eject": 0.25, "reject": 0.25}


class DeviceNotOpen(HardwareError):
    """A simulated device was used before :meth:`open` (a caller bug, never retryable)."""

    code = "not-open"


class CardSequenceError(PrinterError):
    """A call broke the card-life order (e.g. ``feed`` with a card already in the path)."""

    code = "card-sequence"


class ImageRejected(PrinterError):
    """The card image does not fit the printer (panel size, mode, colour or duplex)."""

    code = "image-rejected"


class MalformedCommand(EncoderError):
    """A chip command is not a well-formed APDU or its expected status word is not 2 bytes."""

    code = "malformed-apdu"


class _Stage(enum.Enum):
    """How far the current card has come, which decides the calls allowed next."""

    FED = "fed"
    ENCODED = "encoded"
    PRINTED = "printed"
    PRINTED_ENCODED = "printed+encoded"


# --------------------------------------------------------------------------- printer


class SimPrinter:
    """A simulated card printer configured by a ``sim://`` URL (options in the module doc).

    ``sleep`` and ``clock`` are injected so that tests simulate time per card without waiting.
    All public methods hold one lock, so a sim shared between threads stays consistent.
    Read-only attributes (``hopper``, ``output_tray``, ``reject_bin``, ``ribbon_left``,
    ``cards_inserted``, ``panels_printed``, ``position``, ``last_image``, ``printed_labels``,
    ``plan``) are there for tests to assert on.
    """

    def __init__(
        self,
        url: str = "sim://",
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        parsed = parse_driver_url(url)
        opts = parsed.options_reader()
        self.hopper = opts.get_int("cards", 100, minimum=0)
        self.ribbon_left = opts.get_int("ribbon", 200, minimum=0)
        self._ribbon_low = opts.get_int("ribbon_low", 10, minimum=0)
        self.cards_inserted = opts.get_int("counter", 0, minimum=0)
        self.panels_printed = opts.get_int("panels", 0, minimum=0)
        self._card_ms = opts.get_float("card_ms", 0.0, minimum=0.0)
        self._timescale = opts.get_float("timescale", 1.0, minimum=1e-9)
        serial = opts.get_str("serial", "SIM0001")
        model = opts.get_str("model", "printctl-sim")
        colour = opts.get_bool("colour", True)
        duplex = opts.get_bool("duplex", True)
        station = opts.get_str("station", "contactless", choices=("contactless", "contact", "none"))
        encode = opts.get_str("encode", "before", choices=("before", "after"))
        seed = opts.get_int("seed", 0)
        state = opts.get_str("state", "")
        self.plan = FaultPlan.from_options(opts, PRINTER_FAULTS, seed=seed)
        opts.done()
        #: Where the printer keeps its state across a restart of the process (None: it
        #: forgets), like a real printer's counters outliving a power cut.
        self.state_file = Path(state) if state else None

        self._caps = PrinterCapabilities(
            model=model,
            serial=serial,
            colour=colour,
            duplex=duplex,
            encoder_station=None if station == "none" else EncoderStation(station),
            encode_before_print=encode == "before",
        )
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.RLock()
        self._opened = False
        self._cover_open = False
        self._stage: _Stage | None = None
        self._fed_at: float | None = None
        self.position = CardPosition.NONE
        self.output_tray = 0
        self.reject_bin = 0
        self.last_image: CardImage | None = None
        self.printed_labels: Counter[str] = Counter()
        if self.state_file is not None and self.state_file.exists():
            self._restore(self.state_file)

    def __repr__(self) -> str:
        return f"SimPrinter({self.url!r})"

    # ----------------------------------------------------------------- operator hooks

    def load_cards(self, count: int) -> None:
        """Put ``count`` more blanks in the hopper (the operator refills it)."""
        with self._changing():
            self.hopper += count

    def replace_ribbon(self, cards: int = 200) -> None:
        """Fit a new ribbon good for ``cards`` cards."""
        with self._changing():
            self.ribbon_left = cards

    def set_cover(self, is_open: bool) -> None:
        """Open or close the cover; while open, moving steps raise ``CoverOpen``."""
        with self._changing():
            self._cover_open = is_open

    # ----------------------------------------------------------------- Printer protocol

    def open(self) -> None:
        """Connect (idempotent). Faults: ``open:N:offline|timeout|denied``."""
        with self._changing():
            fault = self.plan.next("open")
            if fault is not None:
                raise error_for(fault, f"{self.url}: open failed")
            self._opened = True

    def close(self) -> None:
        """Disconnect (idempotent, never raises)."""
        with self._changing():
            self._opened = False

    def capabilities(self) -> PrinterCapabilities:
        """Model, serial, colour, duplex and encoder station as configured by the URL."""
        return self._caps

    def status(self) -> PrinterStatus:
        """Hopper, ribbon, lifetime counters, card position and conditions."""
        with self._changing():
            fault = self.plan.next("status")
            self._require_open("status")
            if fault is not None:
                raise error_for(fault, f"{self.url}: status read failed")
            conditions: list[str] = []
            if self._cover_open:
                conditions.append("cover-open")
            if self.hopper == 0:
                conditions.append("media-empty")
            if self.ribbon_left == 0:
                conditions.append("ribbon-empty")
            elif self.ribbon_left <= self._ribbon_low:
                conditions.append("ribbon-low")  # a warning: printing goes on
            state = (
                PrinterState.ERROR
                if self._cover_open or self.ribbon_left == 0
                else PrinterState.READY
            )
            detail = {
                "serial": self._caps.serial,
                "output_tray": str(self.output_tray),
                "reject_bin": str(self.reject_bin),
                "ribbon_cards_left": str(self.ribbon_left),
                "faults_fired": str(len(self.plan.fired)),
            }
            if self._stage is not None:
                detail["card_stage"] = self._stage.value
            if self._fed_at is not None:
                detail["card_in_path_s"] = f"{self._clock() - self._fed_at:.3f}"
            if self.plan.rules or self.plan.rate:
                detail["fault_plan"] = self.plan.describe()
            return PrinterStatus(
                state=state,
                conditions=tuple(conditions),
                cards_in_hopper=self.hopper,
                ribbon_panels_left=self.ribbon_left * self._panels_per_set(),
                cards_inserted=self.cards_inserted,
                panels_printed=self.panels_printed,
                card_position=self.position,
                detail=detail,
            )

    def feed(self) -> None:
        """Take a blank from the hopper to the print position.

        Raises ``FeederEmpty`` (nothing moved) on an empty hopper and
        :class:`CardSequenceError` when a card is already in the path.
        """
        with self._changing():
            fault = self.plan.next("feed")
            self._require_open("feed")
            if self._stage is not None:
                raise self._sequence(
                    "feed", "a card is already in the card path; eject or reject it first"
                )
            self._check_cover("feed")
            if self.hopper == 0:
                raise FeederEmpty(
                    f"{self.url}: feed: the hopper is empty", card_may_have_moved=False
                )
            if fault is not None and fault.kind in ("cover", "empty", "offline"):
                raise error_for(fault, f"{self.url}: feed")
            self._wait("feed")
            self._take_blank()
            if fault is not None and fault.kind == "jam":
                self._spoil()
                raise error_for(
                    fault, f"{self.url}: feed: card jammed; cleared into the reject bin"
                )
            if fault is not None:  # timeout: the blank moved but the reply was lost
                raise DeviceTimeout(
                    f"{self.url}: feed: no reply [simulated fault {fault}]",
                    card_may_have_moved=True,
                )

    def move_to_encoder(self, station: EncoderStation) -> None:
        """Park the card at the chip station (before printing unless ``encode=after``)."""
        with self._changing():
            fault = self.plan.next("encode")
            self._require_open("move_to_encoder")
            stage = self._require_card("move_to_encoder")
            if self._caps.encoder_station is None:
                raise self._sequence("move_to_encoder", "this printer has no encoder station")
            if station != self._caps.encoder_station:
                raise self._sequence(
                    "move_to_encoder",
                    f"no {station.value} station (this printer has {self._caps.encoder_station})",
                )
            if self._caps.encode_before_print and stage is not _Stage.FED:
                raise self._sequence(
                    "move_to_encoder",
                    f"the card is {stage.value}; this printer encodes before printing",
                )
            if not self._caps.encode_before_print and stage is not _Stage.PRINTED:
                raise self._sequence(
                    "move_to_encoder",
                    f"the card is {stage.value}; this printer encodes after printing",
                )
            self._check_cover("move_to_encoder")
            self._raise_unmoved(fault, "move_to_encoder")
            self._wait("encode")
            if fault is not None and fault.kind == "jam":
                self._spoil()
                raise error_for(
                    fault, f"{self.url}: move_to_encoder: card jammed; cleared into the reject bin"
                )
            self.position = CardPosition.ENCODER
            self._stage = _Stage.ENCODED if stage is _Stage.FED else _Stage.PRINTED_ENCODED
            if fault is not None:
                raise error_for(fault, f"{self.url}: move_to_encoder: no reply")

    def print_card(self, image: CardImage) -> None:
        """Print the card's panels; the image must match ``PANEL_SIZE`` and the capabilities.

        Raises :class:`ImageRejected` (nothing printed) for a misfit image and ``RibbonOut``
        (card spoiled into the reject bin) when the ribbon is finished.
        """
        with self._changing():
            fault = self.plan.next("print")
            self._require_open("print_card")
            stage = self._require_card("print_card")
            if stage in (_Stage.PRINTED, _Stage.PRINTED_ENCODED):
                raise self._sequence("print_card", "the card is already printed")
            self._validate(image)
            self._check_cover("print_card")
            self._raise_unmoved(fault, "print_card")
            if self.ribbon_left == 0:
                self._spoil()
                raise RibbonOut(f"{self.url}: print_card: ribbon finished; card rejected")
            if fault is not None and fault.kind == "power":
                self._wait("print")
                self._save()  # the card is in the path, half printed, as the power goes
                os._exit(POWER_LOSS_EXIT)  # no cleanup at all: the process just ends
            self._wait("print")
            if fault is not None and fault.kind in ("jam", "ribbon"):
                if fault.kind == "ribbon":
                    self.ribbon_left = 0
                self._spoil()
                raise error_for(fault, f"{self.url}: print_card: card spoiled into the reject bin")
            self._print(image)
            if fault is not None and fault.kind == "media":
                self._spoil()
                raise error_for(fault, f"{self.url}: print_card: print failed; card rejected")
            if fault is not None and fault.kind == "media-reprint":
                self._reprint(image)
            self._stage = _Stage.PRINTED_ENCODED if stage is _Stage.ENCODED else _Stage.PRINTED
            self.position = CardPosition.PRINT
            self.last_image = image
            self.printed_labels[image.label] += 1
            if fault is not None and fault.kind == "timeout":
                raise error_for(fault, f"{self.url}: print_card: no reply")

    def eject(self) -> None:
        """Send the printed card to the output tray."""
        with self._changing():
            fault = self.plan.next("eject")
            self._require_open("eject")
            stage = self._require_card("eject")
            if stage in (_Stage.FED, _Stage.ENCODED):
                raise self._sequence("eject", "the card is not printed; reject it instead")
            self._finish_card("eject", fault, to_output=True)

    def reject(self) -> None:
        """Send the current card, whatever its stage, to the reject bin."""
        with self._changing():
            fault = self.plan.next("reject")
            self._require_open("reject")
            self._require_card("reject")
            self._finish_card("reject", fault, to_output=False)

    # ----------------------------------------------------------------- kept state

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Hold the lock; on the way out (raising or not) write the state file, if any."""
        with self._lock:
            try:
                yield
            finally:
                self._save()

    def _save(self) -> None:
        if self.state_file is None:
            return
        data = {
            "hopper": self.hopper,
            "ribbon_left": self.ribbon_left,
            "cards_inserted": self.cards_inserted,
            "panels_printed": self.panels_printed,
            "output_tray": self.output_tray,
            "reject_bin": self.reject_bin,
            "card_in_path": self._stage is not None,
            "printed_labels": dict(self.printed_labels),
            "calls": dict(self.plan.calls),
        }
        part = self.state_file.with_name(self.state_file.name + ".part")
        part.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(part, self.state_file)  # never a half-written state

    def _restore(self, path: Path) -> None:
        """Take up the state a previous process left, as a printer does on power-up."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.hopper = int(data["hopper"])
            self.ribbon_left = int(data["ribbon_left"])
            self.cards_inserted = int(data["cards_inserted"])
            self.panels_printed = int(data["panels_printed"])
            self.output_tray = int(data["output_tray"])
            self.reject_bin = int(data["reject_bin"])
            self.printed_labels = Counter(
                {str(k): int(v) for k, v in data["printed_labels"].items()}
            )
            for step, calls in data["calls"].items():
                if step in self.plan.calls:
                    self.plan.calls[step] = int(calls)  # a one-shot fault fires once only
            if data["card_in_path"]:
                self.reject_bin += 1  # powering up clears the card path into the reject bin
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DriverConfigError(f"{self.url}: state file {path} is unreadable: {exc}") from None

    # ----------------------------------------------------------------- internals

    def _finish_card(self, step: str, fault: Fault | None, *, to_output: bool) -> None:
        self._check_cover(step)
        self._raise_unmoved(fault, step)
        self._wait(step)
        if fault is not None and fault.kind == "jam":
            self._spoil()
            raise error_for(fault, f"{self.url}: {step}: card jammed; cleared into the reject bin")
        if to_output:
            self.output_tray += 1
        else:
            self.reject_bin += 1
        self._clear_card()
        if fault is not None:
            raise error_for(fault, f"{self.url}: {step}: no reply")

    def _require_open(self, step: str) -> None:
        if not self._opened:
            raise DeviceNotOpen(f"{self.url}: {step}: the printer is not open; call open() first")

    def _require_card(self, step: str) -> _Stage:
        if self._stage is None:
            raise self._sequence(step, "no card in the card path; feed one first")
        return self._stage

    def _sequence(self, step: str, why: str) -> CardSequenceError:
        return CardSequenceError(
            f"{self.url}: {step}: {why} (card life: feed → [move_to_encoder] → print_card"
            " → eject | reject)",
            retryable=False,
            card_may_have_moved=False,
        )

    def _check_cover(self, step: str) -> None:
        if self._cover_open:
            raise CoverOpen(f"{self.url}: {step}: the cover is open")

    def _raise_unmoved(self, fault: Fault | None, step: str) -> None:
        # Faults that stop the step before anything moves.
        if fault is not None and fault.kind in ("cover", "offline"):
            raise error_for(fault, f"{self.url}: {step}")

    def _wait(self, step: str) -> None:
        seconds = self._card_ms * _TIME_SHARE[step] / 1000.0 / self._timescale
        if seconds > 0:
            self._sleep(seconds)

    def _take_blank(self) -> None:
        self.hopper -= 1
        self.cards_inserted += 1
        self.position = CardPosition.PRINT
        self._stage = _Stage.FED
        self._fed_at = self._clock()

    def _spoil(self) -> None:
        self.reject_bin += 1
        self._clear_card()

    def _clear_card(self) -> None:
        self.position = CardPosition.NONE
        self._stage = None
        self._fed_at = None

    def _print(self, image: CardImage) -> None:
        self.ribbon_left -= 1
        self.panels_printed += self._panels_for(image)

    def _reprint(self, image: CardImage) -> None:
        # The printer spoils the first attempt and restarts on a new blank on its own, like
        # an Evolis restarting a sequence once after a media error: one job, two blanks.
        self.reject_bin += 1
        if self.hopper == 0:
            self._clear_card()
            raise MediaError(f"{self.url}: print_card: print failed; no blank left to reprint")
        if self.ribbon_left == 0:
            self._clear_card()
            raise RibbonOut(f"{self.url}: print_card: print failed; no ribbon left to reprint")
        self._wait("feed")
        self._take_blank()
        self._wait("print")
        self._print(image)

    def _panels_per_set(self) -> int:
        return (5 if self._caps.colour else 1) + (1 if self._caps.duplex else 0)

    def _panels_for(self, image: CardImage) -> int:
        return (5 if self._caps.colour else 1) + (1 if image.back is not None else 0)

    def _validate(self, image: CardImage) -> None:
        if not isinstance(image, CardImage):
            raise self._rejected(f"expected a CardImage, got {type(image).__name__}")
        self._validate_side("front", image.front)
        if image.back is not None:
            if not self._caps.duplex:
                raise self._rejected("the image has a back but this printer is simplex")
            self._validate_side("back", image.back)

    def _validate_side(self, side: str, panels: SidePanels) -> None:
        if panels.colour is None and panels.black is None:
            raise self._rejected(f"{side}: neither a colour nor a black panel")
        if panels.colour is not None and not self._caps.colour and side == "front":
            raise self._rejected(f"{side}: a colour panel on a monochrome printer")
        for name, panel, mode in (
            ("colour", panels.colour, "RGB"),
            ("black", panels.black, "1"),
            ("overlay", panels.overlay, "1"),
        ):
            if panel is None:
                continue
            if tuple(panel.size) != PANEL_SIZE:
                raise self._rejected(
                    f"{side} {name} panel is {panel.size[0]}×{panel.size[1]} px;"
                    f" the printer takes {PANEL_SIZE[0]}×{PANEL_SIZE[1]} (landscape)"
                )
            if panel.mode != mode:
                raise self._rejected(f"{side} {name} panel has mode {panel.mode!r}, needs {mode!r}")

    def _rejected(self, why: str) -> ImageRejected:
        return ImageRejected(
            f"{self.url}: print_card: {why}", retryable=False, card_may_have_moved=False
        )


# --------------------------------------------------------------------------- chip model


def apdu_problem(apdu: bytes) -> str | None:
    """Why ``apdu`` is not a well-formed ISO 7816-4 command APDU, or ``None`` if it is.

    Checks the 4-byte header and, when a body is present, that Lc (short or extended) agrees
    with the number of data bytes, allowing a trailing Le.
    """
    n = len(apdu)
    if n < 4:
        return f"{n} bytes; a command APDU has at least 4 (CLA INS P1 P2)"
    if n <= 5:
        return None  # case 1, or case 2 short (Le only)
    if apdu[4] != 0:
        lc = apdu[4]
        if n - 5 in (lc, lc + 1):
            return None
        return f"Lc={lc} but {n - 5} bytes follow (expected {lc} or {lc + 1} with Le)"
    if n == 7:
        return None  # case 2 extended (00 + 2-byte Le)
    if n < 7:
        return f"{n} bytes: extended length (byte 5 = 00) needs 2 more length bytes"
    lc = int.from_bytes(apdu[5:7], "big")
    if lc == 0:
        return "extended Lc is 0"
    if n - 7 in (lc, lc + 2):
        return None
    return f"extended Lc={lc} but {n - 7} bytes follow (expected {lc} or {lc + 2} with Le)"


def simulated_status_word(command: ChipCommand) -> bytes:
    """The status word a simulated chip answers: the expected one if a real chip could send it.

    A real chip's SW1 is always 61–6F or 90–9F (ISO 7816-4), so an expectation outside that
    range (such as ``0000``) can never be met: the chip answers ``6F00`` (no precise
    diagnosis). That is how a conformance check provokes a mismatch on any encoder.
    """
    expect = bytes(command.expect)
    if len(expect) == 2 and (0x61 <= expect[0] <= 0x6F or 0x90 <= expect[0] <= 0x9F):
        return expect
    return b"\x6f\x00"


def simulated_uid(seed: int, card: int, length: int = 7) -> str:
    """A deterministic chip UID for card number ``card``: upper-case hex of ``length`` bytes.

    7- and 10-byte UIDs start with 04 (NXP's manufacturer code, as on most e-KTP chips);
    4-byte UIDs start with 08 (a random NUID, ISO 14443-3).
    """
    digest = hashlib.sha256(f"printctl-sim:{seed}:{card}".encode()).digest()
    first = b"\x08" if length == 4 else b"\x04"
    return (first + digest[: length - 1]).hex().upper()


# --------------------------------------------------------------------------- encoder


class SimEncoder:
    """A simulated PC/SC chip encoder configured by a ``sim://`` URL.

    Options: ``seed=0`` (UIDs and random faults), ``uid_bytes=7`` (4, 7 or 10), ``fault=…``,
    ``fault_rate=…`` (see :mod:`drivers.faults`). A card stays in the field, with the same
    UID, until its script has run (successfully or not) or :meth:`next_card` is called; the
    next call then sees a new card with a new UID.

    ``run_script`` checks that every command is a well-formed APDU (raising
    :class:`MalformedCommand` before sending anything) and answers each with
    :func:`simulated_status_word` unless a fault says otherwise: ``swXXXX`` on the script's
    first command, ``removed`` halfway through, ``timeout`` after the whole script ran.
    ``nocard`` on ``detect`` makes it return ``False`` rather than raise.
    """

    def __init__(self, url: str = "sim://") -> None:
        self.url = url
        opts = parse_driver_url(url).options_reader()
        self._seed = opts.get_int("seed", 0)
        self._uid_bytes = int(opts.get_str("uid_bytes", "7", choices=("4", "7", "10")))
        self.plan = FaultPlan.from_options(opts, ENCODER_FAULTS, seed=self._seed)
        opts.done()
        self._lock = threading.RLock()
        self._opened = False
        self.card = 1  # the number of the card in the field
        self._card_done = False
        self.scripts_run = 0
        self.commands_sent = 0

    def __repr__(self) -> str:
        return f"SimEncoder({self.url!r})"

    def next_card(self) -> None:
        """A new card enters the field (e.g. the printer parked the next one)."""
        with self._lock:
            self.card += 1
            self._card_done = False

    def open(self) -> None:
        """Connect to the reader (idempotent)."""
        with self._lock:
            fault = self.plan.next("open")
            if fault is not None:
                raise error_for(fault, f"{self.url}: open failed")
            self._opened = True

    def close(self) -> None:
        """Release the reader (idempotent)."""
        with self._lock:
            self._opened = False

    def detect(self) -> bool:
        """True when a card is in the field (``False`` for a ``nocard`` fault)."""
        with self._lock:
            fault = self.plan.next("detect")
            self._require_open("detect")
            if fault is not None:
                if fault.kind == "nocard":
                    return False
                raise error_for(fault, f"{self.url}: detect")
            self._advance()
            return True

    def read_uid(self) -> str:
        """The present card's UID, upper-case hex."""
        with self._lock:
            fault = self.plan.next("uid")
            self._require_open("read_uid")
            self._advance()
            if fault is not None:
                if fault.kind == "removed":
                    self._card_done = True
                raise error_for(fault, f"{self.url}: read_uid")
            return self._uid()

    def run_script(self, script: Sequence[ChipCommand]) -> str:
        """Check and send each command, compare status words, return the card's UID."""
        with self._lock:
            fault = self.plan.next("run")
            self._require_open("run_script")
            for index, command in enumerate(script):
                problem = apdu_problem(bytes(command.apdu))
                if problem is None and len(command.expect) != 2:
                    problem = f"expected status word is {len(command.expect)} bytes, not 2"
                if problem is not None:
                    raise MalformedCommand(f"{self.url}: run_script: command {index}: {problem}")
            self._advance()
            if fault is not None and fault.kind in ("nocard", "gone", "offline"):
                raise error_for(fault, f"{self.url}: run_script")
            self.scripts_run += 1
            self._card_done = True  # whatever happens now, this card has had its turn
            removed = fault if fault is not None and fault.kind == "removed" else None
            stop = len(script) // 2 if removed is not None else -1
            for index, command in enumerate(script):
                if removed is not None and index == stop:
                    raise error_for(removed, f"{self.url}: run_script: before command {index}")
                self.commands_sent += 1
                got = simulated_status_word(command)
                if index == 0 and fault is not None and fault.status_word is not None:
                    got = fault.status_word
                if got != bytes(command.expect):
                    raise StatusWordMismatch(
                        f"{self.url}: run_script: command {index} returned {got.hex().upper()},"
                        f" expected {bytes(command.expect).hex().upper()}",
                        index=index,
                        got=got,
                        expected=bytes(command.expect),
                    )
            if removed is not None:  # an empty script: the card left before anything was sent
                raise error_for(removed, f"{self.url}: run_script")
            if fault is not None and fault.kind == "timeout":
                raise error_for(fault, f"{self.url}: run_script: no reply after the last command")
            return self._uid()

    def _require_open(self, step: str) -> None:
        if not self._opened:
            raise DeviceNotOpen(f"{self.url}: {step}: the reader is not open; call open() first")

    def _advance(self) -> None:
        if self._card_done:
            self.next_card()

    def _uid(self) -> str:
        return simulated_uid(self._seed, self.card, self._uid_bytes)
