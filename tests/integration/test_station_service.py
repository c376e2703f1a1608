"""The printing half of ``printctl serve``: printers supervised while the process runs, and
printer pause.

Every test runs on SQLite and on PostgreSQL (the ``database_url`` fixture). The clock is a
:class:`ManualClock` that stands still, so no lease ever expires; waits are bounded waits on
events the workers send or on database conditions, never sleeps.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlmodel import Session, col, select

from drivers.conformance import blank_card_image
from printctl.config import PrinterConfig, Settings
from printctl.models import (
    AuditEvent,
    Batch,
    Job,
    LedgerEntry,
    PrinterRow,
    PrinterRunState,
    StationRow,
)
from printctl.printers import why_not_ready
from printctl.queue.batches import BatchFilters
from printctl.queue.store import transition_printer
from printctl.queue.worker import WorkerEvent
from printctl.service import (
    Context,
    UserError,
    new_batch,
    pause_printer,
    printers,
    receive_stock,
    release_batches,
    resume,
    stock,
)
from printctl.station_service import StationService
from tests.integration.station_support import ManualClock, seed_printable_records

TIMEOUT = 60.0  # generous bound for a slow CI machine; a passing test never waits for it


@pytest.fixture(autouse=True)
def blank_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Card artwork is not under test here: every card is a blank image."""
    monkeypatch.setattr(
        "printctl.station_service.make_card_renderer", lambda _day: lambda _r: blank_card_image()
    )


@pytest.fixture
def sctx(settings: Settings) -> Iterator[Context]:
    """Station s1 on the test database, with a clock that stands still and a short poll."""
    context = Context.open(
        replace(settings, station="s1", lease_s=30.0, poll_s=0.05),
        actor="tester",
        clock=ManualClock(),
    )
    yield context
    context.close()


def sim(name: str, *, faults: str = "", policy: tuple[tuple[str, str], ...] = ()) -> PrinterConfig:
    url = f"sim://?cards=1000&ribbon=1000&serial={name.upper()}"
    return PrinterConfig(
        name=name,
        url=url + (f"&fault={faults}" if faults else ""),
        encoder=f"sim://?seed={len(name)}",
        policy=policy,
    )


class Events:
    """A notify callback that keeps every worker event and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[WorkerEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: WorkerEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def _seen(self, printer: str, kind: str) -> int:
        return sum(1 for e in self.events if (e.printer, e.kind) == (printer, kind))

    def wait_for(self, printer: str, kind: str, n: int = 1) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: self._seen(printer, kind) >= n, TIMEOUT)
            assert ok, f"{printer} never sent {n} {kind!r} event(s); got {self.events}"


def eventually(check: Callable[[], bool], what: str) -> None:
    """Wait (bounded) until ``check`` holds, looking again every 20 ms."""
    pace = threading.Event()  # never set: its wait is only the pace of the looks
    for _ in range(int(TIMEOUT / 0.02)):
        if check():
            return
        pace.wait(0.02)
    raise AssertionError(f"never happened: {what}")


def with_printers(ctx: Context, configs: list[PrinterConfig]) -> Context:
    """The context with these printers configured (pause and resume look names up there)."""
    return replace(ctx, settings=replace(ctx.settings, printers=tuple(configs)))


class Running:
    """A StationService run in its thread, stopped and joined at the end of the test."""

    def __init__(self, ctx: Context, configs: list[PrinterConfig]) -> None:
        self.stop = threading.Event()
        self.events = Events()
        self.ctx = with_printers(ctx, configs)
        self.service = StationService(self.ctx, configs, stop=self.stop, notify=self.events)
        self.error: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="station-service")

    def _run(self) -> None:
        try:
            self.service.run()
        except BaseException as exc:  # handed to the test
            self.error.append(exc)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "the station service did not stop"
        assert not self.error, self.error


def batch_state(ctx: Context, batch_id: int) -> str:
    with Session(ctx.engine) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        return batch.state


def job_states(ctx: Context) -> dict[int, str]:
    with Session(ctx.engine) as session:
        return {j.id: j.state for j in session.exec(select(Job)).all() if j.id is not None}


def printer_row(ctx: Context, name: str) -> PrinterRow:
    with Session(ctx.engine) as session:
        row = session.get(PrinterRow, name)
        assert row is not None
        return row


def actions(ctx: Context, prefix: str) -> list[tuple[str, str]]:
    with Session(ctx.engine) as session:
        events = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.action).startswith(prefix))
            .order_by(col(AuditEvent.id))
        ).all()
        return [(e.action, e.entity_id) for e in events]


def new_released_batch(ctx: Context, count: int, *, first: int = 0) -> int:
    seed_printable_records(ctx.engine, ctx.cipher, count, first=first, bundle_id=f"B-{first}")
    batch_id, jobs = new_batch(ctx, BatchFilters())
    assert jobs == count
    release_batches(ctx, [batch_id])
    return batch_id


# ------------------------------------------------------------------ the service


def test_a_batch_released_while_the_service_runs_is_printed_and_marked_done(
    sctx: Context,
) -> None:
    """Started with nothing to do, the service prints a batch released later and finishes it
    while it keeps running; its printers' levels and held job are in their rows."""
    receive_stock(sctx, 20, "LOT-1", load=["s1-p1", "s1-p2"])
    with Running(sctx, [sim("s1-p1"), sim("s1-p2")]) as running:
        eventually(
            lambda: all(s["running"] for s in running.service.snapshot().values()),
            "both workers running",
        )
        batch_id = new_released_batch(sctx, 6)
        running.service.wake()
        eventually(lambda: batch_state(sctx, batch_id) == "done", "the batch is done")
        assert running.thread.is_alive()  # done while the service goes on
        snapshot = running.service.snapshot()
    assert set(job_states(sctx).values()) == {"completed"}
    assert stock(sctx).issued == 6
    assert sum(s["completed"] for s in snapshot.values()) == 6
    last = [s["last_event"] for s in snapshot.values() if s["last_event"]]
    assert last and {e["kind"] for e in last} <= {"completed", "stopped"}
    for name in ("s1-p1", "s1-p2"):
        row = printer_row(sctx, name)
        assert row.state == "idle" and row.current_job is None
        assert row.status_at is not None and row.cards_in_hopper is not None
        assert row.ribbon_panels_left is not None and row.ribbon_panels_left > 0


def test_pausing_mid_card_finishes_that_card_then_resume_and_wake_go_on(
    sctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pause asked while the second card prints: that card finishes, no other is started
    or lost, the rest stay pending; resume + wake prints them all, each once."""
    import printctl.station_service as station_service

    real_open = station_service.open_device
    prints = itertools.count(1)
    said: list[str] = []

    def open_with_pause_on_second_print(config: PrinterConfig) -> Any:
        device = real_open(config)
        printer = device[1]
        print_card = printer.print_card

        def print_and_maybe_pause(image: Any) -> None:
            if next(prints) == 2:  # mid-card: fed, chip written, not yet printed
                said.append(pause_printer(ctx, "s1-p1", "ribbon change"))
            print_card(image)

        printer.print_card = print_and_maybe_pause
        return device

    monkeypatch.setattr(station_service, "open_device", open_with_pause_on_second_print)
    ctx = with_printers(sctx, [sim("s1-p1")])
    receive_stock(sctx, 10, "LOT-2", load=["s1-p1"])
    batch_id = new_released_batch(sctx, 5)
    with Running(sctx, [sim("s1-p1")]) as running:
        running.events.wait_for("s1-p1", "stopped")
        # The stop event comes before the row is written: wait for the worker's end.
        eventually(lambda: not running.service.snapshot()["s1-p1"]["running"], "worker ended")
        assert said == ["s1-p1 will pause after the card it is printing"]
        states = job_states(sctx)
        assert sorted(states.values()) == ["completed"] * 2 + ["pending"] * 3
        row = printer_row(sctx, "s1-p1")
        assert (row.state, row.reasons, row.reason) == ("stopped", "paused", "paused by tester")
        assert row.pause_requested_by is None and row.current_job is None
        assert not row.auto_resume
        assert stock(sctx).issued == 2 and stock(sctx).in_doubt == 0
        with Session(sctx.engine) as session:
            assert why_not_ready(session, "s1-p1") is not None  # not restarted by itself

        assert resume(ctx, "s1-p1") == "paused by tester"
        running.service.wake()
        eventually(lambda: batch_state(sctx, batch_id) == "done", "the batch is done")
    assert set(job_states(sctx).values()) == {"completed"}
    assert stock(sctx).issued == 5 and stock(sctx).spoiled == 0
    with Session(sctx.engine) as session:
        issued = session.exec(
            select(LedgerEntry.job_id).where(col(LedgerEntry.kind) == "issued")
        ).all()
    assert sorted(issued) == sorted(job_states(sctx))  # every job issued exactly once
    assert [a for a, _ in actions(sctx, "printer.pause")] == ["printer.pause-requested"]


def test_a_jammed_printer_stops_the_others_go_on_and_it_restarts_after_resume(
    sctx: Context,
) -> None:
    """With media-jam = stop-printer, p1 stops on its first card (blank spoiled, job handed
    back) while p2 prints the batch; after resume + wake p1 runs again and prints."""
    receive_stock(sctx, 20, "LOT-3", load=["s1-p1", "s1-p2"])
    batch_id = new_released_batch(sctx, 6)
    jam = sim("s1-p1", faults="print:1:jam", policy=(("media-jam", "stop-printer"),))
    with Running(sctx, [jam, sim("s1-p2")]) as running:
        ctx = running.ctx
        running.events.wait_for("s1-p1", "stopped")
        eventually(lambda: not running.service.snapshot()["s1-p1"]["running"], "p1 ended")
        eventually(lambda: batch_state(sctx, batch_id) == "done", "p2 finished the batch")
        assert printer_row(sctx, "s1-p1").reasons == "media-jam"
        with Session(sctx.engine) as session:
            assert "media-jam" in (why_not_ready(session, "s1-p1") or "")  # kept out
        assert stock(sctx).spoiled == 1 and stock(sctx).issued == 6

        # p2 sits out the next batch (paused while idle: it stops before its next claim),
        # so p1 must print it once resumed.
        assert pause_printer(ctx, "s1-p2") == "s1-p2 will pause after the card it is printing"
        running.service.wake()
        running.events.wait_for("s1-p2", "stopped")
        resume(ctx, "s1-p1")
        running.service.wake()
        eventually(lambda: running.service.snapshot()["s1-p1"]["running"], "p1 restarted")
        second = new_released_batch(sctx, 3, first=6)
        running.service.wake()
        eventually(lambda: batch_state(sctx, second) == "done", "p1 printed the second batch")
    with Session(sctx.engine) as session:
        printed_by = session.exec(select(Job.printer).where(col(Job.batch_id) == second)).all()
    assert printed_by == ["s1-p1"] * 3
    assert printer_row(sctx, "s1-p2").reasons == "paused"


def test_stop_ends_the_service_cleanly_and_deregisters_the_station(sctx: Context) -> None:
    """Stopping: workers end, the station's row says stopped, no printer is left processing."""
    receive_stock(sctx, 10, "LOT-4", load=["s1-p1", "s1-p2"])
    running = Running(sctx, [sim("s1-p1"), sim("s1-p2")])
    with running:
        eventually(
            lambda: all(s["running"] for s in running.service.snapshot().values()),
            "both workers running",
        )
        with Session(sctx.engine) as session:
            row = session.get(StationRow, "s1")
            assert row is not None and row.state == "running"
    snapshot = running.service.snapshot()
    assert not any(s["running"] for s in snapshot.values())
    with Session(sctx.engine) as session:
        station = session.get(StationRow, "s1")
        assert station is not None and station.state == "stopped"
    assert {printer_row(sctx, n).state for n in ("s1-p1", "s1-p2")} == {"idle"}


def test_a_second_service_on_the_same_station_is_refused(sctx: Context) -> None:
    """The station lock: a second service for s1 raises UserError while the first runs."""
    with Running(sctx, [sim("s1-p1")]) as running:
        eventually(lambda: running.service.snapshot()["s1-p1"]["running"], "worker running")
        other = StationService(sctx, [sim("s1-p1")], stop=threading.Event())
        with pytest.raises(UserError):
            other.run()


def test_a_printer_whose_driver_cannot_be_made_is_stopped_and_the_service_goes_on(
    sctx: Context,
) -> None:
    """A bad driver URL stops that printer with a device error; the other one runs."""
    bad = PrinterConfig(name="s1-bad", url="sim://?no_such_option=1", encoder="sim://")
    with Running(sctx, [bad, sim("s1-p1")]) as running:
        eventually(lambda: running.service.snapshot()["s1-p1"]["running"], "p1 running")
        eventually(lambda: running.service.snapshot()["s1-bad"]["not_ready"] is not None, "seen")
    row = printer_row(sctx, "s1-bad")
    assert (row.state, row.reasons, row.auto_resume) == ("stopped", "device-error", False)
    assert "cannot open its devices" in row.reason


# ------------------------------------------------------------------ pause and resume


def configured(ctx: Context, *names: str) -> Context:
    return with_printers(ctx, [sim(name) for name in names])


def test_pausing_an_idle_printer_stops_it_at_once_until_resumed(sctx: Context) -> None:
    """No worker drives it: it is stopped as paused, with the words, and no run takes it."""
    ctx = configured(sctx, "s1-p1")
    assert pause_printer(ctx, "s1-p1", "cleaning") == "s1-p1 paused"
    row = printer_row(ctx, "s1-p1")
    expected = ("stopped", "paused", "paused by tester: cleaning", False)
    assert (row.state, row.reasons, row.reason, row.auto_resume) == expected
    with Session(ctx.engine) as session:
        assert "paused by tester" in (why_not_ready(session, "s1-p1") or "")
    with pytest.raises(UserError, match="paused already"):
        pause_printer(ctx, "s1-p1")
    assert resume(ctx, "s1-p1") == "paused by tester: cleaning"
    assert printer_row(ctx, "s1-p1").state == "idle"


def test_pausing_a_printer_stopped_for_a_person_is_refused(sctx: Context) -> None:
    """A jammed printer needs a resume anyway: pausing it is an error that says why."""
    ctx = configured(sctx, "s1-p1")
    with Session(ctx.engine) as session:
        transition_printer(
            session,
            "s1-p1",
            PrinterRunState.STOPPED,
            actor="t",
            station="s1",
            clock=ctx.clock,
            reasons=("media-jam",),
            reason="a card jammed",
        )
        session.commit()
    with pytest.raises(UserError, match="stopped already"):
        pause_printer(ctx, "s1-p1")
    assert printer_row(ctx, "s1-p1").reasons == "media-jam"


def test_pausing_a_stop_that_clears_itself_makes_it_a_pause(sctx: Context) -> None:
    """A printer waiting for a closed cover becomes paused: it no longer goes on by itself."""
    ctx = configured(sctx, "s1-p1")
    with Session(ctx.engine) as session:
        transition_printer(
            session,
            "s1-p1",
            PrinterRunState.STOPPED,
            actor="t",
            station="s1",
            clock=ctx.clock,
            reasons=("cover-open",),
            auto_resume=True,
        )
        session.commit()
    assert pause_printer(ctx, "s1-p1") == "s1-p1 paused"
    row = printer_row(ctx, "s1-p1")
    assert (row.reasons, row.auto_resume) == ("paused", False)


def test_resume_cancels_a_pause_that_is_only_requested(sctx: Context) -> None:
    """A printing printer gets a request; resume cancels it and the printer stays printing."""
    ctx = configured(sctx, "s1-p1")
    with Session(ctx.engine) as session:
        transition_printer(
            session, "s1-p1", PrinterRunState.PROCESSING, actor="t", station="s1", clock=ctx.clock
        )
        session.commit()
    assert pause_printer(ctx, "s1-p1") == "s1-p1 will pause after the card it is printing"
    [view] = printers(ctx)
    assert view.pause_requested and view.state == "processing"
    assert view.as_dict()["pause_requested"] is True
    with pytest.raises(UserError, match="will pause already"):
        pause_printer(ctx, "s1-p1")
    assert resume(ctx, "s1-p1") == "a pause requested by tester, now canceled"
    [view] = printers(ctx)
    assert not view.pause_requested and view.state == "processing"
    assert [a for a, _ in actions(ctx, "printer.pause")] == [
        "printer.pause-requested",
        "printer.pause-canceled",
    ]


def test_pause_and_resume_name_unknown_printers(sctx: Context) -> None:
    """An unknown name is a configuration error naming the known printers, as for resume."""
    from printctl.config import ConfigError

    ctx = configured(sctx, "s1-p1")
    with pytest.raises(ConfigError):
        pause_printer(ctx, "nope")


def test_printer_views_are_json_ready_with_levels(sctx: Context) -> None:
    """as_dict() of a view with a status time dumps to JSON (times as ISO strings)."""
    import json

    ctx = configured(sctx, "s1-p1")
    with Session(ctx.engine) as session:
        transition_printer(
            session, "s1-p1", PrinterRunState.PROCESSING, actor="t", station="s1", clock=ctx.clock
        )
        row = session.get(PrinterRow, "s1-p1")
        assert row is not None
        row.ribbon_panels_left, row.cards_in_hopper, row.status_at = 500, 40, ctx.clock()
        row.current_job = 7
        session.add(row)
        session.commit()
    [view] = printers(ctx)
    data = json.loads(json.dumps(view.as_dict()))
    levels = (data["ribbon_panels_left"], data["cards_in_hopper"], data["current_job"])
    assert levels == (500, 40, 7)
    assert data["status_at"] == ctx.clock().isoformat()
