"""The stock's guards and controls, one behaviour each: batches against the stock, first-time
cards first, low-stock warnings, deliveries' serials, two-person rules, destructions, the
counter window, and the migration of a ledger written before locations."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, text
from sqlmodel import Session, col, select

from printctl.config import PrinterConfig
from printctl.db import make_engine
from printctl.models import Job, LedgerEntry, Record, RecordState, SpoilReason
from printctl.queue.batches import BatchFilters, StockMode
from printctl.records import seal_record
from printctl.service import Context, UserError, new_batch, receive_stock
from printctl.service_stock import (
    approve_proposal,
    close_day,
    count_location,
    explain_counter,
    load_printer,
    propose_adjustment,
    propose_destruction,
    receive_delivery,
    show,
    spoil_blanks,
    statement,
)
from printctl.stock.days import record_counter
from tests.integration.test_worker import make_record


def seed_typed(ctx: Context, types: list[str]) -> None:
    """Ready records of the given request types, in this arrival order."""
    rows = []
    for i, kind in enumerate(types):
        row = seal_record(make_record(i), ctx.cipher, bundle_id="B-T", state=RecordState.READY)
        row["request_type"] = kind
        rows.append(row)
    with Session(ctx.engine) as session:
        session.execute(insert(Record), rows)
        session.commit()


def queued_types(ctx: Context, batch_id: int) -> list[str]:
    with Session(ctx.engine) as session:
        return list(
            session.exec(
                select(Record.request_type)
                .join(Job, col(Job.record_pk) == col(Record.id))
                .where(col(Job.batch_id) == batch_id)
                .order_by(col(Job.id))
            ).all()
        )


def put_in_doubt(ctx: Context, step: str = "printing") -> int:
    """The batch's one job, left by a power cut at ``step`` on p1: in doubt, its blank too."""
    from printctl.stock import record_in_doubt

    with Session(ctx.engine) as session:
        job = session.exec(select(Job)).one()
        job.state, job.step, job.printer = "needs-inspection", step, "p1"
        session.add(job)
        record_in_doubt(
            session,
            job_id=job.id or 0,
            printer="p1",
            note="power cut",
            actor="w",
            station="s",
            clock=ctx.clock,
        )
        session.commit()
        return job.id or 0


def test_a_batch_larger_than_the_stock_is_refused_with_the_numbers(ctx: Context) -> None:
    """Refused by default: the message gives what is needed, on hand and free."""
    seed_typed(ctx, ["NEW"] * 6)
    receive_stock(ctx, 4, "L", load=["p1"])
    with pytest.raises(UserError, match=r"needs 6 blank\(s\); 4 on hand .*4 free.*--trim"):
        new_batch(ctx, BatchFilters())
    with Session(ctx.engine) as session:  # nothing was queued
        assert session.exec(select(Job)).all() == []


def test_a_trimmed_batch_takes_the_free_blanks_and_first_time_cards_first(ctx: Context) -> None:
    """With --trim the batch holds as many records as free blanks, NEW before replacements,
    and the rest stays ready."""
    seed_typed(ctx, ["REPLACE_LOST", "NEW", "DATA_CHANGE", "NEW", "REPLACE_DAMAGED", "NEW"])
    receive_stock(ctx, 4, "L")
    batch_id, jobs = new_batch(ctx, BatchFilters(), stock_mode=StockMode.TRIM)
    assert jobs == 4
    assert queued_types(ctx, batch_id) == ["NEW", "NEW", "NEW", "REPLACE_LOST"]
    with Session(ctx.engine) as session:
        ready = session.exec(select(Record.request_type).where(col(Record.state) == "ready"))
        assert sorted(ready.all()) == ["DATA_CHANGE", "REPLACE_DAMAGED"]


def test_blanks_promised_to_an_earlier_batch_are_not_free(ctx: Context) -> None:
    """A second batch counts the first one's waiting jobs against the stock."""
    seed_typed(ctx, ["NEW"] * 8)
    receive_stock(ctx, 5, "L")
    new_batch(ctx, BatchFilters(limit=3))
    with pytest.raises(UserError, match="3 promised to earlier batches: 2 free"):
        new_batch(ctx, BatchFilters(limit=3))
    assert new_batch(ctx, BatchFilters(limit=3), stock_mode=StockMode.TRIM)[1] == 2


def test_plenty_of_stock_keeps_arrival_order(ctx: Context) -> None:
    """Only scarcity reorders: with blanks to spare, records queue as they arrived."""
    seed_typed(ctx, ["REPLACE_LOST", "NEW"])
    receive_stock(ctx, 500, "L")
    batch_id, _ = new_batch(ctx, replace(BatchFilters()))
    assert queued_types(ctx, batch_id) == ["REPLACE_LOST", "NEW"]


def test_low_stock_is_warned_of_in_stock_show(ctx: Context) -> None:
    """At or below the thresholds, stock show names the office's and each hopper's shortage."""
    low = replace(
        ctx,
        settings=replace(
            ctx.settings,
            low_stock=10,
            low_stock_hopper=3,
            printers=(ctx.settings.printers or ()) + _printers("p1"),
        ),
    )
    receive_stock(low, 12, "L", load=["p1"])
    assert not show(low).warnings
    spoil_blanks(low, 10, SpoilReason.DAMAGED, "hopper:p1", "dropped")
    warnings = " | ".join(show(low).warnings)
    assert "low stock: 2 blank(s) on hand" in warnings
    assert "p1's hopper: 2 blank(s)" in warnings and "stock load p1" in warnings


def _printers(*names: str) -> tuple[PrinterConfig, ...]:
    return tuple(PrinterConfig(n, "sim://", "sim://") for n in names)


def test_a_delivery_is_checked_against_its_serials(ctx: Context) -> None:
    """The serial range must count the blanks, and no serial may arrive twice."""
    receive_delivery(ctx, 10, "L1", serial_first="A000001", serial_last="A000010")
    with pytest.raises(UserError, match="are 5 blanks, but the delivery says 6"):
        receive_delivery(ctx, 6, "L2", serial_first="A000011", serial_last="A000015")
    with pytest.raises(UserError, match="overlap delivery"):
        receive_delivery(ctx, 5, "L3", serial_first="A000008", serial_last="A000012")
    with pytest.raises(UserError, match="same prefix"):
        receive_delivery(ctx, 2, "L4", serial_first="A000020", serial_last="B000021")
    receive_delivery(ctx, 5, "L5", serial_first="B000001", serial_last="B000005")
    assert show(ctx).balance.vault == 15


def test_nobody_approves_their_own_proposal_in_any_spelling(ctx: Context) -> None:
    """Dual control: the proposer cannot approve (case and spaces do not help), and with a
    supervisors list only a listed supervisor can."""
    receive_stock(ctx, 10, "L")
    proposal = propose_adjustment(ctx, "vault", -1, "one blank torn")
    with pytest.raises(UserError, match="cannot approve"):
        approve_proposal(replace(ctx, actor=" TESTER "), proposal.id or 0)
    strict = replace(ctx, settings=replace(ctx.settings, supervisors="kepala, wakil"))
    with pytest.raises(UserError, match="not a supervisor"):
        approve_proposal(replace(strict, actor="clerk"), proposal.id or 0)
    approve_proposal(replace(strict, actor="Kepala"), proposal.id or 0)
    assert show(ctx).balance.vault == 9 and show(ctx).balance.adjusted == -1
    with pytest.raises(UserError, match="already"):
        approve_proposal(replace(strict, actor="wakil"), proposal.id or 0)


def test_a_destruction_needs_two_witnesses_and_destroys_each_card_once(ctx: Context) -> None:
    """Fewer than two witnesses is refused; approved, every waiting card is destroyed once;
    nothing is left to destroy twice."""
    receive_stock(ctx, 10, "L")
    spoil_blanks(ctx, 2, SpoilReason.DAMAGED, "vault", "wet")
    spoil_blanks(ctx, 1, SpoilReason.NO_CHIP, "vault", "dead chip", chip_uid="04ABCDEF")
    with pytest.raises(UserError, match="two witnesses"):
        propose_destruction(ctx, ["Only One"], "yard", "burned", None)
    proposal = propose_destruction(ctx, ["A", "B"], "yard", "burned", None)
    with pytest.raises(UserError, match="already on a destruction"):
        propose_destruction(ctx, ["A", "B"], "yard", "burned", None)
    approve_proposal(replace(ctx, actor="boss"), proposal.id or 0)
    assert show(ctx).balance.to_destroy == 0 and show(ctx).balance.destroyed == 3
    with pytest.raises(UserError, match="no spoiled cards await destruction"):
        propose_destruction(ctx, ["A", "B"], "yard", "burned", None)


def test_a_count_that_differs_blocks_the_close_until_a_supervisor_resolves_it(
    ctx: Context,
) -> None:
    """The discrepancy stays open (and the day with it) until a second person decides."""
    from printctl.service_stock import resolve_count

    receive_stock(ctx, 10, "L")
    row = count_location(ctx, "vault", 9)
    assert (row.state, row.expected) == ("open", 10)
    with pytest.raises(UserError, match=f"count #{row.id} at vault"):
        close_day(ctx, None)
    with pytest.raises(UserError, match="still open"):
        count_location(ctx, "vault", 9)
    resolve_count(replace(ctx, actor="boss"), row.id or 0, "found", "recount: 10, one was stuck")
    assert show(ctx).balance.vault == 10
    assert close_day(ctx, None).statement.closing == 10


def test_counter_windows_follow_the_readings_across_midnight_and_resets(ctx: Context) -> None:
    """A run across midnight is compared on the day it ended; a counter that goes back (a
    replaced printer) is not a negative difference but a warning."""
    receive_stock(ctx, 20, "L", load=["p1"])
    today = statement(ctx, None).day
    with Session(ctx.engine) as session:
        record_counter(session, "p1", 100, source="run-start", clock=ctx.clock)
        session.commit()
    # The day closes with only the start reading: nothing to compare yet.
    close_day(ctx, None)
    tomorrow = today + timedelta(days=1)
    later = replace(
        ctx, clock=lambda: datetime.combine(tomorrow, datetime.min.time(), UTC) + timedelta(hours=3)
    )
    with Session(ctx.engine) as session:
        record_counter(session, "p1", 103, source="run-end", clock=later.clock)
        record_counter(session, "p1", 5, source="run-start", clock=later.clock)  # new printer
        record_counter(session, "p1", 6, source="run-end", clock=later.clock)
        session.commit()
    line = statement(later, tomorrow.isoformat()).printers[0]
    assert (line.counter_consumed, line.ledger_consumed, line.resets) == (4, 0, 1)
    with pytest.raises(UserError, match=r"\+4 unexplained"):
        close_day(later, tomorrow.isoformat())
    with pytest.raises(UserError, match="does not fit"):
        explain_counter(later, tomorrow.isoformat(), "p1", 5, "too much")
    why = explain_counter(later, tomorrow.isoformat(), "p1", 4, "test cards during repair")
    with pytest.raises(UserError, match=r"fit|agree"):  # proposed already: nothing left
        explain_counter(later, tomorrow.isoformat(), "p1", 1, "again")
    with pytest.raises(UserError, match="cannot approve"):
        approve_proposal(later, why.id or 0)
    approve_proposal(replace(later, actor="boss"), why.id or 0)
    check = close_day(later, tomorrow.isoformat())
    assert "approved by boss" in check.statement.printers[0].explanations[0]
    assert any("went back 1 time" in w for w in check.warnings)


def test_loading_more_than_the_vault_holds_is_refused(ctx: Context) -> None:
    """A hopper is loaded only with blanks the vault's ledger has, and only a known
    printer's hopper."""
    ctx = replace(ctx, settings=replace(ctx.settings, printers=_printers("p1")))
    receive_stock(ctx, 3, "L")
    with pytest.raises(UserError, match="unknown printer 'p9'"):
        load_printer(ctx, "p9", 1)
    with pytest.raises(UserError, match="vault holds 3 blanks"):
        load_printer(ctx, "p1", 4)
    load_printer(ctx, "p1", 3)
    assert show(ctx).balance.hoppers == {"p1": 3}


def utc_clock() -> datetime:
    return datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def test_the_migration_gives_an_old_ledger_its_locations(tmp_path: Path) -> None:
    """A database written before locations keeps its balance: old entries came from the
    vault, and a job awaiting inspection gets its blank in doubt."""
    from alembic import command

    from printctl.db import _alembic_config, migrate
    from printctl.stock import balance

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = _alembic_config(engine)
    command.upgrade(config, "0002")
    at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO batch (name, state, filters, priority, created_by, created_at)"
                " VALUES ('b', 'running', '{}', 0, 'a', :at)"
            ),
            {"at": at},
        )
        connection.execute(
            text(
                "INSERT INTO record (record_id, version, bundle_id, request_type, district,"
                " nik_hash, nik_last4, state, state_reason, payload, photo, signature,"
                " imported_at) VALUES ('R', 1, 'B', 'NEW', 'D', 'h', '0001',"
                " 'needs-inspection', '', x'00', x'00', x'00', :at)"
            ),
            {"at": at},
        )
        connection.execute(
            text(
                "INSERT INTO job (batch_id, record_pk, state, step, attempts, printer, reasons,"
                " error, created_at, updated_at) VALUES (1, 1, 'needs-inspection', 'printing',"
                " 1, 'p1', '', '', :at, :at)"
            ),
            {"at": at},
        )
        connection.execute(
            text(
                "INSERT INTO job (batch_id, record_pk, state, step, attempts, printer, station,"
                " reasons, error, created_at, updated_at) VALUES (1, 1, 'processing',"
                " 'printing', 1, 'p1', 'station-1', '', '', :at, :at)"
            ),
            {"at": at},
        )
        for kind, quantity in (("received", 10), ("issued", 3), ("spoiled", 1)):
            connection.execute(
                text(
                    "INSERT INTO ledger_entry (at, kind, quantity, note, actor)"
                    " VALUES (:at, :kind, :q, '', 'a')"
                ),
                {"at": at, "kind": kind, "q": quantity},
            )
    migrate(engine)
    with Session(engine) as session:
        totals = balance(session)
        days = set(session.exec(select(LedgerEntry.day)).all())
    assert (totals.vault, totals.in_doubt, totals.to_destroy) == (4, 1, 0)
    assert totals.hoppers == {"p1": 1} and totals.in_flight == 1
    assert totals.balanced and days == {"2026-11-20"}
    with Session(engine) as session:  # the card in the printer at the upgrade: in doubt
        from printctl.queue.recovery import recover_in_flight

        recovery = recover_in_flight(session, station="station-1", actor="t", clock=utc_clock)
        session.commit()
        assert recovery.needs_inspection == [2]
        assert balance(session).in_doubt == 2 and balance(session).hoppers == {"p1": 0}
    with engine.connect() as connection, pytest.raises(Exception, match="append-only"):
        connection.execute(text("DELETE FROM ledger_entry"))
    engine.dispose()


def test_two_supervisors_approving_at_once_carry_it_out_once(ctx: Context) -> None:
    """Concurrent approvals of one adjustment: one wins, the other is told; one entry."""
    import threading

    receive_stock(ctx, 10, "L")
    proposal = propose_adjustment(ctx, "vault", 5, "a box found")
    outcomes: list[str] = []
    gate = threading.Barrier(2)

    def approve_as(name: str) -> None:
        gate.wait()
        try:
            approve_proposal(replace(ctx, actor=name), proposal.id or 0)
            outcomes.append("approved")
        except UserError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=approve_as, args=(n,)) for n in ("sup1", "sup2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (sorted(outcomes)[0] == "approved" and "already" in sorted(outcomes)[1]) or (
        "meanwhile" in sorted(outcomes)[1]
    )
    with Session(ctx.engine) as session:
        adjusted = session.exec(select(LedgerEntry).where(col(LedgerEntry.kind) == "adjusted"))
        assert len(adjusted.all()) == 1
    assert show(ctx).balance.vault == 15


def test_an_inspection_that_found_no_card_leaves_no_counter_difference(ctx: Context) -> None:
    """The blank put in doubt and then found in the hopper was never taken: the printer's
    counter (which did not move) and the ledger agree."""
    from printctl.service import inspect_job

    seed_typed(ctx, ["NEW"])
    receive_stock(ctx, 5, "L", load=["p1"])
    new_batch(ctx, BatchFilters())
    with Session(ctx.engine) as session:
        record_counter(session, "p1", 40, source="run-start", clock=ctx.clock)
        session.commit()
    job_id = put_in_doubt(ctx, "feeding")
    with Session(ctx.engine) as session:
        record_counter(session, "p1", 40, source="run-end", clock=ctx.clock)
        session.commit()
    inspect_job(ctx, job_id, "none")
    line = statement(ctx, None).printers[0]
    assert (line.counter_consumed, line.ledger_consumed, line.unexplained) == (0, 0, 0)
    assert show(ctx).balance.hoppers == {"p1": 5}


def test_a_card_in_doubt_overnight_keeps_its_day_open_only_until_it_is_inspected(
    ctx: Context,
) -> None:
    """A blank that went in doubt in the evening blocks that day's close while the job waits;
    inspected the next morning, the day closes with the blank in its closing stock."""
    from printctl.service import inspect_job

    seed_typed(ctx, ["NEW"])
    receive_stock(ctx, 5, "L", load=["p1"])
    new_batch(ctx, BatchFilters())
    evening = statement(ctx, None).day
    job_id = put_in_doubt(ctx)
    morning = replace(
        ctx,
        clock=lambda: (
            datetime.combine(evening + timedelta(days=1), datetime.min.time(), UTC)
            + timedelta(hours=2)
        ),
    )
    with pytest.raises(UserError, match=f"inspect job\\(s\\) {job_id}"):
        close_day(morning, evening.isoformat())
    inspect_job(morning, job_id, "issued", chip_uid="04AA")
    check = close_day(morning, evening.isoformat())
    assert check.statement.locations["in-doubt"] == 1 and check.statement.closing == 5
    assert any("inspected since" in w for w in check.warnings)


def test_an_inspection_waits_for_a_closing_day_before_it_takes_the_journal(
    ctx: Context,
) -> None:
    """PostgreSQL lock order: a close holds the days lock and then wants the journal's; an
    inspection starting meanwhile must wait on the days lock *before* it takes the journal's,
    so the close gets the journal and both finish (the other order deadlocks)."""
    import threading
    import time

    from sqlalchemy import text as sql

    from printctl.audit import record_event
    from printctl.service import inspect_job

    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("lock order matters where writers run concurrently (PostgreSQL)")
    seed_typed(ctx, ["NEW"])
    receive_stock(ctx, 5, "L", load=["p1"])
    new_batch(ctx, BatchFilters())
    job_id = put_in_doubt(ctx)
    errors: list[BaseException] = []

    def inspector() -> None:
        try:
            inspect_job(ctx, job_id, "spoiled")
        except BaseException as exc:  # any failure is the finding
            errors.append(exc)

    with Session(ctx.engine) as closing:
        closing.execute(sql("SELECT pg_advisory_xact_lock(hashtext('ledger:days'))"))
        worker = threading.Thread(target=inspector)
        worker.start()
        # Wait until the inspection is blocked on an advisory lock (a condition, polled).
        while not closing.execute(
            sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        ).scalar():
            assert worker.is_alive(), errors
            time.sleep(0.005)
        # The close now journals: this must not wait on the inspection.
        record_event(
            closing,
            actor="boss",
            station="s",
            action="stock.day-closed",
            entity="stock-day",
            entity_id="test",
            clock=ctx.clock,
        )
        closing.commit()
    worker.join()
    assert errors == []
    assert show(ctx).balance.in_doubt == 0 and show(ctx).balance.to_destroy == 1
