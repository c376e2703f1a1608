"""The stock paperwork PDFs: the daily statement, the destruction record and the monthly report.

Figures are built by hand; each PDF is read back with pypdfium2 and its text checked for the
words and numbers the office relies on.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from printctl.reports.stock_papers import (
    write_daily_statement,
    write_destruction_record,
    write_monthly_report,
)
from printctl.stock.figures import (
    DailyStatement,
    DestroyedCard,
    DestructionRecord,
    MonthlyReport,
    PrinterCounterLine,
    reason_label,
)

WIB = timezone(timedelta(hours=7), "WIB")
OFFICE = "Disdukcapil Kabupaten Sukamaju"
MONTHS = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)


# --- reading PDFs -------------------------------------------------------------------------


def _pages(path: Path) -> list[str]:
    """The text of each page, line ends normalised to ``\\n``."""
    document = pdfium.PdfDocument(path)
    try:
        return [
            page.get_textpage().get_text_range().replace("\r\n", "\n").replace("\r", "\n")
            for page in document
        ]
    finally:
        document.close()


def _text(path: Path) -> str:
    return "\n".join(_pages(path))


def _has_row(text: str, *cells: str) -> bool:
    """Whether one line of the text is exactly these cells, in order (a table row)."""
    pattern = r"^" + r" ".join(re.escape(c) for c in cells) + r"$"
    return re.search(pattern, text, re.MULTILINE) is not None


def _thousands(n: int) -> str:
    """How the papers print a count (Indonesian thousands separator)."""
    return f"{n:,}".replace(",", ".")


# --- figures ------------------------------------------------------------------------------


def _daily(**changes: Any) -> DailyStatement:
    """A busy day on two printers; evo-1's counter is 2 ahead of the ledger, both explained."""
    statement = DailyStatement(
        office_name=OFFICE,
        day=date(2026, 12, 1),
        opening=1250,
        received=500,
        issued=212,
        spoiled=7,
        returned=0,
        adjusted=-1,
        closing=1530,
        locations={"in-doubt": 2, "hopper:evo-2": 58, "vault": 1400, "hopper:evo-1": 70},
        spoiled_by_reason={"damaged": 2, "encode-failed": 3, "print-failed": 2},
        holder_returned=2,
        to_destroy_opening=15,
        destroyed=0,
        to_destroy_closing=24,
        deliveries=("lot L-2026-12, doc SJ/0042/XII/2026, 500 (serials 0012001–0012500)",),
        printers=(
            PrinterCounterLine(
                printer="evo-1",
                counter_start=10200,
                counter_end=10322,
                ledger_consumed=120,
                explained=2,
                explanations=("kartu uji", "kartu macet"),
            ),
            PrinterCounterLine(
                printer="evo-2", counter_start=5000, counter_end=5101, ledger_consumed=101
            ),
        ),
    )
    return dataclasses.replace(statement, **changes)


_REASONS = ("encode-failed", "print-failed", "damaged", "no-working-chip", "data-changed")


def _destroyed_cards() -> tuple[DestroyedCard, ...]:
    """60 entries over every reason: cards with chips, two blanks without, one box of 3."""
    cards: list[DestroyedCard] = []
    for i in range(57):
        reason = "returned-by-holder" if i % 8 == 7 else _REASONS[i % len(_REASONS)]
        cards.append(
            DestroyedCard(
                entry_id=1000 + i,
                day=date(2026, 11, 2 + i % 27),
                reason=reason,
                quantity=1,
                chip_uid=f"04{i:02X}7A1B2C3D80",
                printer=f"evo-{1 + i % 2}",
                record_id=f"PRR-2026-{4100 + i:06d}",
            )
        )
    for i, reason in enumerate(("print-failed", "damaged")):
        cards.append(
            DestroyedCard(
                entry_id=2000 + i,
                day=date(2026, 11, 20),
                reason=reason,
                quantity=1,
                chip_uid=None,
                printer="evo-1",
                record_id=None,
            )
        )
    cards.append(
        DestroyedCard(
            entry_id=2100,
            day=date(2026, 11, 25),
            reason="damaged",
            quantity=3,
            chip_uid=None,
            printer=None,
            record_id=None,
            note="basah terkena bocoran atap",
        )
    )
    return tuple(cards)


def _destruction(**changes: Any) -> DestructionRecord:
    record = DestructionRecord(
        office_name=OFFICE,
        number="BA/470/012/XII/2026",
        day=date(2026, 12, 4),
        executed_at=datetime(2026, 12, 4, 10, 0, tzinfo=WIB),
        proposed_by="Rina Kusumawati",
        approved_by="Budi Santoso",
        witnesses=("Agus Salim", "Dewi Lestari", "Hendra Wijaya"),
        place="ruang arsip Disdukcapil Kabupaten Sukamaju",
        method="dipotong dan dibakar",
        cards=_destroyed_cards(),
    )
    return dataclasses.replace(record, **changes)


def _month_days() -> tuple[DailyStatement, ...]:
    """20 working days of December 2026, each day opening with the previous day's closing."""
    days: list[DailyStatement] = []
    stock, to_destroy = 2000, 10
    day = date(2026, 12, 1)
    n = 0
    while len(days) < 20:
        if day.weekday() < 5:
            received = 1000 if n in (0, 10) else 0
            issued = 120 + (n * 37) % 60
            spoiled = n % 4
            returned = 50 if n == 12 else 0
            adjusted = {5: 2, 9: -1}.get(n, 0)
            holder_returned = 1 if n % 5 == 2 else 0
            destroyed = to_destroy if n == 15 else 0
            closing = stock + received - issued - spoiled - returned + adjusted
            by_reason = {_REASONS[n % 3]: spoiled} if spoiled else {}
            days.append(
                DailyStatement(
                    office_name=OFFICE,
                    day=day,
                    opening=stock,
                    received=received,
                    issued=issued,
                    spoiled=spoiled,
                    returned=returned,
                    adjusted=adjusted,
                    closing=closing,
                    locations={"vault": closing - 60, "hopper:evo-1": 60},
                    spoiled_by_reason=by_reason,
                    holder_returned=holder_returned,
                    to_destroy_opening=to_destroy,
                    destroyed=destroyed,
                    to_destroy_closing=to_destroy + spoiled + holder_returned - destroyed,
                    closed_at=None
                    if n == 19
                    else datetime.combine(day, datetime.min.time(), WIB) + timedelta(hours=17),
                    closed_by=None if n == 19 else "supervisor",
                )
            )
            stock = closing
            to_destroy = days[-1].to_destroy_closing
            n += 1
        day += timedelta(days=1)
    return tuple(days)


_FIGURES = (
    "received",
    "issued",
    "spoiled",
    "returned",
    "adjusted",
    "holder_returned",
    "destroyed",
)


def _monthly(**changes: Any) -> MonthlyReport:
    days = _month_days()
    totals = {name: sum(getattr(d, name) for d in days) for name in _FIGURES}
    report = MonthlyReport(office_name=OFFICE, year=2026, month=12, days=days, ledger_totals=totals)
    return dataclasses.replace(report, **changes)


# --- the daily statement ------------------------------------------------------------------


def test_daily_statement_recap_shows_every_figure_next_to_its_label(tmp_path: Path) -> None:
    """The title, the office, the day in Indonesian and each recap line with its number
    (thousands with a dot, the adjustment signed); the balance holds."""
    path = write_daily_statement(_daily(), tmp_path / "harian.pdf")
    assert path == tmp_path / "harian.pdf"
    text = _text(path)
    assert "Laporan Harian Stok Blangko KTP-el" in text
    assert OFFICE in text
    assert "Selasa, 1 Desember 2026" in text
    assert _has_row(text, "Stok awal", "1.250")
    assert _has_row(text, "Diterima", "500")
    assert _has_row(text, "Dicetak/diterbitkan", "212")
    assert _has_row(text, "Rusak", "7")
    assert _has_row(text, "Dikembalikan", "0")
    assert _has_row(text, "Penyesuaian", "-1")
    assert _has_row(text, "Stok akhir", "1.530")
    assert "Seimbang" in text and "TIDAK SEIMBANG" not in text


def test_daily_statement_shows_locations_reasons_destruction_and_deliveries(
    tmp_path: Path,
) -> None:
    """Closing stock per location (vault first, hoppers, in doubt) with its total, spoiled
    blanks under their Indonesian labels, the cards awaiting destruction and the delivery."""
    text = _text(write_daily_statement(_daily(), tmp_path / "harian.pdf"))
    locations = [
        ("Brankas (vault)", "1.400"),
        ("Hopper printer evo-1", "70"),
        ("Hopper printer evo-2", "58"),
        ("Status belum pasti (in doubt)", "2"),
    ]
    for label, value in locations:
        assert _has_row(text, label, value)
    order = [text.index(label) for label, _ in locations]
    assert order == sorted(order)
    assert _has_row(text, "Jumlah", "1.530")
    assert "tidak sama dengan" not in text
    assert _has_row(text, reason_label("encode-failed"), "3")
    assert _has_row(text, reason_label("print-failed"), "2")
    assert _has_row(text, reason_label("damaged"), "2")
    assert _has_row(text, "Jumlah", "7")
    assert _has_row(text, "Dikembalikan pemegang hari ini", "2")
    assert _has_row(text, "Menunggu pemusnahan — awal hari", "15")
    assert _has_row(text, "Dimusnahkan", "0")
    assert _has_row(text, "Menunggu pemusnahan — akhir hari", "24")
    assert "lot L-2026-12, doc SJ/0042/XII/2026, 500 (serials 0012001–0012500)" in text


def test_daily_statement_printer_counters_show_the_difference_and_its_explanations(
    tmp_path: Path,
) -> None:
    """Each printer's counter start, end and consumption against the ledger, the signed
    difference, what is explained and the explanations joined; an unread counter shows "—"
    and is called out; a difference left unexplained is called out."""
    unread = PrinterCounterLine(
        printer="evo-3", counter_start=None, counter_end=None, ledger_consumed=0
    )
    short = PrinterCounterLine(
        printer="evo-4", counter_start=700, counter_end=705, ledger_consumed=4
    )
    statement = _daily(printers=(*_daily().printers, unread, short))
    text = _text(write_daily_statement(statement, tmp_path / "harian.pdf"))
    assert _has_row(
        text, "evo-1", "10200", "10322", "122", "120", "+2", "2", "kartu uji; kartu macet"
    )
    assert _has_row(text, "evo-2", "5000", "5101", "101", "101", "0", "0", "—")
    assert _has_row(text, "evo-3", "—", "—", "—", "0", "—", "0", "—")
    assert "Penghitung printer evo-3 tidak terbaca hari ini." in text
    assert "Selisih printer evo-4 belum dijelaskan: +1 kartu." in text
    assert "Selisih printer evo-1" not in text


def test_unclosed_day_is_a_draft_with_room_for_both_signatures(tmp_path: Path) -> None:
    """A day not yet closed says "DRAF — hari belum ditutup" and marks every page DRAF; the
    signature block has the officer and the head of office with name and NIP lines."""
    pages = _pages(write_daily_statement(_daily(), tmp_path / "harian.pdf"))
    text = "\n".join(pages)
    assert "DRAF — hari belum ditutup" in text
    assert all("DRAF" in page for page in pages)
    assert "Ditutup oleh" not in text
    assert "Petugas" in text and "Kepala Dinas / Supervisor" in text
    assert text.count("Nama: ") == 2 and text.count("NIP: ") == 2


def test_closed_day_says_who_closed_it_and_when(tmp_path: Path) -> None:
    """A closed day names who closed it and when, Indonesian style with the zone, and is
    nowhere marked as a draft."""
    statement = _daily(
        closed_at=datetime(2026, 12, 1, 17, 45, tzinfo=WIB), closed_by="supervisor.andi"
    )
    text = _text(write_daily_statement(statement, tmp_path / "harian.pdf"))
    assert "Ditutup oleh supervisor.andi pada 1 Desember 2026 pukul 17.45 WIB" in text
    assert "DRAF" not in text


def test_unbalanced_day_says_so_with_both_numbers(tmp_path: Path) -> None:
    """When the stock equation does not hold the statement says TIDAK SEIMBANG with what the
    equation gives and what was recorded; locations and reasons that do not add up to the
    closing stock and the spoiled blanks are called out."""
    statement = _daily(closing=1533, spoiled_by_reason={"damaged": 6})
    assert not statement.balanced
    text = " ".join(_text(write_daily_statement(statement, tmp_path / "harian.pdf")).split())
    assert "TIDAK SEIMBANG" in text
    assert "(menurut persamaan 1.530, tercatat 1.533)" in text
    assert "Jumlah per lokasi (1.530) tidak sama dengan stok akhir (1.533)." in text
    assert "Jumlah per alasan (6) tidak sama dengan blangko rusak (7)." in text


# --- the destruction record ---------------------------------------------------------------


def test_destruction_record_opens_with_the_day_place_and_method(tmp_path: Path) -> None:
    """The title, the record's number, and the opening statement with the Indonesian
    weekday, the date, the time, the place, the number of cards and the method."""
    text = _text(write_destruction_record(_destruction(), tmp_path / "ba.pdf"))
    flat = " ".join(text.split())  # the opening paragraph wraps
    assert "BERITA ACARA PEMUSNAHAN BLANGKO KTP-EL RUSAK" in text
    assert "Nomor: BA/470/012/XII/2026" in text
    assert (
        "Pada hari ini, Jumat tanggal 4 Desember 2026, pukul 10.00 WIB, bertempat di ruang "
        "arsip Disdukcapil Kabupaten Sukamaju, telah dilakukan pemusnahan"
    ) in flat
    assert "sebanyak 62 keping dengan cara dipotong dan dibakar" in flat


def test_destruction_record_sums_the_cards_per_reason(tmp_path: Path) -> None:
    """The summary has one line per reason under its Indonesian label with its count, and a
    "Jumlah" line with the total (a box of 3 blanks counts 3)."""
    record = _destruction()
    expected: dict[str, int] = {}
    for card in record.cards:
        expected[card.reason] = expected.get(card.reason, 0) + card.quantity
    assert len(expected) == 6 and sum(expected.values()) == 62
    text = _text(write_destruction_record(record, tmp_path / "ba.pdf"))
    summary = text[: text.index("Rincian kartu yang dimusnahkan")]
    for reason, count in expected.items():
        assert _has_row(summary, reason_label(reason), str(count)), reason
    assert _has_row(summary, "Jumlah", "62")


def test_destruction_record_lists_every_card_over_several_pages(tmp_path: Path) -> None:
    """Every card is listed with its number, date, reason, chip UID ("—" without one),
    printer and record id; the list runs over more than one page, the header repeated on
    each, pages numbered "Halaman n dari m", and the detail total is the record's total."""
    record = _destruction()
    pages = _pages(write_destruction_record(record, tmp_path / "ba.pdf"))
    text = "\n".join(pages)
    assert len(pages) > 1
    header = "No Tanggal rusak Alasan UID chip Printer ID rekaman Jumlah"
    for number, page in enumerate(pages, start=1):
        assert f"Halaman {number} dari {len(pages)}" in page
        if re.search(r"^\d+ \d+ November 2026 ", page, re.MULTILINE):
            assert header in page, number
    assert sum(header in page for page in pages) > 1
    uids = [card.chip_uid for card in record.cards if card.chip_uid is not None]
    assert len(uids) == 57
    for uid in uids:
        assert uid in text
    for card in record.cards:
        if card.record_id is not None:
            assert card.record_id in text
    assert _has_row(
        text,
        "1",
        "2 November 2026",
        "Gagal encode chip",
        "04007A1B2C3D80",
        "evo-1",
        "PRR-2026-004100",
        "1",
    )
    assert _has_row(text, "58", "20 November 2026", "Gagal cetak", "—", "evo-1", "—", "1")
    # The note goes under the reason, in the same cell: the row reads over three lines.
    assert "60 25 November 2026 Rusak fisik\nbasah terkena bocoran atap\n— — — 3\n" in text
    assert _has_row(text, "Jumlah", "62")
    # No card is listed twice: the numbers 1..60 each start exactly one row.
    numbers = re.findall(r"^(\d+) \d+ November 2026 ", text, re.MULTILINE)
    assert [int(n) for n in numbers] == list(range(1, 61))


def test_destruction_record_has_a_signature_for_each_witness_and_both_officials(
    tmp_path: Path,
) -> None:
    """The closing part has "Yang mengusulkan" and "Yang menyetujui" with their names, and a
    numbered signature space for each witness with the witness's name, all on the last page."""
    record = _destruction(witnesses=("Agus Salim", "Dewi Lestari", "Hendra Wijaya", "Siti Nur"))
    pages = _pages(write_destruction_record(record, tmp_path / "ba.pdf"))
    last = pages[-1]
    assert "Demikian berita acara ini dibuat dengan sebenarnya" in last
    assert _has_row(last, "Yang mengusulkan", "Yang menyetujui")
    assert _has_row(last, "Rina Kusumawati", "Budi Santoso")
    assert _has_row(last, "Saksi 1", "Saksi 2", "Saksi 3")
    assert _has_row(last, "Agus Salim", "Dewi Lestari", "Hendra Wijaya")
    assert _has_row(last, "Saksi 4")
    assert _has_row(last, "Siti Nur")


def test_destruction_record_without_cards_still_writes(tmp_path: Path) -> None:
    """A record without cards (or witnesses) still gives a one-page paper saying so."""
    record = _destruction(cards=(), witnesses=())
    pages = _pages(write_destruction_record(record, tmp_path / "ba.pdf"))
    assert len(pages) == 1
    assert "Tidak ada kartu pada berita acara ini." in pages[0]
    assert "sebanyak 0 keping" in " ".join(pages[0].split())
    assert "Saksi" not in pages[0].replace("para saksi", "")


# --- the monthly report -------------------------------------------------------------------


def test_monthly_totals_are_the_sums_over_the_days(tmp_path: Path) -> None:
    """The month's totals, each next to its label, are the sums of the days built; opening is
    the first day's, closing the last day's; they agree with the ledger's totals."""
    report = _monthly()
    days = report.days
    text = _text(write_monthly_report(report, tmp_path / "bulanan.pdf"))
    assert "Laporan Bulanan Stok Blangko KTP-el" in text
    assert "Desember 2026" in text and OFFICE in text

    def total(name: str) -> int:
        return sum(int(getattr(d, name)) for d in days)

    # The ledger's totals here are the flows only: opening and closing have no ledger column.
    assert _has_row(text, "Stok awal bulan", _thousands(days[0].opening), "—")
    assert _has_row(text, "Diterima", _thousands(total("received")), _thousands(total("received")))
    assert _has_row(text, "Dicetak", _thousands(total("issued")), _thousands(total("issued")))
    assert _has_row(text, "Rusak", str(total("spoiled")), str(total("spoiled")))
    assert _has_row(text, "Dikembalikan", "50", "50")
    assert _has_row(text, "Penyesuaian", "+1", "+1")
    assert _has_row(text, "Stok akhir bulan", _thousands(days[-1].closing), "—")
    assert _has_row(
        text, "Dikembalikan pemegang", str(total("holder_returned")), str(total("holder_returned"))
    )
    assert _has_row(text, "Dimusnahkan", str(total("destroyed")), str(total("destroyed")))
    assert total("destroyed") > 0
    assert "Persamaan stok bulan ini: Seimbang" in text
    assert "Jumlah harian sesuai dengan buku stok." in text
    assert "Hari belum ditutup (DRAF): 28 Desember 2026" in text


def test_monthly_spoiled_by_reason_sums_the_days(tmp_path: Path) -> None:
    """Spoiled blanks per reason are the month's sums under the Indonesian labels."""
    report = _monthly()
    expected: dict[str, int] = {}
    for d in report.days:
        for reason, n in d.spoiled_by_reason.items():
            expected[reason] = expected.get(reason, 0) + n
    text = _text(write_monthly_report(report, tmp_path / "bulanan.pdf"))
    for reason, n in expected.items():
        assert _has_row(text, reason_label(reason), str(n))
    assert _has_row(text, "Jumlah", str(sum(expected.values())))


def test_monthly_report_has_a_chart_of_each_day(tmp_path: Path) -> None:
    """A bar chart of the day's issued and spoiled: its legend and its x axis, one label per
    day of the month that has a statement, in order."""
    report = _monthly()
    path = write_monthly_report(report, tmp_path / "bulanan.pdf")
    text = _text(path)
    assert "Grafik harian: kartu dicetak dan blangko rusak" in text
    assert _has_row(text, "Dicetak per hari", "Rusak per hari")
    assert _has_row(text, *(str(d.day.day) for d in report.days))
    assert "Tanggal (hari dalam bulan)" in text


def test_monthly_report_has_one_row_per_day(tmp_path: Path) -> None:
    """The per-day table has each day's date, figures and whether it balanced, and the
    month's row closes it; a day that does not balance says TIDAK and is listed, and so is
    the next day, whose opening is no longer the day before's closing."""
    days = list(_month_days())
    days[3] = dataclasses.replace(days[3], closing=days[3].closing + 5)
    report = _monthly(days=tuple(days))
    text = _text(write_monthly_report(report, tmp_path / "bulanan.pdf"))
    for d in days:
        adjusted = "0" if d.adjusted == 0 else f"{d.adjusted:+d}"
        assert _has_row(
            text,
            f"{d.day.day} Desember 2026",
            _thousands(d.opening),
            _thousands(d.received),
            str(d.issued),
            str(d.spoiled),
            str(d.returned),
            adjusted,
            _thousands(d.closing),
            "ya" if d.balanced else "TIDAK",
        ), d.day
    assert _has_row(
        text,
        "Bulan ini",
        "2.000",
        "2.000",
        _thousands(report.total("issued")),
        str(report.total("spoiled")),
        "50",
        "+1",
        _thousands(days[-1].closing),
    )
    assert "Hari tidak seimbang: 4 Desember 2026" in text
    assert "Stok awal tidak sama dengan stok akhir hari sebelumnya: 7 Desember 2026" in text
    # The month's own equation still holds: first opening, flows, last closing.
    assert "Persamaan stok bulan ini: Seimbang" in text


def test_monthly_report_flags_totals_that_differ_from_the_ledger(tmp_path: Path) -> None:
    """A ledger total that differs from the sum of the days is printed and called out."""
    report = _monthly()
    ledger = dict(report.ledger_totals, issued=report.total("issued") + 1)
    text = _text(write_monthly_report(_monthly(ledger_totals=ledger), tmp_path / "b.pdf"))
    issued = report.total("issued")
    assert "TIDAK SESUAI dengan buku stok:" in text
    assert f"Dicetak (harian {_thousands(issued)}, buku stok {_thousands(issued + 1)})" in text


@pytest.mark.parametrize("month", range(1, 13))
def test_month_without_days_says_there_is_no_data(tmp_path: Path, month: int) -> None:
    """A month without statements gives one page with its Indonesian name and "Tidak ada
    data", no chart and no table."""
    report = MonthlyReport(office_name=OFFICE, year=2027, month=month, days=())
    pages = _pages(write_monthly_report(report, tmp_path / "bulanan.pdf"))
    assert len(pages) == 1
    assert f"{MONTHS[month - 1]} 2027" in pages[0]
    assert "Tidak ada data" in pages[0]
    assert "Dicetak per hari" not in pages[0] and "Stok awal bulan" not in pages[0]


# --- writing ------------------------------------------------------------------------------

_WRITERS: list[tuple[str, Callable[[Path], Path]]] = [
    ("daily", lambda p: write_daily_statement(_daily(), p)),
    ("destruction", lambda p: write_destruction_record(_destruction(), p)),
    ("monthly", lambda p: write_monthly_report(_monthly(), p)),
]


@pytest.mark.parametrize(("name", "write"), _WRITERS, ids=[n for n, _ in _WRITERS])
def test_missing_directory_is_a_clear_error_and_creates_nothing(
    tmp_path: Path, name: str, write: Callable[[Path], Path]
) -> None:
    """Writing into a directory that does not exist raises FileNotFoundError naming it, and
    neither the directory nor any file is created."""
    target = tmp_path / "missing" / f"{name}.pdf"
    with pytest.raises(FileNotFoundError, match="directory does not exist") as raised:
        write(target)
    assert raised.value.filename == str(tmp_path / "missing")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "write"), _WRITERS, ids=[n for n, _ in _WRITERS])
def test_existing_file_is_replaced_and_no_temporary_file_is_left(
    tmp_path: Path, name: str, write: Callable[[Path], Path]
) -> None:
    """An existing file is replaced by the complete PDF; only the target is left."""
    target = tmp_path / f"{name}.pdf"
    target.write_bytes(b"old")
    assert write(target) == target
    data = target.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the final rename fails, the old file is untouched and the temp file is removed."""
    target = tmp_path / "harian.pdf"
    target.write_bytes(b"old")

    def refuse(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_daily_statement(_daily(), target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["harian.pdf"]


def test_same_figures_give_the_same_bytes(tmp_path: Path) -> None:
    """The papers carry no timestamps or random ids: writing twice gives identical files."""
    for name, write in _WRITERS:
        a, b = write(tmp_path / f"{name}-a.pdf"), write(tmp_path / f"{name}-b.pdf")
        assert a.read_bytes() == b.read_bytes(), name
