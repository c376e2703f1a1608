"""Job, printer and record transitions: one table of allowed moves, one function per move;
and the queries that say which job a printer takes next and how much work is left.

Every job transition is a conditional ``UPDATE … WHERE id = ? AND state = ?`` whose row
count is checked, so two workers (or two stations) can never both move the same job, and
each transition is journaled in the audit log in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, exists, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from printctl.audit import Clock, record_event
from printctl.models import (
    ACTIVE_JOB_STATES,
    RETIRED_RECORD_STATES,
    Batch,
    BatchState,
    Job,
    JobState,
    JobStep,
    PrinterRow,
    PrinterRunState,
    Record,
    RecordState,
)
from printctl.stock.ledger import record_in_doubt

# Which job states may follow which. Anything else is a bug, and raises.
JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.PROCESSING, JobState.HELD, JobState.CANCELED}),
    JobState.HELD: frozenset({JobState.PENDING, JobState.CANCELED}),  # released, or withdrawn
    JobState.PROCESSING: frozenset(
        {
            JobState.PROCESSING,  # a step change inside processing
            JobState.STOPPED,  # its printer waits for a transient condition, card held
            JobState.PENDING,  # handed back: no blank used, or a spoiled one to retry
            JobState.HELD,  # the fault policy holds it for a person
            JobState.CANCELED,  # handed back, but a higher version arrived meanwhile
            JobState.COMPLETED,
            JobState.ABORTED,
            JobState.NEEDS_INSPECTION,
        }
    ),
    JobState.STOPPED: frozenset(
        {
            JobState.PROCESSING,  # the condition cleared: the same card goes on
            JobState.PENDING,  # the card was rejected (or none was held): another attempt
            JobState.CANCELED,
            JobState.ABORTED,
            JobState.NEEDS_INSPECTION,  # the card could not be got out: a person looks
        }
    ),
    JobState.NEEDS_INSPECTION: frozenset(
        {JobState.COMPLETED, JobState.PENDING, JobState.ABORTED, JobState.CANCELED}
    ),
    JobState.ABORTED: frozenset({JobState.PENDING}),
    JobState.COMPLETED: frozenset(),
    JobState.CANCELED: frozenset(),
}

#: Which printer states may follow which (a state may follow itself when its reasons change).
PRINTER_TRANSITIONS: dict[PrinterRunState, frozenset[PrinterRunState]] = {
    PrinterRunState.IDLE: frozenset(
        {PrinterRunState.IDLE, PrinterRunState.PROCESSING, PrinterRunState.STOPPED}
    ),
    PrinterRunState.PROCESSING: frozenset(
        {PrinterRunState.PROCESSING, PrinterRunState.IDLE, PrinterRunState.STOPPED}
    ),
    PrinterRunState.STOPPED: frozenset(
        {PrinterRunState.STOPPED, PrinterRunState.IDLE, PrinterRunState.PROCESSING}
    ),
}


def reason_set(reasons: Iterable[str]) -> str:
    """The stored form of a reason set: sorted, unique, space-separated."""
    return " ".join(sorted({r for r in reasons if r}))


class TransitionConflict(Exception):
    """The row was not in the expected state (another worker moved it first)."""


def transition_job(
    session: Session,
    job_id: int,
    *,
    from_state: JobState,
    to_state: JobState,
    actor: str,
    station: str,
    clock: Clock,
    step: JobStep = JobStep.NONE,
    reason: str = "",
    audit: bool = True,
    columns: dict[str, Any] | None = None,
    owner: str | None = None,
    reasons: Iterable[str] = (),
) -> None:
    """Move one job atomically, or raise :class:`TransitionConflict`.

    ``columns`` are further job columns set in the same statement (printer, chip UID, …).
    ``owner``, when given, must be the run that claimed the job. ``reasons`` (IPP
    job-state-reasons) replace the job's reason set when given or when the state changes;
    a step change inside ``processing`` keeps them.
    """
    values = dict(columns or {})
    reasons = tuple(reasons)
    if reasons or to_state is not from_state:
        values["reasons"] = reason_set(reasons)
    if to_state not in JOB_TRANSITIONS[from_state]:
        raise ValueError(f"job transition {from_state} → {to_state} is not allowed")
    statement = update(Job).where(col(Job.id) == job_id, col(Job.state) == from_state.value)
    if owner is not None:
        statement = statement.where(col(Job.owner) == owner)
    result = session.execute(
        statement.values(state=to_state.value, step=step.value, updated_at=clock(), **values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        whose = f" of run {owner}" if owner else ""
        raise TransitionConflict(f"job {job_id}{whose} is no longer {from_state}")
    if to_state is JobState.NEEDS_INSPECTION and from_state is not JobState.NEEDS_INSPECTION:
        # The job's blank leaves its hopper for doubt in the same transaction: every path
        # into inspection (worker, restart recovery, a reaped station) accounts for it once.
        printer = session.exec(select(Job.printer).where(col(Job.id) == job_id)).one()
        record_in_doubt(
            session,
            job_id=job_id,
            printer=printer or "unknown",
            note=reason or "outcome unknown",
            actor=actor,
            station=station,
            clock=clock,
        )
    if audit:
        detail: dict[str, Any] = {"from": from_state.value, "step": step.value}
        if reason:
            detail["reason"] = reason
        if values.get("reasons"):
            detail["reasons"] = values["reasons"]
        detail.update({k: v for k, v in values.items() if k in {"printer", "chip_uid", "error"}})
        record_event(
            session,
            actor=actor,
            station=station,
            action=f"job.{to_state.value}",
            entity="job",
            entity_id=job_id,
            detail=detail,
            clock=clock,
        )


def set_record_state(
    session: Session,
    record_pk: int,
    state: RecordState,
    *,
    actor: str,
    station: str,
    clock: Clock,
    reason: str = "",
    columns: dict[str, Any] | None = None,
) -> None:
    """Set a record's state and journal it (``columns``: further values to set)."""
    row = session.get(Record, record_pk)
    if row is None:
        raise LookupError(f"record row {record_pk} does not exist")
    values = dict(columns or {})
    if state in RETIRED_RECORD_STATES:
        values.setdefault("retired_at", clock())  # the retention period starts here
    session.execute(
        update(Record)
        .where(col(Record.id) == record_pk)
        .values(state=state.value, state_reason=reason[:500], **values)
    )
    record_event(
        session,
        actor=actor,
        station=station,
        action=f"record.{state.value}",
        entity="record",
        entity_id=f"{row.record_id} v{row.version}",
        detail={"reason": reason} if reason else {},
        clock=clock,
    )


def claimable(query: Any) -> Any:
    """``query`` (a select of :class:`Job`, maybe with more) narrowed to the jobs a printer
    may claim now, in the order printers take them: pending, in a running batch, its record
    still ``queued`` with no higher version; higher batch priority first, then by job id."""
    newer = aliased(Record)
    return (
        query.join(Batch, col(Batch.id) == col(Job.batch_id))
        .join(Record, col(Record.id) == col(Job.record_pk))
        .where(
            col(Job.state) == JobState.PENDING.value,
            col(Batch.state) == BatchState.RUNNING.value,
            col(Record.state) == RecordState.QUEUED.value,
            ~exists().where(
                col(newer.record_id) == col(Record.record_id),
                col(newer.version) > col(Record.version),
            ),
        )
        .order_by(col(Batch.priority).desc(), col(Job.id))
    )


def claim_next_job(
    session: Session,
    *,
    batch_ids: Iterable[int] | None,
    printer: str,
    station: str,
    owner: str,
    clock: Clock,
) -> Job | None:
    """Atomically take the next pending job of a running batch for ``printer``, or None.

    Only a job whose record is still ``queued`` and has no higher version is taken: a record
    superseded while its job waited is never printed. On SQLite the surrounding transaction
    holds the write lock (``BEGIN IMMEDIATE``); on PostgreSQL ``FOR UPDATE SKIP LOCKED``
    (on the job and its record) lets concurrent claimers pass each other.
    """
    query = claimable(select(Job)).limit(1)
    if batch_ids is not None:
        query = query.where(col(Job.batch_id).in_(list(batch_ids)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=[Job, Record])
    job: Job | None = session.exec(query).first()
    if job is None or job.id is None:
        return None
    transition_job(
        session,
        job.id,
        from_state=JobState.PENDING,
        to_state=JobState.PROCESSING,
        step=JobStep.RENDERING,
        actor=f"worker:{printer}",
        station=station,
        clock=clock,
        columns={
            "printer": printer,
            "station": station,
            "owner": owner,
            "attempts": job.attempts + 1,
        },
    )
    session.refresh(job)
    return job


def transition_printer(
    session: Session,
    name: str,
    to_state: PrinterRunState,
    *,
    actor: str,
    station: str,
    clock: Clock,
    url: str = "",
    reasons: Iterable[str] = (),
    reason: str = "",
    auto_resume: bool = False,
    counter: int | None = None,
) -> bool:
    """Set a printer's state and reasons (creating its row on first sight); journal changes.

    A printer is driven by one worker of one station at a time, so the row is read and
    written in the caller's transaction; the move is checked against
    :data:`PRINTER_TRANSITIONS`. Only a change of state or reasons is journaled (a run's
    many "still processing" updates are not). Returns True when something changed.
    """
    row = session.get(PrinterRow, name)
    if row is None:
        row = PrinterRow(name=name, url=url, station=station, state=PrinterRunState.IDLE.value)
    from_state = PrinterRunState(row.state)
    if to_state not in PRINTER_TRANSITIONS[from_state]:
        raise ValueError(f"printer transition {from_state} → {to_state} is not allowed")
    stored = reason_set(reasons)
    changed = (from_state, row.reasons) != (to_state, stored)
    row.state, row.reasons = to_state.value, stored
    row.reason = reason[:500]
    row.auto_resume = auto_resume if to_state is PrinterRunState.STOPPED else False
    row.station = station
    if url:
        row.url = url
    if counter is not None:
        row.cards_inserted = counter
    row.updated_at = clock()
    session.add(row)
    if changed:
        record_event(
            session,
            actor=actor,
            station=station,
            action=f"printer.{to_state.value}",
            entity="printer",
            entity_id=name,
            detail={
                "from": from_state.value,
                "reasons": stored,
                "reason": reason,
                "auto_resume": row.auto_resume,
            },
            clock=clock,
        )
    return changed


def work_left(
    session: Session, batch_ids: Iterable[int] | None, *, held_by_printers: bool = False
) -> int:
    """Jobs of running batches (of ``batch_ids`` when given) that are still to print.

    Those pending with their record queued (what :func:`claim_next_job` may take), and with
    ``held_by_printers`` also those a printer holds (processing or stopped): such a job may
    yet be handed back, or its station die and the job be requeued. Jobs awaiting
    inspection wait for a person, not for a printer.
    """
    claimable = and_(
        col(Job.state) == JobState.PENDING.value,
        col(Record.state) == RecordState.QUEUED.value,
    )
    active = col(Job.state).in_([s.value for s in ACTIVE_JOB_STATES])
    query = (
        select(func.count())
        .select_from(Job)
        .join(Batch, col(Batch.id) == col(Job.batch_id))
        .join(Record, col(Record.id) == col(Job.record_pk))
        .where(
            col(Batch.state) == BatchState.RUNNING.value,
            or_(claimable, active) if held_by_printers else claimable,
        )
    )
    if batch_ids is not None:
        query = query.where(col(Job.batch_id).in_(list(batch_ids)))
    return int(session.exec(query).one())
