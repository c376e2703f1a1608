"""Stations sharing one database: registration, heartbeats, leases, and reaping the dead.

A station run (``printctl run --station NAME``) holds its station lock
(:mod:`printctl.queue.station_lock`) for its whole life, registers itself in the ``station``
table with a fresh ``run_id`` and renews ``heartbeat_at`` every third of its lease. A station
whose heartbeat is older than its lease is *presumed* dead; another station proves it by
taking that station's lock (a live run holds it, a dead one's lock was released by the
server or the kernel). Only then is its work reconciled, exactly as a restart of that
station would reconcile it: jobs that had not fed a blank go back to pending, jobs that had a
card in the printer become ``needs-inspection`` (never reprinted blindly), and its row is
marked ``lost``. A station that was only slow keeps its lock, so it is left alone; a station
that finds its row taken over as ``lost`` stops taking work.

Every time here comes from the injected clock, so leases are tested without sleeping.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from printctl.audit import Clock, record_event
from printctl.db import read_session, session_scope
from printctl.models import ACTIVE_JOB_STATES, Job, JobReason, StationRow, as_utc
from printctl.queue.recovery import recover_in_flight
from printctl.queue.station_lock import try_station_lock

RUNNING = "running"
STOPPED = "stopped"
LOST = "lost"


def register_station(
    session: Session,
    *,
    name: str,
    lease_s: float,
    actor: str,
    clock: Clock,
    host: str | None = None,
    pid: int | None = None,
) -> str:
    """Record that a run of station ``name`` has started; returns the run's fresh id.

    Call it with the station lock held: the row is this run's from now on (a previous run's
    row, running, stopped or lost, is taken over).
    """
    run_id = uuid.uuid4().hex
    now = clock()
    row = session.get(StationRow, name) or StationRow(name=name, run_id=run_id)
    previous = row.state if row.run_id != run_id else ""
    row.run_id = run_id
    row.host = (host if host is not None else socket.gethostname())[:200]
    row.pid = pid if pid is not None else os.getpid()
    row.state = RUNNING
    row.reason = ""
    row.lease_s = lease_s
    row.started_at = now
    row.heartbeat_at = now
    session.add(row)
    record_event(
        session,
        actor=actor,
        station=name,
        action="station.started",
        entity="station",
        entity_id=name,
        detail={
            "run_id": run_id,
            "host": row.host,
            "pid": row.pid,
            "lease_s": lease_s,
            "previous": previous,
        },
        clock=clock,
    )
    return run_id


def heartbeat(session: Session, *, name: str, run_id: str, clock: Clock) -> bool:
    """Renew this run's lease; False when the row is no longer this run's running row.

    False means another station took the row over as ``lost`` (or a newer run of the same
    station registered): this run must stop taking work.
    """
    return _update_own_row(session, name, run_id, heartbeat_at=clock())


def _update_own_row(session: Session, name: str, run_id: str, **values: object) -> bool:
    """Update the station's row only while it is this run's running row; True if it was."""
    result = session.execute(
        update(StationRow)
        .where(
            col(StationRow.name) == name,
            col(StationRow.run_id) == run_id,
            col(StationRow.state) == RUNNING,
        )
        .values(**values)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def deregister_station(
    session: Session, *, name: str, run_id: str, actor: str, clock: Clock, reason: str = ""
) -> bool:
    """Mark this run's row ``stopped`` at a clean exit; False if it was no longer ours."""
    if not _update_own_row(
        session, name, run_id, state=STOPPED, reason=reason[:500], heartbeat_at=clock()
    ):
        return False
    record_event(
        session,
        actor=actor,
        station=name,
        action="station.stopped",
        entity="station",
        entity_id=name,
        detail={"run_id": run_id, "reason": reason},
        clock=clock,
    )
    return True


def lease_expired(row: StationRow, now: datetime) -> bool:
    """True when the row's heartbeat is older than its lease at ``now``."""
    return (as_utc(now) - as_utc(row.heartbeat_at)).total_seconds() > row.lease_s


@dataclass
class Reaped:
    """A station found dead and reconciled by another."""

    name: str
    run_id: str
    heartbeat_at: datetime | None
    requeued: list[int] = field(default_factory=list)
    needs_inspection: list[int] = field(default_factory=list)


@dataclass
class ReapResult:
    """What one reaping pass did."""

    reaped: list[Reaped] = field(default_factory=list)
    #: Stations whose lease had expired but whose lock is held: alive but slow, left alone.
    alive: list[str] = field(default_factory=list)


def _candidates(session: Session, *, me: str, now: datetime) -> dict[str, StationRow | None]:
    """Stations presumed dead: running rows past their lease, and holders of orphaned jobs.

    An orphaned job is one held (processing or stopped) by a station that has no running
    row at all, e.g. a single-station ``batch start`` run that died: its lock proves it too.
    """
    rows = {r.name: r for r in session.exec(select(StationRow)).all()}
    found: dict[str, StationRow | None] = {
        name: row
        for name, row in rows.items()
        if name != me and row.state == RUNNING and lease_expired(row, now)
    }
    holders = session.exec(
        select(Job.station)
        .where(col(Job.state).in_([s.value for s in ACTIVE_JOB_STATES]))
        .distinct()
    ).all()
    for holder in holders:
        if holder and holder != me and holder not in found:
            row = rows.get(holder)
            if row is None or row.state != RUNNING:
                found[holder] = row
    return found


def reap_lost_stations(engine: Engine, *, me: str, actor: str, clock: Clock) -> ReapResult:
    """Reconcile every station presumed dead whose lock proves it dead; leave the others.

    For each station whose lease expired (or that holds jobs without a running row): try its
    station lock without waiting. Held: the station is alive but slow, nothing is touched.
    Taken: in one transaction, its held jobs are reconciled (not fed → pending, a card in the
    printer → needs-inspection naming the lost station), its row is marked ``lost`` and the
    takeover is journaled; the lock is released after the commit. ``me`` (the calling
    station) is never reaped.

    It takes the engine rather than a session: the lock must be held across the reconciling
    transaction's commit and released on the connection that took it.
    """
    result = ReapResult()
    with read_session(engine) as session:
        candidates = _candidates(session, me=me, now=clock())
    for name, seen in sorted(candidates.items()):
        with try_station_lock(engine, name) as got:
            if not got:
                result.alive.append(name)
                continue
            reaped = _reap_one(engine, name, seen, me=me, actor=actor, clock=clock)
            if reaped is not None:
                result.reaped.append(reaped)
    return result


def _reap_one(
    engine: Engine, name: str, seen: StationRow | None, *, me: str, actor: str, clock: Clock
) -> Reaped | None:
    """Reconcile one station whose lock the caller holds; None if it recovered meanwhile."""
    with session_scope(engine) as session:
        row = session.get(StationRow, name)
        if seen is not None:
            # A run may have started and stopped cleanly between our look and the lock.
            if row is None or row.run_id != seen.run_id or row.state != RUNNING:
                return None
        elif row is not None and row.state == RUNNING:
            return None  # it registered since: a lease will tell, not an orphaned job
        last = as_utc(row.heartbeat_at) if row is not None else None
        age = f"{(as_utc(clock()) - last).total_seconds():.1f} s ago" if last else "never"
        cause = f"station {name} lost (last heartbeat {age}; reconciled by station {me})"
        recovery = recover_in_flight(
            session,
            station=name,
            actor=actor,
            clock=clock,
            cause=cause,
            reasons=(JobReason.LEASE_EXPIRED,),
        )
        if row is not None and row.state == RUNNING:
            row.state = LOST
            row.reason = cause[:500]
            session.add(row)
        record_event(
            session,
            actor=actor,
            station=me,
            action="station.lost",
            entity="station",
            entity_id=name,
            detail={
                "run_id": row.run_id if row is not None else None,
                "last_heartbeat": last.isoformat() if last else None,
                "requeued": recovery.requeued,
                "needs_inspection": recovery.needs_inspection,
                "reason": cause,
            },
            clock=clock,
        )
        return Reaped(
            name=name,
            run_id=row.run_id if row is not None else "",
            heartbeat_at=last,
            requeued=recovery.requeued,
            needs_inspection=recovery.needs_inspection,
        )


@dataclass(frozen=True)
class StationView:
    """What ``printctl stations list`` shows for one station."""

    name: str
    state: str
    host: str
    pid: int
    heartbeat_age_s: float
    lease_s: float
    expired: bool
    in_flight: int
    reason: str

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return dict(self.__dict__)


def station_views(session: Session, *, clock: Clock) -> list[StationView]:
    """Every registered station with its heartbeat age and the jobs it holds now."""
    now = as_utc(clock())
    held = dict(
        session.exec(
            select(Job.station, func.count())
            .where(col(Job.state).in_([s.value for s in ACTIVE_JOB_STATES]))
            .group_by(Job.station)
        ).all()
    )
    return [
        StationView(
            name=row.name,
            state=row.state,
            host=row.host,
            pid=row.pid,
            heartbeat_age_s=round((now - as_utc(row.heartbeat_at)).total_seconds(), 1),
            lease_s=row.lease_s,
            expired=row.state == RUNNING and lease_expired(row, now),
            in_flight=int(held.get(row.name, 0)),
            reason=row.reason,
        )
        for row in session.exec(select(StationRow).order_by(col(StationRow.name))).all()
    ]
