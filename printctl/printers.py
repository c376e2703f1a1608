"""Printer states that outlive a run: a stopped printer stays stopped until a person resumes it.

A worker that stops its printer records why in the printer's row (state, reasons, words).
A stop that clears itself (``auto_resume``: a cover left open, an empty hopper, no stock) is
checked again by the next run, which goes on once the condition has gone. Any other stop (a
card in doubt, a run of spoiled blanks, a driver that is misconfigured, a policy's
``stop-printer``) keeps the printer out of every run until ``printctl printers resume NAME``;
a printer with a card waiting for inspection cannot be resumed until the inspection is
recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from printctl.audit import Clock
from printctl.models import Job, JobState, PrinterRow, PrinterRunState
from printctl.queue.store import transition_printer


class PrinterStateError(Exception):
    """The printer cannot be resumed (yet)."""


@dataclass(frozen=True)
class PrinterView:
    """What ``printctl printers list`` shows for one printer."""

    name: str
    url: str
    state: str
    reason: str
    cards_inserted: int | None
    awaiting_inspection: int
    #: IPP printer-state-reasons, e.g. ``("cover-open",)``.
    reasons: tuple[str, ...] = ()
    #: A stop that the next run checks again by itself (no resume needed).
    clears_itself: bool = False

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return dict(self.__dict__)


def awaiting_inspection(session: Session, name: str) -> int:
    """Jobs on this printer whose card waits for a person."""
    return int(
        session.exec(
            select(func.count()).where(
                col(Job.printer) == name, col(Job.state) == JobState.NEEDS_INSPECTION.value
            )
        ).one()
    )


def why_not_ready(session: Session, name: str) -> str | None:
    """Why this printer must not take jobs now, or None when it may."""
    waiting = awaiting_inspection(session, name)
    if waiting:
        return (
            f"{waiting} card(s) on this printer await inspection "
            "(printctl jobs list --state needs-inspection; printctl jobs inspect)"
        )
    row = session.get(PrinterRow, name)
    if row is not None and row.state == PrinterRunState.STOPPED.value and not row.auto_resume:
        return f"stopped: {row.reason} (resume with: printctl printers resume {name})"
    return None  # a stop that clears itself is checked again by the run


def printer_views(session: Session, configured: list[tuple[str, str]]) -> list[PrinterView]:
    """Every configured printer (name, url) with its last known state."""
    views = []
    for name, url in configured:
        row = session.get(PrinterRow, name)
        views.append(
            PrinterView(
                name=name,
                url=url,
                state=row.state if row else "idle",
                reason=row.reason if row else "",
                cards_inserted=row.cards_inserted if row else None,
                awaiting_inspection=awaiting_inspection(session, name),
                reasons=tuple(row.reasons.split()) if row else (),
                clears_itself=bool(row and row.state == "stopped" and row.auto_resume),
            )
        )
    return views


def resume_printer(session: Session, name: str, *, actor: str, station: str, clock: Clock) -> str:
    """Clear a stopped printer's state; returns the reason it had stopped for."""
    waiting = awaiting_inspection(session, name)
    if waiting:
        raise PrinterStateError(
            f"{name} has {waiting} card(s) awaiting inspection: record what came out first "
            "(printctl jobs inspect)"
        )
    row = session.get(PrinterRow, name)
    if row is None or row.state != PrinterRunState.STOPPED.value:
        raise PrinterStateError(f"{name} is not stopped")
    previous = row.reason
    transition_printer(
        session,
        name,
        PrinterRunState.IDLE,
        actor=actor,
        station=station,
        clock=clock,
        reason="",
    )
    return previous
