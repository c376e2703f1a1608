"""The fault matrix: every fault the ``sim`` driver can inject at every step of a card.

Each case runs the real worker on a real database (SQLite and PostgreSQL) with two records
and one scripted fault on the first call of one step, under the default fault policy, and
checks that it ends where the policy table in ``docs/configuration.md`` says: the jobs'
states, the spoiled blanks by reason, how the printer stopped, and that the ledger still
balances against the printer's own card counter. The expectations are written out here, not
computed from :mod:`printctl.queue.policy`, so that a change of policy shows up as a failure.

The encoder is driven through ``run_script`` only (the worker reads the UID from the script's
answer), so the encoder's ``uid`` step is exercised by the driver contract suite, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from drivers.sim import SimEncoder, SimPrinter
from printctl.models import Job, LedgerEntry, PrinterRow
from printctl.queue.policy import FaultPolicy
from printctl.service import Context, stock
from tests.integration.test_worker import (
    job_states,
    ledger_used,
    run_worker,
    spoiled_by_reason_now,
    start,
)

DONE = {"completed": 2}
INSPECT = {"needs-inspection": 1, "pending": 1}
BOTH_WAIT = {"pending": 2}


@dataclass(frozen=True)
class Expect:
    """Where one case must end."""

    jobs: dict[str, int]
    spoiled: dict[str, int]
    #: "" = the run finished; "auto" = stopped, clears itself; "manual" = stopped until
    #: resumed; "inspection" = stopped with a card in doubt.
    stop: str = ""


PRINTER_CASES: dict[tuple[str, str], Expect] = {
    # feed: a jam takes the blank into the reject bin; a lost reply leaves it unknown.
    ("feed", "jam"): Expect(DONE, {"print-failed": 1}),
    ("feed", "cover"): Expect(DONE, {}),
    ("feed", "empty"): Expect(DONE, {}),
    ("feed", "offline"): Expect(DONE, {}),
    ("feed", "timeout"): Expect(INSPECT, {}, "inspection"),
    # encode (the printer parks the card at the chip station)
    ("encode", "jam"): Expect(DONE, {"encode-failed": 1}),
    ("encode", "cover"): Expect(DONE, {}),  # the card waits, then goes on: no blank lost
    ("encode", "offline"): Expect(INSPECT, {}, "inspection"),
    ("encode", "timeout"): Expect(INSPECT, {}, "inspection"),
    # print
    ("print", "jam"): Expect(DONE, {"print-failed": 1}),
    ("print", "cover"): Expect(DONE, {}),
    ("print", "ribbon"): Expect(BOTH_WAIT, {"print-failed": 1}, "auto"),  # waits for a ribbon
    ("print", "media"): Expect(DONE, {"print-failed": 1}),
    ("print", "media-reprint"): Expect(DONE, {"print-failed": 1}),  # the printer's own retry
    ("print", "offline"): Expect(INSPECT, {}, "inspection"),
    ("print", "timeout"): Expect(INSPECT, {}, "inspection"),
    # eject
    ("eject", "jam"): Expect(DONE, {"print-failed": 1}),
    ("eject", "cover"): Expect(DONE, {}),
    ("eject", "offline"): Expect(INSPECT, {}, "inspection"),
    ("eject", "timeout"): Expect(INSPECT, {}, "inspection"),
}

ENCODER_CASES: dict[str, Expect] = {
    "nocard": Expect(DONE, {"no-working-chip": 1}),
    "removed": Expect(DONE, {"encode-failed": 1}),
    "sw6A82": Expect(DONE, {"encode-failed": 1}),
    # The reader itself is broken: the parked card is spoiled, the records wait untouched.
    "gone": Expect(BOTH_WAIT, {"encode-failed": 1}, "manual"),
    "offline": Expect(BOTH_WAIT, {"encode-failed": 1}, "manual"),
    "timeout": Expect(BOTH_WAIT, {"encode-failed": 1}, "manual"),
}


def test_the_matrix_covers_every_fault_the_sim_can_inject() -> None:
    """No printer step/kind pair the sim accepts is missing from the matrix (nor invented)."""
    from drivers.faults import ENCODER_FAULTS, PRINTER_FAULTS

    # Faults that the worker's card path cannot meet: it never calls reject unprompted in a
    # clean card, and "denied" only happens on open. Reject and status faults are covered
    # by the policy tests below and the worker tests. "power" ends the whole process: the
    # rehearsal night (tests/integration/test_overnight.py) kills and restarts it.
    steps = ("feed", "encode", "print", "eject")
    injectable = {
        (step, kind)
        for step in steps
        for kind in PRINTER_FAULTS.allowed[step]
        if kind not in ("denied", "power")
    }
    assert injectable == set(PRINTER_CASES)
    run_kinds = {k for k in ENCODER_FAULTS.allowed["run"] if k != "sw"} | {"sw6A82"}
    assert run_kinds == set(ENCODER_CASES)


def check_books(ctx: Context, printer: SimPrinter) -> None:
    """The ledger balances against the hardware, and no job has two issued blanks."""
    totals = stock(ctx)
    assert printer.cards_inserted == ledger_used(ctx)
    assert totals.on_hand == totals.received - totals.issued - totals.spoiled - totals.in_doubt
    assert totals.in_flight == 0
    with Session(ctx.engine) as session:
        per_job = session.exec(
            select(LedgerEntry.job_id, func.count())
            .where(col(LedgerEntry.kind) == "issued")
            .group_by(LedgerEntry.job_id)
        ).all()
    assert all(n == 1 for _job, n in per_job)


def check_stop(ctx: Context, result: Any, expected: str) -> None:
    with Session(ctx.engine) as session:
        row = session.get(PrinterRow, "p1")
    assert row is not None
    if expected == "":
        assert not result.stop_reason, result.stop_reason
        assert row.state == "idle"
        return
    assert row.state == "stopped" and result.stop_reason
    assert row.auto_resume is (expected == "auto")
    if expected == "inspection":
        assert row.reasons == "awaiting-inspection"
        assert stock(ctx).in_doubt == 1


@pytest.mark.parametrize("order", ["before", "after"])
@pytest.mark.parametrize(("step", "kind"), sorted(PRINTER_CASES))
def test_printer_fault_ends_where_the_policy_says(
    ctx: Context, step: str, kind: str, order: str
) -> None:
    """A printer fault at any step ends in the default policy's state, books balanced."""
    expect = PRINTER_CASES[(step, kind)]
    start(ctx, records=2, blanks=10)
    printer = SimPrinter(f"sim://?cards=10&encode={order}&fault={step}:1:{kind}")
    result = run_worker(ctx, printer)
    assert job_states(ctx) == expect.jobs
    assert spoiled_by_reason_now(ctx) == expect.spoiled
    check_stop(ctx, result, expect.stop)
    check_books(ctx, printer)


@pytest.mark.parametrize("order", ["before", "after"])
@pytest.mark.parametrize("kind", sorted(ENCODER_CASES))
def test_encoder_fault_ends_where_the_policy_says(ctx: Context, kind: str, order: str) -> None:
    """A chip-encoder fault, before or after printing, rejects the parked card as the policy
    says, and never issues a card whose chip was not written."""
    expect = ENCODER_CASES[kind]
    start(ctx, records=2, blanks=10)
    printer = SimPrinter(f"sim://?cards=10&encode={order}")
    result = run_worker(ctx, printer, SimEncoder(f"sim://?fault=run:1:{kind}"))
    assert job_states(ctx) == expect.jobs
    assert spoiled_by_reason_now(ctx) == expect.spoiled
    check_stop(ctx, result, expect.stop)
    check_books(ctx, printer)
    assert printer.reject_bin == sum(expect.spoiled.values())


# ----------------------------------------------------------------------------- overrides


def policy(**overrides: str) -> FaultPolicy:
    return FaultPolicy.configured({k.replace("_", "-"): v for k, v in overrides.items()})


def test_a_jam_can_hold_the_job_for_a_person(ctx: Context) -> None:
    """With media-jam = hold-job the ruined blank is spoiled, the job held, the printer goes on."""
    start(ctx, records=2, blanks=10)
    printer = SimPrinter("sim://?cards=10&fault=print:1:jam")
    result = run_worker(ctx, printer, policy=policy(media_jam="hold-job"))
    assert job_states(ctx) == {"held": 1, "completed": 1}
    assert result.held == 1 and not result.stop_reason
    assert spoiled_by_reason_now(ctx) == {"print-failed": 1}
    with Session(ctx.engine) as session:
        held = session.exec(select(Job).where(col(Job.state) == "held")).one()
    assert held.reasons == "job-held-by-policy media-jam"
    check_books(ctx, printer)


def test_a_jam_can_stop_the_printer_until_resumed(ctx: Context) -> None:
    """With media-jam = stop-printer the blank is spoiled and both jobs wait for any printer."""
    start(ctx, records=2, blanks=10)
    printer = SimPrinter("sim://?cards=10&fault=print:1:jam")
    result = run_worker(ctx, printer, policy=policy(media_jam="stop-printer"))
    assert job_states(ctx) == BOTH_WAIT
    check_stop(ctx, result, "manual")
    check_books(ctx, printer)


def test_a_jam_can_be_sent_to_inspection(ctx: Context) -> None:
    """With media-jam = needs-inspection nothing is rejected or spoiled: a person looks."""
    start(ctx, records=2, blanks=10)
    printer = SimPrinter("sim://?cards=10&fault=print:1:jam")
    result = run_worker(ctx, printer, policy=policy(media_jam="needs-inspection"))
    assert job_states(ctx) == INSPECT
    assert spoiled_by_reason_now(ctx) == {}
    check_stop(ctx, result, "inspection")
    check_books(ctx, printer)


def test_retry_now_retries_the_same_card_without_waiting(ctx: Context) -> None:
    """With cover-open = retry-now the step is tried again at once, on the same card."""
    start(ctx, records=2, blanks=10)
    sleeps: list[float] = []
    printer = SimPrinter("sim://?cards=10&fault=print:1:cover")
    result = run_worker(ctx, printer, sleeps=sleeps, policy=policy(cover_open="retry-now"))
    assert result.completed == 2 and sleeps == []
    assert printer.cards_inserted == 2 and spoiled_by_reason_now(ctx) == {}


def test_a_stop_printer_policy_rejects_an_intact_card(ctx: Context) -> None:
    """With cover-open = stop-printer the waiting card is rejected (one blank spoiled)."""
    start(ctx, records=2, blanks=10)
    printer = SimPrinter("sim://?cards=10&fault=print:1:cover")
    result = run_worker(ctx, printer, policy=policy(cover_open="stop-printer"))
    assert job_states(ctx) == BOTH_WAIT
    assert spoiled_by_reason_now(ctx) == {"print-failed": 1}
    check_stop(ctx, result, "manual")
    check_books(ctx, printer)


def test_a_card_waits_stopped_while_the_cover_is_open_then_goes_on(ctx: Context) -> None:
    """A cover opened mid-card keeps the card in the printer: the job shows ``stopped`` while
    the printer shows ``cover-open``; once closed, the same card is printed (no blank lost)."""
    start(ctx, records=1, blanks=10)
    printer = SimPrinter("sim://?cards=10")
    seen: list[tuple[str, str, str]] = []

    class CoverOpensOnce(SimPrinter):
        opened = False

        def print_card(self, image: Any) -> None:
            if not self.opened:
                self.opened = True
                self.set_cover(True)
            super().print_card(image)

    printer = CoverOpensOnce("sim://?cards=10")

    def wait(_seconds: float) -> None:
        with Session(ctx.engine) as session:
            job = session.exec(select(Job)).one()
            row = session.get(PrinterRow, "p1")
            assert row is not None
            seen.append((job.state, job.step, row.reasons))
        if len(seen) == 2:
            printer.set_cover(False)  # the operator closes it

    result = run_worker(ctx, printer, retry_sleep=wait)
    assert result.completed == 1 and not result.stop_reason
    assert seen == [("stopped", "printing", "cover-open")] * 2
    assert printer.cards_inserted == 1 and spoiled_by_reason_now(ctx) == {}
    check_books(ctx, printer)


def test_an_unknown_outcome_is_inspected_whatever_the_policy_says(ctx: Context) -> None:
    """Even with offline = retry-now, a printer that stops answering mid-card is inspected."""
    start(ctx, records=2, blanks=10)
    printer = SimPrinter("sim://?cards=10&fault=print:1:offline")
    result = run_worker(ctx, printer, policy=policy(offline="retry-now"))
    assert job_states(ctx) == INSPECT
    check_stop(ctx, result, "inspection")
    check_books(ctx, printer)


# ----------------------------------------------------------------------------- robustness


class StepChecking(SimPrinter):
    """A sim that asserts, at every feed, that the database says this printer is feeding."""

    engine: Any = None
    feeds_checked = 0

    def feed(self) -> None:
        with Session(self.engine) as session:
            steps = session.exec(
                select(Job.step).where(col(Job.printer) == "p1", col(Job.state) == "processing")
            ).all()
        assert "feeding" in steps, f"fed while the database says {steps}"
        self.feeds_checked += 1
        super().feed()


@pytest.mark.parametrize(
    "url",
    [
        "sim://?cards=20&fault=status:4:timeout",
        "sim://?cards=20&fault=status:every:3:offline,feed:2:cover",
        "sim://?cards=20&fault_rate=0.2&seed=11",
    ],
)
def test_every_feed_is_persisted_first_whatever_fails_around_it(ctx: Context, url: str) -> None:
    """Persist, then act: no blank is ever fed unless the job's ``feeding`` step is
    committed, also when status reads fail between cards (render-ahead, merged commits)."""
    start(ctx, records=6, blanks=20)
    printer = StepChecking(url)
    printer.engine = ctx.engine
    run_worker(ctx, printer, SimEncoder("sim://?fault_rate=0.1&seed=3"))
    assert printer.feeds_checked >= 1
    check_books(ctx, printer)


def test_a_jam_that_takes_no_blank_cannot_loop_for_ever(ctx: Context) -> None:
    """A feed that reports a jam but never takes a blank (a failed pick) is bounded: the
    breaker stops the printer; nothing is spoiled, since no blank left the hopper."""
    from printctl.hardware import CardJam

    start(ctx, records=2, blanks=10)

    class Misfeeding(SimPrinter):
        def feed(self) -> None:
            raise CardJam("pick roller slipped", card_may_have_moved=True)

    printer = Misfeeding("sim://?cards=10")
    result = run_worker(ctx, printer)
    assert "5 cards failed in a row" in result.stop_reason
    assert spoiled_by_reason_now(ctx) == {} and printer.cards_inserted == 0
    assert stock(ctx).in_doubt == 0


def test_a_fault_the_status_never_shows_stops_the_printer_for_a_person(ctx: Context) -> None:
    """A printer that fails every feed while its status reads clean is no transient: after
    retry_later_limit clears without a good card it stops until resumed."""
    start(ctx, records=2, blanks=10)
    sleeps: list[float] = []
    printer = SimPrinter("sim://?cards=10&fault=feed:*:offline")
    result = run_worker(ctx, printer, sleeps=sleeps)
    assert not result.stop_clears_itself
    assert "cleared 5 times without a good card" in result.stop_reason
    assert len(sleeps) == 5 and printer.cards_inserted == 0
    assert job_states(ctx) == BOTH_WAIT
    check_stop(ctx, result, "manual")


def test_inspection_with_no_blank_moved_holds_the_job_instead(ctx: Context) -> None:
    """With cover-open = needs-inspection at the feed no blank left the hopper: the job is
    held for a person and the printer stops, but no blank is counted in doubt."""
    start(ctx, records=2, blanks=10)
    printer = SimPrinter("sim://?cards=10&fault=feed:1:cover")
    result = run_worker(ctx, printer, policy=policy(cover_open="needs-inspection"))
    assert job_states(ctx) == {"held": 1, "pending": 1}
    assert stock(ctx).in_doubt == 0 and printer.cards_inserted == 0
    check_stop(ctx, result, "manual")


def test_a_batch_canceled_mid_card_prints_nothing_more(ctx: Context) -> None:
    """Canceling a batch while a card prints: that card finishes; the job drawn ahead is
    canceled (its record ready again) instead of printed or left pending in a dead batch."""
    from printctl.service import change_batch

    batch_id = start(ctx, records=3, blanks=10)

    class CancelingMidCard(SimPrinter):
        def print_card(self, image: Any) -> None:
            if not self.printed_labels and self.output_tray == 0:
                change_batch(ctx, batch_id, "cancel")
            super().print_card(image)

    printer = CancelingMidCard("sim://?cards=10")
    run_worker(ctx, printer)
    assert printer.cards_inserted == 1
    assert job_states(ctx) == {"completed": 1, "canceled": 2}
    with Session(ctx.engine) as session:
        from printctl.models import Record

        states = sorted(r.state for r in session.exec(select(Record)))
    assert states == ["printed", "ready", "ready"]
    check_books(ctx, printer)


def test_a_crash_after_a_spoiled_blank_is_recorded_requeues_without_doubt(ctx: Context) -> None:
    """The spoiled entry and the job's ``spoiled`` step are one commit: recovery requeues the
    job and the blank is never both spoiled and in doubt."""
    from printctl.queue.recovery import recover_in_flight

    start(ctx, records=1, blanks=5)
    with Session(ctx.engine) as session:
        job = session.exec(select(Job)).one()
        job.state, job.step, job.station = "processing", "spoiled", "s"
        job_id = job.id
        session.add(job)
        session.commit()
        recovery = recover_in_flight(session, station="s", actor="t", clock=ctx.clock)
        session.commit()
    assert recovery.requeued == [job_id] and recovery.needs_inspection == []
    assert stock(ctx).in_doubt == 0
