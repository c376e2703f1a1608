"""Printer states that outlive a run: a stopped printer stays stopped until a person resumes it.

A worker that stops its printer records why in the printer's row (state, reasons, words).
A stop that clears itself (``auto_resume``: a cover left open, an empty hopper, no stock) is
checked again by the next run, which goes on once the condition has gone. Any other stop (a
card in doubt, a run of spoiled blanks, a driver that is misconfigured, a policy's
``stop-printer``) keeps the printer out of every run until ``printctl printers resume NAME``;
a printer with a card waiting for inspection cannot be resumed until the inspection is
recorded.

A person may pause a printer (``printctl printers pause NAME``): one that no worker drives
stops at once; one a worker drives (possibly at another station) gets a pause request, and
its worker stops at the next card boundary, never mid-card. Either way it stays paused
until resumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from printctl.audit import Clock, record_event
from printctl.models import Job, JobState, PrinterReason, PrinterRow, PrinterRunState
from printctl.queue.store import transition_printer


class PrinterStateError(Exception):
    """The printer cannot be paused or resumed (yet)."""


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
    #: A person asked to pause it; its worker stops after the card it is printing.
    pause_requested: bool = False
    #: The job whose card the printer holds now.
    current_job: int | None = None
    #: Levels as the printer last reported them, and when (None: not read yet, or unknown).
    ribbon_panels_left: int | None = None
    cards_in_hopper: int | None = None
    status_at: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (times as ISO 8601 strings, reasons as a list)."""
        out = dict(self.__dict__)
        out["reasons"] = list(self.reasons)
        out["status_at"] = self.status_at.isoformat() if self.status_at else None
        return out


def is_paused(row: PrinterRow | None) -> bool:
    """Whether a person paused this printer (it stays stopped until resumed)."""
    return (
        row is not None
        and row.state == PrinterRunState.STOPPED.value
        and PrinterReason.PAUSED.value in row.reasons.split()
    )


def pause_words(actor: str, note: str = "") -> str:
    """The reason a paused printer shows: ``paused by ACTOR[: NOTE]``."""
    return f"paused by {actor}" + (f": {note}" if note else "")


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


def settle_abandoned(session: Session, *, station: str, actor: str, clock: Clock) -> list[str]:
    """Printers that a run of ``station`` left ``processing`` when its process died.

    Call it after recovery, with the station lock held. A printer with a card awaiting
    inspection is stopped for it (parked until a person has looked; then it goes on by
    itself); any other goes back to ``idle``. Either way it holds no card any more. Returns
    the printers settled.
    """
    rows = session.exec(
        select(PrinterRow).where(
            col(PrinterRow.station) == station,
            col(PrinterRow.state) == PrinterRunState.PROCESSING.value,
        )
    ).all()
    settled = []
    for row in rows:
        if awaiting_inspection(session, row.name):
            transition_printer(
                session,
                row.name,
                PrinterRunState.STOPPED,
                actor=actor,
                station=station,
                clock=clock,
                reasons=(PrinterReason.AWAITING_INSPECTION,),
                reason="a card was in it when the station's process ended: it waits for "
                "inspection, and goes on once the inspection is recorded",
                # As before this row was settled: the inspection is the person's decision,
                # and no resume is asked on top of it.
                auto_resume=True,
            )
        else:
            transition_printer(
                session,
                row.name,
                PrinterRunState.IDLE,
                actor=actor,
                station=station,
                clock=clock,
                reason="its run ended with the station's process",
            )
        row.current_job = None
        session.add(row)
        settled.append(row.name)
    return settled


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
                pause_requested=bool(row and row.pause_requested_by),
                current_job=row.current_job if row else None,
                ribbon_panels_left=row.ribbon_panels_left if row else None,
                cards_in_hopper=row.cards_in_hopper if row else None,
                status_at=row.status_at if row else None,
            )
        )
    return views


def pause_printer(
    session: Session, name: str, *, actor: str, station: str, clock: Clock, note: str = ""
) -> str:
    """Pause a printer until a person resumes it; returns a sentence saying what happened.

    A printer a worker drives now (``processing``, maybe at another station) gets a pause
    request: its worker stops at the next card boundary, never mid-card, and records the
    pause then. Any other printer (idle, never seen, or waiting for a condition that clears
    itself) is stopped as paused at once. A printer stopped for a person already, paused
    already, or with a pause requested raises :class:`PrinterStateError`.
    """
    # Locked on PostgreSQL: a worker reads this row before each claim and when it stops.
    row = session.get(PrinterRow, name, with_for_update=True)
    if row is not None and row.pause_requested_by:
        raise PrinterStateError(
            f"{name} will pause already (asked by {row.pause_requested_by}); "
            f"cancel with: printctl printers resume {name}"
        )
    if is_paused(row):
        assert row is not None
        raise PrinterStateError(f"{name} is paused already ({row.reason})")
    if row is not None and row.state == PrinterRunState.STOPPED.value and not row.auto_resume:
        raise PrinterStateError(
            f"{name} is stopped already ({row.reason}); it takes no job until resumed"
        )
    words = pause_words(actor, note)
    if row is not None and row.state == PrinterRunState.PROCESSING.value:
        row.pause_requested_by = actor[:100]
        session.add(row)
        record_event(
            session,
            actor=actor,
            station=station,
            action="printer.pause-requested",
            entity="printer",
            entity_id=name,
            detail={"reason": words, "note": note},
            clock=clock,
        )
        return f"{name} will pause after the card it is printing"
    # A stop that would clear itself becomes a person's pause: the waiting worker (if any)
    # sees it before its next card and keeps the printer stopped.
    transition_printer(
        session,
        name,
        PrinterRunState.STOPPED,
        actor=actor,
        station=station,
        clock=clock,
        reasons=(PrinterReason.PAUSED,),
        reason=words,
        auto_resume=False,
    )
    return f"{name} paused"


def resume_printer(session: Session, name: str, *, actor: str, station: str, clock: Clock) -> str:
    """Clear a stopped printer's state; returns the reason it had stopped for.

    A printer whose pause is only requested (its worker still prints) keeps printing: the
    request is canceled.
    """
    row = session.get(PrinterRow, name, with_for_update=True)
    if row is not None and row.pause_requested_by and row.state != PrinterRunState.STOPPED.value:
        requested_by, row.pause_requested_by = row.pause_requested_by, None
        session.add(row)
        record_event(
            session,
            actor=actor,
            station=station,
            action="printer.pause-canceled",
            entity="printer",
            entity_id=name,
            detail={"requested_by": requested_by},
            clock=clock,
        )
        return f"a pause requested by {requested_by}, now canceled"
    waiting = awaiting_inspection(session, name)
    if waiting:
        raise PrinterStateError(
            f"{name} has {waiting} card(s) awaiting inspection: record what came out first "
            "(printctl jobs inspect)"
        )
    if row is None or row.state != PrinterRunState.STOPPED.value:
        raise PrinterStateError(f"{name} is not stopped")
    previous = row.reason
    row.pause_requested_by = None
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
