"""The office's stock paperwork as PDF: the daily statement, the destruction record, the month.

Each writer only lays out figures from :mod:`printctl.stock.figures`; nothing is computed here
beyond sums for a total row and the checks the paper prints (does the balance hold, do the
locations add up). The words are the office's: Indonesian, dates written out ("1 Desember
2026") by a small helper, so the output never depends on the machine's locale. Only the
standard Helvetica fonts are used. No personal data: records by id, cards by chip UID.

Every file is written atomically: built in a temporary file in the target directory, then
renamed over the target, so a reader sees the old paper or the new one, never half of one.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from printctl.stock.figures import (
    REASON_LABELS_ID,
    DailyStatement,
    DestroyedCard,
    DestructionRecord,
    MonthlyReport,
    PrinterCounterLine,
    reason_label,
)

__all__ = ["write_daily_statement", "write_destruction_record", "write_monthly_report"]

# --- words --------------------------------------------------------------------------------

_MONTHS_ID = (
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
#: Monday first, as :meth:`date.weekday` counts.
_WEEKDAYS_ID = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")

_DASH = "—"
_DRAFT = "DRAF — hari belum ditutup"


def _month_name(month: int) -> str:
    return _MONTHS_ID[month - 1]


def _date_id(day: date) -> str:
    """``1 Desember 2026``."""
    return f"{day.day} {_month_name(day.month)} {day.year}"


def _weekday_id(day: date) -> str:
    return _WEEKDAYS_ID[day.weekday()]


def _datetime_id(moment: datetime) -> str:
    """``1 Desember 2026 pukul 17.30 WIB`` (the zone's name only when the time has one)."""
    text = f"{_date_id(moment.date())} pukul {moment:%H.%M}"
    zone = moment.tzname()
    return f"{text} {zone}" if zone else text


def _count(n: int) -> str:
    """A quantity, thousands grouped the Indonesian way (``1.250``)."""
    return f"{n:,}".replace(",", ".")


def _signed(n: int) -> str:
    """A signed quantity (``+2``, ``-1``, ``0``)."""
    if n == 0:
        return "0"
    return ("+" if n > 0 else "-") + _count(abs(n))


def _optional(n: int | None, fmt: Callable[[int], str] = str) -> str:
    return _DASH if n is None else fmt(n)


def _location_label(key: str) -> str:
    if key == "vault":
        return "Brankas (vault)"
    if key == "in-doubt":
        return "Status belum pasti (in doubt)"
    if key.startswith("hopper:"):
        return f"Hopper printer {key.removeprefix('hopper:')}"
    return key


def _location_order(key: str) -> tuple[int, str]:
    if key == "vault":
        return (0, "")
    if key.startswith("hopper:"):
        return (1, key)
    if key == "in-doubt":
        return (2, "")
    return (3, key)


def _reason_order(codes: Iterable[str]) -> list[str]:
    """Reason codes in the office's order (the label table's), unknown codes after, sorted."""
    known = list(REASON_LABELS_ID)
    return sorted(set(codes), key=lambda c: (known.index(c), "") if c in known else (99, c))


# --- styles -------------------------------------------------------------------------------

_WARN_HEX = "#b00020"
_WARN = colors.HexColor(_WARN_HEX)

_SHEET = getSampleStyleSheet()
_TITLE = ParagraphStyle("stock-title", parent=_SHEET["Title"], fontSize=15, leading=19)
_SUBTITLE = ParagraphStyle(
    "stock-subtitle", parent=_SHEET["Normal"], alignment=TA_CENTER, fontSize=11, leading=14
)
_H2 = ParagraphStyle("stock-h2", parent=_SHEET["Heading2"], fontSize=11.5, leading=14)
_BODY = ParagraphStyle("stock-body", parent=_SHEET["Normal"], fontSize=9.5, leading=13)
_JUSTIFIED = ParagraphStyle("stock-justified", parent=_BODY, alignment=TA_JUSTIFY)
_STATUS = ParagraphStyle("stock-status", parent=_BODY, fontName="Helvetica-Bold")
_DRAFT_STYLE = ParagraphStyle("stock-draft", parent=_STATUS, textColor=_WARN)
_CELL = ParagraphStyle("stock-cell", parent=_SHEET["Normal"], fontSize=8, leading=10)
_HEAD_CELL = ParagraphStyle("stock-head-cell", parent=_CELL, fontName="Helvetica-Bold")
_HEAD_CELL_RIGHT = ParagraphStyle("stock-head-cell-right", parent=_HEAD_CELL, alignment=TA_RIGHT)
_HEAD_CELL_CENTRE = ParagraphStyle("stock-head-cell-centre", parent=_HEAD_CELL, alignment=TA_CENTER)
_SIGN = ParagraphStyle("stock-sign", parent=_BODY, alignment=TA_CENTER)

_ISSUED_COLOUR = colors.HexColor("#2f6690")
_SPOILED_COLOUR = colors.HexColor("#d1495b")

_CONTENT_WIDTH = A4[0] - 36 * mm  # 18 mm margins either side

_TABLE_STYLE = [
    ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
    ("FONT", (0, 1), (-1, -1), "Helvetica", 9),
    ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
    ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#eef3f8")]),
    ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
]
#: Dense tables (many columns): smaller type, tighter padding.
_DENSE_STYLE = [
    *_TABLE_STYLE,
    ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
    ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
    ("LEFTPADDING", (0, 0), (-1, -1), 3),
    ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ("VALIGN", (0, 0), (-1, 0), "BOTTOM"),
]
_TOTAL_ROW = [
    ("FONT", (0, -1), (-1, -1), "Helvetica-Bold"),
    ("LINEABOVE", (0, -1), (-1, -1), 0.6, colors.black),
]

Rows = list[list[Any]]
Story = list[Any]


def _text(text: str) -> str:
    """Free text (names, places, notes) made safe for a Paragraph."""
    return escape(text)


def _warn(markup: str) -> str:
    """Paragraph markup for something the reader must not miss (bold, red)."""
    return f"<font color='{_WARN_HEX}'><b>{markup}</b></font>"


def _table(
    rows: Rows,
    widths: Sequence[float],
    *,
    dense: bool = False,
    total_row: bool = False,
    repeat_header: bool = False,
    extra: Sequence[tuple[Any, ...]] = (),
) -> Table:
    table = Table(rows, colWidths=list(widths), hAlign="LEFT", repeatRows=1 if repeat_header else 0)
    commands: list[tuple[Any, ...]] = list(_DENSE_STYLE if dense else _TABLE_STYLE)
    if total_row:
        commands += _TOTAL_ROW
    commands += extra
    table.setStyle(TableStyle(commands))
    return table


def _heading(text: str, *, need: float = 30 * mm) -> Story:
    """A section heading, on a new page when less than ``need`` is left (no orphan heading)."""
    return [CondPageBreak(need), Paragraph(text, _H2)]


def _heads(names: Sequence[str], align: str) -> list[Any]:
    """A header row of wrapping bold cells (for narrow columns).

    ``align`` has one letter per column, ``L``, ``R`` or ``C``, matching the column's figures.
    """
    styles = {"L": _HEAD_CELL, "R": _HEAD_CELL_RIGHT, "C": _HEAD_CELL_CENTRE}
    return [Paragraph(name, styles[a]) for name, a in zip(names, align, strict=True)]


def _signature_block(entries: Sequence[tuple[str, str | None]], columns: int) -> Table:
    """Signature spaces, ``columns`` per row: the role, room to sign, a line, then the name.

    A name of None leaves blank lines to fill in by hand (name and NIP). The spaces are
    separated by narrow empty columns so that neighbouring lines do not run together.
    """
    gap = 10 * mm
    width = (_CONTENT_WIDTH - gap * (columns - 1)) / columns
    rows: Rows = []
    heights: list[float | None] = []
    commands: list[tuple[Any, ...]] = [
        ("ALIGN", (0, 0), (-1, -1), "CENTER"),
        ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
        ("FONT", (0, 0), (-1, -1), "Helvetica", 9),
    ]

    def spread(cells: Sequence[Any]) -> list[Any]:
        """Cells of one row at the signature columns (0, 2, 4, …), gaps and the rest empty."""
        row: list[Any] = [""] * (2 * columns - 1)
        for i, cell in enumerate(cells):
            row[2 * i] = cell
        return row

    for start in range(0, len(entries), columns):
        chunk = list(entries[start : start + columns])
        first_row = len(rows)
        rows.append(spread([Paragraph(_text(role), _SIGN) for role, _ in chunk]))
        rows.append(spread([]))
        name_row = len(rows)
        rows.append(
            spread(
                [
                    Paragraph(_text(name), _SIGN) if name is not None else "Nama: " + "_" * 22
                    for _, name in chunk
                ]
            )
        )
        heights += [None, 20 * mm, None]
        if any(name is None for _, name in chunk):
            rows.append(spread(["NIP: " + "_" * 24 if name is None else "" for _, name in chunk]))
            heights.append(None)
        for i in range(len(chunk)):
            commands.append(("LINEABOVE", (2 * i, name_row), (2 * i, name_row), 0.6, colors.black))
        commands += [
            ("TOPPADDING", (0, first_row), (-1, first_row), 10),
            ("NOSPLIT", (0, first_row), (-1, len(rows) - 1)),
        ]
    widths = [gap if i % 2 else width for i in range(2 * columns - 1)]
    table = Table(rows, colWidths=widths, rowHeights=heights, hAlign="LEFT")
    table.setStyle(TableStyle(commands))
    return table


# --- writing ------------------------------------------------------------------------------


def _write_pdf(
    path: Path,
    story: Callable[[], Story],
    *,
    title: str,
    footer: str,
    watermark: str | None = None,
) -> Path:
    """Build ``story()`` into ``path`` atomically, pages numbered "Halaman n dari m".

    The story is built twice (its flowables are used up by a build): once to count the pages,
    once for real. The directory must exist; nothing is created when it does not.
    """
    path = Path(path)
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(
            errno.ENOENT,
            f"cannot write {path.name}: the directory does not exist",
            str(directory),
        )

    def document(target: str | io.BytesIO) -> Any:
        return SimpleDocTemplate(
            target,
            pagesize=A4,
            title=title,
            author="printctl",
            leftMargin=18 * mm,
            rightMargin=18 * mm,
            topMargin=18 * mm,
            bottomMargin=20 * mm,
            invariant=1,  # no timestamps or random ids: the same figures give the same bytes
        )

    counting = document(io.BytesIO())
    counting.build(story())
    pages = int(counting.page)

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        if watermark:
            canvas.setFont("Helvetica-Bold", 72)
            canvas.setFillColor(colors.Color(0.85, 0.1, 0.1, alpha=0.12))
            canvas.translate(A4[0] / 2, A4[1] / 2)
            canvas.rotate(45)
            canvas.drawCentredString(0, 0, watermark)
            canvas.restoreState()
            canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(18 * mm, 11 * mm, footer)
        canvas.drawRightString(A4[0] - 18 * mm, 11 * mm, f"Halaman {doc.page} dari {pages}")
        canvas.restoreState()

    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        document(tmp_name).build(story(), onFirstPage=decorate, onLaterPages=decorate)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


# --- the daily statement ------------------------------------------------------------------


def write_daily_statement(statement: DailyStatement, path: Path) -> Path:
    """Write one day's stock statement (laporan harian stok blangko) to ``path`` atomically.

    The recap of the day's stock equation and whether it holds, the closing stock per
    location, spoiled blanks per reason, cards awaiting destruction, the deliveries, each
    printer's counter against the ledger, whether the day is closed (an unclosed day is
    marked DRAF on every page) and room for the two signatures. Returns ``path``.
    Raises :class:`FileNotFoundError` when the directory of ``path`` does not exist.
    """
    s = statement
    draft = s.closed_at is None
    return _write_pdf(
        path,
        lambda: _daily_story(s),
        title=f"Laporan Harian Stok Blangko KTP-el {s.day.isoformat()}",
        footer=(
            f"{s.office_name} — Laporan Harian Stok Blangko KTP-el — {_date_id(s.day)}"
            + (" — DRAF" if draft else "")
        ),
        watermark="DRAF" if draft else None,
    )


def _daily_story(s: DailyStatement) -> Story:
    story: Story = [
        Paragraph("Laporan Harian Stok Blangko KTP-el", _TITLE),
        Paragraph(_text(s.office_name), _SUBTITLE),
        Paragraph(f"{_weekday_id(s.day)}, {_date_id(s.day)}", _SUBTITLE),
        Spacer(1, 4 * mm),
        _closed_line(s),
        Spacer(1, 2 * mm),
        *_heading("Rekapitulasi"),
        _table(
            [
                ["Uraian", "Jumlah"],
                ["Stok awal", _count(s.opening)],
                ["Diterima", _count(s.received)],
                ["Dicetak/diterbitkan", _count(s.issued)],
                ["Rusak", _count(s.spoiled)],
                ["Dikembalikan", _count(s.returned)],
                ["Penyesuaian", _signed(s.adjusted)],
                ["Stok akhir", _count(s.closing)],
            ],
            [110 * mm, 30 * mm],
            total_row=True,
        ),
        Spacer(1, 2 * mm),
        _balance_line(s),
    ]

    story += [*_heading("Stok akhir per lokasi"), *_locations(s)]

    story += _heading("Blangko rusak per alasan")
    story += _by_reason(s.spoiled_by_reason, empty="Tidak ada blangko rusak hari ini.")
    if (by_reason := sum(s.spoiled_by_reason.values())) != s.spoiled:
        story.append(
            Paragraph(
                _warn(
                    f"Jumlah per alasan ({_count(by_reason)}) tidak sama dengan blangko rusak "
                    f"({_count(s.spoiled)})."
                ),
                _BODY,
            )
        )

    story += [
        *_heading("Kartu dikembalikan pemegang dan kartu menunggu pemusnahan"),
        _table(
            [
                ["Uraian", "Jumlah"],
                ["Dikembalikan pemegang hari ini", _count(s.holder_returned)],
                ["Menunggu pemusnahan — awal hari", _count(s.to_destroy_opening)],
                ["Dimusnahkan", _count(s.destroyed)],
                ["Menunggu pemusnahan — akhir hari", _count(s.to_destroy_closing)],
            ],
            [110 * mm, 30 * mm],
        ),
    ]

    if s.deliveries:
        story += _heading("Penerimaan blangko")
        story += [Paragraph("• " + _text(d), _BODY) for d in s.deliveries]

    story += _heading("Penghitung kartu printer")
    story += _printer_counters(s.printers)

    story += [
        Spacer(1, 6 * mm),
        KeepTogether(
            [
                Paragraph(f"{_text(s.office_name)}, {_date_id(s.day)}", _BODY),
                _signature_block([("Petugas", None), ("Kepala Dinas / Supervisor", None)], 2),
            ]
        ),
    ]
    return story


def _closed_line(s: DailyStatement) -> Paragraph:
    if s.closed_at is None:
        return Paragraph(_DRAFT, _DRAFT_STYLE)
    by = _text(s.closed_by) if s.closed_by else _DASH
    return Paragraph(f"Ditutup oleh {by} pada {_datetime_id(s.closed_at)}", _STATUS)


def _balance_line(s: DailyStatement) -> Paragraph:
    equation = "Stok awal + diterima - dicetak - rusak - dikembalikan ± penyesuaian = stok akhir"
    if s.balanced:
        return Paragraph(f"{equation}: <b>Seimbang</b>", _BODY)
    expected = s.opening + s.received - s.issued - s.spoiled - s.returned + s.adjusted
    return Paragraph(
        f"{equation}: {_warn('TIDAK SEIMBANG')} (menurut persamaan {_count(expected)}, tercatat {_count(s.closing)})",
        _BODY,
    )


def _locations(s: DailyStatement) -> Story:
    keys = sorted(s.locations, key=_location_order)
    rows: Rows = [["Lokasi", "Jumlah"]]
    rows += [[_location_label(k), _count(s.locations[k])] for k in keys]
    total = sum(s.locations.values())
    rows.append(["Jumlah", _count(total)])
    out: Story = [_table(rows, [110 * mm, 30 * mm], total_row=True)]
    # ``closing`` is every blank still in the office, so the locations must add up to it.
    if total != s.closing:
        out.append(
            Paragraph(
                _warn(
                    f"Jumlah per lokasi ({_count(total)}) tidak sama dengan stok akhir "
                    f"({_count(s.closing)})."
                ),
                _BODY,
            )
        )
    return out


def _by_reason(by_reason: dict[str, int], *, empty: str) -> Story:
    if not by_reason:
        return [Paragraph(empty, _BODY)]
    rows: Rows = [["Alasan", "Jumlah"]]
    rows += [[reason_label(code), _count(by_reason[code])] for code in _reason_order(by_reason)]
    rows.append(["Jumlah", _count(sum(by_reason.values()))])
    return [_table(rows, [110 * mm, 30 * mm], total_row=True)]


def _printer_counters(printers: Sequence[PrinterCounterLine]) -> Story:
    if not printers:
        return [Paragraph("Tidak ada data printer.", _BODY)]
    rows: Rows = [
        _heads(
            (
                "Printer",
                "Penghitung awal",
                "Penghitung akhir",
                "Terpakai (penghitung)",
                "Terpakai (buku stok)",
                "Selisih",
                "Dijelaskan",
                "Keterangan",
            ),
            "LRRRRRRL",
        )
    ]
    for p in printers:
        known = p.counter_consumed is not None
        rows.append(
            [
                Paragraph(_text(p.printer), _CELL),
                _optional(p.counter_start),  # readings, as the printer shows them: not grouped
                _optional(p.counter_end),
                _optional(p.counter_consumed, _count),
                _count(p.ledger_consumed),
                _signed(p.difference) if known else _DASH,
                _count(p.explained),
                Paragraph(_text("; ".join(p.explanations)) or _DASH, _CELL),
            ]
        )
    widths = [22 * mm, 19 * mm, 19 * mm, 21 * mm, 19 * mm, 13 * mm, 18 * mm, 43 * mm]
    out: Story = [_table(rows, widths, dense=True, repeat_header=True)]
    for p in printers:
        if p.counter_consumed is None:
            out.append(
                Paragraph(f"Penghitung printer {_text(p.printer)} tidak terbaca hari ini.", _BODY)
            )
        elif p.unexplained != 0:
            out.append(
                Paragraph(
                    _warn(
                        f"Selisih printer {_text(p.printer)} belum dijelaskan: "
                        f"{_signed(p.unexplained)} kartu."
                    ),
                    _BODY,
                )
            )
    return out


# --- the destruction record ---------------------------------------------------------------


def write_destruction_record(record: DestructionRecord, path: Path) -> Path:
    """Write a berita acara pemusnahan (record of destroyed spoiled cards) to ``path`` atomically.

    The opening statement (day, place, method), the cards per reason with their total, every
    card on a detail table that runs over as many pages as it needs (its header repeated),
    and a signature space for each witness, the proposer and the approver. Returns ``path``.
    Raises :class:`FileNotFoundError` when the directory of ``path`` does not exist.
    """
    r = record
    return _write_pdf(
        path,
        lambda: _destruction_story(r),
        title=f"Berita Acara Pemusnahan Blangko KTP-el Rusak {r.number}",
        footer=f"{r.office_name} — Berita Acara Pemusnahan nomor {r.number}",
    )


def _destruction_story(r: DestructionRecord) -> Story:
    story: Story = [
        Paragraph("BERITA ACARA PEMUSNAHAN BLANGKO KTP-EL RUSAK", _TITLE),
        Paragraph(f"Nomor: {_text(r.number)}", _SUBTITLE),
        Paragraph(_text(r.office_name), _SUBTITLE),
        Spacer(1, 6 * mm),
        Paragraph(
            f"Pada hari ini, {_weekday_id(r.day)} tanggal {_date_id(r.day)}, "
            f"pukul {r.executed_at:%H.%M}"
            + (f" {_text(zone)}" if (zone := r.executed_at.tzname()) else "")
            + f", bertempat di {_text(r.place)}, telah dilakukan pemusnahan blangko KTP-el "
            f"rusak milik {_text(r.office_name)} sebanyak {_count(r.total)} keping dengan cara "
            f"{_text(r.method)}, disaksikan oleh para saksi yang bertanda tangan di bawah ini, "
            "dengan rincian sebagai berikut:",
            _JUSTIFIED,
        ),
        *_heading("Rekapitulasi per alasan"),
    ]
    story += _by_reason(r.by_reason(), empty="Tidak ada kartu pada berita acara ini.")

    story += _heading("Rincian kartu yang dimusnahkan")
    story += _destroyed_cards(r.cards)

    story.append(Spacer(1, 5 * mm))
    signatures: Story = [
        Paragraph(
            "Demikian berita acara ini dibuat dengan sebenarnya untuk dapat dipergunakan "
            "sebagaimana mestinya.",
            _JUSTIFIED,
        ),
        Spacer(1, 4 * mm),
        Paragraph(f"{_text(r.place)}, {_date_id(r.day)}", _BODY),
        _signature_block(
            [("Yang mengusulkan", r.proposed_by), ("Yang menyetujui", r.approved_by)], 2
        ),
    ]
    if r.witnesses:
        signatures += [
            Spacer(1, 4 * mm),
            Paragraph("Saksi-saksi:", _BODY),
            _signature_block(
                [(f"Saksi {i}", name) for i, name in enumerate(r.witnesses, start=1)], 3
            ),
        ]
    story.append(KeepTogether(signatures))
    return story


def _destroyed_cards(cards: Sequence[DestroyedCard]) -> Story:
    if not cards:
        return [Paragraph("Tidak ada kartu.", _BODY)]
    rows: Rows = [
        _heads(
            ("No", "Tanggal rusak", "Alasan", "UID chip", "Printer", "ID rekaman", "Jumlah"),
            "LLLLLLR",
        )
    ]
    for number, card in enumerate(cards, start=1):
        reason = _text(reason_label(card.reason))
        if card.note:
            reason += f"<br/><font size='7' color='#555555'>{_text(card.note)}</font>"
        rows.append(
            [
                str(number),
                _date_id(card.day),
                Paragraph(reason, _CELL),
                Paragraph(_text(card.chip_uid or _DASH), _CELL),
                Paragraph(_text(card.printer or _DASH), _CELL),
                Paragraph(_text(card.record_id or _DASH), _CELL),
                _count(card.quantity),
            ]
        )
    rows.append(["", "", "Jumlah", "", "", "", _count(sum(c.quantity for c in cards))])
    widths = [9 * mm, 27 * mm, 38 * mm, 33 * mm, 20 * mm, 33 * mm, 14 * mm]
    return [
        _table(
            rows,
            widths,
            dense=True,
            total_row=True,
            repeat_header=True,
            extra=[
                ("ALIGN", (0, 1), (5, -1), "LEFT"),
                # The total never stands alone on a page: the last card goes with it.
                ("NOSPLIT", (0, -2), (-1, -1)),
            ],
        )
    ]


# --- the monthly report -------------------------------------------------------------------

#: The month's totals, in the order the report prints them: (label, figure name).
_MONTH_FLOWS = (
    ("Diterima", "received"),
    ("Dicetak", "issued"),
    ("Rusak", "spoiled"),
    ("Dikembalikan", "returned"),
    ("Penyesuaian", "adjusted"),
)
_MONTH_AFTER = (
    ("Dikembalikan pemegang", "holder_returned"),
    ("Dimusnahkan", "destroyed"),
)


def write_monthly_report(report: MonthlyReport, path: Path) -> Path:
    """Write the month's stock report (laporan bulanan stok blangko) to ``path`` atomically.

    The month's totals (from the first day's opening to the last day's closing), compared
    with the ledger's own totals when the report carries them, spoiled blanks per reason, a
    chart of the cards issued and the blanks spoiled each day, and one table row per day.
    A month without days prints "Tidak ada data". Returns ``path``.
    Raises :class:`FileNotFoundError` when the directory of ``path`` does not exist.
    """
    r = report
    period = f"{_month_name(r.month)} {r.year}"
    return _write_pdf(
        path,
        lambda: _monthly_story(r),
        title=f"Laporan Bulanan Stok Blangko KTP-el {r.year}-{r.month:02d}",
        footer=f"{r.office_name} — Laporan Bulanan Stok Blangko KTP-el — {period}",
    )


def _monthly_story(r: MonthlyReport) -> Story:
    story: Story = [
        Paragraph("Laporan Bulanan Stok Blangko KTP-el", _TITLE),
        Paragraph(f"{_month_name(r.month)} {r.year}", _SUBTITLE),
        Paragraph(_text(r.office_name), _SUBTITLE),
        Spacer(1, 4 * mm),
    ]
    if not r.days:
        story.append(Paragraph("Tidak ada data — belum ada hari tercatat bulan ini.", _STATUS))
        return story

    story += [*_heading("Jumlah bulan ini"), *_month_totals(r)]

    story += _heading("Blangko rusak per alasan")
    story += _by_reason(r.spoiled_by_reason(), empty="Tidak ada blangko rusak bulan ini.")

    story += [
        *_heading("Grafik harian: kartu dicetak dan blangko rusak", need=95 * mm),
        _daily_chart(r.days),
        *_heading("Rincian per hari"),
        _day_table(r),
    ]
    return story


def _month_totals(r: MonthlyReport) -> Story:
    figures: list[tuple[str, str, int]] = [("Stok awal bulan", "opening", r.opening)]
    figures += [(label, name, r.total(name)) for label, name in _MONTH_FLOWS]
    figures.append(("Stok akhir bulan", "closing", r.closing))
    figures += [(label, name, r.total(name)) for label, name in _MONTH_AFTER]

    ledger = r.ledger_totals
    header = ["Uraian", "Jumlah"] + (["Menurut buku stok"] if ledger else [])
    rows: Rows = [header]
    mismatches: list[str] = []
    for label, name, value in figures:
        shown = _signed(value) if name == "adjusted" else _count(value)
        row: list[Any] = [label, shown]
        if ledger:
            if name in ledger:
                theirs = ledger[name]
                row.append(_signed(theirs) if name == "adjusted" else _count(theirs))
                if theirs != value:
                    mismatches.append(
                        f"{label} (harian {_count(value)}, buku stok {_count(theirs)})"
                    )
            else:
                row.append(_DASH)
        rows.append(row)
    widths = [80 * mm, 30 * mm, 30 * mm] if ledger else [110 * mm, 30 * mm]
    closing_row = 1 + len(_MONTH_FLOWS) + 1
    out: Story = [
        _table(
            rows,
            widths,
            extra=[
                ("FONT", (0, closing_row), (-1, closing_row), "Helvetica-Bold"),
                ("LINEABOVE", (0, closing_row), (-1, closing_row), 0.6, colors.black),
                ("LINEBELOW", (0, closing_row), (-1, closing_row), 0.6, colors.black),
            ],
        ),
        Spacer(1, 2 * mm),
    ]

    expected = r.opening + sum(
        (1 if name in ("received", "adjusted") else -1) * r.total(name) for _, name in _MONTH_FLOWS
    )
    if expected == r.closing:
        out.append(Paragraph("Persamaan stok bulan ini: <b>Seimbang</b>", _BODY))
    else:
        out.append(
            Paragraph(
                f"Persamaan stok bulan ini: {_warn('TIDAK SEIMBANG')} (menurut persamaan {_count(expected)}, tercatat {_count(r.closing)})",
                _BODY,
            )
        )
    unbalanced = [d for d in r.days if not d.balanced]
    if unbalanced:
        days = ", ".join(_date_id(d.day) for d in unbalanced)
        out.append(Paragraph(f"<b>Hari tidak seimbang:</b> {days}", _BODY))
    broken = [
        d for d, before in zip(r.days[1:], r.days, strict=False) if d.opening != before.closing
    ]
    if broken:
        days = ", ".join(_date_id(d.day) for d in broken)
        out.append(
            Paragraph(
                f"<b>Stok awal tidak sama dengan stok akhir hari sebelumnya:</b> {days}", _BODY
            )
        )
    unclosed = [d for d in r.days if d.closed_at is None]
    if unclosed:
        days = ", ".join(_date_id(d.day) for d in unclosed)
        out.append(Paragraph(f"<b>Hari belum ditutup (DRAF):</b> {days}", _BODY))
    if ledger:
        if mismatches:
            out.append(
                Paragraph(
                    _warn("TIDAK SESUAI dengan buku stok:") + " " + "; ".join(mismatches),
                    _BODY,
                )
            )
        else:
            out.append(Paragraph("Jumlah harian sesuai dengan buku stok.", _BODY))
    return out


def _daily_chart(days: Sequence[DailyStatement]) -> Drawing:
    """Grouped bars per day of the month: cards issued, blanks spoiled."""
    width, height = _CONTENT_WIDTH, 72 * mm
    drawing = Drawing(width, height)
    chart = VerticalBarChart()
    chart.x, chart.y = 14 * mm, 14 * mm
    chart.width, chart.height = width - 18 * mm, height - 26 * mm
    chart.data = [[d.issued for d in days], [d.spoiled for d in days]]
    chart.bars[0].fillColor = _ISSUED_COLOUR
    chart.bars[1].fillColor = _SPOILED_COLOUR
    chart.bars.strokeColor = None
    chart.barSpacing = 0.5
    chart.groupSpacing = 3
    chart.categoryAxis.categoryNames = [str(d.day.day) for d in days]
    chart.categoryAxis.labels.fontName = "Helvetica"
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    peak = max(max(d.issued, d.spoiled) for d in days)
    if peak == 0:
        chart.valueAxis.valueMax = 1
        chart.valueAxis.valueStep = 1
    chart.valueAxis.labels.fontName = "Helvetica"
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = lambda v: _count(int(v))
    drawing.add(chart)

    legend = Legend()
    legend.fontName = "Helvetica"
    legend.fontSize = 8
    legend.alignment = "right"
    legend.columnMaximum = 1
    legend.deltax = 40 * mm
    legend.x = 16 * mm
    legend.y = height - 3 * mm
    legend.colorNamePairs = [
        (_ISSUED_COLOUR, "Dicetak per hari"),
        (_SPOILED_COLOUR, "Rusak per hari"),
    ]
    drawing.add(legend)
    drawing.add(
        String(
            chart.x + chart.width / 2,
            3 * mm,
            "Tanggal (hari dalam bulan)",
            fontName="Helvetica",
            fontSize=7.5,
            textAnchor="middle",
        )
    )
    return drawing


def _day_table(r: MonthlyReport) -> Table:
    rows: Rows = [
        _heads(
            (
                "Tanggal",
                "Stok awal",
                "Diterima",
                "Dicetak",
                "Rusak",
                "Dikembalikan",
                "Penyesuaian",
                "Stok akhir",
                "Seimbang",
            ),
            "LRRRRRRRC",
        )
    ]
    unbalanced_rows: list[int] = []
    for row_number, d in enumerate(r.days, start=1):
        if not d.balanced:
            unbalanced_rows.append(row_number)
        rows.append(
            [
                _date_id(d.day),
                _count(d.opening),
                _count(d.received),
                _count(d.issued),
                _count(d.spoiled),
                _count(d.returned),
                _signed(d.adjusted),
                _count(d.closing),
                "ya" if d.balanced else "TIDAK",
            ]
        )
    rows.append(
        [
            "Bulan ini",
            _count(r.opening),
            *(
                _signed(r.total(name)) if name == "adjusted" else _count(r.total(name))
                for _, name in _MONTH_FLOWS
            ),
            _count(r.closing),
            "",
        ]
    )
    # Date, then opening, received, issued, spoiled, returned, adjusted, closing, balanced.
    widths = [27 * mm] + [17.5 * mm] * 4 + [21 * mm] * 2 + [17.5 * mm] * 2
    extra: list[tuple[Any, ...]] = [
        ("ALIGN", (-1, 1), (-1, -1), "CENTER"),
        ("NOSPLIT", (0, -2), (-1, -1)),  # the month's row never stands alone on a page
    ]
    extra += [("TEXTCOLOR", (-1, n), (-1, n), _WARN) for n in unbalanced_rows]
    extra += [("FONT", (-1, n), (-1, n), "Helvetica-Bold") for n in unbalanced_rows]
    return _table(rows, widths, dense=True, total_row=True, repeat_header=True, extra=extra)
