"""A month in the office's stock: deliveries, printing with faults, inspections, destructions,
a physical count with a discrepancy, returns; each day closes, and the month's report, the
daily statements and the ledger agree, on paper too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from sqlmodel import Session, col, select

from printctl.config import PrinterConfig, Settings
from printctl.models import Job, LedgerEntry, SpoilReason
from printctl.queue.batches import BatchFilters
from printctl.service import (
    Context,
    UserError,
    inspect_job,
    new_batch,
    run_batches,
)
from printctl.service_stock import (
    approve_proposal,
    close_day,
    count_location,
    destruction_pdf,
    explain_counter,
    holder_returned,
    load_printer,
    monthly,
    monthly_pdf,
    propose_destruction,
    receive_delivery,
    resolve_count,
    return_to_province,
    show,
    spoil_blanks,
    statement,
    statement_pdf,
)
from printctl.stock.days import closed_statement
from tests.integration.station_support import seed_printable_records

WIB = timedelta(hours=7)


class OfficeClock:
    """The office's clock: set to a local time of day, then one second further per reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)

    def at(self, day: date, hour: int, minute: int = 0) -> None:
        """Local (WIB) time ``hour:minute`` of ``day``."""
        local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
        self.now = local - WIB

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def office(settings: Settings) -> Iterator[tuple[Context, OfficeClock]]:
    """The office's context (operator) on a fresh database, and its clock."""
    clock = OfficeClock()
    ctx = Context.open(
        replace(
            settings,
            supervisors="supervisor",
            low_stock=20,
            low_stock_hopper=5,
            printers=tuple(PrinterConfig(n, "sim://", "sim://") for n in ("p1", "p2")),
        ),
        actor="operator",
        clock=clock,
    )
    yield ctx, clock
    ctx.close()


def as_supervisor(ctx: Context) -> Context:
    return replace(ctx, actor="supervisor")


class Printers:
    """Two simulated printers whose lifetime counters carry on from run to run."""

    def __init__(self) -> None:
        self.counters = {"p1": 0, "p2": 0}

    def configs(self, faults: dict[str, str]) -> list[PrinterConfig]:
        return [
            PrinterConfig(
                name,
                f"sim://?cards=500&ribbon=2000&counter={self.counters[name]}"
                + (f"&fault={faults[name]}" if name in faults else ""),
                f"sim://?seed={i}",
            )
            for i, name in enumerate(self.counters, 1)
        ]

    def run(self, ctx: Context, batch_id: int, faults: dict[str, str] | None = None) -> None:
        result = run_batches(ctx, [batch_id], self.configs(faults or {}))
        for worker in result.workers:
            if worker.counter_end is not None:
                self.counters[worker.printer] = worker.counter_end


def pdf_text(path: Path) -> str:
    document = pdfium.PdfDocument(str(path))
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def in_doubt_jobs(ctx: Context) -> list[int]:
    with Session(ctx.engine) as session:
        return [
            j
            for j in session.exec(select(Job.id).where(col(Job.state) == "needs-inspection")).all()
            if j is not None
        ]


def working_days(year: int, month: int) -> list[date]:
    day, out = date(year, month, 1), []
    while day.month == month:
        if day.weekday() < 5:
            out.append(day)
        day += timedelta(days=1)
    return out


def test_a_scripted_month_closes_every_day_and_its_papers_agree_with_the_ledger(
    office: tuple[Context, OfficeClock], tmp_path: Path
) -> None:
    """Every working day of November closes balanced; the monthly totals equal the sum of
    the daily statements and the ledger's own totals; the PDFs carry those numbers."""
    ctx, clock = office
    boss = as_supervisor(ctx)
    printers = Printers()
    days = working_days(2026, 11)
    seeded = 0
    returned_once = counted_once = re_printed_once = inspected_once = False

    for n, day in enumerate(days):
        clock.at(day, 8)
        if n % 5 == 0:  # a delivery every week, the first one with its serial range
            first = n * 100 + 1
            receive_delivery(
                ctx,
                240,
                f"LOT-{n:02d}",
                document=f"BAST/{day:%m%d}",
                serial_first=f"KTP{first:06d}",
                serial_last=f"KTP{first + 239:06d}",
            )
        for name in ("p1", "p2"):
            hopper = show(ctx).balance.hoppers.get(name, 0)
            if hopper < 30:
                load_printer(ctx, name, 40 - hopper)

        # A technician's test card between runs: the counter rises, the ledger does not.
        if n == 3 and not re_printed_once:
            printers.counters["p2"] += 1
            re_printed_once = True

        clock.at(day, 9)
        cards = 8 + n % 4
        seed_printable_records(ctx.engine, ctx.cipher, cards, bundle_id=f"B-{day}", first=seeded)
        seeded += cards
        batch_id, jobs = new_batch(ctx, BatchFilters(limit=cards), name=f"day {day}")
        assert jobs == cards
        faults = {}
        if n % 3 == 1:
            faults["p1"] = "print:2:jam"  # a ruined card: spoiled, printed again
        if n % 4 == 2:
            faults["p2"] = "encode:1:jam"
        if n == 6:
            faults["p1"] = "print:1:offline"  # the outcome is unknown: a person must look
        printers.run(ctx, batch_id, faults)

        clock.at(day, 15)
        if n % 6 == 5:
            holder_returned(ctx, 1, "moved to another regency", document=f"SKPWNI/{n}")
        if n == 8:
            spoil_blanks(ctx, 2, SpoilReason.DAMAGED, "vault", "water damage in the vault")
        if n == 10 and not returned_once:
            return_to_province(ctx, 20, "SURAT/470/2026", "surplus to the province")
            returned_once = True

        clock.at(day, 16)
        if n == 6:
            with pytest.raises(UserError, match="in doubt"):
                close_day(ctx, None)
            for job_id in in_doubt_jobs(ctx):
                inspect_job(ctx, job_id, "spoiled", chip_uid="04AABBCCDDEEFF")
            inspected_once = True
            printers.run(ctx, batch_id)  # the record is printed again, on a new blank
        if n == 3:
            with pytest.raises(UserError, match="p2: counter says"):
                close_day(ctx, None)
            why = explain_counter(ctx, None, "p2", 1, "technician's test card")
            with pytest.raises(UserError, match="awaits a supervisor"):
                close_day(ctx, None)
            approve_proposal(boss, why.id or 0)
            spoil_blanks(ctx, 1, SpoilReason.PRINT_FAILED, "hopper:p2", "technician's test card")
        if n == 12 and not counted_once:
            vault = show(ctx).balance.vault
            row = count_location(ctx, "vault", vault - 2, "monthly count")
            assert row.state == "open"
            with pytest.raises(UserError, match="count #"):
                close_day(ctx, None)
            with pytest.raises(UserError, match="cannot approve"):
                resolve_count(replace(ctx, actor="operator"), row.id or 0, "adjust", "two short")
            resolve_count(boss, row.id or 0, "adjust", "two blanks missing; police report 12")
            counted_once = True

        # Spoiled cards are destroyed daily, before two witnesses, with a supervisor.
        if show(ctx).balance.to_destroy:
            proposal = propose_destruction(
                ctx, ["Saksi Satu", "Saksi Dua"], "halaman kantor", "dibakar", None
            )
            with pytest.raises(UserError, match="cannot approve"):
                approve_proposal(ctx, proposal.id or 0)
            approve_proposal(boss, proposal.id or 0)

        check = close_day(ctx, None)
        assert check.statement.balanced and check.statement.day == day
        assert check.statement.locations.get("in-doubt", 0) == 0

    assert returned_once and counted_once and re_printed_once and inspected_once

    # The month, from the statements and from the ledger.
    clock.at(date(2026, 11, 30), 18)
    report = monthly(ctx, "2026-11")
    assert all(d.balanced for d in report.days)
    for before, after in zip(report.days, report.days[1:], strict=False):
        assert after.opening == before.closing
    for name in ("received", "issued", "spoiled", "returned", "adjusted", "destroyed"):
        assert report.total(name) == report.ledger_totals[name], name
    assert report.closing == (
        report.opening
        + report.total("received")
        - report.total("issued")
        - report.total("spoiled")
        - report.total("returned")
        + report.total("adjusted")
    )
    assert report.total("received") == 240 * len([n for n in range(len(days)) if n % 5 == 0])
    assert report.total("issued") == seeded
    assert report.total("returned") == 20 and report.total("adjusted") == -2
    assert report.total("holder_returned") == report.ledger_totals["holder_returned"] > 0
    by_reason = report.spoiled_by_reason()
    assert by_reason["damaged"] == 2 and by_reason["print-failed"] >= 2
    assert by_reason.get("encode-failed", 0) >= 1
    assert sum(r for k, r in by_reason.items() if k != "returned-by-holder") == report.total(
        "spoiled"
    )
    # Everything spoiled was destroyed, each card once.
    with Session(ctx.engine) as session:
        spoiled_ids = set(
            session.exec(select(LedgerEntry.id).where(col(LedgerEntry.kind) == "spoiled")).all()
        )
        destroyed_refs = session.exec(
            select(LedgerEntry.ref_entry_id).where(col(LedgerEntry.kind) == "destroyed")
        ).all()
    assert sorted(destroyed_refs) == sorted(spoiled_ids)
    assert show(ctx).balance.to_destroy == 0

    # A closed day is frozen: its stored statement equals a fresh computation.
    first = statement(ctx, days[0].isoformat())
    frozen = closed_statement_of(ctx, days[0])
    assert frozen["closing"] == first.closing and frozen["issued"] == first.issued

    # The papers carry the numbers.
    monthly_text = pdf_text(monthly_pdf(ctx, "2026-11", tmp_path))
    assert "November 2026" in monthly_text
    assert _thousands(report.total("issued")) in monthly_text
    assert _thousands(report.closing) in monthly_text
    day_text = pdf_text(statement_pdf(ctx, days[3].isoformat(), tmp_path))
    d3 = statement(ctx, days[3].isoformat())
    assert ctx.settings.office_name.split()[0] in day_text
    assert _thousands(d3.closing) in day_text and "technician's test card" in day_text
    destruction_text = pdf_text(destruction_pdf(ctx, None, tmp_path))
    assert "BERITA ACARA PEMUSNAHAN" in destruction_text and "Saksi Dua" in destruction_text
    # The card found spoiled at the inspection is on its day's record, by chip UID.
    with Session(ctx.engine) as session:
        number = session.exec(
            select(LedgerEntry.document).where(
                col(LedgerEntry.kind) == "destroyed", col(LedgerEntry.chip_uid) == "04AABBCCDDEEFF"
            )
        ).one()
    assert number is not None
    assert "04AABBCCDDEEFF" in pdf_text(destruction_pdf(ctx, number, tmp_path))


def closed_statement_of(ctx: Context, day: date) -> dict[str, object]:
    with Session(ctx.engine) as session:
        frozen = closed_statement(session, day)
    assert frozen is not None
    return frozen


def _thousands(n: int) -> str:
    """How the papers print a count (Indonesian thousands dot)."""
    return f"{n:,}".replace(",", ".")


def test_nothing_can_be_posted_to_a_closed_day(office: tuple[Context, OfficeClock]) -> None:
    """After a day closes, a late entry goes to the next day and the closed statement stays."""
    ctx, clock = office
    day = date(2026, 11, 2)
    clock.at(day, 8)
    receive_delivery(ctx, 10, "L1")
    closed = close_day(ctx, None).statement
    clock.at(day, 17)
    receive_delivery(ctx, 5, "L2")  # the same calendar day, after the close
    assert statement(ctx, day.isoformat()).received == closed.received == 10
    assert statement(ctx, (day + timedelta(days=1)).isoformat()).received == 5
    with pytest.raises(UserError, match="is closed"):
        close_day(ctx, day.isoformat())
    with pytest.raises(UserError, match="close 2026-11-03 first"):
        clock.at(day + timedelta(days=2), 9)
        receive_delivery(ctx, 1, "L3")
        close_day(ctx, (day + timedelta(days=2)).isoformat())


def test_the_database_refuses_to_change_or_delete_a_ledger_entry(
    office: tuple[Context, OfficeClock],
) -> None:
    """Append-only is enforced below the application: an UPDATE or DELETE is refused."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    ctx, clock = office
    clock.at(date(2026, 11, 2), 8)
    receive_delivery(ctx, 10, "L1")
    for statement_text in (
        "UPDATE ledger_entry SET quantity = 1000",
        "DELETE FROM ledger_entry",
    ):
        with Session(ctx.engine) as session, pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement_text))
            session.commit()
    assert show(ctx).balance.vault == 10


def test_a_card_printed_before_seven_in_the_morning_carries_the_office_date(
    office: tuple[Context, OfficeClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 06:30 in the office (23:30 UTC the evening before) the card is dated, and its blank
    issued, on the office's day, not on the UTC date."""
    import printctl.service as service

    ctx, clock = office
    dated: list[date] = []
    render_card = service.render_card

    def recording_render(record: Any, *, issue_date: date, **options: Any) -> Any:
        dated.append(issue_date)
        return render_card(record, issue_date=issue_date, **options)

    monkeypatch.setattr(service, "render_card", recording_render)
    day = date(2026, 12, 3)
    clock.at(day, 6, 30)
    receive_delivery(ctx, 10, "L1")
    load_printer(ctx, "p1", 5)
    load_printer(ctx, "p2", 5)
    seed_printable_records(ctx.engine, ctx.cipher, 3)
    batch_id, _ = new_batch(ctx, BatchFilters())
    Printers().run(ctx, batch_id)
    assert dated == [day] * 3
    with Session(ctx.engine) as session:
        issued = session.exec(select(LedgerEntry.day).where(col(LedgerEntry.kind) == "issued"))
        assert set(issued.all()) == {day.isoformat()}
