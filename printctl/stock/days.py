"""Business days: the daily statement, printers' counters against the ledger, and the close.

A day's statement is computed from the ledger entries posted to it (``LedgerEntry.day``).
Closing a day checks what must be settled first (blanks in doubt, cards in printers, open
count discrepancies, proposals waiting for a supervisor, unexplained counter differences),
then freezes the statement and each location's closing balance. Nothing is posted to a closed
day afterwards: later entries go to the next open day.

A printer's lifetime counter is read when a run starts and ends (and at a close, on request).
Each reading notes the highest ledger entry at that moment, so the day's comparison counts
exactly the entries between two readings: the counter's rise against the blanks the ledger
says that printer took (issued, spoiled, in doubt). Printers re-print on their own after
media errors, so a difference happens; it must be explained (``explain_counter``) before the
day closes, and the explanation is printed on the statement.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from printctl.audit import Clock, lock_journal, record_event
from printctl.models import (
    CounterExplanation,
    CounterReading,
    Job,
    JobState,
    LedgerEntry,
    LedgerKind,
    StockCount,
    StockDay,
    StockDayBalance,
    StockProposal,
    utcnow,
)
from printctl.stock import locations as loc
from printctl.stock.figures import DailyStatement, MonthlyReport, PrinterCounterLine
from printctl.stock.ledger import (
    StockError,
    business_day,
    in_flight,
    kind_totals,
    last_closed_day,
    last_entry_id,
    location_balances,
    office_time,
    posting_day,
    spoiled_by_reason,
)

#: Kinds of entry that take a blank out of a printer's hopper into (or towards) a card. Only
#: a job's entries count against the counter: a blank a person took out by hand (recorded
#: spoiled without a job) never passed the printer.
_CONSUMING = (LedgerKind.ISSUED.value, LedgerKind.SPOILED.value, LedgerKind.IN_DOUBT.value)


# ---------------------------------------------------------------------------- counters


def record_counter(
    session: Session,
    printer: str,
    value: int,
    *,
    source: str,
    clock: Clock = utcnow,
) -> CounterReading:
    """Store a reading of ``printer``'s lifetime card counter, marked with the ledger's
    newest entry (the entries up to it are what the printer had consumed by then)."""
    if not 0 <= value < 2**31:
        raise StockError(f"a card counter reads between 0 and {2**31 - 1}, not {value}")
    lock_journal(session)  # the mark must not race a posting, nor a close
    at = clock()
    reading = CounterReading(
        at=at,
        day=posting_day(session, at).isoformat(),
        printer=printer,
        value=value,
        ledger_mark=last_entry_id(session),
        source=source,
    )
    session.add(reading)
    session.flush()
    return reading


def _readings(session: Session, printer: str, day: str) -> list[CounterReading]:
    return list(
        session.exec(
            select(CounterReading)
            .where(col(CounterReading.printer) == printer, col(CounterReading.day) == day)
            .order_by(col(CounterReading.id))
        ).all()
    )


def _baseline(session: Session, printer: str, day: str) -> CounterReading | None:
    return session.exec(
        select(CounterReading)
        .where(col(CounterReading.printer) == printer, col(CounterReading.day) < day)
        .order_by(col(CounterReading.id).desc())
        .limit(1)
    ).first()


def _consumed(session: Session, printer: str, after_mark: int, through_mark: int) -> int:
    """Blanks the jobs took from ``printer``'s hopper between two readings' marks.

    A blank put in doubt there that an inspection later found never left the hopper (it was
    moved back, with its job) was not taken: it does not count, whenever the inspection was.
    """
    place = loc.hopper(printer)
    rows = session.exec(
        select(LedgerEntry.id, LedgerEntry.kind, LedgerEntry.job_id, LedgerEntry.quantity).where(
            col(LedgerEntry.from_loc) == place,
            col(LedgerEntry.kind).in_(_CONSUMING),
            col(LedgerEntry.job_id).is_not(None),
            col(LedgerEntry.id) > after_mark,
            col(LedgerEntry.id) <= through_mark,
        )
    ).all()
    total = sum(int(q) for _id, _kind, _job, q in rows)
    doubted = [
        (int(i or 0), int(job or 0))
        for i, kind, job, _q in rows
        if kind == LedgerKind.IN_DOUBT.value
    ]
    if doubted:
        jobs = {job for _i, job in doubted}
        returns = session.exec(
            select(LedgerEntry.id, LedgerEntry.job_id).where(
                col(LedgerEntry.kind) == LedgerKind.MOVED.value,
                col(LedgerEntry.from_loc) == loc.IN_DOUBT,
                col(LedgerEntry.to_loc) == place,
                col(LedgerEntry.job_id).in_(jobs),
            )
        ).all()
        # Each return belongs to its job's newest doubt before it.
        for return_id, return_job in returns:
            job = int(return_job or 0)
            mine = [i for i, j in doubted if j == job and i < int(return_id or 0)]
            if mine:
                doubted.remove((max(mine), job))
                total -= 1
    return total


def _jobs_took(session: Session, printer: str, *window: Any) -> int:
    """Blanks the jobs took from ``printer``'s hopper, in ``window`` (extra conditions)."""
    return int(
        session.exec(
            select(func.coalesce(func.sum(LedgerEntry.quantity), 0)).where(
                col(LedgerEntry.from_loc) == loc.hopper(printer),
                col(LedgerEntry.kind).in_(_CONSUMING),
                col(LedgerEntry.job_id).is_not(None),
                *window,
            )
        ).one()
    )


def _printers_of_day(session: Session, day: str) -> list[str]:
    from_readings = session.exec(
        select(CounterReading.printer).where(col(CounterReading.day) == day).distinct()
    ).all()
    from_ledger = session.exec(
        select(LedgerEntry.printer)
        .where(
            col(LedgerEntry.day) == day,
            col(LedgerEntry.kind).in_(_CONSUMING),
            col(LedgerEntry.job_id).is_not(None),
            col(LedgerEntry.printer).is_not(None),
        )
        .distinct()
    ).all()
    return sorted({p for p in (*from_readings, *from_ledger) if p})


def counter_lines(session: Session, day: date) -> tuple[PrinterCounterLine, ...]:
    """Each printer's counter against the ledger for ``day``.

    The window runs from the printer's last reading before the day (or its first of the day)
    to its last reading of the day; the ledger side counts the entries between those two
    readings' marks, so a run across midnight is compared once, on the day it ended.
    """
    key = day.isoformat()
    lines = []
    for printer in _printers_of_day(session, key):
        readings = _readings(session, printer, key)
        baseline = _baseline(session, printer, key)
        window = ([baseline] if baseline is not None else []) + readings
        explanations = session.exec(
            select(CounterExplanation)
            .where(col(CounterExplanation.day) == key, col(CounterExplanation.printer) == printer)
            .order_by(col(CounterExplanation.id))
        ).all()
        rise: int | None = None
        unread = 0
        counter_start: int | None = None
        counter_end: int | None = None
        resets = 0
        if len(window) >= 2 and readings:
            start, end = window[0], window[-1]
            consumed = _consumed(session, printer, start.ledger_mark, end.ledger_mark)
            rise = 0
            for before, after in itertools.pairwise(window):
                if after.value >= before.value:
                    rise += after.value - before.value
                else:
                    resets += 1  # a replaced printer or a reset counter starts again
            counter_start, counter_end = start.value, end.value
            # Taken on the day after its last reading: the counter must be read again.
            unread = _jobs_took(
                session, printer, col(LedgerEntry.id) > end.ledger_mark, col(LedgerEntry.day) == key
            )
        else:
            # Not read twice: the counter cannot be compared; the ledger's day is shown.
            consumed = _jobs_took(session, printer, col(LedgerEntry.day) == key)
        lines.append(
            PrinterCounterLine(
                printer=printer,
                counter_start=counter_start,
                counter_end=counter_end,
                ledger_consumed=consumed,
                explained=sum(e.quantity for e in explanations),
                explanations=tuple(f"{e.quantity:+d}: {e.note} ({e.actor})" for e in explanations),
                counter_rise=rise,
                resets=resets,
                after_last_reading=unread,
            )
        )
    return tuple(lines)


def explain_counter(
    session: Session,
    day: date,
    printer: str,
    quantity: int,
    note: str,
    *,
    actor: str,
    station: str,
    clock: Clock = utcnow,
) -> StockProposal:
    """Propose an explanation of ``quantity`` of a printer's counter difference (counter −
    ledger) on ``day``; a supervisor's approval records it (two people: a difference can
    mean blanks the ledger never saw).

    The difference is not hidden: it stays on the statement with the explanation. If the
    printer really took blanks the ledger does not know of, record them too (spoiled, with
    ``printctl stock spoil``): the explanation covers the day, the entry the stock.
    """
    if quantity == 0:
        raise StockError("an explanation covers a difference of at least one card")
    if not note.strip():
        raise StockError("an explanation needs its words (--note)")
    _refuse_closed(session, day)
    line = next((c for c in counter_lines(session, day) if c.printer == printer), None)
    if line is None:
        raise StockError(f"printer {printer} has no counter reading nor blanks on {day}")
    proposed = sum(
        p.quantity
        for p in session.exec(
            select(StockProposal).where(
                col(StockProposal.kind) == "explain",
                col(StockProposal.state) == "proposed",
                col(StockProposal.location) == loc.hopper(printer),
            )
        ).all()
        if json.loads(p.detail).get("day") == day.isoformat()
    )
    left = line.unexplained - proposed
    if left == 0:
        raise StockError(f"printer {printer}'s counter and the ledger agree on {day}")
    if abs(quantity) > abs(left) or (quantity > 0) != (left > 0):
        raise StockError(
            f"printer {printer} has {left:+d} left to explain on {day}; {quantity:+d} does not fit"
        )
    proposal = StockProposal(
        kind="explain",
        at=clock(),
        proposed_by=actor,
        location=loc.hopper(printer),
        quantity=quantity,
        reason=note[:500],
        detail=json.dumps({"day": day.isoformat(), "printer": printer}),
    )
    session.add(proposal)
    session.flush()
    record_event(
        session,
        actor=actor,
        station=station,
        action="stock.explain-proposed",
        entity="printer",
        entity_id=printer,
        detail={"day": day.isoformat(), "quantity": quantity, "note": note},
        clock=clock,
    )
    return proposal


# ---------------------------------------------------------------------------- statements


def _stock_total(places: dict[str, int]) -> int:
    return sum(n for place, n in places.items() if loc.is_stock(place))


def _deliveries(session: Session, key: str) -> tuple[str, ...]:
    rows = session.exec(
        select(LedgerEntry)
        .where(col(LedgerEntry.day) == key, col(LedgerEntry.kind) == LedgerKind.RECEIVED.value)
        .order_by(col(LedgerEntry.id))
    ).all()
    out = []
    for r in rows:
        text_ = f"lot {r.lot}: {r.quantity}"
        if r.document:
            text_ += f", dokumen {r.document}"
        if r.serial_first:
            text_ += f", seri {r.serial_first}–{r.serial_last}"
        out.append(text_)
    return tuple(out)


def daily_statement(session: Session, day: date, *, office_name: str) -> DailyStatement:
    """The statement of ``day`` (a draft while the day is open)."""
    before = location_balances(session, day - timedelta(days=1))
    after = location_balances(session, day)
    flows = kind_totals(session, day=day)
    closed = session.get(StockDay, day.isoformat())
    return DailyStatement(
        office_name=office_name,
        day=day,
        opening=_stock_total(before),
        received=flows["received"],
        issued=flows["issued"],
        spoiled=flows["spoiled"],
        returned=flows["returned"],
        adjusted=flows["adjusted"],
        closing=_stock_total(after),
        locations={
            place: n
            for place, n in sorted(after.items())
            if loc.is_stock(place) and (n or place == loc.VAULT)
        },
        spoiled_by_reason={
            r: n
            for r, n in spoiled_by_reason(session, day=day).items()
            if r != "returned-by-holder"
        },
        holder_returned=flows["holder_returned"],
        to_destroy_opening=before.get(loc.SPOILED, 0),
        destroyed=flows["destroyed"],
        to_destroy_closing=after.get(loc.SPOILED, 0),
        deliveries=_deliveries(session, day.isoformat()),
        printers=counter_lines(session, day),
        closed_at=office_time(closed.closed_at) if closed is not None else None,
        closed_by=closed.closed_by if closed is not None else None,
    )


def monthly_report(
    session: Session, year: int, month: int, *, office_name: str, through: date | None = None
) -> MonthlyReport:
    """Every day of a month (up to ``through``, default the month's end) with the month's
    totals taken straight from the ledger."""
    first = date(year, month, 1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if through is not None:
        last = min(last, through)
    days = []
    day = first
    while day <= last:
        days.append(daily_statement(session, day, office_name=office_name))
        day += timedelta(days=1)
    totals = kind_totals(session, day=last, first=first) if last >= first else {}
    return MonthlyReport(
        office_name=office_name, year=year, month=month, days=tuple(days), ledger_totals=totals
    )


# ---------------------------------------------------------------------------- closing


@dataclass(frozen=True)
class CloseProblem:
    """Something to settle before a day may close."""

    code: str  # in-doubt | in-flight | count-open | proposal-open | counter | order | future
    message: str


@dataclass(frozen=True)
class CloseCheck:
    """What closing a day would find: problems block it; warnings are printed."""

    day: date
    statement: DailyStatement
    problems: tuple[CloseProblem, ...]
    warnings: tuple[str, ...]

    @property
    def can_close(self) -> bool:
        """True when nothing blocks the close."""
        return not self.problems and self.statement.balanced


def _refuse_closed(session: Session, day: date) -> None:
    if session.get(StockDay, day.isoformat()) is not None:
        raise StockError(f"{day} is closed: nothing may be changed or added to it")


def _open_days_before(session: Session, day: date) -> list[str]:
    closed = last_closed_day(session)
    query = select(LedgerEntry.day).where(col(LedgerEntry.day) < day.isoformat()).distinct()
    if closed is not None:
        query = query.where(col(LedgerEntry.day) > closed.isoformat())
    return sorted(d for d in session.exec(query).all() if d)


def check_close(
    session: Session, day: date, *, office_name: str, now: datetime, low_stock: int = 0
) -> CloseCheck:
    """Everything :func:`close_day` checks, without closing (``stock close-day --dry-run``)."""
    _refuse_closed(session, day)
    problems: list[CloseProblem] = []
    warnings: list[str] = []
    today = business_day(now)
    if day > today:
        problems.append(CloseProblem("future", f"{day} has not begun yet (today is {today})"))
    earlier = _open_days_before(session, day)
    if earlier:
        problems.append(
            CloseProblem(
                "order",
                f"close {earlier[0]} first: days close in order ({', '.join(earlier)} open)",
            )
        )
    statement = daily_statement(session, day, office_name=office_name)
    doubt = statement.locations.get(loc.IN_DOUBT, 0)
    jobs = list(
        session.exec(select(Job.id).where(col(Job.state) == JobState.NEEDS_INSPECTION.value)).all()
    )
    if day < today:
        # A past day: only the doubts of that day (or before) that are still open block it;
        # one inspected since stays in that day's closing stock, as it was that evening.
        jobs = [
            j
            for j in jobs
            if session.exec(
                select(func.count()).where(
                    col(LedgerEntry.kind) == LedgerKind.IN_DOUBT.value,
                    col(LedgerEntry.job_id) == j,
                    col(LedgerEntry.day) <= day.isoformat(),
                )
            ).one()
        ]
        if doubt and not jobs:
            warnings.append(f"{doubt} blank(s) were in doubt at the end of {day}; inspected since")
    if jobs or (doubt and day >= today):
        listed = ", ".join(str(j) for j in jobs[:20]) + (" …" if len(jobs) > 20 else "")
        problems.append(
            CloseProblem(
                "in-doubt",
                f"{max(doubt, len(jobs))} blank(s) in doubt: inspect job(s) {listed or '?'} "
                "(printctl jobs inspect)",
            )
        )
    if day >= today and doubt != len(jobs):
        problems.append(
            CloseProblem(
                "in-doubt",
                f"the ledger holds {doubt} blank(s) in doubt but {len(jobs)} job(s) await "
                "inspection: count the stock and have a supervisor adjust",
            )
        )
    previous = session.exec(
        select(StockDay)
        .where(col(StockDay.day) < day.isoformat())
        .order_by(col(StockDay.day).desc())
    ).first()
    if previous is not None:
        frozen = json.loads(previous.statement).get("closing")
        if frozen is not None and frozen != statement.opening:
            problems.append(
                CloseProblem(
                    "opening",
                    f"the opening {statement.opening} differs from {previous.day}'s frozen "
                    f"closing {frozen}",
                )
            )
    if day >= today:
        flying = in_flight(session)
        if flying:
            problems.append(
                CloseProblem(
                    "in-flight", f"{flying} card(s) are in printers now: let the run finish"
                )
            )
    counts = session.exec(
        select(StockCount).where(
            col(StockCount.state) == "open", col(StockCount.day) <= day.isoformat()
        )
    ).all()
    for c in counts:
        problems.append(
            CloseProblem(
                "count-open",
                f"count #{c.id} at {c.location}: counted {c.counted}, ledger {c.expected}; "
                f"a supervisor must resolve it (printctl stock resolve-count {c.id})",
            )
        )
    for p in session.exec(
        select(StockProposal).where(col(StockProposal.state) == "proposed")
    ).all():
        if business_day(p.at) <= day:
            problems.append(
                CloseProblem(
                    "proposal-open",
                    f"{p.kind} #{p.id} proposed by {p.proposed_by} awaits a supervisor "
                    f"(printctl stock approve {p.id} | reject {p.id})",
                )
            )
    for line in statement.printers:
        if line.unexplained:
            problems.append(
                CloseProblem(
                    "counter",
                    f"printer {line.printer}: counter says {line.counter_consumed} card(s), the "
                    f"ledger {line.ledger_consumed}; {line.unexplained:+d} unexplained "
                    f"(printctl stock explain-counter --printer {line.printer} --day {day})",
                )
            )
        if line.after_last_reading:
            problems.append(
                CloseProblem(
                    "counter-unread",
                    f"printer {line.printer} took {line.after_last_reading} blank(s) after its "
                    "counter was last read (a run that did not end cleanly): read the counter on "
                    f"the printer and record it (printctl stock counter {line.printer} VALUE)",
                )
            )
        if line.resets:
            warnings.append(
                f"printer {line.printer}'s counter went back {line.resets} time(s) "
                "(replaced or reset): only its rises are compared"
            )
        if line.counter_consumed is None and line.ledger_consumed:
            warnings.append(
                f"printer {line.printer} took {line.ledger_consumed} blank(s) but its counter "
                "was not read that day: it cannot be reconciled"
            )
    if statement.to_destroy_closing:
        warnings.append(
            f"{statement.to_destroy_closing} spoiled card(s) await destruction "
            "(printctl stock destroy; they are to be destroyed daily)"
        )
    on_hand = statement.closing - statement.locations.get(loc.IN_DOUBT, 0)
    if low_stock and on_hand < low_stock:
        warnings.append(f"low stock: {on_hand} blank(s) on hand, below the threshold {low_stock}")
    return CloseCheck(
        day=day, statement=statement, problems=tuple(problems), warnings=tuple(warnings)
    )


def _lock_days(session: Session) -> None:
    """On PostgreSQL, keep postings out while a day closes (they take this lock shared)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('ledger:days'))"))


def _statement_json(statement: DailyStatement) -> str:
    data = asdict(statement)
    data["printers"] = [
        {**asdict(p), "difference": p.difference, "unexplained": p.unexplained}
        for p in statement.printers
    ]
    return json.dumps(data, default=str, sort_keys=True, ensure_ascii=False)


def close_day(
    session: Session,
    day: date,
    *,
    office_name: str,
    actor: str,
    station: str,
    clock: Clock = utcnow,
    low_stock: int = 0,
) -> CloseCheck:
    """Close ``day`` when nothing blocks it: freeze its statement and closing balances.

    Raises :class:`StockError` listing every problem when something does.
    """
    _lock_days(session)
    now = clock()
    check = check_close(session, day, office_name=office_name, now=now, low_stock=low_stock)
    if not check.can_close:
        lines = [p.message for p in check.problems]
        if not check.statement.balanced:
            lines.append("the statement does not balance")
        raise StockError(f"{day} cannot close:\n  - " + "\n  - ".join(lines))
    places = location_balances(session, day)
    statement = check.statement
    frozen = DailyStatement(
        **{**statement.__dict__, "closed_at": office_time(now), "closed_by": actor}
    )
    body = _statement_json(frozen)
    session.add(
        StockDay(
            day=day.isoformat(),
            closed_at=now,
            closed_by=actor,
            last_entry_id=int(
                session.exec(
                    select(func.max(col(LedgerEntry.id))).where(
                        col(LedgerEntry.day) <= day.isoformat()
                    )
                ).one()
                or 0
            ),
            statement=body,
            statement_sha256=hashlib.sha256(body.encode()).hexdigest(),
        )
    )
    for place, n in sorted(places.items()):
        if n:
            session.add(StockDayBalance(day=day.isoformat(), location=place, quantity=n))
    session.flush()
    record_event(
        session,
        actor=actor,
        station=station,
        action="stock.day-closed",
        entity="stock-day",
        entity_id=day.isoformat(),
        detail={
            "opening": statement.opening,
            "received": statement.received,
            "issued": statement.issued,
            "spoiled": statement.spoiled,
            "returned": statement.returned,
            "adjusted": statement.adjusted,
            "closing": statement.closing,
        },
        clock=clock,
    )
    return CloseCheck(day=day, statement=frozen, problems=(), warnings=check.warnings)


def closed_statement(session: Session, day: date) -> dict[str, Any] | None:
    """The statement frozen when ``day`` closed (JSON form), or None while it is open."""
    row = session.get(StockDay, day.isoformat())
    return json.loads(row.statement) if row is not None else None
