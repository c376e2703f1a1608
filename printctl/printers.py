"""Printer states that outlive a run: a stopped printer stays stopped until a person resumes it.

A worker that stops its printer (empty hopper, ribbon out, a card in doubt, a run of spoiled
blanks) records why in the printer's row. The next run leaves that printer alone until
``printctl printers resume NAME``; a printer with a card waiting for inspection cannot be
resumed until the inspection is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from printctl.audit import Clock, record_event
from printctl.models import Job, JobState, PrinterRow


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
    if row is not None and row.state == "stopped":
        return f"stopped: {row.reason} (resume with: printctl printers resume {name})"
    return None


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
    if row is None or row.state != "stopped":
        raise PrinterStateError(f"{name} is not stopped")
    previous = row.reason
    row.state, row.reason, row.updated_at = "idle", "", clock()
    session.add(row)
    record_event(
        session,
        actor=actor,
        station=station,
        action="printer.resumed",
        entity="printer",
        entity_id=name,
        detail={"was": previous},
        clock=clock,
    )
    return previous
