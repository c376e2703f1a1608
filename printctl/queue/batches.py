"""Batches: an operator's selection of ready records, turned into print jobs and started."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from printctl.audit import Clock, EventSpec, lock_journal, record_event, record_events
from printctl.domain import RequestType
from printctl.logs import get_logger
from printctl.models import Batch, BatchState, Job, JobReason, JobState, Record, RecordState
from printctl.queue.store import TransitionConflict, transition_job
from printctl.stock import balance

log = get_logger(__name__)


class BatchError(Exception):
    """A batch operation a user asked for cannot be done."""


@dataclass(frozen=True)
class BatchFilters:
    """Which ready records a new batch takes."""

    district: str | None = None
    request_type: str | None = None
    limit: int | None = None
    #: Only records imported at least this many days ago (the oldest first, by hand).
    min_age_days: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, without unset filters."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


class StockMode(enum.StrEnum):
    """What a batch larger than the stock on hand does (the operator's choice)."""

    REFUSE = "refuse"  #: nothing is queued; the numbers are shown
    TRIM = "trim"  #: only as many records as there are blanks, first-time cards first


@dataclass(frozen=True)
class StockRoom:
    """Blanks a new batch may count on."""

    on_hand: int  #: vault and hoppers, less the cards in printers now
    promised: int  #: jobs of earlier batches still waiting for a blank
    vault: int
    hoppers: int

    @property
    def free(self) -> int:
        """Blanks not promised to an earlier batch."""
        return max(0, self.on_hand - self.promised)

    def words(self) -> str:
        """The numbers, for a message."""
        return (
            f"{self.on_hand} on hand (vault {self.vault}, hoppers {self.hoppers}), "
            f"{self.promised} promised to earlier batches: {self.free} free"
        )


def stock_room(session: Session) -> StockRoom:
    """What the ledger can still give a new batch."""
    totals = balance(session)
    promised = session.exec(
        select(func.count())
        .select_from(Job)
        .join(Batch, col(Batch.id) == col(Job.batch_id))
        .where(
            col(Job.state).in_([JobState.PENDING.value, JobState.HELD.value]),
            col(Batch.state).in_(
                [BatchState.OPEN.value, BatchState.RUNNING.value, BatchState.PAUSED.value]
            ),
        )
    ).one()
    return StockRoom(
        on_hand=totals.on_hand,
        promised=int(promised),
        vault=totals.vault,
        hoppers=sum(totals.hoppers.values()),
    )


def _new_first(records: list[Record]) -> list[Record]:
    """First-time cards before replacements, each in arrival order (the ministry's rule
    when blanks are scarce)."""
    return sorted(records, key=lambda r: (r.request_type != RequestType.NEW.value,))


def create_batch(
    session: Session,
    *,
    name: str,
    filters: BatchFilters,
    actor: str,
    station: str,
    clock: Clock,
    priority: int = 0,
    stock_mode: StockMode = StockMode.REFUSE,
    low_stock: int = 0,
    record_pks: Sequence[int] | None = None,
) -> tuple[Batch, int]:
    """Make a batch of every ready record matching ``filters``; returns it and its job count.

    A batch needing more blanks than are free is refused with the numbers, or with
    :attr:`StockMode.TRIM` cut to the free blanks. When blanks are scarce (the batch does not
    fit, or would leave fewer than ``low_stock``), first-time cards (``NEW``) are queued
    before replacements. With ``record_pks`` (a night plan's choice) only those records are
    taken, those still ready, in exactly that order.
    """
    if filters.limit is not None and filters.limit <= 0:
        raise BatchError(f"--limit must be positive, got {filters.limit}")
    # Batches are created one at a time (PostgreSQL: the journal's lock; SQLite: its write
    # lock), so two operators cannot both count the same free blanks. The record rows are
    # then taken with SKIP LOCKED, which never waits: no lock-order cycle.
    lock_journal(session)
    query = select(Record).where(col(Record.state) == RecordState.READY.value)
    if filters.district:
        query = query.where(func.upper(col(Record.district)) == filters.district.upper())
    if filters.request_type:
        query = query.where(col(Record.request_type) == filters.request_type.upper())
    if filters.min_age_days:
        cutoff = clock() - timedelta(days=filters.min_age_days)
        query = query.where(col(Record.imported_at) <= cutoff)
    if record_pks is not None:
        query = query.where(col(Record.id).in_(list(record_pks)))
    query = query.order_by(col(Record.imported_at), col(Record.id))
    if session.get_bind().dialect.name == "postgresql":
        # Two operators creating batches at once must not both take the same record.
        query = query.with_for_update(skip_locked=True)
    matching = list(session.exec(query).all())
    if record_pks is not None:
        place = {pk: n for n, pk in enumerate(record_pks)}
        matching.sort(key=lambda r: place[r.id or 0])
    if not matching:
        raise BatchError(f"no ready records match {filters.as_dict() or 'the batch'}")
    room = stock_room(session)
    wanted = min(len(matching), filters.limit or len(matching))
    scarce = wanted > room.free or room.free - wanted < low_stock
    if scarce and record_pks is None:
        matching = _new_first(matching)
        log.warning(
            "low stock: first-time cards are queued first",
            wanted=wanted,
            free=room.free,
            low_stock=low_stock,
        )
    if wanted > room.free:
        if stock_mode is StockMode.REFUSE or room.free == 0:
            raise BatchError(
                f"not enough stock: the batch needs {wanted} blank(s); {room.words()}. "
                + (
                    "Record a delivery (printctl stock receive) and load the printers."
                    if room.free == 0
                    else f"Use --trim to queue {room.free} (first-time cards first), "
                    "or record a delivery."
                )
            )
        wanted = room.free
    candidates = matching[:wanted]
    # Claim the records first (only those still ready), then make jobs for exactly those.
    claimed = set(
        session.execute(
            update(Record)
            .where(
                col(Record.id).in_([r.id for r in candidates]),
                col(Record.state) == RecordState.READY.value,
            )
            .values(state=RecordState.QUEUED.value)
            .returning(col(Record.id))
        ).scalars()
    )
    records = [r for r in candidates if r.id in claimed]
    if not records:
        raise BatchError(f"no ready records match {filters.as_dict() or 'the batch'}")
    batch = Batch(
        name=name,
        filters=json.dumps(filters.as_dict()),
        priority=priority,
        created_by=actor,
        created_at=clock(),
    )
    session.add(batch)
    session.flush()
    assert batch.id is not None
    now = clock()
    for record in records:
        assert record.id is not None
        session.add(Job(batch_id=batch.id, record_pk=record.id, created_at=now, updated_at=now))
    record_events(
        session,
        [
            EventSpec(
                "record.queued", "record", f"{r.record_id} v{r.version}", detail={"batch": batch.id}
            )
            for r in records
        ],
        actor=actor,
        station=station,
        clock=clock,
    )
    record_event(
        session,
        actor=actor,
        station=station,
        action="batch.created",
        entity="batch",
        entity_id=batch.id,
        detail={
            "name": name,
            "jobs": len(records),
            "filters": filters.as_dict(),
            "matching": len(matching),
            "stock": room.words(),
            "new_first": scarce,
        },
        clock=clock,
    )
    return batch, len(records)


def start_batch(
    session: Session, batch_id: int, *, actor: str, station: str, clock: Clock
) -> Batch:
    """Mark a batch running so that workers take its jobs. Needs blanks on hand."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise BatchError(f"no batch {batch_id}")
    if batch.state not in (
        BatchState.OPEN.value,
        BatchState.RUNNING.value,
        BatchState.PAUSED.value,
    ):
        raise BatchError(f"batch {batch_id} is {batch.state} and cannot be started")
    on_hand = balance(session).on_hand
    if on_hand <= 0:
        raise BatchError(
            "not enough stock: no blanks on hand (record a delivery with `printctl stock receive`)"
        )
    batch.state = BatchState.RUNNING.value
    session.add(batch)
    record_event(
        session,
        actor=actor,
        station=station,
        action="batch.started",
        entity="batch",
        entity_id=batch_id,
        detail={"blanks_on_hand": on_hand},
        clock=clock,
    )
    return batch


#: Job states that keep a batch from being done: waiting, held for a person, or printing.
UNFINISHED_JOB_STATES = (JobState.PENDING, JobState.HELD, JobState.PROCESSING, JobState.STOPPED)


def pending_jobs(session: Session, batch_ids: list[int]) -> int:
    """Jobs of these batches that are waiting, held or being printed."""
    return session.exec(
        select(func.count()).where(
            col(Job.batch_id).in_(batch_ids),
            col(Job.state).in_([s.value for s in UNFINISHED_JOB_STATES]),
        )
    ).one()


def finish_batches(
    session: Session, batch_ids: list[int], *, actor: str, station: str, clock: Clock
) -> None:
    """Mark running batches done once none of their jobs is pending or processing."""
    for batch_id in batch_ids:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.state != BatchState.RUNNING.value:
            continue
        if pending_jobs(session, [batch_id]) == 0:
            batch.state = BatchState.DONE.value
            session.add(batch)
            record_event(
                session,
                actor=actor,
                station=station,
                action="batch.done",
                entity="batch",
                entity_id=batch_id,
                clock=clock,
            )


def pause_batch(session: Session, batch_id: int, *, actor: str, station: str, clock: Clock) -> None:
    """Stop giving out the batch's jobs; cards already in a printer finish."""
    batch = _batch(session, batch_id)
    if batch.state not in (BatchState.OPEN.value, BatchState.RUNNING.value):
        raise BatchError(f"batch {batch_id} is {batch.state} and cannot be paused")
    batch.state = BatchState.PAUSED.value
    session.add(batch)
    record_event(
        session,
        actor=actor,
        station=station,
        action="batch.paused",
        entity="batch",
        entity_id=batch_id,
        clock=clock,
    )


def _withdraw_waiting(
    session: Session,
    batch_id: int,
    *,
    reason: str,
    actor: str,
    station: str,
    clock: Clock,
    audit: bool = True,
    record_reason: str | None = None,
) -> int:
    """Cancel the batch's pending and held jobs and make their records ready again (with
    ``record_reason``, by default ``reason``); returns how many."""
    waiting = session.exec(
        select(Job).where(
            col(Job.batch_id) == batch_id,
            col(Job.state).in_([JobState.PENDING.value, JobState.HELD.value]),
        )
    ).all()
    withdrawn = 0
    for job in waiting:
        assert job.id is not None
        try:
            transition_job(
                session,
                job.id,
                from_state=JobState(job.state),
                to_state=JobState.CANCELED,
                reason=reason,
                actor=actor,
                station=station,
                clock=clock,
                audit=audit,
                reasons=(JobReason.CANCELED_BY_OPERATOR,),
            )
        except TransitionConflict:
            # A printer claimed it between our look and our update: it is that printer's
            # now, and its worker withdraws it once it sees the batch no longer running.
            continue
        withdrawn += 1
        session.execute(
            update(Record)
            .where(col(Record.id) == job.record_pk, col(Record.state) == RecordState.QUEUED.value)
            .values(state=RecordState.READY.value, state_reason=(record_reason or reason)[:200])
        )
    return withdrawn


def cancel_batch(session: Session, batch_id: int, *, actor: str, station: str, clock: Clock) -> int:
    """Cancel the batch's pending and held jobs (their records become ready again).

    Returns how many were canceled. Jobs with a card in a printer or awaiting inspection are
    left to finish or to a person.
    """
    batch = _batch(session, batch_id)
    if batch.state in (BatchState.DONE.value, BatchState.CANCELED.value):
        raise BatchError(f"batch {batch_id} is {batch.state} already")
    canceled = _withdraw_waiting(
        session,
        batch_id,
        reason="batch canceled",
        record_reason="its batch was canceled",
        actor=actor,
        station=station,
        clock=clock,
    )
    batch.state = BatchState.CANCELED.value
    session.add(batch)
    record_event(
        session,
        actor=actor,
        station=station,
        action="batch.canceled",
        entity="batch",
        entity_id=batch_id,
        detail={"jobs_canceled": canceled},
        clock=clock,
    )
    return canceled


def close_batch(
    session: Session, batch_id: int, *, reason: str, actor: str, station: str, clock: Clock
) -> int:
    """End a batch whose time is up (a night's window closed): its jobs still waiting go
    back (their records ready again, for another batch), and the batch is done with what
    it printed. Returns how many went back. Jobs with a card in a printer are left to
    finish; one awaiting inspection reopens the batch if it is to be printed again.
    """
    batch = _batch(session, batch_id)
    if batch.state in (BatchState.DONE.value, BatchState.CANCELED.value):
        return 0
    # One event for the batch says it; each record's state says its own.
    returned = _withdraw_waiting(
        session,
        batch_id,
        reason=reason,
        actor=actor,
        station=station,
        clock=clock,
        audit=False,
    )
    batch.state = BatchState.DONE.value
    session.add(batch)
    record_event(
        session,
        actor=actor,
        station=station,
        action="batch.closed",
        entity="batch",
        entity_id=batch_id,
        detail={"returned": returned, "reason": reason},
        clock=clock,
    )
    return returned


def set_priority(
    session: Session, batch_id: int, priority: int, *, actor: str, station: str, clock: Clock
) -> None:
    """Higher priority batches' jobs are taken first."""
    batch = _batch(session, batch_id)
    batch.priority = priority
    session.add(batch)
    record_event(
        session,
        actor=actor,
        station=station,
        action="batch.priority",
        entity="batch",
        entity_id=batch_id,
        detail={"priority": priority},
        clock=clock,
    )


def _batch(session: Session, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise BatchError(f"no batch {batch_id}")
    return batch


def _job_in(session: Session, job_id: int, state: JobState, refusal: str) -> Job:
    """The job, which must be in ``state`` (``refusal`` completes the error otherwise)."""
    job = session.get(Job, job_id)
    if job is None:
        raise BatchError(f"no job {job_id}")
    if job.state != state.value:
        raise BatchError(f"job {job_id} is {job.state}{refusal}")
    return job


def hold_job(
    session: Session, job_id: int, *, actor: str, station: str, clock: Clock, note: str = ""
) -> None:
    """An operator sets a pending job aside; no printer takes it until it is released."""
    _job_in(session, job_id, JobState.PENDING, ": only a pending job can be held")
    transition_job(
        session,
        job_id,
        from_state=JobState.PENDING,
        to_state=JobState.HELD,
        reason=note or f"held by {actor}",
        actor=actor,
        station=station,
        clock=clock,
        reasons=(JobReason.HELD_BY_OPERATOR,),
    )


def release_job(
    session: Session, job_id: int, *, actor: str, station: str, clock: Clock, note: str = ""
) -> str:
    """A person releases a held job back to pending; returns why it had been held."""
    job = _job_in(session, job_id, JobState.HELD, ", not held")
    was = job.error or job.reasons
    transition_job(
        session,
        job_id,
        from_state=JobState.HELD,
        to_state=JobState.PENDING,
        reason=note or f"released by {actor}",
        actor=actor,
        station=station,
        clock=clock,
        columns={"error": ""},
    )
    return was
