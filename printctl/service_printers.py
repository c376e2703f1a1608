"""Printer use cases beyond printing batches: the console's test print, in the ledger.

A test card uses up one blank from the printer's hopper; it is recorded as spoiled with the
reason ``test-print`` (``Cetak uji``), so the day's counter-against-ledger check balances and
the card joins the next destruction record. The printer must be paused first: a test print
never races a worker for the device.
"""

from __future__ import annotations

import contextlib
import dataclasses

from printctl.db import read_session, session_scope
from printctl.hardware import CardImage, DriverConfigError, HardwareError, Printer
from printctl.models import PrinterRow, PrinterRunState, SpoilReason
from printctl.registry import make_printer
from printctl.service import Context, UserError
from printctl.stock import locations as loc
from printctl.stock.ledger import hopper_available, record_spoiled


def fit_test_card(image: CardImage, colour: bool) -> CardImage:
    """The test card as ``caps.colour`` allows: a monochrome printer refuses a colour layer,
    and the black layer alone still shows the frame, the grid and the registration marks."""
    if colour:
        return image
    back = dataclasses.replace(image.back, colour=None) if image.back is not None else None
    return dataclasses.replace(
        image, front=dataclasses.replace(image.front, colour=None), back=back
    )


def clear_card_path(printer: Printer) -> str:
    """After a failed test print, try to empty the card path; says where the blank went."""
    try:
        position = printer.status().card_position.value
    except HardwareError:
        position = "unknown"
    if position == "none":
        return "the blank is spoiled (in the reject bin or the output tray)"
    try:
        printer.reject()
    except HardwareError:
        return "a card may still be in the printer: clear the card path by hand"
    return "the card was sent to the reject bin"


def test_print(ctx: Context, name: str) -> str:
    """Print the built-in test card on a paused printer and record the blank it used.

    Returns what happened, in words. A failure before the card moved costs no blank; one
    after it is still recorded (the blank is gone either way) and raised as a UserError
    naming where the card went.
    """
    from printctl.render import render_test_card

    config = ctx.settings.printer(name)
    with read_session(ctx.engine) as session:
        row = session.get(PrinterRow, name)
        if row is None or row.state != PrinterRunState.STOPPED.value:
            raise UserError(
                f"pause {name} before a test print: a running printer's worker owns the device"
            )
        if hopper_available(session, name) < 1:
            raise UserError(f"the ledger has no blank in {name}'s hopper: record a load first")
    try:
        printer = make_printer(config.url)
    except DriverConfigError as exc:
        raise UserError(f"printer {name!r}: {exc}") from None
    moved = False
    problem = ""
    try:
        printer.open()
        caps = printer.capabilities()
        # Render before feeding: a rendering problem must not cost a blank.
        image = dataclasses.replace(
            fit_test_card(render_test_card(back=caps.duplex), caps.colour), label="test-card"
        )
        try:
            printer.feed()
            moved = True
            printer.print_card(image)
            printer.eject()
        except HardwareError as exc:
            moved = moved or exc.card_may_have_moved
            problem = f"{exc}; " + (clear_card_path(printer) if moved else "no blank was used")
    except HardwareError as exc:
        problem = f"{exc}; no blank was used"
    finally:
        with contextlib.suppress(HardwareError):
            printer.close()
    if moved:
        with session_scope(ctx.engine) as session:
            record_spoiled(
                session,
                quantity=1,
                reason=SpoilReason.TEST_PRINT,
                job_id=None,
                printer=name,
                note=f"test print by {ctx.actor}" + (f" (failed: {problem})" if problem else ""),
                chip_uid=None,
                source=loc.hopper(name),
                actor=ctx.actor,
                station=ctx.station,
                clock=ctx.clock,
            )
    if problem:
        raise UserError(f"test print on {name} failed: {problem}")
    return f"test card printed on {name}; its blank is recorded as spoiled (test-print)"
