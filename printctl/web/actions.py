"""Every change the console and the API can make, declared once.

Each action names its path, the permission it needs, the fields it takes (a pydantic model)
and a function calling the service layer. :func:`printctl.web.app.create_app` mounts each
twice: ``POST /api/v1<path>`` taking JSON and answering JSON, and ``POST <path>`` taking the
console's form and answering with a redirect and a message. Both run the same code, so the
console can do nothing the API cannot, and the role checks are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from printctl import service, service_records, service_stock, service_users
from printctl.models import EvidenceKind
from printctl.queue.batches import BatchFilters, StockMode
from printctl.users import Role
from printctl.web.permissions import Perm


def _blank_is_none(value: Any) -> Any:
    # An empty form field means "not given", not an invalid number.
    return None if isinstance(value, str) and not value.strip() else value


OptInt = Annotated[int | None, BeforeValidator(_blank_is_none)]
OptStr = Annotated[str | None, BeforeValidator(_blank_is_none)]


@dataclass
class Done:
    """What an action did: the sentence shown to the person, where the console goes next,
    and data for API callers."""

    message: str
    go: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    """One declared change."""

    path: str
    perm: Perm
    run: Callable[..., Done]
    body: type[BaseModel] | None
    params: dict[str, type]
    summary: str
    #: The station service should look for work now (a batch started, a printer resumed).
    wakes: bool = False


ACTIONS: list[Action] = []


def action(
    path: str,
    perm: Perm,
    body: type[BaseModel] | None = None,
    *,
    wakes: bool = False,
    **params: type,
) -> Callable[[Callable[..., Done]], Callable[..., Done]]:
    """Declare ``run(ctx, [body], **path_params) -> Done`` as the action at ``path``."""

    def register(run: Callable[..., Done]) -> Callable[..., Done]:
        summary = (run.__doc__ or run.__name__).strip().splitlines()[0]
        ACTIONS.append(Action(path, perm, run, body, params, summary, wakes))
        return run

    return register


# ---------------------------------------------------------------------------- batches


class CreateBatch(BaseModel):
    """A new batch from ready records."""

    district: OptStr = None
    request_type: OptStr = None
    min_age_days: OptInt = Field(default=None, ge=0)
    limit: OptInt = Field(default=None, ge=1)
    name: OptStr = Field(default=None, max_length=200)
    priority: int = 0
    #: Queue only as many records as there are free blanks (first-time cards first).
    trim: bool = False
    #: Start printing at once.
    start: bool = False


@action("/batches", Perm.RUN_BATCHES, CreateBatch, wakes=True)
def create_batch(ctx: service.Context, body: CreateBatch) -> Done:
    """Create a batch from ready records (checked against the free blanks)."""
    filters = BatchFilters(
        district=body.district,
        request_type=body.request_type,
        limit=body.limit,
        min_age_days=body.min_age_days,
    )
    batch_id, count = service.new_batch(
        ctx,
        filters,
        name=body.name,
        priority=body.priority,
        stock_mode=StockMode.TRIM if body.trim else StockMode.REFUSE,
    )
    if body.start:
        service.release_batches(ctx, [batch_id])
    verb = "created and started" if body.start else "created"
    return Done(
        f"batch {batch_id} {verb}: {count} card(s)",
        go=f"/batches/{batch_id}",
        data={"batch_id": batch_id, "jobs": count, "started": body.start},
    )


@action("/batches/{batch_id}/start", Perm.RUN_BATCHES, wakes=True, batch_id=int)
def start_batch(ctx: service.Context, batch_id: int) -> Done:
    """Start (or restart a paused) batch: the printers take its jobs."""
    service.release_batches(ctx, [batch_id])
    return Done(f"batch {batch_id} started", go=f"/batches/{batch_id}")


@action("/batches/{batch_id}/pause", Perm.RUN_BATCHES, batch_id=int)
def pause_batch(ctx: service.Context, batch_id: int) -> Done:
    """Pause a batch: cards in a printer finish, no new ones start."""
    service.change_batch(ctx, batch_id, "pause")
    return Done(f"batch {batch_id} paused", go=f"/batches/{batch_id}")


@action("/batches/{batch_id}/cancel", Perm.RUN_BATCHES, batch_id=int)
def cancel_batch(ctx: service.Context, batch_id: int) -> Done:
    """Cancel a batch's jobs that have not started."""
    canceled = service.change_batch(ctx, batch_id, "cancel")
    return Done(
        f"batch {batch_id} canceled: {canceled} job(s) withdrawn",
        go=f"/batches/{batch_id}",
        data={"canceled": canceled},
    )


# ---------------------------------------------------------------------------- jobs


class Inspection(BaseModel):
    """What a person found for a card whose outcome was unknown."""

    found: str = Field(description="issued, spoiled or none")
    chip_uid: OptStr = Field(default=None, max_length=40)
    note: str = Field(default="", max_length=500)


@action("/jobs/{job_id}/inspect", Perm.RESOLVE_JOBS, Inspection, wakes=True, job_id=int)
def inspect_job(ctx: service.Context, body: Inspection, job_id: int) -> Done:
    """Record an inspection: was a good card issued, spoiled, or never made?"""
    outcome = service.inspect_job(ctx, job_id, body.found, chip_uid=body.chip_uid, note=body.note)
    return Done(
        f"job {job_id}: recorded as {body.found}",
        go="/attention",
        data={"printer": outcome.printer},
    )


class Note(BaseModel):
    """A note for the audit log."""

    note: str = Field(default="", max_length=500)


@action("/jobs/{job_id}/hold", Perm.RESOLVE_JOBS, Note, job_id=int)
def hold_job(ctx: service.Context, body: Note, job_id: int) -> Done:
    """Set a pending job aside until a person releases it."""
    service.hold(ctx, job_id, body.note)
    return Done(f"job {job_id} held")


@action("/jobs/{job_id}/release", Perm.RESOLVE_JOBS, Note, wakes=True, job_id=int)
def release_job(ctx: service.Context, body: Note, job_id: int) -> Done:
    """Release a held job back to the queue."""
    why = service.release(ctx, job_id, body.note)
    return Done(f"job {job_id} released (it was held: {why})")


# ---------------------------------------------------------------------------- printers


@action("/printers/{name}/pause", Perm.OPERATE_PRINTERS, Note, name=str)
def pause_printer(ctx: service.Context, body: Note, name: str) -> Done:
    """Pause a printer after the card it is printing."""
    return Done(service.pause_printer(ctx, name, body.note), go="/printers")


@action("/printers/{name}/resume", Perm.OPERATE_PRINTERS, wakes=True, name=str)
def resume_printer(ctx: service.Context, name: str) -> Done:
    """Resume a stopped or paused printer."""
    why = service.resume(ctx, name)
    return Done(f"{name} resumed (it had stopped: {why})", go="/printers")


@action("/printers/{name}/test-print", Perm.TEST_PRINT, name=str)
def test_print(ctx: service.Context, name: str) -> Done:
    """Print the test card on a paused printer (uses one blank, recorded as test-print)."""
    from printctl.service_printers import test_print as run

    return Done(run(ctx, name), go="/printers")


# ---------------------------------------------------------------------------- records


class ReprintRequest(BaseModel):
    """The evidence a reprint rests on."""

    evidence: str = Field(max_length=200)
    kind: EvidenceKind | None = None


@action("/records/{record_id}/request-reprint", Perm.REQUEST_REPRINT, ReprintRequest, record_id=str)
def request_reprint(ctx: service.Context, body: ReprintRequest, record_id: str) -> Done:
    """Ask a supervisor to approve a reprint, naming the evidence."""
    said = service_records.request_reprint(ctx, record_id, evidence=body.evidence, kind=body.kind)
    return Done(
        f"reprint of {said} requested; a supervisor approves it", go=f"/records/{record_id}"
    )


@action("/records/{record_id}/approve", Perm.APPROVE, record_id=str)
def approve_reprint(ctx: service.Context, record_id: str) -> Done:
    """Approve a requested reprint (a supervisor who did not request it)."""
    said = service_records.approve_reprint(ctx, record_id)
    return Done(f"reprint of {said} approved: it is ready for a batch", go="/attention")


class Refusal(BaseModel):
    """Why a reprint is refused."""

    reason: str = Field(max_length=500)


@action("/records/{record_id}/refuse", Perm.APPROVE, Refusal, record_id=str)
def refuse_reprint(ctx: service.Context, body: Refusal, record_id: str) -> Done:
    """Refuse a requested reprint: the record is never printed."""
    return Done(service_records.refuse_reprint(ctx, record_id, reason=body.reason), go="/attention")


class Handover(BaseModel):
    """Who checked the holder's fingerprint at the counter."""

    verified_by: str = Field(max_length=100)


@action("/records/{record_id}/handover", Perm.HANDOVER, Handover, record_id=str)
def handover(ctx: service.Context, body: Handover, record_id: str) -> Done:
    """Record that the printed card was handed to its holder."""
    said = service_records.handover(ctx, record_id, verified_by=body.verified_by)
    return Done(f"card of {said} handed over", go=f"/records/{record_id}")


# ---------------------------------------------------------------------------- stock


class Delivery(BaseModel):
    """Blanks received from the province."""

    count: int = Field(ge=1)
    lot: str = Field(min_length=1, max_length=100)
    document: OptStr = Field(default=None, max_length=100)
    serial_first: OptStr = Field(default=None, max_length=40)
    serial_last: OptStr = Field(default=None, max_length=40)
    note: str = Field(default="", max_length=500)


@action("/stock/receive", Perm.STOCK_WORK, Delivery)
def receive(ctx: service.Context, body: Delivery) -> Done:
    """Record a delivery of blanks into the vault."""
    entry = service_stock.receive_delivery(
        ctx,
        body.count,
        body.lot,
        document=body.document,
        serial_first=body.serial_first,
        serial_last=body.serial_last,
        note=body.note,
    )
    return Done(
        f"{body.count} blank(s) received (lot {body.lot})", go="/stock", data={"entry": entry.id}
    )


class HopperMove(BaseModel):
    """Blanks between the vault and a printer's hopper."""

    printer: str = Field(min_length=1, max_length=100)
    count: int = Field(ge=1)


@action("/stock/load", Perm.STOCK_WORK, HopperMove, wakes=True)
def load(ctx: service.Context, body: HopperMove) -> Done:
    """Record blanks put into a printer's hopper from the vault."""
    service_stock.load_printer(ctx, body.printer, body.count)
    return Done(f"{body.count} blank(s) loaded into {body.printer}", go="/stock")


@action("/stock/unload", Perm.STOCK_WORK, HopperMove)
def unload(ctx: service.Context, body: HopperMove) -> Done:
    """Record blanks taken out of a printer's hopper back to the vault."""
    service_stock.unload_printer(ctx, body.printer, body.count)
    return Done(f"{body.count} blank(s) taken out of {body.printer}", go="/stock")


class Count(BaseModel):
    """A physical count of one location."""

    location: str = Field(min_length=1, max_length=120)
    counted: int = Field(ge=0)
    note: str = Field(default="", max_length=500)


@action("/stock/count", Perm.STOCK_WORK, Count)
def count(ctx: service.Context, body: Count) -> Done:
    """Record a physical count (a difference opens a discrepancy for a supervisor)."""
    row = service_stock.count_location(ctx, body.location, body.counted, body.note)
    if row.state == "open":
        return Done(
            f"count of {body.location}: {body.counted}, the ledger says {row.expected}; "
            "a supervisor must resolve the difference",
            go="/stock",
            data={"count": row.id, "expected": row.expected, "matched": False},
        )
    return Done(
        f"count of {body.location}: {body.counted} matches the ledger",
        go="/stock",
        data={"count": row.id, "expected": row.expected, "matched": True},
    )


class Adjustment(BaseModel):
    """A proposed correction of one location."""

    location: str = Field(min_length=1, max_length=120)
    delta: int
    reason: str = Field(min_length=1, max_length=500)


@action("/stock/adjust", Perm.STOCK_WORK, Adjustment)
def adjust(ctx: service.Context, body: Adjustment) -> Done:
    """Propose an adjustment; a supervisor approves it."""
    proposal = service_stock.propose_adjustment(ctx, body.location, body.delta, body.reason)
    return Done(f"adjustment #{proposal.id} proposed", go="/stock", data={"proposal": proposal.id})


class Destruction(BaseModel):
    """A destruction of the spoiled cards before witnesses."""

    witnesses: str = Field(description="two or more names, comma-separated", max_length=500)
    place: str = Field(min_length=1, max_length=200)
    method: str = Field(min_length=1, max_length=200)


@action("/stock/destroy", Perm.DESTRUCTION, Destruction)
def destroy(ctx: service.Context, body: Destruction) -> Done:
    """Propose the destruction of the spoiled cards; a second supervisor approves it."""
    names = [w.strip() for w in body.witnesses.split(",") if w.strip()]
    proposal = service_stock.propose_destruction(ctx, names, body.place, body.method, None)
    return Done(f"destruction #{proposal.id} proposed", go="/stock", data={"proposal": proposal.id})


class Day(BaseModel):
    """A business day (YYYY-MM-DD; empty: today)."""

    day: OptStr = None


@action("/stock/close-day", Perm.CLOSE_DAY, Day)
def close_day(ctx: service.Context, body: Day) -> Done:
    """Close the business day (refused with what to settle first)."""
    check = service_stock.close_day(ctx, body.day)
    if not check.can_close:
        raise service.UserError(
            f"{check.day} cannot be closed yet: " + "; ".join(p.message for p in check.problems)
        )
    return Done(
        f"{check.day} closed",
        go="/stock",
        data={"day": str(check.day), "warnings": list(check.warnings)},
    )


@action("/stock/proposals/{proposal_id}/approve", Perm.APPROVE, Note, proposal_id=int)
def approve_proposal(ctx: service.Context, body: Note, proposal_id: int) -> Done:
    """Approve a stock proposal (not one's own)."""
    proposal = service_stock.approve_proposal(ctx, proposal_id, body.note)
    return Done(f"{proposal.kind} #{proposal_id} approved and carried out", go="/attention")


@action("/stock/proposals/{proposal_id}/reject", Perm.APPROVE, Note, proposal_id=int)
def reject_proposal(ctx: service.Context, body: Note, proposal_id: int) -> Done:
    """Turn a stock proposal down (say why)."""
    proposal = service_stock.reject_proposal(ctx, proposal_id, body.note)
    return Done(f"{proposal.kind} #{proposal_id} rejected", go="/attention")


# ---------------------------------------------------------------------------- users


class NewUser(BaseModel):
    """A new user."""

    name: str = Field(min_length=1, max_length=100)
    role: Role
    password: str = Field(min_length=1, max_length=200)


@action("/users", Perm.USERS, NewUser)
def add_user(ctx: service.Context, body: NewUser) -> Done:
    """Add a user with a role and a first password."""
    name = service_users.add_user(ctx, body.name, body.role, body.password)
    return Done(f"user {name} added ({body.role.value})", go="/users")


@action("/users/{name}/disable", Perm.USERS, name=str)
def disable_user(ctx: service.Context, name: str) -> Done:
    """Disable a user (their sessions and tokens stop working at once)."""
    service_users.set_disabled(ctx, name, True)
    return Done(f"user {name} disabled", go="/users")


@action("/users/{name}/enable", Perm.USERS, name=str)
def enable_user(ctx: service.Context, name: str) -> Done:
    """Enable a disabled user."""
    service_users.set_disabled(ctx, name, False)
    return Done(f"user {name} enabled", go="/users")
