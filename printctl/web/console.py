"""The console's pages: login, dashboard, records, batches, attention, stock, printers, audit,
users; the fragments the pages poll for live updates; the PDFs and CSV exports.

Pages are rendered on the server (Jinja2) and work without JavaScript; a few lines of
script (``templates/_script.html``) refresh the live parts every few seconds. Nothing is
loaded from outside the office's LAN.
"""

from __future__ import annotations

import csv
import io
import secrets
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from printctl import service, service_stock
from printctl.db import read_session, session_scope
from printctl.models import Destruction
from printctl.users import login as check_login
from printctl.web import i18n, views
from printctl.web.app import (
    FLASH_COOKIE,
    WEB_USER_ERRORS,
    WebState,
    back_to,
    safe_next,
    set_flash,
    take_flash,
)
from printctl.web.auth import Caller, need, web_state
from printctl.web.permissions import Perm
from printctl.web.sessions import (
    COOKIE,
    CSRF_FIELD,
    LOGIN_COOKIE,
    end_session,
    set_language,
    start_session,
)

Viewer = Annotated[Caller, need(Perm.VIEW)]
Auditor = Annotated[Caller, need(Perm.AUDIT)]
Admin = Annotated[Caller, need(Perm.USERS)]
Revealer = Annotated[Caller, need(Perm.REVEAL_NIK)]

#: The menu: path, label, the permission that shows it.
NAV = (
    ("/", "Dashboard", Perm.VIEW),
    ("/records", "Ready records", Perm.VIEW),
    ("/batches", "Batches", Perm.VIEW),
    ("/attention", "Attention", Perm.VIEW),
    ("/stock", "Stock", Perm.VIEW),
    ("/printers", "Printers", Perm.VIEW),
    ("/night", "Nights", Perm.VIEW),
    ("/audit", "Audit log", Perm.AUDIT),
    ("/users", "Users", Perm.USERS),
)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def page(
    request: Request,
    caller: Caller | None,
    template: str,
    *,
    status_code: int = 200,
    **values: Any,
) -> Response:
    """Render ``template`` with the caller, the menu, the language and the flash message."""
    state = web_state(request)
    language = caller.language if caller else _login_language(request, state)
    response = state.templates.TemplateResponse(
        request,
        template,
        {
            "caller": caller,
            "nav": [(p, label) for p, label, perm in NAV if caller and caller.can(perm)],
            "path": request.url.path,
            "flash": take_flash(request),
            "csrf_field": CSRF_FIELD,
            "csrf": caller.csrf_token if caller else "",
            "office": state.ctx.settings.office_name,
            "station": state.ctx.station,
            **i18n.context(language),
            **values,
        },
        status_code=status_code,
    )
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE)
    return response


def _login_language(request: Request, state: WebState) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get("printctl_lang", "")
    return chosen if chosen in i18n.LANGUAGES else state.language


async def _read(caller: Caller, fn: Callable[..., Any], *args: Any) -> Any:
    # Reads touch the database: off the event loop, so polling never stalls a page.
    return await run_in_threadpool(fn, caller.ctx, *args)


def mount(app: FastAPI) -> None:
    """Add the console's pages to ``app``."""
    _login_routes(app)
    _pages(app)
    _documents(app)


# ---------------------------------------------------------------------------- login


def _login_routes(app: FastAPI) -> None:
    @app.get("/login", response_class=HTMLResponse, tags=["console"], summary="The login page")
    def login_page(request: Request, next: str = "/", lang: str | None = None) -> Response:
        token = secrets.token_urlsafe(24)
        response = page(request, None, "login.html", next=safe_next(next), login_token=token)
        response.set_cookie(
            LOGIN_COOKIE, token, httponly=True, samesite="strict", max_age=3600, path="/login"
        )
        if lang in i18n.LANGUAGES:
            response.set_cookie("printctl_lang", lang, samesite="strict", max_age=365 * 86400)
        return response

    @app.post("/login", tags=["console"], summary="Sign in (name and password)")
    def login_submit(
        request: Request,
        name: Annotated[str, Form(max_length=100)],
        password: Annotated[str, Form(max_length=200)],
        login_token: Annotated[str, Form(max_length=100)] = "",
        next: Annotated[str, Form(max_length=500)] = "/",
    ) -> Response:
        state = web_state(request)
        ctx = state.ctx
        address = _address(request)
        now = ctx.clock()

        def refuse(message: str, status: int) -> Response:
            token = secrets.token_urlsafe(24)
            response = page(
                request,
                None,
                "login.html",
                status_code=status,
                next=safe_next(next),
                login_token=token,
                error=message,
                name=name,
            )
            response.set_cookie(
                LOGIN_COOKIE, token, httponly=True, samesite="strict", max_age=3600, path="/login"
            )
            return response

        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not secrets.compare_digest(expected, login_token):
            return refuse("The login form expired: please try again.", 400)
        wait = state.limiter.wait_s(address, now)
        if wait:
            with session_scope(ctx.engine) as session:
                ctx.journal(
                    session,
                    "user.login-throttled",
                    entity="address",
                    entity_id=address,
                    outcome="refused",
                    detail={"name": name[:100]},
                )
            return refuse(f"Too many failed logins from this computer; try again in {wait} s.", 429)
        language = _login_language(request, state)
        with session_scope(ctx.engine) as session:
            result = check_login(session, name, password, station=ctx.station, clock=ctx.clock)
            session_id = (
                start_session(
                    session, result.user, address=address, language=language, clock=ctx.clock
                )
                if result.user is not None
                else None
            )
        if session_id is None:
            state.limiter.failed(address, now)
            return refuse(result.reason, 401)
        response = RedirectResponse(safe_next(next), status_code=303)
        response.set_cookie(
            COOKIE,
            session_id,
            httponly=True,
            samesite="strict",
            secure=ctx.settings.secure_cookies,
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @app.post(
        "/logout",
        tags=["console"],
        summary="Sign out",
        openapi_extra={"x-permission": Perm.VIEW.value},
    )
    def logout(request: Request, caller: Viewer) -> Response:
        ctx = web_state(request).ctx
        with session_scope(ctx.engine) as session:
            if caller.session_id:
                end_session(session, caller.session_id)
            caller.ctx.journal(session, "user.logout", entity="user", entity_id=caller.name)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.post(
        "/language",
        tags=["console"],
        summary="Choose the console's language",
        openapi_extra={"x-permission": Perm.VIEW.value},
    )
    def language(
        request: Request, caller: Viewer, lang: Annotated[str, Form(max_length=5)]
    ) -> Response:
        if lang in i18n.LANGUAGES and caller.session_id:
            with session_scope(web_state(request).ctx.engine) as session:
                set_language(session, caller.session_id, lang)
        response = RedirectResponse(back_to(request, "/"), status_code=303)
        response.set_cookie("printctl_lang", lang, samesite="strict", max_age=365 * 86400)
        return response


# ---------------------------------------------------------------------------- pages


def _pages(app: FastAPI) -> None:
    def get(path: str, perm: Perm = Perm.VIEW, **kwargs: Any) -> Callable[..., Any]:
        return app.get(
            path,
            response_class=HTMLResponse,
            tags=["console"],
            openapi_extra={"x-permission": perm.value},
            **kwargs,
        )

    @get("/", summary="Dashboard")
    async def dashboard(request: Request, caller: Viewer) -> Response:
        data = await _read(caller, views.dashboard, web_state(request).live())
        return page(request, caller, "dashboard.html", d=data)

    @get("/fragments/dashboard", summary="Dashboard (live part)")
    async def dashboard_live(request: Request, caller: Viewer) -> Response:
        data = await _read(caller, views.dashboard, web_state(request).live())
        return page(request, caller, "_dashboard_live.html", d=data)

    @get("/records", summary="Ready records")
    async def records(
        request: Request,
        caller: Viewer,
        district: str | None = None,
        request_type: str | None = None,
        min_age_days: str | None = None,
        state: str = "ready",
    ) -> Response:
        age = int(min_age_days) if min_age_days and min_age_days.isdigit() else None
        filters = views.RecordFilters(district or None, request_type or None, age, state)
        data = await _read(caller, views.records, filters)
        return page(request, caller, "records.html", r=data, f=filters)

    @get("/records/{record_id}", summary="One record")
    async def record(request: Request, caller: Viewer, record_id: str) -> Response:
        try:
            data = await _read(caller, views.record, record_id)
        except service.UserError as exc:
            return page(request, caller, "missing.html", status_code=404, message=str(exc))
        return page(request, caller, "record.html", rec=data, nik=None)

    @app.post(
        "/records/{record_id}/reveal",
        response_class=HTMLResponse,
        tags=["console"],
        summary="Open one record's full NIK (journaled)",
        openapi_extra={"x-permission": Perm.REVEAL_NIK.value},
    )
    async def reveal(
        request: Request,
        caller: Revealer,
        record_id: str,
        reason: Annotated[str, Form(max_length=300)] = "",
    ) -> Response:
        from printctl.service_records import reveal_nik

        try:
            data = await _read(caller, views.record, record_id)
            nik = await run_in_threadpool(reveal_nik, caller.ctx, record_id, reason=reason)
        except WEB_USER_ERRORS as exc:
            response = RedirectResponse(f"/records/{record_id}", status_code=303)
            set_flash(response, "error", str(exc))
            return response
        # Shown once, in this response only: never in a cookie, a redirect or a cache.
        return page(request, caller, "record.html", rec=data, nik=nik)

    @get("/batches", summary="Batches")
    async def batches(request: Request, caller: Viewer) -> Response:
        return page(request, caller, "batches.html", batches=await _read(caller, views.batches))

    @get("/batches/{batch_id}", summary="One batch, live")
    async def batch(request: Request, caller: Viewer, batch_id: int) -> Response:
        try:
            data = await _read(caller, views.batch, batch_id)
        except service.UserError as exc:
            return page(request, caller, "missing.html", status_code=404, message=str(exc))
        return page(request, caller, "batch.html", b=data)

    @get("/fragments/batches/{batch_id}", summary="One batch (live part)")
    async def batch_live(request: Request, caller: Viewer, batch_id: int) -> Response:
        try:
            data = await _read(caller, views.batch, batch_id)
        except service.UserError as exc:
            return page(request, caller, "missing.html", status_code=404, message=str(exc))
        return page(request, caller, "_batch_live.html", b=data)

    @get("/attention", summary="What needs a person")
    async def attention(request: Request, caller: Viewer) -> Response:
        return page(request, caller, "attention.html", a=await _read(caller, views.attention))

    @get("/fragments/attention", summary="What needs a person (live part)")
    async def attention_live(request: Request, caller: Viewer) -> Response:
        return page(request, caller, "_attention_live.html", a=await _read(caller, views.attention))

    @get("/stock", summary="Blank stock")
    async def stock(request: Request, caller: Viewer) -> Response:
        data = await _read(caller, views.stock)

        def destructions(ctx: service.Context) -> list[Destruction]:
            with read_session(ctx.engine) as session:
                return list(
                    session.exec(select(Destruction).order_by(col(Destruction.id).desc()).limit(20))
                )

        done = await _read(caller, destructions)
        printers = [p.name for p in caller.ctx.settings.printers]
        return page(request, caller, "stock.html", s=data, destructions=done, printers=printers)

    @get("/printers", summary="Printers")
    async def printers(request: Request, caller: Viewer) -> Response:
        data = await _read(caller, views.printers, web_state(request).live())
        return page(request, caller, "printers.html", printers=data)

    @get("/fragments/printers", summary="Printers (live part)")
    async def printers_live(request: Request, caller: Viewer) -> Response:
        data = await _read(caller, views.printers, web_state(request).live())
        return page(request, caller, "_printers_live.html", printers=data)

    @get("/night", summary="Night runs and the last morning report")
    async def night(request: Request, caller: Viewer) -> Response:
        data = await _read(caller, views.nights)
        report = await _read(caller, views.night_report, None)
        return page(request, caller, "night.html", n=data, r=report)

    @get("/nights/{night_id}", summary="One night's morning report")
    async def night_one(request: Request, caller: Viewer, night_id: int) -> Response:
        data = await _read(caller, views.nights)
        report = await _read(caller, views.night_report, night_id)
        return page(request, caller, "night.html", n=data, r=report)

    @get("/night/plan", summary="Tonight's plan (nothing is printed)")
    async def night_plan(request: Request, caller: Viewer) -> Response:
        plan = await _read(caller, views.night_plan)
        return page(request, caller, "night_plan.html", p=plan)

    @get("/audit", Perm.AUDIT, summary="Audit log")
    async def audit(
        request: Request,
        caller: Auditor,
        actor: str | None = None,
        action: str | None = None,
        entity: str | None = None,
        entity_id: str | None = None,
        text: str | None = None,
        first: str | None = None,
        last: str | None = None,
    ) -> Response:
        filters = _audit_filters(actor, action, entity, entity_id, text, first, last, 200)
        events = await _read(caller, views.audit, filters)
        return page(request, caller, "audit.html", events=events, f=filters, q=request.url.query)

    @get("/users", Perm.USERS, summary="Users")
    async def users(request: Request, caller: Admin) -> Response:
        from printctl.service_users import list_users

        rows = await _read(caller, list_users)
        return page(request, caller, "users.html", users=rows)


def _day(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _audit_filters(
    actor: str | None,
    action: str | None,
    entity: str | None,
    entity_id: str | None,
    text: str | None,
    first: str | None,
    last: str | None,
    limit: int,
) -> views.AuditFilters:
    return views.AuditFilters(
        actor=actor or None,
        action=action or None,
        entity=entity or None,
        entity_id=entity_id or None,
        text=text or None,
        first=_day(first),
        last=_day(last),
        limit=limit,
    )


# ---------------------------------------------------------------------------- documents


def _pdf(make: Callable[[Path], Path]) -> Response:
    with tempfile.TemporaryDirectory(prefix="printctl-pdf-") as folder:
        path = make(Path(folder))
        data = path.read_bytes()
        name = path.name
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _documents(app: FastAPI) -> None:
    def get(path: str, perm: Perm, summary: str) -> Callable[..., Any]:
        return app.get(
            path, tags=["console"], summary=summary, openapi_extra={"x-permission": perm.value}
        )

    def failed(exc: Exception) -> Response:
        response = RedirectResponse("/stock", status_code=303)
        set_flash(response, "error", str(exc))
        return response

    async def paper(make: Callable[[Path], Path]) -> Response:
        # A paper that cannot be made (no such day, no destruction yet) is a message on
        # the stock page, not an error page.
        try:
            return await run_in_threadpool(_pdf, make)
        except WEB_USER_ERRORS as exc:
            return failed(exc)

    @get("/stock/statement.pdf", Perm.VIEW, "The daily stock statement (PDF)")
    async def statement(caller: Viewer, day: str | None = None) -> Response:
        return await paper(
            lambda folder: service_stock.statement_pdf(caller.ctx, day or None, folder)
        )

    @get("/stock/monthly.pdf", Perm.VIEW, "The monthly stock report (PDF)")
    async def monthly(caller: Viewer, month: str | None = None) -> Response:
        return await paper(
            lambda folder: service_stock.monthly_pdf(caller.ctx, month or None, folder)
        )

    @get("/stock/destruction.pdf", Perm.VIEW, "A destruction's berita acara (PDF)")
    async def destruction(caller: Viewer, number: str | None = None) -> Response:
        return await paper(
            lambda folder: service_stock.destruction_pdf(caller.ctx, number or None, folder)
        )

    @get("/nights/{night_id}/report.pdf", Perm.VIEW, "A night's morning report (PDF)")
    async def night_pdf(caller: Viewer, night_id: int) -> Response:
        from printctl.night.run import stored_report
        from printctl.reports.morning_report import morning_report_pdf

        def make() -> bytes:
            return morning_report_pdf(stored_report(caller.ctx, night_id))

        try:
            data = await run_in_threadpool(make)
        except WEB_USER_ERRORS as exc:
            response = RedirectResponse("/night", status_code=303)
            set_flash(response, "error", str(exc))
            return response
        return Response(
            data,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="night-{night_id}.pdf"'},
        )

    @get("/stock/ledger.csv", Perm.VIEW, "The blank ledger (CSV)")
    async def ledger(caller: Viewer, first: str | None = None, last: str | None = None) -> Response:
        def write(folder: Path) -> bytes:
            target = folder / "ledger.csv"
            service_stock.export_csv(caller.ctx, target, first or None, last or None)
            return target.read_bytes()

        try:
            with tempfile.TemporaryDirectory(prefix="printctl-csv-") as folder:
                data = await run_in_threadpool(write, Path(folder))
        except WEB_USER_ERRORS as exc:
            return failed(exc)
        return Response(
            data,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="ledger.csv"'},
        )

    @get("/audit.csv", Perm.AUDIT, "The audit log search as CSV")
    async def audit_csv(
        caller: Auditor,
        actor: str | None = None,
        action: str | None = None,
        entity: str | None = None,
        entity_id: str | None = None,
        text: str | None = None,
        first: str | None = None,
        last: str | None = None,
        limit: Annotated[int, Query(ge=1, le=100000)] = 10000,
    ) -> Response:
        filters = _audit_filters(actor, action, entity, entity_id, text, first, last, limit)
        events = await _read(caller, views.audit, filters)
        buffer = io.StringIO()
        columns = (
            "id",
            "local",
            "actor",
            "station",
            "action",
            "entity",
            "entity_id",
            "outcome",
            "detail",
        )
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for event in events:
            writer.writerow([event[c] for c in columns])
        with session_scope(caller.ctx.engine) as session:
            caller.ctx.journal(
                session,
                "audit.exported",
                entity="audit",
                entity_id="search",
                detail={
                    "rows": len(events),
                    "filters": {k: str(v) for k, v in filters.__dict__.items() if v},
                },
            )
        return Response(
            buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
        )
