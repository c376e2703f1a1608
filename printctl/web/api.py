"""The API's reads (``GET /api/v1/…``), the OpenAPI document, and the health check.

The changes are declared in :mod:`printctl.web.actions`. Every route here but ``/health``
needs a signed-in user or an API token (``Authorization: Bearer pct_…``, from
``printctl users token NAME``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from printctl import service
from printctl.db import read_session
from printctl.web import views
from printctl.web.auth import Caller, need
from printctl.web.permissions import Perm, roles_with

API = "/api/v1"


class Reveal(BaseModel):
    """Why one record's full NIK is opened (kept in the audit log)."""

    reason: str = Field(min_length=1, max_length=300)


def _extra(perm: Perm) -> dict[str, Any]:
    return {"x-permission": perm.value, "x-roles": roles_with(perm)}


Viewer = Annotated[Caller, need(Perm.VIEW)]
Auditor = Annotated[Caller, need(Perm.AUDIT)]
Admin = Annotated[Caller, need(Perm.USERS)]


def mount(app: FastAPI) -> None:
    """Add the read routes to ``app``."""

    @app.get("/health", tags=["health"], summary="Is the service up and its database reachable")
    def health(request: Request) -> JSONResponse:
        ctx: service.Context = request.app.state.web.ctx
        try:
            with read_session(ctx.engine) as session:
                session.execute(text("SELECT 1"))
        except Exception:  # any database failure means "not healthy", said plainly
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "station": ctx.station})

    @app.get(f"{API}/openapi.json", tags=["api"], openapi_extra=_extra(Perm.VIEW))
    def openapi(caller: Viewer, request: Request) -> dict[str, Any]:
        """This API's OpenAPI document."""
        document: dict[str, Any] = request.app.openapi()
        return document

    @app.get(f"{API}/me", tags=["api"], openapi_extra=_extra(Perm.VIEW))
    def me(caller: Viewer) -> dict[str, Any]:
        """Who the token or session belongs to, and what the role may do."""
        from printctl.users import Role
        from printctl.web.permissions import ROLE_PERMS

        return {
            "name": caller.name,
            "role": caller.role,
            "permissions": sorted(p.value for p in ROLE_PERMS[Role(caller.role)]),
        }

    @app.get(f"{API}/dashboard", tags=["api"], openapi_extra=_extra(Perm.VIEW))
    async def dashboard(caller: Viewer, request: Request) -> dict[str, Any]:
        """Printers, queue, stock and the count of what needs a person."""
        live = request.app.state.web.live()
        return await run_in_threadpool(views.dashboard, caller.ctx, live)

    @app.get(f"{API}/printers", tags=["api"], openapi_extra=_extra(Perm.VIEW))
    async def printers(caller: Viewer, request: Request) -> list[dict[str, Any]]:
        """Every printer with its state, levels and the action a stop needs."""
        live = request.app.state.web.live()
        return await run_in_threadpool(views.printers, caller.ctx, live)

    @app.get(f"{API}/attention", tags=["api"], openapi_extra=_extra(Perm.VIEW))
    def attention(caller: Viewer) -> dict[str, Any]:
        """Cards in doubt, stopped printers, reprints and stock decisions waiting."""
        return views.attention(caller.ctx)

    @app.get(f"{API}/records", tags=["api"], openapi_extra=_extra(Perm.VIEW))
    def records(
        caller: Viewer,
        district: str | None = None,
        request_type: str | None = None,
        min_age_days: Annotated[int | None, Query(ge=0)] = None,
        state: str = "ready",
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> dict[str, Any]:
        """Records in a state (ready by default), oldest first, NIKs masked."""
        filters = views.RecordFilters(district, request_type, min_age_days, state, limit)
        return views.records(caller.ctx, filters)

    @app.get(f"{API}/records/{{record_id}}", tags=["api"], openapi_extra=_extra(Perm.VIEW))
    def record(caller: Viewer, record_id: str) -> Any:
        """One record's versions and jobs, NIK masked."""
        try:
            return views.record(caller.ctx, record_id)
        except service.UserError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.get(f"{API}/batches", tags=["api"], openapi_extra=_extra(Perm.VIEW))
    def batches(caller: Viewer) -> list[dict[str, Any]]:
        """Batches, newest first, with their progress."""
        return views.batches(caller.ctx)

    @app.get(f"{API}/batches/{{batch_id}}", tags=["api"], openapi_extra=_extra(Perm.VIEW))
    def batch(caller: Viewer, batch_id: int) -> Any:
        """One batch with every job."""
        try:
            return views.batch(caller.ctx, batch_id)
        except service.UserError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.get(f"{API}/nights", tags=["api"], openapi_extra=_extra(Perm.VIEW))
    def nights(caller: Viewer) -> dict[str, Any]:
        """The night windows, the next one, and the latest nights."""
        data = views.nights(caller.ctx)
        for key in ("now", "next"):
            if data[key] is not None:
                data[key] = [moment.isoformat() for moment in data[key]]
        for night in data["nights"]:
            night["window"] = [moment.isoformat() for moment in night["window"]]
        return data

    @app.get(f"{API}/nights/plan", tags=["api"], openapi_extra=_extra(Perm.VIEW))
    def night_plan(caller: Viewer) -> Any:
        """Tonight's plan, as it would be made now (nothing is printed)."""
        return views.night_plan(caller.ctx)

    @app.get(f"{API}/nights/{{night_id}}", tags=["api"], openapi_extra=_extra(Perm.VIEW))
    def night(caller: Viewer, night_id: int) -> Any:
        """One night's morning report."""
        try:
            return views.night_report(caller.ctx, night_id)
        except service.UserError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.get(f"{API}/stock", tags=["api"], openapi_extra=_extra(Perm.VIEW))
    def stock(caller: Viewer) -> dict[str, Any]:
        """Blanks on hand per location, free for batches, in doubt, and the warnings."""
        return views.stock(caller.ctx)

    @app.get(f"{API}/audit", tags=["api"], openapi_extra=_extra(Perm.AUDIT))
    def audit(
        caller: Auditor,
        actor: str | None = None,
        action: str | None = None,
        entity: str | None = None,
        entity_id: str | None = None,
        text: str | None = None,
        first: datetime | None = None,
        last: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    ) -> list[dict[str, Any]]:
        """Audit events matching the search, newest first."""
        filters = views.AuditFilters(actor, action, entity, entity_id, text, first, last, limit)
        return views.audit(caller.ctx, filters)

    @app.get(f"{API}/users", tags=["api"], openapi_extra=_extra(Perm.USERS))
    def users(caller: Admin) -> list[dict[str, Any]]:
        """Every user with role and state (never a password hash)."""
        from printctl.service_users import list_users

        return [
            {
                "name": u.name,
                "display_name": u.display_name,
                "role": u.role,
                "disabled": u.disabled,
                "last_login_at": u.last_login_at,
                "locked_until": u.locked_until,
            }
            for u in list_users(caller.ctx)
        ]

    mount_reveal(app)


def mount_reveal(app: FastAPI) -> None:
    """``POST /api/v1/records/{id}/reveal``: one record's full NIK, journaled."""
    from printctl.service_records import reveal_nik

    @app.post(
        f"{API}/records/{{record_id}}/reveal",
        tags=["api"],
        openapi_extra=_extra(Perm.REVEAL_NIK),
    )
    def reveal(
        caller: Annotated[Caller, need(Perm.REVEAL_NIK)], record_id: str, body: Reveal
    ) -> Any:
        """The full NIK of one record (the opening and its reason go to the audit log)."""
        try:
            return {
                "record_id": record_id,
                "nik": reveal_nik(caller.ctx, record_id, reason=body.reason),
            }
        except service.UserError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
