"""Resolving a job whose outcome was unknown: a person looked, and records what came out.

A job in ``needs-inspection`` holds one blank *in doubt*. The person who inspected the
printer (output tray, reject bin, inside the card path) records one of:

* ``issued``: a good card came out. The blank is issued, the job completed, the record
  printed (with the chip UID read from the card, when the person has it).
* ``spoiled``: a ruined card came out. The blank is spoiled ("print-failed" by default) and
  the job goes back to pending: the person has decided the record may be printed again.
* ``none``: no card came out and none is inside: the blank never left the hopper. The job goes
  back to pending.

The printer's own card counter (as last read) is shown to help decide; the decision and who
made it are in the audit log.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlmodel import Session

from printctl.audit import Clock, record_event
from printctl.models import (
    Batch,
    BatchState,
    Job,
    JobState,
    PrinterRow,
    Record,
    RecordState,
    SpoilReason,
)
from printctl.queue.store import set_record_state, transition_job
from printctl.records import has_newer_version
from printctl.stock import move, record_issued, record_spoiled
from printctl.stock.locations import IN_DOUBT, hopper


class Found(enum.StrEnum):
    """What the inspecting person found."""

    ISSUED = "issued"
    SPOILED = "spoiled"
    NONE = "none"


class InspectionError(Exception):
    """The inspection cannot be recorded (no such job, not waiting for inspection, …)."""


@dataclass(frozen=True)
class InspectionContext:
    """What the person sees before deciding."""

    job_id: int
    printer: str | None
    step: str
    error: str
    printer_counter: int | None


def inspection_context(session: Session, job_id: int) -> InspectionContext:
    """The facts about a job waiting for inspection, including its printer's last counter."""
    job = session.get(Job, job_id)
    if job is None:
        raise InspectionError(f"no job {job_id}")
    if job.state != JobState.NEEDS_INSPECTION.value:
        raise InspectionError(f"job {job_id} is {job.state}, not waiting for inspection")
    row = session.get(PrinterRow, job.printer) if job.printer else None
    return InspectionContext(
        job_id=job_id,
        printer=job.printer,
        step=job.step,
        error=job.error,
        printer_counter=row.cards_inserted if row is not None else None,
    )


def _record_id(session: Session, record_pk: int) -> str | None:
    row = session.get(Record, record_pk)
    return row.record_id if row is not None else None


def resolve_inspection(
    session: Session,
    job_id: int,
    found: Found,
    *,
    actor: str,
    station: str,
    clock: Clock,
    chip_uid: str | None = None,
    reason: SpoilReason = SpoilReason.PRINT_FAILED,
    note: str = "",
) -> InspectionContext:
    """Record what the person found; the in-doubt blank gets its one ledger entry (or none)."""
    facts = inspection_context(session, job_id)
    job = session.get(Job, job_id)
    assert job is not None
    printer = job.printer or "unknown"
    record_event(
        session,
        actor=actor,
        station=station,
        action="job.inspected",
        entity="job",
        entity_id=job_id,
        outcome=found.value,
        detail={"printer": printer, "counter": facts.printer_counter, "note": note},
        clock=clock,
    )
    if found is Found.ISSUED:
        record_issued(
            session,
            job_id=job_id,
            printer=printer,
            chip_uid=chip_uid,
            record_id=_record_id(session, job.record_pk),
            from_doubt=True,
            actor=actor,
            station=station,
            clock=clock,
        )
        transition_job(
            session,
            job_id,
            from_state=JobState.NEEDS_INSPECTION,
            to_state=JobState.COMPLETED,
            reason=f"inspection: card found issued ({note})" if note else "inspection: issued",
            actor=actor,
            station=station,
            clock=clock,
            columns={"chip_uid": chip_uid, "error": ""},
        )
        outdated = has_newer_version(session, job.record_pk)
        set_record_state(
            session,
            job.record_pk,
            RecordState.PRINTED_OUTDATED if outdated else RecordState.PRINTED,
            reason="confirmed at inspection"
            + ("; a higher version has arrived meanwhile" if outdated else ""),
            actor=actor,
            station=station,
            clock=clock,
            columns={"chip_uid": chip_uid, "printed_at": clock()},
        )
        return facts
    if found is Found.SPOILED:
        record_spoiled(
            session,
            quantity=1,
            reason=reason,
            job_id=job_id,
            printer=printer,
            note=f"found at inspection{': ' + note if note else ''}",
            chip_uid=chip_uid,
            record_id=_record_id(session, job.record_pk),
            source=IN_DOUBT,
            actor=actor,
            station=station,
            clock=clock,
        )
    else:
        # Nothing came out and nothing is inside: the blank never left the hopper.
        move(
            session,
            1,
            IN_DOUBT,
            hopper(printer),
            note=f"job {job_id}: inspection found no card{': ' + note if note else ''}",
            job_id=job_id,
            actor=actor,
            station=station,
            clock=clock,
        )
    if has_newer_version(session, job.record_pk):
        # The data changed while the card was in doubt: the old version is never printed.
        transition_job(
            session,
            job_id,
            from_state=JobState.NEEDS_INSPECTION,
            to_state=JobState.CANCELED,
            reason=f"inspection found {found.value}; a higher version has arrived",
            actor=actor,
            station=station,
            clock=clock,
            columns={"printer": None, "owner": None},
        )
        set_record_state(
            session,
            job.record_pk,
            RecordState.SUPERSEDED,
            reason="a higher version arrived while this card was in doubt",
            actor=actor,
            station=station,
            clock=clock,
        )
        return facts
    _reopen_batch(session, job.batch_id, actor=actor, station=station, clock=clock)
    transition_job(
        session,
        job_id,
        from_state=JobState.NEEDS_INSPECTION,
        to_state=JobState.PENDING,
        reason=f"inspection found {found.value}; {actor} allows a new attempt",
        actor=actor,
        station=station,
        clock=clock,
        columns={"printer": None, "owner": None, "error": ""},
    )
    set_record_state(
        session,
        job.record_pk,
        RecordState.QUEUED,
        reason=f"inspection found {found.value}",
        actor=actor,
        station=station,
        clock=clock,
    )
    batch = session.get(Batch, job.batch_id)
    if batch is not None and batch.state == BatchState.DONE.value:
        # The batch had finished around this job; it has work again and must be started.
        batch.state = BatchState.OPEN.value
        session.add(batch)
        record_event(
            session,
            actor=actor,
            station=station,
            action="batch.reopened",
            entity="batch",
            entity_id=batch.id or 0,
            detail={"job": job_id},
            clock=clock,
        )
    return facts


def _reopen_batch(
    session: Session, batch_id: int, *, actor: str, station: str, clock: Clock
) -> None:
    """A batch finished while one of its cards waited for inspection; the card is allowed a
    new attempt, so the batch runs again (a running station prints it, then closes it)."""
    batch = session.get(Batch, batch_id)
    if batch is None or batch.state != BatchState.DONE.value:
        return
    batch.state = BatchState.RUNNING.value
    session.add(batch)
    record_event(
        session,
        actor=actor,
        station=station,
        action="batch.reopened",
        entity="batch",
        entity_id=batch_id,
        detail={"why": "a card in doubt was allowed a new attempt"},
        clock=clock,
    )
