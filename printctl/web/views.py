"""What the console's pages and the API's reads show: plain dicts built from the service
layer and the tables, with no personal data beyond a NIK's last four digits.

Each function reads in its own short transaction, so a page never holds a lock the printers
need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from printctl import service, service_stock
from printctl.db import read_session
from printctl.domain import mask_last4
from printctl.models import (
    AuditEvent,
    Batch,
    BatchState,
    Job,
    JobState,
    LedgerEntry,
    LedgerKind,
    PrinterReason,
    Record,
    RecordState,
    StockCount,
    StockProposal,
    as_utc,
)
from printctl.queue.batches import stock_room
from printctl.stock import locations as loc
from printctl.stock.ledger import business_day, hopper_available, office_time

#: What a person does about a stopped printer, by its reason (English; the console
#: translates). The first reason of a printer that has several decides.
PRINTER_ACTIONS: dict[str, str] = {
    PrinterReason.AWAITING_INSPECTION.value: "Inspect the card in doubt (Attention), then resume.",
    PrinterReason.MEDIA_JAM.value: "Open the printer, take the jammed card out, close it, then resume.",
    PrinterReason.MEDIA_EMPTY.value: "Put blanks in the hopper and record the load (Stock), then resume.",
    PrinterReason.OUT_OF_STOCK.value: "Record a hopper load (Stock → Load); the printer goes on by itself.",
    PrinterReason.RIBBON_EMPTY.value: "Fit a new ribbon, then resume.",
    PrinterReason.COVER_OPEN.value: "Close the printer's cover; it goes on by itself.",
    PrinterReason.REJECT_BIN_FULL.value: "Empty the reject bin (count the cards in it), then resume.",
    PrinterReason.OFFLINE.value: "Check the printer's power and cable, then resume.",
    PrinterReason.COOLING.value: "The printer is resting after its duty cycle; it goes on by itself.",
    PrinterReason.ENCODER_FAULT.value: "Check the chip encoder and its cable, then resume.",
    PrinterReason.SPOILING.value: "Several cards failed in a row: check the ribbon and the blanks, then resume.",
    PrinterReason.DEVICE_ERROR.value: "Read the reason; if it is not clear, call the technician.",
    PrinterReason.INTERNAL_ERROR.value: "Call the technician: printctl stopped on an internal error.",
    "paused": "Paused by a person: resume when ready.",
}


def printer_action(reasons: tuple[str, ...], clears_itself: bool) -> str:
    """The action a person takes for a printer stopped with ``reasons``."""
    for reason in reasons:
        if reason in PRINTER_ACTIONS:
            return PRINTER_ACTIONS[reason]
    if clears_itself:
        return "The printer goes on by itself once the condition clears."
    return "Read the reason, fix it, then resume."


def _today(ctx: service.Context) -> str:
    return business_day(ctx.clock()).isoformat()


def _cards_today(session: Session, day: str) -> dict[str, int]:
    rows = session.exec(
        select(LedgerEntry.from_loc, func.sum(LedgerEntry.quantity))
        .where(col(LedgerEntry.kind) == LedgerKind.ISSUED.value, col(LedgerEntry.day) == day)
        .group_by(col(LedgerEntry.from_loc))
    ).all()
    out: dict[str, int] = {}
    for place, n in rows:
        name = loc.hopper_printer(place)
        if name is not None:
            out[name] = int(n or 0)
    return out


def _record_of_job(session: Session, job_id: int | None) -> str | None:
    if job_id is None:
        return None
    job = session.get(Job, job_id)
    if job is None:
        return None
    record = session.get(Record, job.record_pk)
    return record.record_id if record else None


def printers(
    ctx: service.Context, live: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Every configured printer: state, reason and what to do, the job it holds, ribbon and
    hopper levels, and cards issued today."""
    views = service.printers(ctx)
    with read_session(ctx.engine) as session:
        today = _cards_today(session, _today(ctx))
        out = []
        for view in views:
            row = view.as_dict()
            current = row.get("current_job")
            row["current_record"] = _record_of_job(
                session, current if isinstance(current, int) else None
            )
            row["hopper_ledger"] = hopper_available(session, view.name)
            row["cards_today"] = today.get(view.name, 0)
            row["action"] = (
                printer_action(view.reasons, view.clears_itself) if view.state == "stopped" else ""
            )
            row["worker"] = (live or {}).get(view.name, {})
            out.append(row)
    return out


def queue(ctx: service.Context) -> dict[str, int]:
    """Jobs of unfinished batches, by state."""
    with read_session(ctx.engine) as session:
        rows = session.exec(
            select(Job.state, func.count())
            .join(Batch, col(Batch.id) == col(Job.batch_id))
            .where(
                col(Batch.state).in_(
                    [BatchState.OPEN.value, BatchState.RUNNING.value, BatchState.PAUSED.value]
                )
            )
            .group_by(col(Job.state))
        ).all()
    return {state: int(n) for state, n in rows}


def stock(ctx: service.Context) -> dict[str, Any]:
    """Stock on hand, free for new batches, in doubt, and the warnings."""
    shown = service_stock.show(ctx)
    with read_session(ctx.engine) as session:
        room = stock_room(session)
    return {**shown.as_dict(), "free": room.free, "promised": room.promised}


def attention(ctx: service.Context) -> dict[str, Any]:
    """Everything waiting for a person: cards in doubt, stopped printers, failed and held
    jobs, reprints and stock decisions awaiting a supervisor, open count differences."""
    stopped = [p for p in printers(ctx) if p["state"] == "stopped"]
    with read_session(ctx.engine) as session:
        jobs = []
        for job in session.exec(
            select(Job)
            .where(
                col(Job.state).in_(
                    [JobState.NEEDS_INSPECTION.value, JobState.ABORTED.value, JobState.HELD.value]
                )
            )
            .order_by(col(Job.id))
        ).all():
            record = session.get(Record, job.record_pk)
            jobs.append(
                {
                    "id": job.id,
                    "batch_id": job.batch_id,
                    "state": job.state,
                    "step": job.step,
                    "printer": job.printer,
                    "error": job.error,
                    "record_id": record.record_id if record else None,
                    "nik": mask_last4(record.nik_last4) if record else None,
                    "updated_at": job.updated_at,
                }
            )
        reprints = [
            _record_row(r)
            for r in session.exec(
                select(Record)
                .where(col(Record.state) == RecordState.AWAITING_APPROVAL.value)
                .order_by(col(Record.id))
            ).all()
        ]
        proposals = [
            {
                "id": p.id,
                "kind": p.kind,
                "location": p.location,
                "quantity": p.quantity,
                "reason": p.reason,
                "proposed_by": p.proposed_by,
                "at": p.at,
            }
            for p in session.exec(
                select(StockProposal).where(col(StockProposal.state) == "proposed")
            ).all()
        ]
        counts = [
            {
                "id": c.id,
                "location": c.location,
                "counted": c.counted,
                "expected": c.expected,
                "actor": c.actor,
            }
            for c in session.exec(select(StockCount).where(col(StockCount.state) == "open")).all()
        ]
    inspect = [j for j in jobs if j["state"] == JobState.NEEDS_INSPECTION.value]
    return {
        "inspections": inspect,
        "failed": [j for j in jobs if j["state"] == JobState.ABORTED.value],
        "held": [j for j in jobs if j["state"] == JobState.HELD.value],
        "printers": stopped,
        "reprints": reprints,
        "proposals": proposals,
        "counts": counts,
        "total": len(jobs) + len(stopped) + len(reprints) + len(proposals) + len(counts),
    }


def dashboard(
    ctx: service.Context, live: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The dashboard: printers, queue, stock, what needs a person, batches running."""
    needs = attention(ctx)
    return {
        "printers": printers(ctx, live),
        "queue": queue(ctx),
        "stock": stock(ctx),
        "attention": {key: len(value) for key, value in needs.items() if isinstance(value, list)},
        "attention_total": needs["total"],
        "batches": [b for b in batches(ctx) if b["state"] in ("open", "running", "paused")],
        "at": ctx.clock(),
    }


def _record_row(r: Record) -> dict[str, Any]:
    return {
        "record_id": r.record_id,
        "version": r.version,
        "request_type": r.request_type,
        "district": r.district,
        "nik": mask_last4(r.nik_last4),
        "state": r.state,
        "reason": r.state_reason,
        "imported_at": r.imported_at,
        "printed_at": r.printed_at,
        "requested_by": r.requested_by,
        "evidence_kind": r.evidence_kind,
        "evidence": r.evidence,
        "chip_uid": r.chip_uid,
        "handed_over_at": r.handed_over_at,
        "handed_over_by": r.handed_over_by,
        "surrender": r.surrender,
        "erased": r.erased_at is not None,
    }


@dataclass(frozen=True)
class RecordFilters:
    """The ready-records page's filters."""

    district: str | None = None
    request_type: str | None = None
    #: Only records imported at least this many days ago (the oldest wait longest).
    min_age_days: int | None = None
    state: str = RecordState.READY.value
    limit: int = 200


def records(ctx: service.Context, filters: RecordFilters) -> dict[str, Any]:
    """Records in a state (ready by default) with the filters, oldest first, with the
    districts and request types on offer and how many match in all."""
    with read_session(ctx.engine) as session:
        query = select(Record).where(col(Record.state) == filters.state)
        count = select(func.count()).select_from(Record).where(col(Record.state) == filters.state)
        conditions = []
        if filters.district:
            conditions.append(func.upper(col(Record.district)) == filters.district.upper())
        if filters.request_type:
            conditions.append(col(Record.request_type) == filters.request_type.upper())
        if filters.min_age_days:
            cutoff = ctx.clock() - timedelta(days=filters.min_age_days)
            conditions.append(col(Record.imported_at) <= cutoff)
        for condition in conditions:
            query = query.where(condition)
            count = count.where(condition)
        rows = session.exec(
            query.order_by(col(Record.imported_at), col(Record.id)).limit(filters.limit)
        ).all()
        total = int(session.exec(count).one())
        districts = sorted(
            d
            for d in session.exec(
                select(Record.district)
                .where(col(Record.state) == RecordState.READY.value)
                .distinct()
            ).all()
            if d
        )
        room = stock_room(session)
    return {
        "records": [_record_row(r) for r in rows],
        "total": total,
        "shown": len(rows),
        "districts": districts,
        "request_types": ["NEW", "REPLACE_LOST", "REPLACE_DAMAGED", "DATA_CHANGE"],
        "free_stock": room.free,
        "on_hand": room.on_hand,
        "promised": room.promised,
    }


def record(ctx: service.Context, record_id: str) -> dict[str, Any]:
    """Every version of one record (no personal data but the NIK's tail) and its jobs."""
    with read_session(ctx.engine) as session:
        rows = session.exec(
            select(Record).where(col(Record.record_id) == record_id).order_by(col(Record.version))
        ).all()
        if not rows:
            raise service.UserError(f"no record {record_id!r}")
        pks = [r.id for r in rows]
        jobs = session.exec(
            select(Job).where(col(Job.record_pk).in_(pks)).order_by(col(Job.id))
        ).all()
        return {
            "record_id": record_id,
            "versions": [_record_row(r) for r in rows],
            "latest": _record_row(rows[-1]),
            "jobs": [_job_row(j, None) for j in jobs],
        }


def _job_row(job: Job, record: Record | None) -> dict[str, Any]:
    return {
        "id": job.id,
        "batch_id": job.batch_id,
        "state": job.state,
        "step": job.step,
        "attempts": job.attempts,
        "printer": job.printer,
        "chip_uid": job.chip_uid,
        "error": job.error,
        "record_id": record.record_id if record else None,
        "nik": mask_last4(record.nik_last4) if record else None,
        "request_type": record.request_type if record else None,
        "district": record.district if record else None,
        "updated_at": job.updated_at,
    }


def _batch_row(batch: Batch, counts: dict[str, int]) -> dict[str, Any]:
    total = sum(counts.values())
    finished = sum(
        counts.get(s, 0)
        for s in (JobState.COMPLETED.value, JobState.CANCELED.value, JobState.ABORTED.value)
    )
    return {
        "id": batch.id,
        "name": batch.name,
        "state": batch.state,
        "priority": batch.priority,
        "created_by": batch.created_by,
        "created_at": batch.created_at,
        "filters": batch.filters,
        "jobs": counts,
        "total": total,
        "printed": counts.get(JobState.COMPLETED.value, 0),
        "finished": finished,
        "percent": int(100 * finished / total) if total else 100,
    }


def batches(ctx: service.Context, limit: int = 100) -> list[dict[str, Any]]:
    """Batches, newest first, with their jobs counted by state."""
    with read_session(ctx.engine) as session:
        rows = session.exec(select(Batch).order_by(col(Batch.id).desc()).limit(limit)).all()
        ids = [b.id for b in rows]
        counts: dict[int, dict[str, int]] = {}
        for batch_id, state, n in session.exec(
            select(Job.batch_id, Job.state, func.count())
            .where(col(Job.batch_id).in_(ids))
            .group_by(col(Job.batch_id), col(Job.state))
        ).all():
            counts.setdefault(batch_id, {})[state] = int(n)
        return [_batch_row(b, counts.get(b.id or 0, {})) for b in rows]


def batch(ctx: service.Context, batch_id: int) -> dict[str, Any]:
    """One batch with every job (record id, masked NIK, state, printer, error)."""
    with read_session(ctx.engine) as session:
        row = session.get(Batch, batch_id)
        if row is None:
            raise service.UserError(f"no batch {batch_id}")
        pairs = session.exec(
            select(Job, Record)
            .join(Record, col(Record.id) == col(Job.record_pk))
            .where(col(Job.batch_id) == batch_id)
            .order_by(col(Job.id))
        ).all()
        counts: dict[str, int] = {}
        for job, _record in pairs:
            counts[job.state] = counts.get(job.state, 0) + 1
        return {**_batch_row(row, counts), "job_list": [_job_row(j, r) for j, r in pairs]}


@dataclass(frozen=True)
class AuditFilters:
    """The audit page's search."""

    actor: str | None = None
    action: str | None = None  #: a prefix: ``stock.`` finds every stock action
    entity: str | None = None
    entity_id: str | None = None
    text: str | None = None  #: found anywhere in the detail
    first: datetime | None = None
    last: datetime | None = None
    limit: int = 200


def audit(ctx: service.Context, filters: AuditFilters) -> list[dict[str, Any]]:
    """Audit events matching the search, newest first."""
    with read_session(ctx.engine) as session:
        query = select(AuditEvent)
        if filters.actor:
            query = query.where(func.lower(col(AuditEvent.actor)) == filters.actor.lower())
        if filters.action:
            query = query.where(col(AuditEvent.action).startswith(filters.action))
        if filters.entity:
            query = query.where(col(AuditEvent.entity) == filters.entity)
        if filters.entity_id:
            query = query.where(col(AuditEvent.entity_id) == filters.entity_id)
        if filters.text:
            query = query.where(col(AuditEvent.detail).contains(filters.text))
        if filters.first:
            query = query.where(col(AuditEvent.at) >= filters.first)
        if filters.last:
            query = query.where(col(AuditEvent.at) < filters.last)
        rows = session.exec(query.order_by(col(AuditEvent.id).desc()).limit(filters.limit)).all()
        return [
            {
                "id": e.id,
                "at": e.at,
                "local": office_time(e.at).strftime("%Y-%m-%d %H:%M:%S"),
                "actor": e.actor,
                "station": e.station,
                "action": e.action,
                "entity": e.entity,
                "entity_id": e.entity_id,
                "outcome": e.outcome,
                "detail": e.detail,
            }
            for e in rows
        ]


def nights(ctx: service.Context) -> dict[str, Any]:
    """The nights page: the configured windows and the next one, the latest nights, and the
    report of the last night that ended (or of ``night_id``)."""
    from printctl.night.run import nights as night_rows
    from printctl.night.windows import next_window, window_now

    now = ctx.clock()
    current = window_now(ctx.settings.overnight, now)
    coming = next_window(ctx.settings.overnight, now)
    rows = []
    for night in night_rows(ctx):
        report = json.loads(night.report or "{}")
        plan = json.loads(night.plan or "{}")
        rows.append(
            {
                "id": night.id,
                "station": night.station,
                "window": (as_utc(night.window_start), as_utc(night.window_end)),
                "state": night.state,
                "planned": plan.get("planned", 0),
                "printed": report.get("totals", {}).get("printed"),
                "first_thing": report.get("first_thing", ""),
            }
        )
    return {
        "windows": list(ctx.settings.overnight),
        "now": current,
        "next": coming,
        "nights": rows,
        "reserve": ctx.settings.night_reserve,
    }


def night_report(ctx: service.Context, night_id: int | None) -> dict[str, Any] | None:
    """A night's morning report (the last ended night's by default; None: none yet)."""
    from printctl.night.run import stored_report

    try:
        return stored_report(ctx, night_id)
    except service.UserError:
        if night_id is None:
            return None
        raise


def night_plan(ctx: service.Context) -> dict[str, Any] | None:
    """Tonight's plan as it would be made now: the window open now, else the next configured
    one (None: no window configured)."""
    from printctl.night.run import plan_now
    from printctl.night.windows import next_window, window_now

    now = ctx.clock()
    window = window_now(ctx.settings.overnight, now) or next_window(ctx.settings.overnight, now)
    if window is None or not ctx.settings.printers:
        return None
    plan = plan_now(ctx, ctx.settings.printers, window_start=window[0], window_end=window[1])
    out = plan.as_dict()
    out.pop("record_pks", None)
    return out
