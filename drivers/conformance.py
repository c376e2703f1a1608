"""The driver contract as runnable checks, shared by the pytest contract suite and the CLI.

A driver is done when it passes these checks against its own protocol fake, and a technician
runs the same checks against real hardware (``printctl driver check URL``). Each check is a
function taking a freshly constructed, *unopened* driver; it opens the driver itself, raises
``AssertionError`` or a :class:`~printctl.hardware.HardwareError` on failure, and returns a
:class:`CheckResult` (``outcome`` ``"pass"`` or ``"skip"`` with the reason). The caller closes
the driver afterwards; :func:`run_checks` does all of that and never raises.

Checks that move cards use at most one blank each, except ``feed-on-empty-hopper``, which
drains the hopper only when the driver reports ten cards or fewer in it (a simulator) and is
skipped otherwise: draining a real printer's hopper would waste blanks.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from PIL import Image

from printctl.domain import ChipCommand
from printctl.hardware import (
    PANEL_SIZE,
    CardImage,
    CardPosition,
    Encoder,
    EncoderStation,
    FeederEmpty,
    Printer,
    PrinterCapabilities,
    PrinterState,
    PrinterStatus,
    SidePanels,
    StatusWordMismatch,
)

__all__ = [
    "ENCODER_CHECKS",
    "GET_UID",
    "PRINTER_CHECKS",
    "UNMATCHABLE",
    "Check",
    "CheckResult",
    "blank_card_image",
    "run_checks",
]

Outcome = Literal["pass", "skip", "fail"]
D = TypeVar("D")

#: PC/SC "GET DATA: UID" pseudo-APDU, answered by every PC/SC reader with 9000 + UID.
GET_UID = ChipCommand(apdu=bytes.fromhex("FFCA000000"), expect=b"\x90\x00")
#: SELECT of an AID no card has ("printctl" under the proprietary F0 prefix), expecting a
#: status word no chip can send (SW1 = 00): a mismatch on any encoder, simulated or real.
UNMATCHABLE = ChipCommand(apdu=bytes.fromhex("00A4040009") + b"\xf0printctl", expect=b"\x00\x00")

_UID = re.compile(r"^(?:[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$")
_DRAIN_LIMIT = 10


@dataclass(frozen=True)
class CheckResult:
    """One row of a conformance table: check name, outcome and a one-line detail."""

    check: str
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class Check(Generic[D]):
    """A named contract check for one kind of driver."""

    name: str
    summary: str
    run: Callable[[D], CheckResult]


def blank_card_image(*, back: bool = True, label: str = "conformance") -> CardImage:
    """A white card at ``PANEL_SIZE``: RGB colour and mode-1 black panels (nothing inked)."""

    def side() -> SidePanels:
        return SidePanels(
            colour=Image.new("RGB", PANEL_SIZE, "white"),
            black=Image.new("1", PANEL_SIZE, 1),
        )

    return CardImage(front=side(), back=side() if back else None, label=label)


def run_checks(make: Callable[[], D], checks: Sequence[Check[D]]) -> list[CheckResult]:
    """Run each check on a fresh driver from ``make``, closing it after; failures become rows."""
    results: list[CheckResult] = []
    for check in checks:
        try:
            driver = make()
        except Exception as exc:
            results.append(CheckResult(check.name, "fail", f"construct: {_describe(exc)}"))
            continue
        try:
            results.append(check.run(driver))
        except Exception as exc:  # AssertionError, HardwareError, or a driver bug: all fail
            results.append(CheckResult(check.name, "fail", _describe(exc)))
        finally:
            _close_quietly(driver)
    return results


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _close_quietly(driver: object) -> None:
    close = getattr(driver, "close", None)
    if callable(close):
        # Closing is best effort: the check already has its outcome.
        with contextlib.suppress(Exception):
            close()


def _ok(name: str, detail: str = "") -> CheckResult:
    return CheckResult(name, "pass", detail)


# --------------------------------------------------------------------------- printers


def _counter(status: PrinterStatus, field: str) -> int:
    value = getattr(status, field)
    assert isinstance(value, int) and value >= 0, f"status.{field} is {value!r}, not a count"
    return value


def check_printer_protocol(printer: Printer) -> CheckResult:
    """The object satisfies the Printer protocol and knows its URL."""
    assert isinstance(printer, Printer), f"{type(printer).__name__} is not a Printer"
    assert isinstance(printer.url, str) and "://" in printer.url, f"url is {printer.url!r}"
    return _ok("protocol", type(printer).__name__)


def check_printer_open_close(printer: Printer) -> CheckResult:
    """open and close are idempotent, and a closed printer can be opened again."""
    printer.open()
    printer.open()
    printer.close()
    printer.close()
    printer.open()
    printer.status()
    printer.close()
    return _ok("open-close-idempotent")


def check_printer_capabilities(printer: Printer) -> CheckResult:
    """Capabilities name a model and a usable panel size, resolution and encoder station."""
    printer.open()
    caps = printer.capabilities()
    assert isinstance(caps, PrinterCapabilities), f"capabilities() gave {caps!r}"
    assert caps.model.strip(), "capabilities have no model name"
    width, height = caps.panel_size
    assert width > height > 0, f"panel size {caps.panel_size} is not landscape"
    assert caps.dpi > 0, f"dpi is {caps.dpi}"
    assert caps.encoder_station is None or isinstance(caps.encoder_station, EncoderStation)
    return _ok("capabilities", f"{caps.model} {caps.serial}".strip())


def check_printer_status(printer: Printer) -> CheckResult:
    """status() reports a state and the lifetime counters the ledger reconciles against."""
    printer.open()
    status = printer.status()
    assert isinstance(status, PrinterStatus), f"status() gave {status!r}"
    assert isinstance(status.state, PrinterState), f"state is {status.state!r}"
    inserted = _counter(status, "cards_inserted")
    panels = _counter(status, "panels_printed")
    assert isinstance(status.card_position, CardPosition)
    return _ok("status-counters", f"cards_inserted={inserted} panels_printed={panels}")


def _card_life(printer: Printer, *, eject: bool) -> tuple[PrinterStatus, PrinterStatus]:
    printer.open()
    caps = printer.capabilities()
    before = printer.status()
    station = caps.encoder_station
    printer.feed()
    if eject:
        if station is not None and caps.encode_before_print:
            printer.move_to_encoder(station)
        printer.print_card(blank_card_image(back=caps.duplex))
        if station is not None and not caps.encode_before_print:
            printer.move_to_encoder(station)
        printer.eject()
    else:
        printer.reject()
    return before, printer.status()


def check_printer_card_life(printer: Printer) -> CheckResult:
    """feed → encoder → print → eject moves the counters by exactly one card."""
    before, after = _card_life(printer, eject=True)
    inserted = _counter(after, "cards_inserted") - _counter(before, "cards_inserted")
    assert inserted == 1, f"cards_inserted moved by {inserted}, expected 1"
    panels = _counter(after, "panels_printed") - _counter(before, "panels_printed")
    assert panels > 0, "panels_printed did not move after a print"
    assert after.card_position is CardPosition.NONE, f"card left at {after.card_position}"
    if before.cards_in_hopper is not None and after.cards_in_hopper is not None:
        used = before.cards_in_hopper - after.cards_in_hopper
        assert used == 1, f"hopper went down by {used}, expected 1"
    return _ok("card-life", f"+1 card, +{panels} panels")


def check_printer_reject(printer: Printer) -> CheckResult:
    """feed → reject takes exactly one blank and leaves the card path empty."""
    before, after = _card_life(printer, eject=False)
    inserted = _counter(after, "cards_inserted") - _counter(before, "cards_inserted")
    assert inserted == 1, f"cards_inserted moved by {inserted}, expected 1"
    assert after.card_position is CardPosition.NONE, f"card left at {after.card_position}"
    return _ok("reject-path")


def check_printer_feed_empty(printer: Printer) -> CheckResult:
    """feed on an empty hopper raises FeederEmpty saying no card moved, and moves none."""
    printer.open()
    hopper = printer.status().cards_in_hopper
    if hopper is None or hopper > _DRAIN_LIMIT:
        return CheckResult(
            "feed-on-empty-hopper",
            "skip",
            "the driver cannot be told to have an empty hopper"
            if hopper is None
            else f"{hopper} cards in the hopper; draining more than {_DRAIN_LIMIT} wastes blanks",
        )
    for _ in range(hopper):
        printer.feed()
        printer.reject()
    before = _counter(printer.status(), "cards_inserted")
    try:
        printer.feed()
    except FeederEmpty as exc:
        assert exc.card_may_have_moved is False, "FeederEmpty says a card may have moved"
    else:
        raise AssertionError("feed on an empty hopper did not raise FeederEmpty")
    after = printer.status()
    assert _counter(after, "cards_inserted") == before, "a card was counted as inserted"
    assert after.card_position is CardPosition.NONE, f"card at {after.card_position}"
    return _ok("feed-on-empty-hopper", f"drained {hopper}")


PRINTER_CHECKS: tuple[Check[Printer], ...] = (
    Check("protocol", "satisfies the Printer protocol", check_printer_protocol),
    Check("open-close-idempotent", "open/close twice, reopen", check_printer_open_close),
    Check("capabilities", "model, panel size, dpi, station", check_printer_capabilities),
    Check("status-counters", "status has lifetime counters", check_printer_status),
    Check("card-life", "feed→encoder→print→eject = one card", check_printer_card_life),
    Check("reject-path", "feed→reject = one card", check_printer_reject),
    Check("feed-on-empty-hopper", "FeederEmpty, no card moved", check_printer_feed_empty),
)


# --------------------------------------------------------------------------- encoders


def _check_uid(uid: object) -> str:
    assert isinstance(uid, str), f"UID is {uid!r}, not a string"
    assert _UID.match(uid), f"UID {uid!r} is not upper-case hex of 4, 7 or 10 bytes"
    return uid


def check_encoder_protocol(encoder: Encoder) -> CheckResult:
    """The object satisfies the Encoder protocol and knows its URL."""
    assert isinstance(encoder, Encoder), f"{type(encoder).__name__} is not an Encoder"
    assert isinstance(encoder.url, str) and "://" in encoder.url, f"url is {encoder.url!r}"
    return _ok("protocol", type(encoder).__name__)


def check_encoder_open_close(encoder: Encoder) -> CheckResult:
    """open and close are idempotent, and a closed reader can be opened again."""
    encoder.open()
    encoder.open()
    encoder.close()
    encoder.close()
    encoder.open()
    encoder.close()
    return _ok("open-close-idempotent")


def check_encoder_detect(encoder: Encoder) -> CheckResult:
    """detect() sees the card in the field (put one there on a real bench)."""
    encoder.open()
    assert encoder.detect() is True, "no card detected in the field"
    return _ok("detect")


def check_encoder_uid(encoder: Encoder) -> CheckResult:
    """read_uid() gives upper-case hex of 4, 7 or 10 bytes, stable for the same card."""
    encoder.open()
    uid = _check_uid(encoder.read_uid())
    again = encoder.read_uid()
    assert again == uid, f"UID changed between two reads: {uid} then {again}"
    return _ok("uid-format", uid)


def check_encoder_run_returns_uid(encoder: Encoder) -> CheckResult:
    """run_script() runs a harmless command and returns the present card's UID."""
    encoder.open()
    uid = _check_uid(encoder.read_uid())
    got = encoder.run_script([GET_UID])
    assert got == uid, f"run_script returned {got!r}, read_uid gave {uid!r}"
    return _ok("run-script-returns-uid", uid)


def check_encoder_status_word_mismatch(encoder: Encoder) -> CheckResult:
    """An unexpected status word raises StatusWordMismatch with index, got and expected."""
    encoder.open()
    try:
        encoder.run_script([UNMATCHABLE])
    except StatusWordMismatch as exc:
        assert exc.index == 0, f"index is {exc.index}, expected 0"
        assert exc.expected == UNMATCHABLE.expect, f"expected is {exc.expected!r}"
        assert len(exc.got) == 2 and exc.got != exc.expected, f"got is {exc.got!r}"
        return _ok("status-word-mismatch", f"got {exc.got.hex().upper()}")
    raise AssertionError("a status word no chip can send was accepted")


ENCODER_CHECKS: tuple[Check[Encoder], ...] = (
    Check("protocol", "satisfies the Encoder protocol", check_encoder_protocol),
    Check("open-close-idempotent", "open/close twice, reopen", check_encoder_open_close),
    Check("detect", "a card is detected", check_encoder_detect),
    Check("uid-format", "UID is 4/7/10 bytes upper-case hex", check_encoder_uid),
    Check("run-script-returns-uid", "run_script returns the UID", check_encoder_run_returns_uid),
    Check(
        "status-word-mismatch",
        "unexpected SW raises StatusWordMismatch",
        check_encoder_status_word_mismatch,
    ),
)
