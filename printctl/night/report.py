"""The morning report: where the night left things, and what the shift must do first.

Built from the database alone (the plan stored when the night began, the ledger, the
journal, the printers' rows), so that it agrees with the ledger by construction and can be
built again at any time. Everything in it is JSON-ready; the PDF
(:mod:`printctl.reports.morning_report`) and the console page draw the same dict.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from printctl.config import Settings
from printctl.models import (
    AuditEvent,
    Job,
    JobState,
    LedgerEntry,
    LedgerKind,
    NightRun,
    PrinterReason,
    PrinterRow,
    PrinterRunState,
    Record,
    RecordState,
    as_utc,
)
from printctl.night.history import NOMINAL_PANELS_PER_CARD, learned
from printctl.stock import balance
from printctl.stock.ledger import office_time

#: Stops that are not faults: a duty-cycle rest, a person's pause.
_NOT_FAULTS = {PrinterReason.COOLING.value, PrinterReason.PAUSED.value}


def stock_words(session: Session) -> dict[str, Any]:
    """The stock figures a report shows (before and after a night)."""
    totals = balance(session)
    return {
        "on_hand": totals.on_hand,
        "vault": totals.vault,
        "hoppers": dict(totals.hoppers),
        "in_doubt": totals.in_doubt,
        "spoiled_total": totals.spoiled,
        "issued_total": totals.issued,
    }


#: A driver URL inside an error message, up to the ": " after it (the words a person
#: reads do not need the URL's options).
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S*?: ")


def plain(text: str) -> str:
    """An error message without the driver URLs in it."""
    return _URL.sub("", text)


def _hhmm(at: datetime | None) -> str:
    return f"{office_time(at):%H:%M}" if at is not None else ""


def _ledger_in(
    session: Session, kind: LedgerKind, start: datetime, end: datetime
) -> list[LedgerEntry]:
    return list(
        session.exec(
            select(LedgerEntry)
            .where(
                col(LedgerEntry.kind) == kind.value,
                col(LedgerEntry.at) >= start,
                col(LedgerEntry.at) <= end,
            )
            .order_by(col(LedgerEntry.id))
        ).all()
    )


def _events(session: Session, start: datetime, end: datetime, prefix: str) -> list[AuditEvent]:
    return list(
        session.exec(
            select(AuditEvent)
            .where(
                col(AuditEvent.at) >= start,
                col(AuditEvent.at) <= end,
                col(AuditEvent.action).startswith(prefix),
            )
            .order_by(col(AuditEvent.id))
        ).all()
    )


def _detail(event: AuditEvent) -> dict[str, Any]:
    try:
        value = json.loads(event.detail or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _printer_faults(
    session: Session, start: datetime, end: datetime, issued: list[LedgerEntry]
) -> list[dict[str, Any]]:
    """Every stop of a printer in the window (rests and pauses aside), with what followed.

    A stop that came back with no card in between (a condition that cleared and failed
    again, or the same stop after a restart) is one entry, with how often and since when.
    """
    stops: dict[str, list[tuple[datetime, dict[str, Any], frozenset[str]]]] = defaultdict(list)
    for event in _events(session, start, end, "printer.stopped"):
        detail = _detail(event)
        reasons = frozenset(str(detail.get("reasons", "")).split())
        if reasons and not reasons <= _NOT_FAULTS:
            stops[str(event.entity_id)].append((as_utc(event.at), detail, reasons))
    cards: dict[str, list[datetime]] = defaultdict(list)
    for entry in issued:
        cards[entry.printer or ""].append(as_utc(entry.at))

    def printed_between(printer: str, after: datetime, before: datetime) -> datetime | None:
        return next((at for at in cards[printer] if after < at < before), None)

    faults: list[dict[str, Any]] = []
    for printer, theirs in stops.items():
        groups: list[list[tuple[datetime, dict[str, Any], frozenset[str]]]] = []
        for stop in theirs:
            last = groups[-1][-1] if groups else None
            if (
                last is not None
                and last[2] == stop[2]
                and not printed_between(printer, last[0], stop[0])
            ):
                groups[-1].append(stop)
            else:
                groups.append([stop])
        for n, group in enumerate(groups):
            first_at, (last_at, detail, reasons) = group[0][0], group[-1]
            following = groups[n + 1][0][0] if n + 1 < len(groups) else end
            went_on = printed_between(printer, last_at, following)
            if PrinterReason.AWAITING_INSPECTION.value in reasons:
                action = (
                    "parked: a card's outcome is unknown and waits for inspection; "
                    "its other work went to the other printers"
                )
            elif went_on is not None:
                action = f"waited for it to clear; printing went on at {_hhmm(went_on)}"
            elif detail.get("auto_resume"):
                action = (
                    "waited for it to clear, which it did not before the night ended; "
                    "its work went to the other printers"
                )
            else:
                action = "stopped until a person resumes it; its work went to the other printers"
            what = plain(str(detail.get("reason") or " ".join(sorted(reasons))))
            if len(group) > 1:
                what += f" ({len(group)} times, {_hhmm(first_at)}–{_hhmm(last_at)})"
            faults.append(
                {
                    "at": first_at.isoformat(),
                    "time": _hhmm(first_at),
                    "printer": printer,
                    "what": what,
                    "reasons": sorted(reasons),
                    "action": action,
                }
            )
    return faults


def _spoils(entries: list[LedgerEntry]) -> list[dict[str, Any]]:
    return [
        {
            "at": as_utc(e.at).isoformat(),
            "time": _hhmm(as_utc(e.at)),
            "printer": e.printer or "",
            "what": f"{e.quantity} blank(s) spoiled: {e.reason}"
            + (f" ({plain(e.note)})" if e.note else ""),
            "reasons": [e.reason or ""],
            "action": "recorded spoiled; the record went back to the queue for a fresh blank",
        }
        for e in entries
    ]


def _interruptions(
    session: Session, start: datetime, end: datetime, station: str
) -> list[dict[str, Any]]:
    """Restarts after the process died (a power cut): the journal's ``night.resumed``."""
    out = []
    for event in _events(session, start, end, "night.resumed"):
        detail = _detail(event)
        died = detail.get("interrupted_at")
        died_at = datetime.fromisoformat(died) if died else None
        out.append(
            {
                "at": (died_at or as_utc(event.at)).isoformat(),
                "time": _hhmm(died_at) if died_at else "?",
                "printer": f"station {station}",
                "what": "the process ended without stopping (power cut or crash); last sign of "
                f"life {_hhmm(died_at) if died_at else 'unknown'}",
                "reasons": ["power-loss"],
                "action": f"restarted at {_hhmm(as_utc(event.at))}: the cards that were in the "
                "printers were set aside for inspection, and the night went on with its plan",
            }
        )
    return out


def _awaiting_inspection(session: Session) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Job, Record)
        .join(Record, col(Record.id) == col(Job.record_pk))
        .where(col(Job.state) == JobState.NEEDS_INSPECTION.value)
        .order_by(col(Job.id))
    ).all()
    return [
        {
            "job": job.id,
            "record": record.record_id,
            "nik": f"************{record.nik_last4}",
            "printer": job.printer or "",
            "step": job.step,
            "since": _hhmm(as_utc(job.updated_at)),
            "error": plain(job.error),
        }
        for job, record in rows
    ]


def _ribbons(session: Session, names: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in names:
        row = session.get(PrinterRow, name)
        panels = row.ribbon_panels_left if row is not None else None
        per_card = learned(session, name).panels_per_card or NOMINAL_PANELS_PER_CARD
        out.append(
            {
                "printer": name,
                "panels_left": panels,
                "cards_left": int(panels / per_card) if panels is not None else None,
                "hopper": row.cards_in_hopper if row is not None else None,
                "state": row.state if row is not None else "unknown",
                "reason": row.reason if row is not None else "",
                "needs_person": bool(
                    row is not None
                    and row.state == PrinterRunState.STOPPED.value
                    and not row.auto_resume
                ),
            }
        )
    return out


def _first_things(report: dict[str, Any]) -> list[str]:
    """What the shift must do, most urgent first."""
    todo: list[str] = []
    waiting = report["awaiting_inspection"]
    if waiting:
        where = ", ".join(sorted({w["printer"] for w in waiting}))
        todo.append(
            f"Inspect {len(waiting)} card(s) whose outcome is unknown ({where}) on the Attention "
            "page: record what came out before that printer prints again."
        )
    for ribbon in report["printers_now"]:
        if ribbon["needs_person"]:
            todo.append(
                f"{ribbon['printer']} is stopped: {plain(ribbon['reason'])}. Fix it, then resume."
            )
        elif ribbon["cards_left"] == 0:
            todo.append(f"Fit a new ribbon in {ribbon['printer']}.")
        elif ribbon["state"] == PrinterRunState.STOPPED.value:
            todo.append(f"{ribbon['printer']} waits: {plain(ribbon['reason'])}.")
    held = report["totals"].get("held", 0)
    if held:
        todo.append(
            f"{held} job(s) are held for a person (a card that could not be drawn, a policy's "
            "hold): look at them on the Attention page."
        )
    spoiled = report["totals"]["spoiled"]
    if spoiled:
        todo.append(
            f"Put the {spoiled} spoiled blank(s) from the reject bins with the cards to destroy."
        )
    printed = report["totals"]["printed"]
    if printed:
        todo.append(f"Check and sort the {printed} printed card(s) for handover.")
    if not todo:
        todo.append("Nothing needs you: the night printed nothing and stopped nothing.")
    return todo


def build_report(
    session: Session,
    settings: Settings,
    night: NightRun,
    *,
    ended_because: str,
    returned: int,
    pushed: dict[str, Any],
) -> dict[str, Any]:
    """The morning report of ``night`` (which has ended), JSON-ready."""
    plan = json.loads(night.plan)
    start = as_utc(night.started_at)
    end = as_utc(night.ended_at) if night.ended_at is not None else as_utc(night.window_end)
    names = [p["name"] for p in plan.get("printers", [])]
    issued = _ledger_in(session, LedgerKind.ISSUED, start, end)
    spoiled = _ledger_in(session, LedgerKind.SPOILED, start, end)
    in_doubt = _ledger_in(session, LedgerKind.IN_DOUBT, start, end)
    printed_by = Counter(e.printer or "" for e in issued)
    spoiled_by = Counter(e.printer or "" for e in spoiled for _ in range(e.quantity))
    spoiled_reason: dict[str, int] = defaultdict(int)
    for entry in spoiled:
        spoiled_reason[entry.reason or "unknown"] += entry.quantity
    faults = sorted(
        _printer_faults(session, start, end, issued)
        + _spoils(spoiled)
        + _interruptions(session, start, end, night.station),
        key=lambda f: f["at"],
    )
    last_card = max((as_utc(e.at) for e in issued), default=None)
    printers = []
    for planned in plan.get("printers", []):
        name = planned["name"]
        printers.append(
            {
                "printer": name,
                "planned": planned["cards"],
                "printed": printed_by.get(name, 0),
                "spoiled": spoiled_by.get(name, 0),
                "faults": sum(1 for f in faults if f["printer"] == name),
                "planned_limit": planned["limit"],
                "plan_said": _plan_said(planned),
                "pace": planned["pace_source"],
                "ribbon_out_planned": _hhmm(_parse(planned.get("ribbon_out_at"))),
            }
        )
    ready_now = session.exec(
        select(func.count()).where(col(Record.state) == RecordState.READY.value)
    ).one()
    report: dict[str, Any] = {
        "night": night.id,
        "office": settings.office_name,
        "station": night.station,
        "window": {
            "start": as_utc(night.window_start).isoformat(),
            "end": as_utc(night.window_end).isoformat(),
            "label": f"{office_time(as_utc(night.window_start)):%Y-%m-%d %H:%M} – "
            f"{office_time(as_utc(night.window_end)):%H:%M}",
        },
        "started_at": start.isoformat(),
        "ended_at": end.isoformat(),
        "ended_because": ended_because,
        "last_card_at": last_card.isoformat() if last_card else None,
        "inside_window": last_card is None or last_card <= as_utc(night.window_end),
        "batch": night.batch_id,
        "totals": {
            "planned": int(plan.get("planned", 0)),
            "printed": len(issued),
            "spoiled": sum(e.quantity for e in spoiled),
            "in_doubt": sum(e.quantity for e in in_doubt),
            "returned_to_ready": returned,
            "held": int(
                session.exec(
                    select(func.count()).where(col(Job.state) == JobState.HELD.value)
                ).one()
            ),
            "ready_now": int(ready_now),
        },
        "printers": printers,
        "faults": faults,
        "awaiting_inspection": _awaiting_inspection(session),
        "spoiled_by_reason": dict(sorted(spoiled_reason.items())),
        "stock_before": plan.get("stock_before", {}),
        "stock_after": stock_words(session),
        "reserve": int(plan.get("reserve", 0)),
        "printers_now": _ribbons(session, names),
        "pull": plan.get("pull", {}),
        "push": pushed,
        "plan_notes": plan.get("notes", []),
    }
    # Kept: the night left at least the reserve (or, starting below it, took nothing).
    before = int(report["stock_before"].get("on_hand", 0))
    report["reserve_kept"] = report["stock_after"]["on_hand"] >= min(report["reserve"], before)
    report["todo"] = _first_things(report)
    report["first_thing"] = report["todo"][0]
    return report


def _plan_said(planned: dict[str, Any]) -> str:
    """What the plan expected to end a printer's night, in words."""
    limit = str(planned.get("limit", ""))
    if limit == "ribbon":
        return f"its ribbon runs out at {_hhmm(_parse(planned.get('ribbon_out_at')))}"
    if limit == "blanks":
        return f"its hopper empties at {_hhmm(_parse(planned.get('blanks_out_at')))}"
    if limit == "not-ready":
        return f"not ready: {plain(planned.get('not_ready', ''))}"
    return {
        "window": "prints until the window ends",
        "work": "the work runs out first",
        "reserve": "the reserve is reached",
    }.get(limit, limit)


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
