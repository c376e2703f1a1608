"""The run report: one PDF page (or more) telling what a print run did.

Written for the person who reads it the next morning: what came in, what was printed on which
printer, which blanks were spoiled and why, what waits for a person, and whether the ledger
balances. No personal data: records are named by id, NIKs not at all.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle


@dataclass
class PrinterLine:
    """One printer's part of the run."""

    name: str
    url: str
    issued: int
    spoiled: int
    aborted: int
    needs_inspection: int
    stop_reason: str = ""


@dataclass
class RunReport:
    """Everything the report shows."""

    office_name: str
    station: str
    started_at: datetime
    finished_at: datetime
    records_imported: int
    records_quarantined: int
    quarantine_reasons: dict[str, int]
    printers: Sequence[PrinterLine]
    stock_before: int
    stock_after: int
    issued: int
    spoiled: int
    in_doubt: int
    spoiled_by_reason: dict[str, int]
    balanced: bool
    problems: list[str] = field(default_factory=list)


_TABLE_STYLE = TableStyle(
    [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 9),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#eef3f8")]),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)


def write_run_report(report: RunReport, path: Path) -> Path:
    """Write the report to ``path`` atomically (a temporary file renamed into place)."""
    styles = getSampleStyleSheet()
    story: list[object] = [
        Paragraph("Laporan Pencetakan KTP-el / Print run report", styles["Title"]),
        Paragraph(f"{report.office_name} — station {report.station}", styles["Normal"]),
        Paragraph(
            f"{report.started_at:%Y-%m-%d %H:%M:%S} – {report.finished_at:%H:%M:%S} UTC "
            f"({(report.finished_at - report.started_at).total_seconds():.0f} s)",
            styles["Normal"],
        ),
        Spacer(1, 6 * mm),
        Paragraph("Records", styles["Heading2"]),
    ]
    record_rows = [
        ["", "count"],
        ["imported", str(report.records_imported)],
        ["quarantined", str(report.records_quarantined)],
    ]
    for reason, n in sorted(report.quarantine_reasons.items()):
        record_rows.append([Paragraph(f"&nbsp;&nbsp;{_escape(reason)}", styles["Normal"]), str(n)])
    story.append(_table(record_rows, [120 * mm, 30 * mm]))

    story += [Spacer(1, 5 * mm), Paragraph("Printers", styles["Heading2"])]
    printer_rows = [["printer", "issued", "spoiled", "aborted", "inspection", "stopped because"]]
    for p in report.printers:
        printer_rows.append(
            [
                p.name,
                str(p.issued),
                str(p.spoiled),
                str(p.aborted),
                str(p.needs_inspection),
                Paragraph(_escape(p.stop_reason or "—"), styles["Normal"]),
            ]
        )
    story.append(_table(printer_rows, [30 * mm, 18 * mm, 18 * mm, 18 * mm, 20 * mm, 66 * mm]))

    story += [Spacer(1, 5 * mm), Paragraph("Blanks (blanko)", styles["Heading2"])]
    stock_rows = [
        ["", "blanks"],
        ["on hand before", str(report.stock_before)],
        ["issued", str(report.issued)],
        ["spoiled", str(report.spoiled)],
    ]
    for reason, n in sorted(report.spoiled_by_reason.items()):
        stock_rows.append([f"   {reason}", str(n)])
    stock_rows += [
        ["in doubt (needs inspection)", str(report.in_doubt)],
        ["on hand after", str(report.stock_after)],
        [
            "balance (before − issued − spoiled − in doubt = after)",
            "holds" if report.balanced else "DOES NOT HOLD",
        ],
    ]
    story.append(_table(stock_rows, [120 * mm, 30 * mm]))

    if report.problems:
        story += [Spacer(1, 5 * mm), Paragraph("Needs a person", styles["Heading2"])]
        for problem in report.problems:
            story.append(Paragraph("• " + _escape(problem), styles["Normal"]))

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".run-report-", suffix=".pdf", dir=path.parent)
    os.close(fd)
    try:
        doc = SimpleDocTemplate(
            tmp_name,
            pagesize=A4,
            title="printctl run report",
            author="printctl",
            leftMargin=18 * mm,
            rightMargin=18 * mm,
        )
        doc.build(story)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _table(rows: Sequence[Sequence[object]], widths: list[float]) -> Table:
    table = Table(rows, colWidths=widths, hAlign="LEFT")
    table.setStyle(_TABLE_STYLE)
    return table


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
