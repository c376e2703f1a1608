"""Stock use cases: what the CLI (and later the API) call for the blank ledger.

Each one opens its own transaction; a :class:`printctl.stock.StockError` (bad count, closed
day, a person approving their own proposal, …) becomes a :class:`UserError` with the same
words, and nothing is written.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import Session, col, select

from printctl.db import read_session, session_scope
from printctl.logs import get_logger
from printctl.models import (
    Destruction,
    LedgerEntry,
    PrinterRow,
    SpoilReason,
    StockCount,
    StockProposal,
)
from printctl.service import Context, UserError, supervisors
from printctl.stock import (
    StockBalance,
    StockError,
    balance,
    business_day,
    controls,
    days,
    holder_return,
    location_balances,
    move,
    receive,
    record_spoiled,
    return_blanks,
    spoiled_by_reason,
)
from printctl.stock import locations as loc
from printctl.stock.figures import DailyStatement, MonthlyReport

T = TypeVar("T")
log = get_logger(__name__)


@contextmanager
def _stock_errors() -> Iterator[None]:
    try:
        yield
    except StockError as exc:
        raise UserError(str(exc)) from None


def _write(ctx: Context, action: Callable[[Session], T]) -> T:
    with _stock_errors(), session_scope(ctx.engine) as session:
        return action(session)


def known_printers(ctx: Context) -> set[str]:
    """Printers a hopper may belong to: configured here, or seen by this database."""
    with read_session(ctx.engine) as session:
        seen = set(session.exec(select(PrinterRow.name)).all())
        places = location_balances(session)
    hoppers = {p for place in places if (p := loc.hopper_printer(place)) is not None}
    return {p.name for p in ctx.settings.printers} | seen | hoppers


def _location(ctx: Context, text: str) -> str:
    """A location a person typed, checked: a hopper must be a known printer's (a typo must
    not open a hopper nobody can find)."""
    try:
        place = loc.parse_location(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    printer = loc.hopper_printer(place)
    if printer is not None:
        known = known_printers(ctx)
        if printer not in known:
            listed = ", ".join(sorted(known)) or "none configured"
            raise UserError(f"unknown printer {printer!r} for a hopper (known: {listed})")
    return place


def _day(ctx: Context, text: str | None) -> date:
    if not text or text == "today":
        return business_day(ctx.clock())
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{text!r} is not a date (YYYY-MM-DD or 'today')") from None


# ---------------------------------------------------------------------------- movements


def receive_delivery(
    ctx: Context,
    count: int,
    lot: str,
    *,
    document: str | None = None,
    serial_first: str | None = None,
    serial_last: str | None = None,
    note: str = "",
) -> LedgerEntry:
    """Record a delivery into the vault."""
    return _write(
        ctx,
        lambda s: receive(
            s,
            count,
            lot=lot,
            actor=ctx.actor,
            station=ctx.station,
            note=note,
            document=document,
            serial_first=serial_first,
            serial_last=serial_last,
            clock=ctx.clock,
        ),
    )


def move_blanks(ctx: Context, count: int, source: str, target: str, note: str = "") -> LedgerEntry:
    """Move blanks between the vault and hoppers (``stock load`` / ``unload`` / ``move``)."""
    src, dst = _location(ctx, source), _location(ctx, target)
    return _write(
        ctx,
        lambda s: move(
            s, count, src, dst, actor=ctx.actor, station=ctx.station, note=note, clock=ctx.clock
        ),
    )


def load_printer(ctx: Context, printer: str, count: int) -> LedgerEntry:
    """Blanks taken from the vault and put in ``printer``'s hopper."""
    return move_blanks(ctx, count, loc.VAULT, loc.hopper(printer), "loaded into the hopper")


def unload_printer(ctx: Context, printer: str, count: int) -> LedgerEntry:
    """Blanks taken out of ``printer``'s hopper back to the vault."""
    return move_blanks(ctx, count, loc.hopper(printer), loc.VAULT, "taken out of the hopper")


def spoil_blanks(
    ctx: Context,
    count: int,
    reason: SpoilReason,
    location: str,
    note: str,
    *,
    chip_uid: str | None = None,
) -> LedgerEntry:
    """Blanks found spoiled outside a print job (damaged in the vault, a bad chip, …)."""
    place = _location(ctx, location)
    if not note.strip():
        raise UserError("say what happened to the blanks (--note)")
    return _write(
        ctx,
        lambda s: record_spoiled(
            s,
            quantity=count,
            reason=reason,
            job_id=None,
            printer=loc.hopper_printer(place),
            note=note,
            chip_uid=chip_uid,
            source=place,
            actor=ctx.actor,
            station=ctx.station,
            clock=ctx.clock,
        ),
    )


def holder_returned(
    ctx: Context, count: int, note: str, *, chip_uid: str | None = None, document: str | None = None
) -> LedgerEntry:
    """Old cards handed back by holders, to be destroyed with the spoiled ones."""
    return _write(
        ctx,
        lambda s: holder_return(
            s,
            count,
            note=note,
            chip_uid=chip_uid,
            document=document,
            actor=ctx.actor,
            station=ctx.station,
            clock=ctx.clock,
        ),
    )


def return_to_province(ctx: Context, count: int, document: str, note: str = "") -> LedgerEntry:
    """Blanks sent back from the vault under a handover document."""
    return _write(
        ctx,
        lambda s: return_blanks(
            s,
            count,
            document=document,
            actor=ctx.actor,
            station=ctx.station,
            note=note,
            clock=ctx.clock,
        ),
    )


# ---------------------------------------------------------------------------- two-person


def propose_adjustment(ctx: Context, location: str, delta: int, reason: str) -> StockProposal:
    """First half of an adjustment."""
    place = _location(ctx, location)
    return _write(
        ctx,
        lambda s: controls.propose_adjustment(
            s, place, delta, reason, actor=ctx.actor, station=ctx.station, clock=ctx.clock
        ),
    )


def propose_destruction(
    ctx: Context, witnesses: list[str], place: str, method: str, entry_ids: list[int] | None
) -> StockProposal:
    """First half of a destruction: the spoiled cards awaiting it, before witnesses."""
    return _write(
        ctx,
        lambda s: controls.propose_destruction(
            s,
            witnesses=witnesses,
            place=place,
            method=method,
            entry_ids=entry_ids,
            actor=ctx.actor,
            station=ctx.station,
            clock=ctx.clock,
        ),
    )


def approve_proposal(ctx: Context, proposal_id: int, note: str = "") -> StockProposal:
    """A supervisor approves; the adjustment or destruction is carried out."""
    return _write(
        ctx,
        lambda s: controls.approve(
            s,
            proposal_id,
            actor=ctx.actor,
            station=ctx.station,
            supervisors=supervisors(ctx),
            note=note,
            clock=ctx.clock,
        ),
    )


def reject_proposal(ctx: Context, proposal_id: int, note: str) -> StockProposal:
    """A supervisor turns a proposal down."""
    return _write(
        ctx,
        lambda s: controls.reject(
            s,
            proposal_id,
            actor=ctx.actor,
            station=ctx.station,
            note=note,
            supervisors=supervisors(ctx),
            clock=ctx.clock,
        ),
    )


def count_location(ctx: Context, location: str, counted: int, note: str = "") -> StockCount:
    """A physical count; a difference opens a discrepancy."""
    place = _location(ctx, location)
    return _write(
        ctx,
        lambda s: controls.count(
            s,
            place,
            counted,
            actor=ctx.actor,
            station=ctx.station,
            note=note,
            clock=ctx.clock,
        ),
    )


def resolve_count(ctx: Context, count_id: int, resolution: str, note: str) -> StockCount:
    """A supervisor settles an open count (``adjust`` or ``found``)."""
    return _write(
        ctx,
        lambda s: controls.resolve_count(
            s,
            count_id,
            resolution,
            note=note,
            actor=ctx.actor,
            station=ctx.station,
            supervisors=supervisors(ctx),
            clock=ctx.clock,
        ),
    )


# ---------------------------------------------------------------------------- days


def record_counter_reading(ctx: Context, printer: str, value: int) -> None:
    """A counter reading a person took from the printer (after a run that did not end
    cleanly, or at the close)."""
    name = loc.hopper_printer(_location(ctx, printer)) or printer
    _write(ctx, lambda s: days.record_counter(s, name, value, source="manual", clock=ctx.clock))


def explain_counter(
    ctx: Context, day: str | None, printer: str, quantity: int, note: str
) -> StockProposal:
    """Propose an explanation of part of a printer's counter difference on a day."""
    when = _day(ctx, day)
    return _write(
        ctx,
        lambda s: days.explain_counter(
            s,
            when,
            printer,
            quantity,
            note,
            actor=ctx.actor,
            station=ctx.station,
            clock=ctx.clock,
        ),
    )


def check_close(ctx: Context, day: str | None) -> days.CloseCheck:
    """What closing the day would find (nothing is written)."""
    when = _day(ctx, day)
    with _stock_errors(), read_session(ctx.engine) as session:
        return days.check_close(
            session,
            when,
            office_name=ctx.settings.office_name,
            now=ctx.clock(),
            low_stock=ctx.settings.low_stock,
        )


def close_day(ctx: Context, day: str | None) -> days.CloseCheck:
    """Close the day (refused with the list of what to settle first); its warnings (low
    stock, cards awaiting destruction, …) go to the log too."""
    when = _day(ctx, day)
    check = _write(
        ctx,
        lambda s: days.close_day(
            s,
            when,
            office_name=ctx.settings.office_name,
            actor=ctx.actor,
            station=ctx.station,
            clock=ctx.clock,
            low_stock=ctx.settings.low_stock,
        ),
    )
    for warning in check.warnings:
        log.warning("stock warning at close", day=str(when), warning=warning)
    return check


def statement(ctx: Context, day: str | None) -> DailyStatement:
    """The day's statement (a draft while the day is open)."""
    when = _day(ctx, day)
    with read_session(ctx.engine) as session:
        return days.daily_statement(session, when, office_name=ctx.settings.office_name)


def monthly(ctx: Context, month: str | None) -> MonthlyReport:
    """A month's report (``YYYY-MM``; default this month, up to today)."""
    today = business_day(ctx.clock())
    if month:
        try:
            year, mon = (int(p) for p in month.split("-"))
            date(year, mon, 1)
        except ValueError:
            raise UserError(f"{month!r} is not a month (YYYY-MM)") from None
    else:
        year, mon = today.year, today.month
    with read_session(ctx.engine) as session:
        return days.monthly_report(
            session, year, mon, office_name=ctx.settings.office_name, through=today
        )


# ---------------------------------------------------------------------------- papers


def _output(path: Path | None, default_name: str) -> Path:
    target = path if path is not None else Path.cwd() / default_name
    if target.is_dir():
        target = target / default_name
    if not target.parent.is_dir():
        raise UserError(f"cannot write {target}: folder {target.parent} does not exist")
    return target


def statement_pdf(ctx: Context, day: str | None, path: Path | None) -> Path:
    """Write the daily stock statement PDF."""
    from printctl.reports.stock_papers import write_daily_statement

    figures = statement(ctx, day)
    return _paper(
        lambda p: write_daily_statement(figures, p),
        _output(path, f"stok-harian-{figures.day}.pdf"),
    )


def monthly_pdf(ctx: Context, month: str | None, path: Path | None) -> Path:
    """Write the monthly report PDF."""
    from printctl.reports.stock_papers import write_monthly_report

    report = monthly(ctx, month)
    return _paper(
        lambda p: write_monthly_report(report, p),
        _output(path, f"laporan-bulanan-{report.year}-{report.month:02d}.pdf"),
    )


def destruction_pdf(ctx: Context, number: str | None, path: Path | None) -> Path:
    """Write the berita acara of a destruction (by number, or the newest)."""
    from printctl.reports.stock_papers import write_destruction_record

    with _stock_errors(), read_session(ctx.engine) as session:
        query = select(Destruction).order_by(col(Destruction.id).desc())
        if number:
            query = select(Destruction).where(col(Destruction.number) == number)
        row = session.exec(query).first()
        if row is None or row.id is None:
            raise UserError(
                f"no destruction {number}" if number else "no destruction has been carried out"
            )
        record = controls.destruction_record(session, row.id, office_name=ctx.settings.office_name)
    return _paper(
        lambda p: write_destruction_record(record, p), _output(path, f"{record.number}.pdf")
    )


def _paper(write: Callable[[Path], Path], path: Path) -> Path:
    try:
        return write(path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


#: The columns of the ledger's CSV export, in order.
CSV_COLUMNS = (
    "id",
    "day",
    "at",
    "kind",
    "quantity",
    "from_loc",
    "to_loc",
    "lot",
    "serial_first",
    "serial_last",
    "document",
    "job_id",
    "record_id",
    "printer",
    "reason",
    "chip_uid",
    "ref_entry_id",
    "actor",
    "approved_by",
    "note",
)


def export_csv(ctx: Context, path: Path | None, first: str | None, last: str | None) -> int:
    """Write the ledger's entries (optionally of days ``first``…``last``) as CSV; returns
    the number of rows. ``path`` None writes to standard output."""
    with read_session(ctx.engine) as session:
        query = select(LedgerEntry).order_by(col(LedgerEntry.id))
        if first:
            query = query.where(col(LedgerEntry.day) >= _day(ctx, first).isoformat())
        if last:
            query = query.where(col(LedgerEntry.day) <= _day(ctx, last).isoformat())
        rows = session.exec(query).all()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            values: dict[str, Any] = row.model_dump()
            writer.writerow(["" if values.get(c) is None else values[c] for c in CSV_COLUMNS])
    if path is None:
        print(buffer.getvalue(), end="")
        return len(rows)
    target = _output(path, "ledger.csv")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(buffer.getvalue())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
    return len(rows)


# ---------------------------------------------------------------------------- show


@dataclass(frozen=True)
class StockView:
    """What ``printctl stock show`` prints."""

    balance: StockBalance
    spoiled_by_reason: dict[str, int]
    warnings: tuple[str, ...]
    waiting: dict[str, list[str]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            **self.balance.as_dict(),
            "spoiled_by_reason": self.spoiled_by_reason,
            "warnings": list(self.warnings),
            "awaiting_supervisor": self.waiting,
        }


def low_stock_warnings(ctx: Context, totals: StockBalance) -> tuple[str, ...]:
    """Warnings for stock at or below the configured thresholds."""
    out = []
    low, low_hopper = ctx.settings.low_stock, ctx.settings.low_stock_hopper
    if low and totals.on_hand <= low:
        out.append(f"low stock: {totals.on_hand} blank(s) on hand (threshold {low})")
    for printer in (p.name for p in ctx.settings.printers):
        left = totals.hoppers.get(printer, 0)
        if low_hopper and left <= low_hopper:
            out.append(
                f"low stock in {printer}'s hopper: {left} blank(s) (threshold {low_hopper}); "
                f"load more with `printctl stock load {printer} N`"
            )
    return tuple(out)


def show(ctx: Context) -> StockView:
    """Balances per location, spoiled by reason, warnings and what awaits a supervisor."""
    with read_session(ctx.engine) as session:
        totals = balance(session)
        return StockView(
            balance=totals,
            spoiled_by_reason=spoiled_by_reason(session),
            warnings=low_stock_warnings(ctx, totals),
            waiting=controls.open_items(session),
        )


def locations_now(ctx: Context) -> dict[str, int]:
    """Every inside location's balance now."""
    with read_session(ctx.engine) as session:
        return location_balances(session)
