"""Stations on a shared database: registration, heartbeats, leases and reaping the dead.

Every test runs on SQLite and on PostgreSQL (the ``database_url`` fixture). Time is a
:class:`ManualClock` the test moves, so leases expire without sleeping; a live station is
stood in for by holding its station lock, as a real run does for its whole life.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from printctl.config import PrinterConfig, Settings
from printctl.models import AuditEvent, Job, Record, StationRow
from printctl.queue.batches import BatchFilters
from printctl.queue.station_lock import station_lock, try_station_lock
from printctl.queue.stations import (
    deregister_station,
    heartbeat,
    reap_lost_stations,
    register_station,
    station_views,
)
from printctl.service import (
    Context,
    new_batch,
    receive_stock,
    release_batches,
    run_station,
    stock,
)
from tests.integration.station_support import ManualClock, seed_printable_records

LEASE = 30.0


@pytest.fixture
def manual_clock() -> ManualClock:
    """The clock every station in a test reads."""
    return ManualClock()


@pytest.fixture
def sctx(settings: Settings, manual_clock: ManualClock) -> Iterator[Context]:
    """A service context on the test database whose clock the test moves by hand."""
    context = Context.open(
        replace(settings, lease_s=LEASE, poll_s=0.05), actor="tester", clock=manual_clock
    )
    yield context
    context.close()


def register(ctx: Context, name: str, *, lease_s: float = LEASE) -> str:
    with Session(ctx.engine) as session:
        run_id = register_station(
            session, name=name, lease_s=lease_s, actor="tester", clock=ctx.clock
        )
        session.commit()
    return run_id


def beat(ctx: Context, name: str, run_id: str) -> bool:
    with Session(ctx.engine) as session:
        ours = heartbeat(session, name=name, run_id=run_id, clock=ctx.clock)
        session.commit()
    return ours


def station_row(ctx: Context, name: str) -> StationRow:
    with Session(ctx.engine) as session:
        row = session.get(StationRow, name)
        assert row is not None
        return row


def hold_jobs(ctx: Context, station: str, steps: list[str]) -> list[int]:
    """Seed a running batch and put its first jobs in ``processing`` at ``steps`` for ``station``."""
    seed_printable_records(ctx.engine, ctx.cipher, len(steps) + 1)
    receive_stock(ctx, 10, "LOT-S", load=[f"{station}-p1"])
    batch_id, _ = new_batch(ctx, BatchFilters())
    release_batches(ctx, [batch_id])
    with Session(ctx.engine) as session:
        jobs = session.exec(select(Job).order_by(col(Job.id))).all()
        for job, step in zip(jobs, steps, strict=False):
            job.state, job.step, job.station = "processing", step, station
            job.printer, job.owner = f"{station}-p1", "run-of-" + station
            session.add(job)
        session.commit()
        return [job.id for job in jobs if job.id is not None]


def job_rows(ctx: Context) -> dict[int, Job]:
    with Session(ctx.engine) as session:
        return {j.id: j for j in session.exec(select(Job)).all() if j.id is not None}


def test_register_and_heartbeat_renew_the_lease_with_the_injected_clock(
    sctx: Context, manual_clock: ManualClock
) -> None:
    """Registering makes a running row with a fresh run id; a heartbeat moves heartbeat_at."""
    run_id = register(sctx, "s1")
    row = station_row(sctx, "s1")
    assert (row.state, row.run_id, row.lease_s) == ("running", run_id, LEASE)
    assert row.pid > 0 and row.host
    started = row.heartbeat_at
    manual_clock.advance(10)
    assert beat(sctx, "s1", run_id)
    renewed = station_row(sctx, "s1").heartbeat_at
    assert (renewed - started).total_seconds() == pytest.approx(10)
    # A second run of the same station gets its own run id; the first one's beats fail.
    second = register(sctx, "s1")
    assert second != run_id
    assert not beat(sctx, "s1", run_id)
    assert beat(sctx, "s1", second)


def test_an_expired_station_whose_lock_is_held_is_alive_and_left_alone(
    sctx: Context, manual_clock: ManualClock
) -> None:
    """Lease expired but lock held (alive but slow): nothing is reaped, its jobs stay its own."""
    register(sctx, "s2")
    ids = hold_jobs(sctx, "s2", ["rendering", "printing"])
    manual_clock.advance(LEASE + 5)
    with station_lock(sctx.engine, "s2"):
        result = reap_lost_stations(sctx.engine, me="s1", actor="tester", clock=sctx.clock)
    assert result.reaped == [] and result.alive == ["s2"]
    assert station_row(sctx, "s2").state == "running"
    jobs = job_rows(sctx)
    assert [jobs[i].state for i in ids[:2]] == ["processing", "processing"]


def test_a_fresh_lease_is_not_reaped_even_with_its_lock_free(
    sctx: Context, manual_clock: ManualClock
) -> None:
    """Within its lease a station is not even examined (its lock is not tried)."""
    register(sctx, "s2")
    hold_jobs(sctx, "s2", ["printing"])
    manual_clock.advance(LEASE - 1)
    result = reap_lost_stations(sctx.engine, me="s1", actor="tester", clock=sctx.clock)
    assert result.reaped == [] and result.alive == []
    assert station_row(sctx, "s2").state == "running"


def test_a_dead_station_is_reaped_not_fed_jobs_requeued_cards_to_inspection(
    sctx: Context, manual_clock: ManualClock
) -> None:
    """Lease expired and lock free: not-fed jobs go pending, card-step jobs need inspection."""
    register(sctx, "s2")
    ids = hold_jobs(sctx, "s2", ["rendering", "feeding", "ejecting"])
    manual_clock.advance(LEASE + 1)
    result = reap_lost_stations(sctx.engine, me="s1", actor="tester", clock=sctx.clock)
    assert [r.name for r in result.reaped] == ["s2"]
    reaped = result.reaped[0]
    assert reaped.requeued == [ids[0]] and reaped.needs_inspection == ids[1:3]
    jobs = job_rows(sctx)
    assert (jobs[ids[0]].state, jobs[ids[0]].printer, jobs[ids[0]].owner) == (
        "pending",
        None,
        None,
    )
    assert jobs[ids[0]].reasons == "station-lease-expired"
    for job_id in ids[1:3]:
        assert jobs[job_id].state == "needs-inspection"
        assert "station s2 lost" in jobs[job_id].error
        assert set(jobs[job_id].reasons.split()) == {
            "station-lease-expired",
            "card-outcome-unknown",
        }
    assert jobs[ids[3]].state == "pending"  # never held: untouched
    with Session(sctx.engine) as session:
        states = {
            r.id: r.state
            for r in session.exec(select(Record)).all()
            if r.id in {jobs[i].record_pk for i in ids[1:3]}
        }
        lost_events = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "station.lost")
        ).all()
    assert set(states.values()) == {"needs-inspection"}
    assert [(e.entity_id, e.station) for e in lost_events] == [("s2", "s1")]
    row = station_row(sctx, "s2")
    assert row.state == "lost" and "station s2 lost" in row.reason
    assert stock(sctx).in_doubt == 2  # the two cards are in doubt until a person looks
    # The lock was released: a restarted s2 can take it.
    with try_station_lock(sctx.engine, "s2") as got:
        assert got
    # A second pass finds nothing more to do.
    again = reap_lost_stations(sctx.engine, me="s1", actor="tester", clock=sctx.clock)
    assert again.reaped == []


def test_a_station_never_reaps_itself(sctx: Context, manual_clock: ManualClock) -> None:
    """The calling station is not a candidate even if its own lease looks expired."""
    register(sctx, "s1")
    hold_jobs(sctx, "s1", ["printing"])
    manual_clock.advance(LEASE * 3)
    assert reap_lost_stations(sctx.engine, me="s1", actor="t", clock=sctx.clock).reaped == []
    assert station_row(sctx, "s1").state == "running"


def test_jobs_held_by_a_station_without_a_running_row_are_reconciled_once_its_lock_is_free(
    sctx: Context,
) -> None:
    """A run that never registered (single-station ``batch start``) and died is reaped too."""
    ids = hold_jobs(sctx, "old", ["encoding"])
    with station_lock(sctx.engine, "old"):
        alive = reap_lost_stations(sctx.engine, me="s1", actor="t", clock=sctx.clock)
    assert alive.alive == ["old"] and job_rows(sctx)[ids[0]].state == "processing"
    reaped = reap_lost_stations(sctx.engine, me="s1", actor="t", clock=sctx.clock)
    assert [r.needs_inspection for r in reaped.reaped] == [[ids[0]]]


def test_a_lost_station_that_wakes_up_finds_its_row_taken_and_stops(
    sctx: Context, manual_clock: ManualClock
) -> None:
    """After another station took it over as lost, the old run's heartbeat says stop."""
    run_id = register(sctx, "s2")
    manual_clock.advance(LEASE + 1)
    assert [
        r.name for r in reap_lost_stations(sctx.engine, me="s1", actor="t", clock=sctx.clock).reaped
    ] == ["s2"]
    assert not beat(sctx, "s2", run_id)
    with Session(sctx.engine) as session:
        assert not deregister_station(
            session, name="s2", run_id=run_id, actor="t", clock=sctx.clock
        )
        session.commit()
    assert station_row(sctx, "s2").state == "lost"  # a late clean exit does not hide it


def test_station_views_show_age_lease_and_held_jobs(
    sctx: Context, manual_clock: ManualClock
) -> None:
    """``stations list`` data: heartbeat age from the clock, expiry, jobs held now."""
    register(sctx, "s2")
    hold_jobs(sctx, "s2", ["printing", "rendering"])
    manual_clock.advance(LEASE + 2)
    with Session(sctx.engine) as session:
        views = station_views(session, clock=sctx.clock)
    assert [(v.name, v.state, v.in_flight, v.expired) for v in views] == [
        ("s2", "running", 2, True)
    ]
    assert views[0].heartbeat_age_s == pytest.approx(LEASE + 2)


# ------------------------------------------------------------------ run_station in-process


def sim_printers(station: str, count: int = 2) -> list[PrinterConfig]:
    return [
        PrinterConfig(
            name=f"{station}-p{i}",
            url=f"sim://?cards=1000&ribbon=1000&serial={station.upper()}{i}",
            encoder=f"sim://?seed={i}",
        )
        for i in range(1, count + 1)
    ]


def test_run_station_until_idle_prints_every_running_batch_and_deregisters(
    sctx: Context,
) -> None:
    """A station run takes the released batch's jobs, finishes it, and leaves its row stopped."""
    seed_printable_records(sctx.engine, sctx.cipher, 6)
    receive_stock(sctx, 10, "LOT-R", load=["s1-p1", "s1-p2"])
    batch_id, _ = new_batch(sctx, BatchFilters())
    release_batches(sctx, [batch_id])
    ctx = replace(sctx, settings=replace(sctx.settings, station="s1"))
    result = run_station(ctx, sim_printers("s1"), until_idle=True)
    assert result.completed == 6 and not result.lost
    assert {j.state for j in job_rows(sctx).values()} == {"completed"}
    assert {j.station for j in job_rows(sctx).values()} == {"s1"}
    assert stock(sctx).issued == 6 and stock(sctx).on_hand == 4
    assert station_row(sctx, "s1").state == "stopped"
    with Session(sctx.engine) as session:
        batch_state = session.exec(
            select(AuditEvent.action).where(col(AuditEvent.action) == "batch.done")
        ).all()
    assert batch_state == ["batch.done"]


def test_run_station_stops_when_its_row_is_taken_over_as_lost(sctx: Context) -> None:
    """A run whose row another station marked lost stops taking work and says so."""
    ctx = replace(sctx, settings=replace(sctx.settings, station="s1", lease_s=0.3, poll_s=0.05))
    outcome: dict[str, object] = {}
    stop = threading.Event()

    def run() -> None:
        outcome["result"] = run_station(ctx, sim_printers("s1", 1), stop=stop)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        registered = False
        for _ in range(400):  # bounded poll: the run registers at once
            with Session(sctx.engine) as session:
                row = session.get(StationRow, "s1")
                registered = row is not None and row.state == "running"
            if registered or stop.wait(0.01):
                break
        assert registered
        with Session(sctx.engine) as session:
            session.execute(
                update(StationRow).where(col(StationRow.name) == "s1").values(state="lost")
            )
            session.commit()
        thread.join(timeout=20)
        assert not thread.is_alive(), "the lost station did not stop"
    finally:
        stop.set()
        thread.join(timeout=20)
    result = outcome["result"]
    assert getattr(result, "lost", False) is True
    assert station_row(sctx, "s1").state == "lost"
