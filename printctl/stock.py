"""The blank ledger: every blank received, issued, spoiled or returned, as append-only entries.

Stock on hand is always derived from the entries (never a stored counter), and blanks whose
fate is unknown (a job waiting for inspection) are counted apart as *in doubt*: they are not
on hand, not issued and not spoiled until a person records what came out. The balance that
offices publish daily must hold::

    received − issued − spoiled − returned − in doubt = on hand
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from printctl.audit import Clock, record_event
from printctl.models import (
    ACTIVE_JOB_STATES,
    CARD_STEPS,
    Job,
    JobState,
    LedgerEntry,
    LedgerKind,
    SpoilReason,
    utcnow,
)


class StockError(Exception):
    """A stock operation a user asked for cannot be done (bad count, not enough stock)."""


@dataclass(frozen=True)
class StockBalance:
    """Totals derived from the ledger."""

    received: int
    issued: int
    spoiled: int
    returned: int
    in_doubt: int
    #: Blanks in a printer right now (a job between feeding and its outcome).
    in_flight: int = 0

    @property
    def on_hand(self) -> int:
        """Blanks that should physically be in the office (vault and hoppers)."""
        return (
            self.received
            - self.issued
            - self.spoiled
            - self.returned
            - self.in_doubt
            - self.in_flight
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with ``on_hand``."""
        return {**asdict(self), "on_hand": self.on_hand}


def balance(session: Session) -> StockBalance:
    """Sum the ledger by kind, and count the blanks held by jobs that need inspection."""
    totals = dict(
        session.exec(
            select(LedgerEntry.kind, func.coalesce(func.sum(LedgerEntry.quantity), 0)).group_by(
                LedgerEntry.kind
            )
        ).all()
    )
    in_doubt = session.exec(
        select(func.count()).where(col(Job.state) == JobState.NEEDS_INSPECTION.value)
    ).one()
    in_flight = session.exec(
        select(func.count()).where(
            col(Job.state).in_([s.value for s in ACTIVE_JOB_STATES]),
            col(Job.step).in_([s.value for s in CARD_STEPS]),
        )
    ).one()
    return StockBalance(
        received=int(totals.get(LedgerKind.RECEIVED.value, 0)),
        issued=int(totals.get(LedgerKind.ISSUED.value, 0)),
        spoiled=int(totals.get(LedgerKind.SPOILED.value, 0)),
        returned=int(totals.get(LedgerKind.RETURNED.value, 0)),
        in_doubt=int(in_doubt),
        in_flight=int(in_flight),
    )


def spoiled_by_reason(session: Session) -> dict[str, int]:
    """Spoiled blanks per reason category."""
    rows = session.exec(
        select(LedgerEntry.reason, func.sum(LedgerEntry.quantity))
        .where(col(LedgerEntry.kind) == LedgerKind.SPOILED.value)
        .group_by(LedgerEntry.reason)
    ).all()
    return {str(reason): int(total) for reason, total in rows}


def receive(
    session: Session,
    count: int,
    *,
    lot: str,
    actor: str,
    station: str,
    note: str = "",
    clock: Clock = utcnow,
) -> LedgerEntry:
    """Record a delivery of ``count`` blanks from lot ``lot``."""
    if count <= 0:
        raise StockError(f"a delivery must be at least one blank, got {count}")
    if not lot.strip():
        raise StockError("a delivery needs its lot number (--lot)")
    entry = LedgerEntry(
        at=clock(), kind=LedgerKind.RECEIVED.value, quantity=count, lot=lot, note=note, actor=actor
    )
    session.add(entry)
    session.flush()
    record_event(
        session,
        actor=actor,
        station=station,
        action="stock.received",
        entity="ledger",
        entity_id=entry.id or 0,
        detail={"count": count, "lot": lot},
        clock=clock,
    )
    return entry


def record_issued(
    session: Session,
    *,
    job_id: int,
    printer: str,
    chip_uid: str | None,
    actor: str,
    station: str,
    clock: Clock = utcnow,
) -> LedgerEntry:
    """One blank became a card handed to the output tray for job ``job_id``."""
    entry = LedgerEntry(
        at=clock(),
        kind=LedgerKind.ISSUED.value,
        quantity=1,
        job_id=job_id,
        printer=printer,
        chip_uid=chip_uid,
        actor=actor,
    )
    session.add(entry)
    session.flush()
    record_event(
        session,
        actor=actor,
        station=station,
        action="blank.issued",
        entity="job",
        entity_id=job_id,
        detail={"printer": printer, "chip_uid": chip_uid},
        clock=clock,
    )
    return entry


def record_spoiled(
    session: Session,
    *,
    quantity: int,
    reason: SpoilReason,
    job_id: int | None,
    printer: str | None,
    note: str,
    actor: str,
    station: str,
    clock: Clock = utcnow,
) -> LedgerEntry:
    """``quantity`` blanks were spoiled for ``reason`` (they go to the reject bin)."""
    entry = LedgerEntry(
        at=clock(),
        kind=LedgerKind.SPOILED.value,
        quantity=quantity,
        job_id=job_id,
        printer=printer,
        reason=reason.value,
        note=note[:500],
        actor=actor,
    )
    session.add(entry)
    session.flush()
    record_event(
        session,
        actor=actor,
        station=station,
        action="blank.spoiled",
        entity="job" if job_id is not None else "ledger",
        entity_id=job_id if job_id is not None else (entry.id or 0),
        outcome=reason.value,
        detail={"quantity": quantity, "printer": printer, "note": note},
        clock=clock,
    )
    return entry
