"""The FastAPI application: the API, the console, login, health, and the error handling.

User errors (a batch larger than the stock, an approval by the requester, …) answer 400
with one sentence on the API, and a message at the top of the page on the console; nothing
half-done stays behind, because every action is one service call in one transaction.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import quote, unquote

from fastapi import FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from printctl.cli_common import USER_ERRORS
from printctl.printers import PrinterStateError
from printctl.queue.inspection import InspectionError
from printctl.service import Context, UserError
from printctl.users import UserError as UserAdminError
from printctl.web import i18n
from printctl.web.actions import ACTIONS, Action, Done
from printctl.web.auth import Caller, Forbidden, NotSignedIn, need
from printctl.web.permissions import roles_with
from printctl.web.sessions import LoginLimiter

HERE = Path(__file__).parent
FLASH_COOKIE = "printctl_flash"
API = "/api/v1"

#: Errors a person caused: one sentence back, never a traceback.
WEB_USER_ERRORS: tuple[type[Exception], ...] = (
    *USER_ERRORS,
    UserError,
    UserAdminError,
    InspectionError,
    PrinterStateError,
)


class StationLike(Protocol):
    """What the console needs of the printing half of ``printctl serve``."""

    def wake(self) -> None:
        """Look for work now."""

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per printer: is a worker driving it, and its last event."""


@dataclass
class WebState:
    """What every request shares."""

    ctx: Context
    limiter: LoginLimiter
    templates: Jinja2Templates
    language: str
    station: StationLike | None = None

    def wake(self) -> None:
        """Tell the station service to look for work (after a start or a resume)."""
        if self.station is not None:
            self.station.wake()

    def live(self) -> dict[str, dict[str, Any]]:
        """The station service's view of its printers (empty when none runs here)."""
        return self.station.snapshot() if self.station is not None else {}


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to next: never another site (``//host``, ``https://…``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def set_flash(response: Response, kind: str, text: str) -> None:
    """Show ``text`` at the top of the next page (``ok`` or ``error``)."""
    response.set_cookie(
        FLASH_COOKIE,
        quote(json.dumps({"kind": kind, "text": text[:1000]})),
        httponly=True,
        samesite="strict",
        max_age=60,
    )


def take_flash(request: Request) -> dict[str, str] | None:
    """The message the previous request left, if any (the page deletes the cookie)."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = json.loads(unquote(raw))
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {"kind": str(value.get("kind", "ok")), "text": str(value.get("text", ""))}


def back_to(request: Request, default: str) -> str:
    """The page the request came from (its Referer, on this host), else ``default``."""
    referer = request.headers.get("referer", "")
    host = request.headers.get("host", "")
    if host and f"//{host}/" in referer:
        return safe_next("/" + referer.split(f"//{host}/", 1)[1], default)
    return default


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API) or request.url.path == "/health"


def _endpoint(act: Action, *, api: bool) -> Callable[..., Any]:
    """An endpoint for ``act`` whose signature FastAPI reads: the caller, the body (JSON or
    form) and the path parameters."""

    async def endpoint(request: Request, **kwargs: Any) -> Any:
        caller: Caller = kwargs.pop("caller")
        body = kwargs.pop("body", None)
        args = (body,) if act.body is not None else ()
        state: WebState = request.app.state.web
        try:
            done: Done = await run_in_threadpool(act.run, caller.ctx, *args, **kwargs)
        except WEB_USER_ERRORS as exc:
            if api:
                return JSONResponse({"detail": str(exc)}, status_code=400)
            response = RedirectResponse(back_to(request, "/"), status_code=303)
            set_flash(response, "error", str(exc))
            return response
        if act.wakes:
            state.wake()
        if api:
            return {"ok": True, "message": done.message, **done.data}
        form = await request.form()
        back = form.get("back")
        target = safe_next(
            back if isinstance(back, str) else None, done.go or back_to(request, "/")
        )
        response = RedirectResponse(target, status_code=303)
        set_flash(response, "ok", done.message)
        return response

    params = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter(
            "caller", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[Caller, need(act.perm)]
        ),
    ]
    for name, kind in act.params.items():
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind))
    if act.body is not None:
        annotation: Any = act.body if api else Annotated[act.body, Form()]
        params.append(
            inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
        )
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = ("api_" if api else "console_") + act.run.__name__
    endpoint.__doc__ = act.run.__doc__
    return endpoint


def _mount_actions(app: FastAPI) -> None:
    for act in ACTIONS:
        extra = {"x-permission": act.perm.value, "x-roles": roles_with(act.perm)}
        app.add_api_route(
            API + act.path,
            _endpoint(act, api=True),
            methods=["POST"],
            summary=act.summary,
            tags=["api"],
            openapi_extra=extra,
        )
        app.add_api_route(
            act.path,
            _endpoint(act, api=False),
            methods=["POST"],
            summary=act.summary + " (console form)",
            tags=["console"],
            openapi_extra=extra,
            response_class=RedirectResponse,
        )


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if _is_api(request):
            return JSONResponse(
                {"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": exc.message}, status_code=403)
        from printctl.web.console import page

        caller = getattr(request.state, "caller", None)
        return page(request, caller, "forbidden.html", status_code=403, message=exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        if _is_api(request):
            return JSONResponse({"detail": problems, "errors": exc.errors()}, status_code=422)
        response = RedirectResponse(back_to(request, "/"), status_code=303)
        set_flash(response, "error", f"check the form: {problems}")
        return response


def create_app(
    ctx: Context,
    *,
    station: StationLike | None = None,
    limiter: LoginLimiter | None = None,
) -> FastAPI:
    """The application for one office: ``ctx`` is its context (the acting user is replaced
    by each request's signed-in user); ``station`` the printing service, when it runs in
    this process."""
    from printctl.web import api, console

    app = FastAPI(
        title="printctl",
        description="The e-KTP card-printing office's API and operators' console.",
        version="1",
        # The document and its viewer need a login like everything else (see api.py).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["roles_with"] = roles_with
    templates.env.filters["local"] = i18n.local_time
    templates.env.filters["number"] = i18n.number
    app.state.web = WebState(
        ctx=ctx,
        limiter=limiter or LoginLimiter(),
        templates=templates,
        language=ctx.settings.console_language,
        station=station,
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[..., Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
        )
        # Pages may show personal data (an opened record): never keep them in a cache.
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    _handlers(app)
    console.mount(app)
    api.mount(app)
    _mount_actions(app)
    return app
