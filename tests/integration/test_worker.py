"""The worker's accountability: every blank the printer takes ends in exactly one ledger entry.

These run the real worker against the ``sim`` printer and encoder on a real SQLite database.
Rendering is replaced by a blank card image: what is under test is the queue and the ledger.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlmodel import Session, col, func, select

from drivers.conformance import blank_card_image
from drivers.sim import SimEncoder, SimPrinter
from printctl.center.sample import sample_record
from printctl.domain import RecordData, Sex
from printctl.models import (
    Job,
    JobState,
    LedgerEntry,
    PrinterRow,
    Record,
    RecordState,
    StockProposal,
)
from printctl.queue.batches import BatchFilters
from printctl.queue.worker import PrinterWorker, RenderFailed, WorkerResult
from printctl.records import seal_record
from printctl.service import Context, new_batch, receive_stock, stock
from printctl.service_stock import unload_printer
from printctl.stock import balance, spoiled_by_reason


def make_record(i: int) -> RecordData:
    return sample_record(
        record_id=f"PRR-T-{i:05d}",
        nik=f"140902170890{i + 1:04d}",
        name=f"WARGA {i}",
        sex=Sex.LAKI_LAKI,
        photo=b"jpeg",
        signature=b"png",
    )


def seed_records(ctx: Context, count: int) -> None:
    rows = [
        seal_record(make_record(i), ctx.cipher, bundle_id="B-TEST", state=RecordState.READY)
        for i in range(count)
    ]
    with Session(ctx.engine) as session:
        session.execute(insert(Record), rows)
        session.commit()


def start(ctx: Context, *, records: int, blanks: int, printers: tuple[str, ...] = ("p1",)) -> int:
    """Seed records and blanks (loaded into the printers' hoppers), make a running batch;
    returns its id."""
    seed_records(ctx, records)
    receive_stock(ctx, blanks, "LOT-T", load=printers)
    batch_id, _ = new_batch(ctx, BatchFilters())
    from printctl.queue.batches import start_batch

    with Session(ctx.engine) as session:
        start_batch(session, batch_id, actor="t", station="s", clock=ctx.clock)
        session.commit()
    return batch_id


def run_worker(
    ctx: Context,
    printer: SimPrinter,
    encoder: SimEncoder | None = None,
    *,
    name: str = "p1",
    render: Any = None,
    sleeps: list[float] | None = None,
    max_attempts: int = 3,
    spoil_breaker: int = 5,
    retry_sleep: Any = None,
    policy: Any = None,
) -> WorkerResult:
    worker = PrinterWorker(
        engine=ctx.engine,
        cipher=ctx.cipher,
        name=name,
        printer=printer,
        encoder=encoder or SimEncoder("sim://"),
        render=render or (lambda _record: blank_card_image()),
        station="s",
        clock=ctx.clock,
        max_attempts=max_attempts,
        spoil_breaker=spoil_breaker,
        retry_sleep=retry_sleep or (sleeps.append if sleeps is not None else (lambda _s: None)),
        policy=policy,
    )
    return worker.run()


def ledger_used(ctx: Context) -> int:
    totals = stock(ctx)
    return totals.issued + totals.spoiled + totals.in_doubt


def job_states(ctx: Context) -> dict[str, int]:
    with Session(ctx.engine) as session:
        return dict(session.exec(select(Job.state, func.count()).group_by(Job.state)).all())


def test_clean_run_issues_every_card_once(ctx: Context) -> None:
    """Without faults every job completes, one issued entry each, matching the printer counter."""
    start(ctx, records=5, blanks=10)
    printer = SimPrinter("sim://?cards=10")
    result = run_worker(ctx, printer)
    assert result.completed == 5 and not result.stop_reason
    assert job_states(ctx) == {"completed": 5}
    assert stock(ctx).issued == 5 and stock(ctx).on_hand == 5
    assert printer.cards_inserted == ledger_used(ctx) == 5
    with Session(ctx.engine) as session:
        uids = session.exec(select(Job.chip_uid)).all()
        assert len(set(uids)) == 5 and all(uids)
        assert {r.state for r in session.exec(select(Record))} == {"printed"}


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("print:2:jam", "print-failed"),
        ("print:3:media", "print-failed"),
        ("eject:1:jam", "print-failed"),
        ("encode:2:jam", "encode-failed"),
    ],
)
def test_a_spoiled_blank_is_recorded_and_the_job_retried(
    ctx: Context, fault: str, reason: str
) -> None:
    """A reported card failure spoils exactly that blank with its reason; the job gets a new one."""
    start(ctx, records=4, blanks=10)
    printer = SimPrinter(f"sim://?cards=10&fault={fault}")
    result = run_worker(ctx, printer)
    assert result.completed == 4
    assert job_states(ctx) == {"completed": 4}
    assert spoiled_by_reason_now(ctx) == {reason: 1}
    assert printer.cards_inserted == ledger_used(ctx) == 5
    assert printer.reject_bin == 1 and printer.output_tray == 4


def spoiled_by_reason_now(ctx: Context) -> dict[str, int]:
    with Session(ctx.engine) as session:
        return spoiled_by_reason(session)


def test_chip_failure_rejects_the_card_as_encode_failed(ctx: Context) -> None:
    """A wrong status word from the chip sends the card to the reject bin as 'encode failed'."""
    start(ctx, records=3, blanks=10)
    printer = SimPrinter("sim://?cards=10")
    result = run_worker(ctx, printer, SimEncoder("sim://?fault=run:2:sw6A82"))
    assert result.completed == 3
    assert spoiled_by_reason_now(ctx) == {"encode-failed": 1}
    assert printer.reject_bin == 1
    assert printer.cards_inserted == ledger_used(ctx) == 4


def test_printer_reprint_on_its_own_is_accounted_from_its_counter(ctx: Context) -> None:
    """When the printer uses two blanks for one card, the counter shows it and both are ledgered."""
    start(ctx, records=3, blanks=10)
    printer = SimPrinter("sim://?cards=10&fault=print:2:media-reprint")
    result = run_worker(ctx, printer)
    assert result.completed == 3 and result.spoiled == 1
    assert stock(ctx).issued == 3 and stock(ctx).spoiled == 1
    assert printer.cards_inserted == ledger_used(ctx) == 4


def test_attempts_are_bounded_then_the_record_waits_for_a_person(ctx: Context) -> None:
    """A job that spoils max_attempts blanks is aborted and its record marked failed."""
    start(ctx, records=2, blanks=20)
    printer = SimPrinter("sim://?cards=20&fault=print:*:jam")
    result = run_worker(ctx, printer, max_attempts=3, spoil_breaker=100)
    assert result.aborted == 2 and result.completed == 0
    assert job_states(ctx) == {"aborted": 2}
    assert stock(ctx).spoiled == 6
    assert printer.cards_inserted == ledger_used(ctx) == 6
    with Session(ctx.engine) as session:
        assert {r.state for r in session.exec(select(Record))} == {"failed"}


def test_a_run_of_spoiled_blanks_stops_the_printer(ctx: Context) -> None:
    """After several spoiled blanks in a row the printer stops instead of eating the stock."""
    start(ctx, records=4, blanks=20)
    printer = SimPrinter("sim://?cards=20&fault=print:*:jam")
    result = run_worker(ctx, printer, max_attempts=3, spoil_breaker=5)
    assert "5 cards failed in a row" in result.stop_reason
    assert job_states(ctx) == {"aborted": 1, "pending": 3}
    assert stock(ctx).spoiled == 5 == printer.cards_inserted


def test_unplugged_reader_stops_the_printer_without_failing_records(ctx: Context) -> None:
    """A reader that is gone spoils the parked card once, then the printer stops; no record fails."""
    start(ctx, records=3, blanks=10)
    printer = SimPrinter("sim://?cards=10")
    result = run_worker(ctx, printer, SimEncoder("sim://?fault=run:*:gone"))
    assert result.stop_reason.startswith("reader-gone")
    assert job_states(ctx) == {"pending": 3}
    assert stock(ctx).spoiled == 1 == printer.reject_bin == printer.cards_inserted


def test_unexpected_error_stops_the_printer_and_leaves_the_job_visible(ctx: Context) -> None:
    """A bug in a driver never leaves a job silently in processing: it waits for a person."""
    start(ctx, records=2, blanks=10)

    class Broken(SimPrinter):
        def print_card(self, image: Any) -> None:
            raise ValueError("driver bug")

    printer = Broken("sim://?cards=10")
    result = run_worker(ctx, printer)
    assert "internal error" in result.stop_reason
    assert job_states(ctx) == {"needs-inspection": 1, "pending": 1}
    assert stock(ctx).in_doubt == 1


def test_a_printer_without_an_encoder_station_prints_nothing(ctx: Context) -> None:
    """An e-KTP needs its chip written: a printer that cannot encode takes no blank."""
    start(ctx, records=1, blanks=5)
    printer = SimPrinter("sim://?cards=5&station=none")
    result = run_worker(ctx, printer)
    assert "no chip-encoding station" in result.stop_reason
    assert printer.cards_inserted == 0 and job_states(ctx) == {"pending": 1}


def test_lost_reply_mid_card_needs_inspection_and_is_never_reprinted(ctx: Context) -> None:
    """A printer that stops answering while printing leaves the job for a person, blank in doubt."""
    start(ctx, records=3, blanks=10)
    printer = SimPrinter("sim://?cards=10&fault=print:2:timeout")
    result = run_worker(ctx, printer)
    assert result.completed == 1 and result.needs_inspection == 1
    assert "needs inspection" in result.stop_reason
    assert job_states(ctx) == {"completed": 1, "needs-inspection": 1, "pending": 1}
    totals = stock(ctx)
    assert (totals.issued, totals.spoiled, totals.in_doubt) == (1, 0, 1)
    assert printer.cards_inserted == ledger_used(ctx) == 2
    # The printer stays stopped; a new run must not print the in-doubt record again.
    with Session(ctx.engine) as session:
        assert session.get(PrinterRow, "p1").state == "stopped"  # type: ignore[union-attr]
    second = run_worker(ctx, SimPrinter("sim://?cards=10"))
    assert second.completed == 1
    assert job_states(ctx) == {"completed": 2, "needs-inspection": 1}


def test_empty_hopper_waits_then_stops_the_printer_without_touching_the_ledger(
    ctx: Context,
) -> None:
    """An empty hopper hands the job back, waits with backoff, and leaves the run stopped
    with a condition that clears itself; no blank is recorded."""
    start(ctx, records=3, blanks=10)
    printer = SimPrinter("sim://?cards=2")
    sleeps: list[float] = []
    result = run_worker(ctx, printer, sleeps=sleeps)
    assert result.completed == 2
    assert result.stop_reason.startswith("media-empty")
    assert result.stop_clears_itself and result.stop_reasons == ("media-empty",)
    assert job_states(ctx) == {"completed": 2, "pending": 1}
    assert printer.cards_inserted == ledger_used(ctx) == 2
    # Backoff doubles from 2 s to the 60 s cap, for the batch run's 30 minutes at most.
    assert sleeps[:7] == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert sum(sleeps) >= 1800 > sum(sleeps[:-1])
    with Session(ctx.engine) as session:
        row = session.get(PrinterRow, "p1")
        assert row is not None and row.state == "stopped" and row.auto_resume
        assert row.reasons == "media-empty"


def test_a_refilled_hopper_resumes_the_run_by_itself(ctx: Context) -> None:
    """When the operator refills the hopper during the wait, the printer goes on unattended."""
    start(ctx, records=4, blanks=10)
    printer = SimPrinter("sim://?cards=2")
    sleeps: list[float] = []

    def wait(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            printer.load_cards(5)

    result = run_worker(ctx, printer, sleeps=None, retry_sleep=wait)
    assert result.completed == 4 and not result.stop_reason
    assert sleeps == [2.0, 4.0, 8.0]
    assert job_states(ctx) == {"completed": 4}
    assert printer.cards_inserted == ledger_used(ctx) == 4
    with Session(ctx.engine) as session:
        assert session.get(PrinterRow, "p1").state == "idle"  # type: ignore[union-attr]


def test_transient_cover_open_is_retried_and_clears(ctx: Context) -> None:
    """A cover opened for a moment delays the feed but the run completes."""
    start(ctx, records=2, blanks=10)
    sleeps: list[float] = []
    result = run_worker(ctx, SimPrinter("sim://?cards=10&fault=feed:1:cover"), sleeps=sleeps)
    assert result.completed == 2 and not result.stop_reason
    assert sleeps == [2.0]


def test_no_blanks_on_hand_stops_before_feeding(ctx: Context) -> None:
    """The worker never takes a blank the ledger does not have in its printer's hopper, even
    with blanks left in the vault."""
    start(ctx, records=3, blanks=3)
    unload_printer(ctx, "p1", 1)  # back to the vault: the hopper's ledger holds 2
    printer = SimPrinter("sim://?cards=10")
    result = run_worker(ctx, printer)
    assert result.completed == 2
    assert "out of stock" in result.stop_reason and "stock load p1" in result.stop_reason
    totals = stock(ctx)
    assert (totals.hoppers["p1"], totals.vault, printer.cards_inserted) == (0, 1, 2)


def test_render_failure_holds_the_job_without_using_a_blank(ctx: Context) -> None:
    """A card that cannot be drawn is held for a person before any blank leaves the hopper;
    the printer goes on with the others."""
    start(ctx, records=2, blanks=10)

    def render(record: RecordData) -> Any:
        if record.record_id.endswith("00000"):
            raise RenderFailed("name does not fit")
        return blank_card_image()

    printer = SimPrinter("sim://?cards=10")
    result = run_worker(ctx, printer, render=render)
    assert result.completed == 1 and result.held == 1 and not result.stop_reason
    assert printer.cards_inserted == ledger_used(ctx) == 1
    with Session(ctx.engine) as session:
        held = session.exec(select(Job).where(col(Job.state) == "held")).one()
        assert "does not fit" in held.error
        assert held.reasons == "job-held-by-policy render-failed"
        record = session.get(Record, held.record_pk)
        assert record is not None and record.state == "queued"


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_ledger_matches_hardware_under_random_faults(ctx: Context, seed: int) -> None:
    """Under seeded random faults, issued + spoiled + in doubt equals the printer's own count."""
    start(ctx, records=12, blanks=60)
    printer = SimPrinter(f"sim://?cards=60&fault_rate=0.15&seed={seed}")
    run_worker(ctx, printer, SimEncoder(f"sim://?fault_rate=0.1&seed={seed}"))
    assert printer.cards_inserted == ledger_used(ctx)
    with Session(ctx.engine) as session:
        totals = balance(session)
        assert totals.on_hand == 60 - totals.issued - totals.spoiled - totals.in_doubt
        issued_jobs = session.exec(
            select(func.count()).where(col(Job.state) == JobState.COMPLETED.value)
        ).one()
        assert issued_jobs == totals.issued


def test_two_printers_never_print_one_record_twice(ctx: Context) -> None:
    """Concurrent workers claim disjoint jobs: each record is issued exactly once."""
    start(ctx, records=30, blanks=40, printers=("a", "b"))
    printers = [SimPrinter("sim://?cards=40"), SimPrinter("sim://?cards=40")]
    results: list[WorkerResult] = []
    threads = [
        threading.Thread(target=lambda p=p, n=n: results.append(run_worker(ctx, p, name=n)))
        for n, p in (("a", printers[0]), ("b", printers[1]))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.completed for r in results) == 30
    with Session(ctx.engine) as session:
        per_job = session.exec(
            select(LedgerEntry.job_id, func.count()).group_by(LedgerEntry.job_id)
        ).all()
    issued_per_job = [n for job_id, n in per_job if job_id is not None]
    assert len(issued_per_job) == 30 and set(issued_per_job) == {1}
    assert sum(p.cards_inserted for p in printers) == 30


def test_restart_recovers_in_flight_jobs_without_reprinting(ctx: Context) -> None:
    """After a crash, a job that had not fed a card is requeued; one that had waits for a person."""
    from printctl.queue.recovery import recover_in_flight

    start(ctx, records=3, blanks=10)
    with Session(ctx.engine) as session:
        jobs = session.exec(select(Job).order_by(col(Job.id))).all()
        ids = [job.id for job in jobs]
        for job, step in zip(jobs[:2], ["rendering", "printing"], strict=True):
            job.state, job.step, job.station, job.printer = "processing", step, "s", "p1"
            session.add(job)
        session.commit()
        recovery = recover_in_flight(session, station="s", actor="t", clock=ctx.clock)
        session.commit()
    assert recovery.requeued == [ids[0]] and recovery.needs_inspection == [ids[1]]
    assert job_states(ctx) == {"pending": 2, "needs-inspection": 1}
    assert stock(ctx).in_doubt == 1
    printer = SimPrinter("sim://?cards=10")
    run_worker(ctx, printer)
    assert job_states(ctx) == {"completed": 2, "needs-inspection": 1}
    assert printer.cards_inserted == 2


@pytest.mark.parametrize(("found", "spoiled"), [("issued", 0), ("spoiled", 1), ("none", 0)])
def test_inspection_gives_the_in_doubt_blank_its_one_entry(
    ctx: Context, found: str, spoiled: int
) -> None:
    """What the person records decides the blank's entry and whether the record prints again."""
    from printctl.service import inspect_job

    batch_id = start(ctx, records=3, blanks=10)
    run_worker(ctx, SimPrinter("sim://?cards=10&fault=print:2:timeout"))
    with Session(ctx.engine) as session:
        waiting = session.exec(select(Job).where(col(Job.state) == "needs-inspection")).one()
    facts = inspect_job(
        ctx, waiting.id or 0, found, chip_uid="04AABBCCDDEEFF" if found == "issued" else None
    )
    assert facts.printer == "p1" and facts.printer_counter == 2
    assert stock(ctx).in_doubt == 0
    from printctl.queue.batches import start_batch

    with Session(ctx.engine) as session:
        start_batch(session, batch_id, actor="t", station="s", clock=ctx.clock)
        session.commit()
    run_worker(ctx, SimPrinter("sim://?cards=10"))
    totals = stock(ctx)
    # Every record ends issued exactly once; only a card found spoiled costs a second blank.
    assert (totals.issued, totals.spoiled, totals.in_doubt) == (3, spoiled, 0)
    assert job_states(ctx) == {"completed": 3}
    assert totals.on_hand == 10 - 3 - spoiled
    with Session(ctx.engine) as session:
        issued_per_job = session.exec(
            select(LedgerEntry.job_id, func.count())
            .where(col(LedgerEntry.kind) == "issued")
            .group_by(LedgerEntry.job_id)
        ).all()
    assert sorted(n for _job, n in issued_per_job) == [1, 1, 1]


def test_inspection_refuses_a_job_that_is_not_waiting(ctx: Context) -> None:
    """Only a job in needs-inspection can be resolved, with a clear error otherwise."""
    from printctl.service import UserError, inspect_job

    start(ctx, records=1, blanks=2)
    with pytest.raises(UserError, match="not waiting for inspection"):
        inspect_job(ctx, 1, "issued")
    with pytest.raises(UserError, match="--found must be one of"):
        inspect_job(ctx, 1, "maybe")


def test_a_card_parked_past_the_encode_deadline_is_rejected(ctx: Context) -> None:
    """A chip that never answers does not hold the card forever: reject, spoil, stop."""
    start(ctx, records=2, blanks=5)
    release = threading.Event()

    class Hanging(SimEncoder):
        def run_script(self, script: Any) -> str:
            release.wait(10)  # a reader that hangs; released at the end of the test
            return super().run_script(script)

    printer = SimPrinter("sim://?cards=5")
    worker = PrinterWorker(
        engine=ctx.engine,
        cipher=ctx.cipher,
        name="p1",
        printer=printer,
        encoder=Hanging("sim://"),
        render=lambda _record: blank_card_image(),
        station="s",
        clock=ctx.clock,
        encode_deadline=0.05,
    )
    try:
        result = worker.run()
    finally:
        release.set()
    assert result.stop_reason.startswith("encode-deadline")
    assert spoiled_by_reason_now(ctx) == {"encode-failed": 1}
    assert printer.reject_bin == 1 and job_states(ctx) == {"pending": 2}


def test_the_chip_uid_is_persisted_before_printing(ctx: Context) -> None:
    """Once the chip answers, its UID is on the job before the card is printed."""
    start(ctx, records=1, blanks=5)
    seen: list[str | None] = []

    class Watching(SimPrinter):
        def print_card(self, image: Any) -> None:
            with Session(ctx.engine) as session:
                seen.append(session.exec(select(Job.chip_uid)).one())
            super().print_card(image)

    run_worker(ctx, Watching("sim://?cards=5"))
    assert seen and seen[0] and len(seen[0]) == 14


def test_duty_cycle_rests_the_printer_after_n_cards(ctx: Context) -> None:
    """After rest_after cards in a row the worker waits rest_seconds before the next card."""
    start(ctx, records=5, blanks=10)
    waits: list[float] = []
    worker = PrinterWorker(
        engine=ctx.engine,
        cipher=ctx.cipher,
        name="p1",
        printer=SimPrinter("sim://?cards=10"),
        encoder=SimEncoder("sim://"),
        render=lambda _record: blank_card_image(),
        station="s",
        clock=ctx.clock,
        retry_sleep=waits.append,
        rest_after=2,
        rest_seconds=1200,
    )
    assert worker.run().completed == 5
    assert waits == [1200, 1200]


def test_the_next_card_is_drawn_while_the_current_one_prints(ctx: Context) -> None:
    """Render-ahead: by the time card 1 is printed, card 2 has been claimed and drawn."""
    start(ctx, records=3, blanks=10)
    drawn: list[str] = []
    second_drawn = threading.Event()

    def render(record: RecordData) -> Any:
        drawn.append(record.record_id)
        if len(drawn) == 2:
            second_drawn.set()
        return blank_card_image()

    seen_at_first_print: list[list[str]] = []

    class Watching(SimPrinter):
        def print_card(self, image: Any) -> None:
            if not seen_at_first_print:
                # Bounded: without render-ahead nothing would draw card 2 before this returns.
                second_drawn.wait(10)
                seen_at_first_print.append(list(drawn))
            super().print_card(image)

    result = run_worker(ctx, Watching("sim://?cards=10"), render=render)
    assert result.completed == 3
    assert seen_at_first_print == [["PRR-T-00000", "PRR-T-00001"]]
    with Session(ctx.engine) as session:
        assert session.exec(select(Job.state).distinct()).all() == ["completed"]


def test_a_job_claimed_ahead_goes_back_when_the_printer_stops(ctx: Context) -> None:
    """The card drawn ahead of a printer that stops is handed back untouched (no blank)."""
    start(ctx, records=3, blanks=10)
    printer = SimPrinter("sim://?cards=10&fault=print:1:timeout")
    run_worker(ctx, printer)
    assert job_states(ctx) == {"needs-inspection": 1, "pending": 2}
    with Session(ctx.engine) as session:
        pending = session.exec(select(Job).where(col(Job.state) == "pending")).all()
    assert all(j.printer is None and j.owner is None for j in pending)
    assert printer.cards_inserted == 1


def test_a_low_ribbon_shows_as_a_warning_while_the_printer_goes_on(ctx: Context) -> None:
    """``ribbon-low`` joins the printer's reasons (journaled once); printing continues."""
    from printctl.models import AuditEvent

    start(ctx, records=4, blanks=10)
    result = run_worker(ctx, SimPrinter("sim://?cards=10&ribbon=6&ribbon_low=3"))
    assert result.completed == 4 and not result.stop_reason
    with Session(ctx.engine) as session:
        warned = session.exec(
            select(AuditEvent).where(
                col(AuditEvent.action) == "printer.processing",
                col(AuditEvent.detail).contains("ribbon-low"),
            )
        ).all()
    assert len(warned) == 1


def test_a_record_superseded_after_its_claim_is_canceled_before_any_blank(ctx: Context) -> None:
    """A higher version arriving while the card is drawn (ahead) cancels the job at the
    feeding check: no blank is fed for old data, and the printer goes on."""
    from dataclasses import replace as with_changes

    start(ctx, records=3, blanks=10)

    def render(record: RecordData) -> Any:
        if record.record_id == "PRR-T-00001" and record.version == 1:
            newer = with_changes(make_record(1), version=2)
            row = seal_record(newer, ctx.cipher, bundle_id="B-2", state=RecordState.READY)
            with Session(ctx.engine) as session:
                session.execute(insert(Record), [row])
                session.commit()
        return blank_card_image()

    printer = SimPrinter("sim://?cards=10")
    result = run_worker(ctx, printer, render=render)
    assert result.completed == 2 and not result.stop_reason
    assert job_states(ctx) == {"completed": 2, "canceled": 1}
    assert printer.cards_inserted == ledger_used(ctx) == 2
    with Session(ctx.engine) as session:
        old = session.exec(
            select(Record).where(col(Record.record_id) == "PRR-T-00001", col(Record.version) == 1)
        ).one()
    assert old.state == "superseded"


def test_a_claim_aborted_by_a_database_deadlock_is_tried_again(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL may abort a claim to break a deadlock (SQLSTATE 40P01); a claim is database
    work only, so the worker tries it again instead of stopping the printer."""
    from sqlalchemy.exc import DBAPIError

    import printctl.queue.worker as worker_module

    start(ctx, records=2, blanks=5)
    real_claim = worker_module.claim_next_job
    failures = [1]

    class Deadlock(Exception):
        sqlstate = "40P01"

    def flaky_claim(session: Any, **kwargs: Any) -> Any:
        if failures:
            failures.pop()
            raise DBAPIError("SELECT … FOR UPDATE SKIP LOCKED", {}, Deadlock("deadlock detected"))
        return real_claim(session, **kwargs)

    monkeypatch.setattr(worker_module, "claim_next_job", flaky_claim)
    result = run_worker(ctx, SimPrinter("sim://?cards=5"))
    assert result.completed == 2 and not result.stop_reason and failures == []


def test_a_hopper_running_low_is_logged_once(ctx: Context, tmp_path: Path) -> None:
    """When the hopper's ledger balance reaches the threshold the worker warns, once."""
    import json
    import logging

    from printctl.logs import configure_logging

    log_file = tmp_path / "worker.jsonl"
    configure_logging(log_file, console=None)
    start(ctx, records=4, blanks=5)
    worker = PrinterWorker(
        engine=ctx.engine,
        cipher=ctx.cipher,
        name="p1",
        printer=SimPrinter("sim://?cards=10"),
        encoder=SimEncoder("sim://"),
        render=lambda _record: blank_card_image(),
        station="s",
        clock=ctx.clock,
        retry_sleep=lambda _s: None,
        low_stock=3,
    )
    assert worker.run().completed == 4
    logging.shutdown()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    warnings = [line for line in lines if line["event"] == "low stock in hopper"]
    assert [(w["printer"], w["blanks_left"]) for w in warnings] == [("p1", 3)]


def test_a_reprint_the_hopper_ledger_cannot_cover_is_recorded_and_flagged(ctx: Context) -> None:
    """The printer took a second blank the hopper's ledger did not hold: both cards are in
    the ledger (one issued, one spoiled), the shortfall comes from the vault, and a
    confirmation blocks the day's close until a supervisor approves it."""
    from dataclasses import replace

    from printctl.service import UserError
    from printctl.service_stock import approve_proposal, close_day

    seed_records(ctx, 1)
    receive_stock(ctx, 3, "LOT-T", load=["p1"])
    unload_printer(ctx, "p1", 2)  # the hopper's ledger holds 1; the vault 2
    batch_id, _ = new_batch(ctx, BatchFilters())
    from printctl.queue.batches import start_batch

    with Session(ctx.engine) as session:
        start_batch(session, batch_id, actor="t", station="s", clock=ctx.clock)
        session.commit()
    printer = SimPrinter("sim://?cards=10&fault=print:1:media-reprint")
    assert run_worker(ctx, printer).completed == 1
    totals = stock(ctx)
    assert (totals.issued, totals.spoiled, printer.cards_inserted) == (1, 1, 2)
    assert (totals.hoppers["p1"], totals.vault, totals.balanced) == (0, 1, True)
    with pytest.raises(UserError, match=r"confirm #\d+ proposed by worker:p1 awaits"):
        close_day(ctx, None)
    with Session(ctx.engine) as session:
        confirm = session.exec(select(StockProposal)).one()
    assert confirm.kind == "confirm" and confirm.quantity == 1
    approve_proposal(replace(ctx, actor="kepala"), confirm.id or 0)
    assert close_day(ctx, None).statement.balanced
