"""The morning report as a PDF: one or two A4 pages the morning shift reads at the counter.

It draws the dict of :func:`printctl.night.report.build_report`: the first thing to do, at
the top and in bold; then planned against printed per printer, every fault with its time
and what the system did, the cards waiting for inspection, spoiled blanks by reason, the
stock before and after, and the printers' ribbon and hopper levels. NIKs appear masked.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from printctl.night.report import plain

_TABLE_STYLE = TableStyle(
    [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8.5),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 8.5),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#eef3f8")]),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)


def _esc(value: object) -> str:
    text = "—" if value is None or value == "" else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _table(rows: Sequence[Sequence[object]], widths: list[float]) -> Table:
    table = Table(rows, colWidths=widths, hAlign="LEFT", repeatRows=1)
    table.setStyle(_TABLE_STYLE)
    return table


def _story(report: dict[str, Any]) -> list[object]:
    styles = getSampleStyleSheet()
    body = styles["Normal"]
    small = ParagraphStyle("cell", parent=body, fontSize=8.5, leading=10.5)
    totals = report["totals"]

    def cell(value: object) -> Paragraph:
        return Paragraph(_esc(value), small)

    story: list[object] = [
        Paragraph("Laporan Pagi / Morning report", styles["Title"]),
        Paragraph(
            f"{_esc(report['office'])} — station {_esc(report['station'])} — night "
            f"{_esc(report['window']['label'])}",
            body,
        ),
        Paragraph(
            f"Ended: {_esc(report['ended_because'])}. Planned {totals['planned']}, printed "
            f"{totals['printed']}, spoiled {totals['spoiled']}, in doubt {totals['in_doubt']}; "
            f"{totals['returned_to_ready']} record(s) back among the ready "
            f"({totals['ready_now']} ready now).",
            body,
        ),
        Spacer(1, 4 * mm),
        Paragraph(
            "<b>First thing / Pertama:</b> " + _esc(report["first_thing"]), styles["Heading3"]
        ),
    ]
    for line in report["todo"][1:]:
        story.append(Paragraph("• " + _esc(line), body))

    story += [Spacer(1, 4 * mm), Paragraph("Printers: planned and printed", styles["Heading2"])]
    rows: list[list[object]] = [["printer", "planned", "printed", "spoiled", "faults", "plan said"]]
    for p in report["printers"]:
        said = p.get("plan_said", p["planned_limit"])
        rows.append(
            [p["printer"], p["planned"], p["printed"], p["spoiled"], p["faults"], cell(said)]
        )
    story.append(_table(rows, [28 * mm, 18 * mm, 18 * mm, 18 * mm, 16 * mm, 76 * mm]))

    story += [Spacer(1, 4 * mm), Paragraph("Faults, in order", styles["Heading2"])]
    if report["faults"]:
        rows = [["time", "where", "what happened", "what printctl did"]]
        for f in report["faults"]:
            rows.append([f["time"], cell(f["printer"]), cell(f["what"]), cell(f["action"])])
        story.append(_table(rows, [14 * mm, 24 * mm, 68 * mm, 68 * mm]))
    else:
        story.append(Paragraph("None.", body))

    story += [Spacer(1, 4 * mm), Paragraph("Cards waiting for inspection", styles["Heading2"])]
    if report["awaiting_inspection"]:
        rows = [["job", "record", "NIK", "printer", "step", "since"]]
        for w in report["awaiting_inspection"]:
            rows.append([w["job"], w["record"], w["nik"], w["printer"], w["step"], w["since"]])
        story.append(_table(rows, [14 * mm, 40 * mm, 40 * mm, 26 * mm, 24 * mm, 20 * mm]))
    else:
        story.append(Paragraph("None.", body))

    story += [Spacer(1, 4 * mm), Paragraph("Blanks (blanko)", styles["Heading2"])]
    before, after = report["stock_before"], report["stock_after"]
    rows = [
        ["", "before", "after"],
        ["on hand", before.get("on_hand"), after.get("on_hand")],
        ["in the vault", before.get("vault"), after.get("vault")],
        ["in doubt", before.get("in_doubt"), after.get("in_doubt")],
        [
            "reserve the night kept",
            report["reserve"],
            "kept" if report["reserve_kept"] else "NOT KEPT",
        ],
    ]
    for reason, n in report["spoiled_by_reason"].items():
        rows.append([f"spoiled tonight: {reason}", "", n])
    story.append(_table(rows, [70 * mm, 30 * mm, 30 * mm]))

    story += [Spacer(1, 4 * mm), Paragraph("Printers now", styles["Heading2"])]
    rows = [["printer", "state", "ribbon (cards left)", "hopper", "reason"]]
    for p in report["printers_now"]:
        rows.append(
            [
                p["printer"],
                p["state"],
                _esc(p["cards_left"]),
                _esc(p["hopper"]),
                cell(plain(p["reason"])),
            ]
        )
    story.append(_table(rows, [28 * mm, 22 * mm, 30 * mm, 18 * mm, 76 * mm]))

    link = []
    for name, part in (("pull at the start", report["pull"]), ("push at the end", report["push"])):
        if part:
            link.append(
                f"{name}: " + ("done" if part.get("done") else f"not done ({part.get('why')})")
            )
    if link:
        story += [Spacer(1, 3 * mm), Paragraph(_esc("; ".join(link)), body)]
    return story


def morning_report_pdf(report: dict[str, Any]) -> bytes:
    """The report as PDF bytes (the console's download)."""
    buffer = io.BytesIO()
    _document(buffer).build(_story(report))
    return buffer.getvalue()


def _document(target: Any) -> SimpleDocTemplate:
    return SimpleDocTemplate(
        target,
        pagesize=A4,
        title="printctl morning report",
        author="printctl",
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
    )


def write_morning_report(report: dict[str, Any], path: Path) -> Path:
    """Write the report to ``path`` atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".morning-", suffix=".pdf", dir=path.parent)
    os.close(fd)
    try:
        _document(tmp_name).build(_story(report))
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path
