"""No sequence of stock operations can make a blank disappear.

A Hypothesis state machine drives random sequences of ledger operations (deliveries, loads,
unloads, prints, doubts and their inspections, spoils, holder returns, returns, two-person
adjustments and destructions, counts, day closes) against the real ledger on SQLite, beside a
plain model of where the blanks should be. After every step: each balance equals the
model's, none is negative, and ``received − issued − spoiled − returned + adjusted`` equals
the blanks in the office. An operation the model calls invalid must be refused with a clear
message and change nothing; a valid one must succeed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from printctl.db import make_engine, migrate
from printctl.models import Batch, Job, Record, SpoilReason, StockProposal
from printctl.stock import (
    StockError,
    balance,
    controls,
    days,
    holder_return,
    location_balances,
    move,
    receive,
    record_in_doubt,
    record_issued,
    record_spoiled,
    return_blanks,
)
from printctl.stock import locations as loc

PRINTERS = ("p1", "p2")
PLACES = ("vault", "hopper:p1", "hopper:p2")
REASONS = [r for r in SpoilReason if r is not SpoilReason.RETURNED_BY_HOLDER]
counts = st.integers(min_value=-2, max_value=30)


class Clock:
    """Advances one second per reading; ``next_day`` jumps to the next morning."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def next_day(self) -> None:
        self.now = (self.now + timedelta(days=1)).replace(hour=1, minute=0)


class Ledger(RuleBasedStateMachine):
    """The ledger beside a model of it."""

    engine: Engine

    @initialize()
    def open_ledger(self) -> None:
        self.folder = tempfile.TemporaryDirectory()
        self.engine = make_engine(f"sqlite:///{Path(self.folder.name) / 'stock.db'}")
        migrate(self.engine)
        self.clock = Clock()
        with Session(self.engine) as session:  # one job for the entries that need one
            batch = Batch(name="b", created_by="t")
            session.add(batch)
            session.flush()
            record = Record(
                record_id="R1",
                version=1,
                bundle_id="B",
                request_type="NEW",
                district="D",
                nik_hash="h",
                nik_last4="0001",
                state="queued",
                payload=b"",
                photo=b"",
                signature=b"",
            )
            session.add(record)
            session.flush()
            job = Job(batch_id=batch.id or 0, record_pk=record.id or 0)
            session.add(job)
            session.commit()
            self.job_id = job.id or 0
        self.model = {"vault": 0, "hopper:p1": 0, "hopper:p2": 0, "in-doubt": 0, "spoiled": 0}
        self.flows = {"received": 0, "issued": 0, "spoiled": 0, "returned": 0, "adjusted": 0}
        self.doubts: list[str] = []  # the printer of each blank in doubt
        self.open_counts: dict[int, tuple[str, int]] = {}
        self.proposals: dict[int, tuple[str, str, int]] = {}  # id → kind, place, delta

    def teardown(self) -> None:
        self.engine.dispose()
        self.folder.cleanup()

    # ------------------------------------------------------------------ harness

    def attempt(self, valid: bool, action: Callable[[Session], Any]) -> Any:
        """Run ``action``; a valid one must succeed, an invalid one be refused cleanly."""
        before = self.snapshot()
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                result = action(session)
            except StockError as exc:
                session.rollback()
                assert not valid, f"a valid operation was refused: {exc}"
                assert str(exc).strip(), "a refusal must say why"
                assert self.snapshot() == before, "a refused operation changed the ledger"
                return None
            session.commit()
        assert valid, "an invalid operation was accepted"
        return result

    def snapshot(self) -> dict[str, int]:
        with Session(self.engine) as session:
            return {k: v for k, v in location_balances(session).items() if v}

    # ------------------------------------------------------------------ rules

    @rule(n=counts, serial=st.booleans())
    def deliver(self, n: int, serial: bool) -> None:
        first = f"S{self.flows['received'] + 1:07d}"
        last = f"S{self.flows['received'] + max(n, 1):07d}"
        ok = self.attempt(
            n > 0,
            lambda s: receive(
                s,
                n,
                lot="L",
                actor="a",
                station="s",
                serial_first=first if serial else None,
                serial_last=last if serial else None,
                clock=self.clock,
            ),
        )
        if ok is not None:
            self.model["vault"] += n
            self.flows["received"] += n

    @rule(n=counts, source=st.sampled_from(PLACES), to=st.sampled_from(PLACES))
    def move_blanks(self, n: int, source: str, to: str) -> None:
        target = to
        valid = n > 0 and source != target and self.model[source] >= n
        valid = valid and not (source == "vault" and target == "vault")
        if self.attempt(
            valid,
            lambda s: move(s, n, source, target, actor="a", station="s", clock=self.clock),
        ):
            self.model[source] -= n
            self.model[target] += n

    def took(self, place: str, quantity: int) -> None:
        """A printer took ``quantity`` blanks from ``place``: a fact, never refused. What its
        hopper's ledger lacked comes from the vault, then from the adjustment account, and a
        confirmation waits for a supervisor."""
        short = max(0, quantity - self.model[place])
        from_vault = min(short, self.model["vault"])
        self.model["vault"] -= from_vault
        self.flows["adjusted"] += short - from_vault
        self.model[place] += short - quantity
        if short:
            with Session(self.engine) as session:
                newest = session.exec(
                    select(StockProposal)
                    .where(col(StockProposal.kind) == "confirm")
                    .order_by(col(StockProposal.id).desc())
                ).first()
            assert newest is not None and newest.quantity == short
            self.proposals[newest.id or 0] = ("confirm", place, 0)

    @rule(printer=st.sampled_from(PRINTERS))
    def print_card(self, printer: str) -> None:
        self.attempt(
            True,
            lambda s: record_issued(
                s,
                job_id=self.job_id,
                printer=printer,
                chip_uid="04",
                actor="w",
                station="s",
                clock=self.clock,
            ),
        )
        self.took(loc.hopper(printer), 1)
        self.flows["issued"] += 1

    @rule(printer=st.sampled_from(PRINTERS), extra=st.integers(min_value=1, max_value=3))
    def printer_reprints_on_its_own(self, printer: str, extra: int) -> None:
        self.attempt(
            True,
            lambda s: record_spoiled(
                s,
                quantity=extra,
                reason=SpoilReason.PRINT_FAILED,
                job_id=self.job_id,
                printer=printer,
                note="re-printed",
                actor="w",
                station="s",
                clock=self.clock,
            ),
        )
        self.took(loc.hopper(printer), extra)
        self.model["spoiled"] += extra
        self.flows["spoiled"] += extra

    @rule(printer=st.sampled_from(PRINTERS))
    def lose_sight_of_a_card(self, printer: str) -> None:
        self.attempt(
            True,
            lambda s: record_in_doubt(
                s,
                job_id=self.job_id,
                printer=printer,
                note="power cut",
                actor="w",
                station="s",
                clock=self.clock,
            ),
        )
        self.took(loc.hopper(printer), 1)
        self.model["in-doubt"] += 1
        self.doubts.append(printer)

    @rule(printer=st.sampled_from(PRINTERS), spoil=st.booleans())
    def bypass_the_inspection(self, printer: str, spoil: bool) -> None:
        """Nobody takes a blank out of doubt but its job's inspection."""

        def act(s: Session) -> Any:
            if spoil:
                return record_spoiled(
                    s,
                    quantity=1,
                    reason=SpoilReason.DAMAGED,
                    job_id=None,
                    printer=printer,
                    note="by hand",
                    source=loc.IN_DOUBT,
                    actor="a",
                    station="s",
                    clock=self.clock,
                )
            return move(
                s, 1, loc.IN_DOUBT, loc.hopper(printer), actor="a", station="s", clock=self.clock
            )

        self.attempt(False, act)

    @rule(found=st.sampled_from(["issued", "spoiled", "none"]))
    def inspect(self, found: str) -> None:
        valid = self.model["in-doubt"] >= 1
        printer = self.doubts[-1] if self.doubts else "p1"

        def act(s: Session) -> Any:
            if found == "issued":
                return record_issued(
                    s,
                    job_id=self.job_id,
                    printer=printer,
                    chip_uid=None,
                    from_doubt=True,
                    actor="i",
                    station="s",
                    clock=self.clock,
                )
            if found == "spoiled":
                return record_spoiled(
                    s,
                    quantity=1,
                    reason=SpoilReason.PRINT_FAILED,
                    job_id=self.job_id,
                    printer=printer,
                    note="found",
                    source=loc.IN_DOUBT,
                    actor="i",
                    station="s",
                    clock=self.clock,
                )
            return move(
                s,
                1,
                loc.IN_DOUBT,
                loc.hopper(printer),
                actor="i",
                station="s",
                job_id=self.job_id,
                clock=self.clock,
            )

        if self.attempt(valid, act):
            self.doubts.pop()
            self.model["in-doubt"] -= 1
            if found == "issued":
                self.flows["issued"] += 1
            elif found == "spoiled":
                self.model["spoiled"] += 1
                self.flows["spoiled"] += 1
            else:
                self.model[loc.hopper(printer)] += 1

    @rule(n=counts, place=st.sampled_from(PLACES), reason=st.sampled_from(REASONS))
    def spoil(self, n: int, place: str, reason: SpoilReason) -> None:
        if self.attempt(
            n > 0 and self.model[place] >= n,
            lambda s: record_spoiled(
                s,
                quantity=n,
                reason=reason,
                job_id=None,
                printer=loc.hopper_printer(place),
                note="damaged",
                source=place,
                actor="a",
                station="s",
                clock=self.clock,
            ),
        ):
            self.model[place] -= n
            self.model["spoiled"] += n
            self.flows["spoiled"] += n

    @rule(n=counts, why=st.sampled_from(["", "moved away"]))
    def card_handed_back(self, n: int, why: str) -> None:
        if self.attempt(
            n > 0 and bool(why),
            lambda s: holder_return(s, n, note=why, actor="a", station="s", clock=self.clock),
        ):
            self.model["spoiled"] += n

    @rule(n=counts, document=st.sampled_from(["", "SURAT/1"]))
    def send_back(self, n: int, document: str) -> None:
        if self.attempt(
            n > 0 and bool(document) and self.model["vault"] >= n,
            lambda s: return_blanks(
                s, n, document=document, actor="a", station="s", clock=self.clock
            ),
        ):
            self.model["vault"] -= n
            self.flows["returned"] += n

    @rule(place=st.sampled_from(PLACES), delta=st.integers(min_value=-10, max_value=10))
    def propose_adjustment(self, place: str, delta: int) -> None:
        proposal = self.attempt(
            delta != 0 and (delta > 0 or self.model[place] >= -delta),
            lambda s: controls.propose_adjustment(
                s, place, delta, "miscounted", actor="clerk", station="s", clock=self.clock
            ),
        )
        if proposal is not None:
            self.proposals[proposal.id] = ("adjust", place, delta)

    @rule(witnesses=st.integers(min_value=0, max_value=3))
    def propose_destruction(self, witnesses: int) -> None:
        # All waiting cards are proposed at once, so a second proposal while one waits
        # would name the same cards: it is refused.
        pending = any(p[0] == "destroy" for p in self.proposals.values())
        valid = witnesses >= 2 and self.model["spoiled"] > 0 and not pending
        proposal = self.attempt(
            valid,
            lambda s: controls.propose_destruction(
                s,
                witnesses=[f"W{i}" for i in range(witnesses)],
                place="yard",
                method="burned",
                actor="clerk",
                station="s",
                clock=self.clock,
            ),
        )
        if proposal is not None:
            self.proposals[proposal.id] = ("destroy", loc.SPOILED, -proposal.quantity)

    @rule(data=st.data(), approver=st.sampled_from(["clerk", "boss"]))
    def decide(self, data: st.DataObject, approver: str) -> None:
        if not self.proposals:
            return
        pid = data.draw(st.sampled_from(sorted(self.proposals)))
        kind, place, delta = self.proposals[pid]
        fits = delta >= 0 or self.model[place] >= -delta
        valid = approver != "clerk" and fits
        if self.attempt(
            valid,
            lambda s: controls.approve(
                s,
                pid,
                actor=approver,
                station="s",
                supervisors=controls.Supervisors.of(["boss"]),
                clock=self.clock,
            ),
        ):
            del self.proposals[pid]
            self.model[place] += delta
            if kind == "adjust":
                self.flows["adjusted"] += delta
        elif approver == "boss" and not fits:
            # It can no longer be carried out: the supervisor turns it down.
            self.attempt(
                True,
                lambda s: controls.reject(
                    s, pid, actor="boss", station="s", note="stale", clock=self.clock
                ),
            )
            del self.proposals[pid]

    @rule(place=st.sampled_from(PLACES), off=st.integers(min_value=-3, max_value=3))
    def count(self, place: str, off: int) -> None:
        counted = self.model[place] + off
        valid = counted >= 0 and not any(p == place for p, _ in self.open_counts.values())
        row = self.attempt(
            valid,
            lambda s: controls.count(
                s, place, counted, actor="clerk", station="s", clock=self.clock
            ),
        )
        if row is not None and row.state == "open":
            self.open_counts[row.id] = (place, off)

    @rule(data=st.data(), adjust=st.booleans())
    def resolve_count(self, data: st.DataObject, adjust: bool) -> None:
        if not self.open_counts:
            return
        cid = data.draw(st.sampled_from(sorted(self.open_counts)))
        place, off = self.open_counts[cid]
        # An adjustment down needs the blanks still to be there.
        valid = not adjust or off > 0 or self.model[place] >= -off
        if self.attempt(
            valid,
            lambda s: controls.resolve_count(
                s,
                cid,
                "adjust" if adjust else "found",
                note="checked",
                actor="boss",
                station="s",
                clock=self.clock,
            ),
        ):
            del self.open_counts[cid]
            if adjust:
                self.model[place] += off
                self.flows["adjusted"] += off

    @rule()
    def close_the_day(self) -> None:
        day = days.business_day(self.clock.now)
        valid = not self.model["in-doubt"] and not self.open_counts and not self.proposals
        if self.attempt(
            valid,
            lambda s: days.close_day(
                s, day, office_name="O", actor="boss", station="s", clock=self.clock
            ),
        ):
            self.clock.next_day()  # a refused day stays open: days close in order

    # ------------------------------------------------------------------ invariants

    @invariant()
    def balances_match_the_model_and_the_books_balance(self) -> None:
        if not hasattr(self, "engine"):
            return
        with Session(self.engine) as session:
            places = location_balances(session)
            totals = balance(session)
        assert all(n >= 0 for n in places.values()), places
        assert {k: v for k, v in places.items() if v} == {k: v for k, v in self.model.items() if v}
        assert totals.received == self.flows["received"]
        assert totals.issued == self.flows["issued"]
        assert totals.spoiled == self.flows["spoiled"]
        assert totals.returned == self.flows["returned"]
        assert totals.adjusted == self.flows["adjusted"]
        assert totals.balanced
        assert (
            totals.received - totals.issued - totals.spoiled - totals.returned + totals.adjusted
            == self.model["vault"]
            + self.model["hopper:p1"]
            + self.model["hopper:p2"]
            + self.model["in-doubt"]
        )


Ledger.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_no_sequence_of_operations_loses_a_blank = Ledger.TestCase
