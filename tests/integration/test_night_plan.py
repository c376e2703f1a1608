"""The night plan from the database: which records, in what order, on which printer; what
the printers' history teaches (pace, ribbon); and the stock reserve the workers keep."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from drivers.conformance import blank_card_image
from drivers.sim import SimEncoder, SimPrinter
from printctl.config import PrinterConfig
from printctl.domain import RequestType
from printctl.models import CounterReading, LedgerEntry, Record
from printctl.night.history import learned
from printctl.night.plan import make_plan
from printctl.queue.batches import start_batch
from printctl.queue.worker import PrinterWorker
from printctl.service import Context, new_batch, receive_stock
from printctl.service_stock import load_printer
from printctl.stock import balance, office_available
from printctl.stock.days import record_counter
from tests.integration.issuance_support import person, seed

NIGHT = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 22:00 WIB
P1 = PrinterConfig("p1", "sim://", "sim://", rated_cards_per_hour=30)
P2 = PrinterConfig("p2", "sim://", "sim://", rated_cards_per_hour=30)


@pytest.fixture
def office(ctx: Context) -> Context:
    """The context with this office's two printers configured."""
    return replace(ctx, settings=replace(ctx.settings, printers=(P1, P2)))


def _seed_office(ctx: Context) -> None:
    """Twelve records: districts B, A, C; two of them replacements; ages set by index."""
    people = []
    for i in range(12):
        kind = RequestType.REPLACE_DAMAGED if i in (0, 1) else RequestType.NEW
        people.append(replace(person(i, request_type=kind), district="BCA"[i % 3] + "-district"))
    seed(ctx, people)
    with Session(ctx.engine) as session:
        for i in range(12):
            session.execute(
                update(Record)
                .where(col(Record.record_id) == f"PRR-I-{i:05d}")
                .values(imported_at=NIGHT - timedelta(days=30 - i))  # record 0 is the oldest
            )
        session.commit()


def _plan(ctx: Context, *, hours: float = 7.5, reserve: int = 0) -> object:
    with Session(ctx.engine) as session:
        return make_plan(
            session,
            replace(ctx.settings, night_reserve=reserve),
            [P1, P2],
            window_start=NIGHT,
            window_end=NIGHT + timedelta(hours=hours),
            now=NIGHT,
        )


def test_plenty_of_blanks_everything_prints_grouped_by_district_oldest_first(
    office: Context,
) -> None:
    ctx = office
    _seed_office(ctx)
    receive_stock(ctx, 40, "LOT")
    load_printer(ctx, "p1", 10)
    load_printer(ctx, "p2", 10)
    plan = _plan(ctx)
    assert (plan.planned, plan.selected, plan.left_over, plan.scarce) == (12, 12, 0, False)
    with Session(ctx.engine) as session:
        rows = {r.id: r for r in session.exec(select(Record)).all()}
    order = [rows[pk] for pk in plan.record_pks]
    districts = [r.district for r in order]
    assert districts == sorted(districts)  # grouped, so the trays come out sorted
    for district in set(districts):
        ages = [r.imported_at for r in order if r.district == district]
        assert ages == sorted(ages)  # oldest first within a district
    assert [d for d, _n in plan.districts] == ["A-district", "B-district", "C-district"]
    assert sum(p.cards for p in plan.printers) == 12
    assert all(p.limit == "work" for p in plan.printers)
    # 30 cards an hour each, 12 cards on two printers: done within 12 minutes.
    assert plan.finish_at == NIGHT + timedelta(minutes=12)


def test_scarce_blanks_go_to_first_time_cards_and_the_reserve_is_left(office: Context) -> None:
    ctx = office
    _seed_office(ctx)
    receive_stock(ctx, 8, "LOT")
    load_printer(ctx, "p1", 4)
    load_printer(ctx, "p2", 4)
    plan = _plan(ctx, reserve=3)
    assert plan.budget == 5 and plan.scarce
    assert plan.planned == plan.selected == 5
    with Session(ctx.engine) as session:
        chosen = [session.get(Record, pk) for pk in plan.record_pks]
    assert all(r is not None and r.request_type == "NEW" for r in chosen)
    # The five oldest first-time records (2..6), not the two older replacements.
    assert sorted(r.record_id for r in chosen if r) == [f"PRR-I-{i:05d}" for i in range(2, 7)]
    assert any("replacements wait" in note for note in plan.notes)


def test_the_window_and_the_hoppers_limit_what_is_planned(office: Context) -> None:
    ctx = office
    _seed_office(ctx)
    receive_stock(ctx, 40, "LOT")
    load_printer(ctx, "p1", 2)
    load_printer(ctx, "p2", 30)
    plan = _plan(ctx, hours=0.25)  # 15 minutes: the last card starts 2.5 minutes before
    p1, p2 = plan.printers
    assert (p1.cards, p1.limit) == (2, "blanks")
    assert p1.blanks_out_at == NIGHT + timedelta(minutes=4)
    assert p2.limit == "window"
    assert plan.planned == p1.cards + p2.cards < 12
    assert plan.left_over == 12 - plan.planned


def test_jobs_already_queued_come_first_and_count_against_the_night(office: Context) -> None:
    ctx = office
    _seed_office(ctx)
    receive_stock(ctx, 40, "LOT")
    load_printer(ctx, "p1", 20)
    from printctl.queue.batches import BatchFilters

    batch_id, count = new_batch(ctx, BatchFilters(district="C-district"))
    with Session(ctx.engine) as session:
        start_batch(session, batch_id, actor="t", station="s", clock=ctx.clock)
        session.commit()
    plan = _plan(ctx)
    assert plan.queued == count == 4
    assert plan.selected == 8 and plan.planned == 12


def _issue(ctx: Context, printer: str, times: list[datetime]) -> None:
    """Issued-card ledger rows for ``printer`` at these times (as a printer would leave)."""
    with Session(ctx.engine) as session:
        for n, at in enumerate(times):
            session.add(
                LedgerEntry(
                    at=at,
                    day=at.date().isoformat(),
                    kind="issued",
                    quantity=1,
                    from_loc=f"hopper:{printer}",
                    to_loc="holders",
                    printer=printer,
                    record_id=f"R{n}",
                    actor="t",
                )
            )
        session.commit()


def test_the_pace_is_learned_from_the_printers_own_cards(office: Context) -> None:
    ctx = office
    # Twenty cards 150 s apart, with a rest (20 min) and the night in between.
    times = [NIGHT + timedelta(seconds=150 * n) for n in range(10)]
    times += [times[-1] + timedelta(minutes=20) + timedelta(seconds=150 * n) for n in range(10)]
    times += [times[-1] + timedelta(hours=10) + timedelta(seconds=150 * n) for n in range(5)]
    _issue(ctx, "p1", times)
    with Session(ctx.engine) as session:
        seen = learned(session, "p1")
        assert learned(session, "p2").seconds_per_card is None  # no history: rated
    assert seen.seconds_per_card == 150.0  # the rest and the night are not printing time
    plan = _plan(ctx)
    assert "learned" in plan.printers[0].pace_source
    assert plan.printers[0].seconds_per_card == 150.0
    assert plan.printers[1].seconds_per_card == 120.0  # rated 30 cards an hour


def test_the_ribbon_yield_is_learned_from_levels_read_with_the_counter(office: Context) -> None:
    ctx = office
    """A ribbon rated 200 cards (1,200 panels) that gives 126: 9.5 panels a good card."""
    with Session(ctx.engine) as session:
        reading = record_counter(session, "p1", 0, source="run-start", clock=lambda: NIGHT)
        reading.ribbon_panels_left = 1200
        session.commit()
    _issue(ctx, "p1", [NIGHT + timedelta(minutes=2 * n) for n in range(40)])
    with Session(ctx.engine) as session:
        reading = record_counter(session, "p1", 42, source="run-end", clock=lambda: NIGHT)
        reading.ribbon_panels_left = 1200 - 380
        session.commit()
        # A new ribbon fitted: the jump up is not consumption.
        reading = record_counter(session, "p1", 42, source="run-start", clock=lambda: NIGHT)
        reading.ribbon_panels_left = 1200
        session.commit()
        assert len(session.exec(select(CounterReading)).all()) == 3
    with Session(ctx.engine) as session:
        seen = learned(session, "p1")
    assert seen.panels_per_card == 9.5 and seen.ribbon_cards == 40


def test_a_worker_stops_at_the_night_reserve_and_leaves_it(office: Context) -> None:
    ctx = office
    seed(ctx, [person(i) for i in range(10)])
    receive_stock(ctx, 12, "LOT")
    load_printer(ctx, "p1", 12)
    from printctl.queue.batches import BatchFilters

    batch_id, _ = new_batch(ctx, BatchFilters())
    with Session(ctx.engine) as session:
        start_batch(session, batch_id, actor="t", station="s", clock=ctx.clock)
        session.commit()
    worker = PrinterWorker(
        engine=ctx.engine,
        cipher=ctx.cipher,
        name="p1",
        printer=SimPrinter("sim://?cards=12"),
        encoder=SimEncoder("sim://"),
        render=lambda _record: blank_card_image(),
        station="s",
        clock=ctx.clock,
        retry_sleep=lambda _s: None,
        stop=threading.Event(),
        stock_reserve=lambda: 5,
    )
    result = worker.run()
    assert result.completed == 7
    assert "stock reserve" in result.stop_reason
    assert result.stop_clears_itself  # it goes on once no reserve applies (the night is over)
    with Session(ctx.engine) as session:
        assert office_available(session) == 5
        assert balance(session).issued == 7
