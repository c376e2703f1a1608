"""Who is asking: a session cookie (with its CSRF token on every change) or an API token.

Routes declare the permission they need with :func:`need`; the dependency authenticates,
checks the CSRF token on cookie requests that change something, checks the role, and hands
the route a :class:`Caller` whose ``ctx`` acts as that user (every audit entry names them).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request

from printctl.db import session_scope
from printctl.service import Context
from printctl.users import user_for_token
from printctl.web.permissions import Perm, allowed
from printctl.web.sessions import COOKIE, CSRF_FIELD, CSRF_HEADER, session_user

if TYPE_CHECKING:
    from printctl.web.app import WebState

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotSignedIn(Exception):
    """No valid session or token: the console sends the browser to the login page."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this (or the CSRF token is missing)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Caller:
    """The signed-in user of one request."""

    name: str
    role: str
    display_name: str
    via: str  #: ``session`` or ``token``
    csrf_token: str
    language: str
    session_id: str
    ctx: Context  #: the office's context, acting as this user

    def can(self, perm: Perm | str) -> bool:
        """Whether this user's role holds ``perm`` (templates show only what one may do)."""
        return allowed(self.role, Perm(perm))


def web_state(request: Request) -> WebState:
    """The application's shared state (context, limiter, station service)."""
    state: WebState = request.app.state.web
    return state


def _authenticate(request: Request) -> Caller:
    state = web_state(request)
    base = state.ctx
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        with session_scope(base.engine) as session:
            user = user_for_token(session, header[7:].strip(), clock=base.clock)
            if user is None:
                raise NotSignedIn("unknown or revoked API token")
            name, role, display = user.name, user.role, user.display_name or user.name
        return Caller(
            name=name,
            role=role,
            display_name=display,
            via="token",
            csrf_token="",
            language=state.language,
            session_id="",
            ctx=replace(base, actor=name),
        )
    session_id = request.cookies.get(COOKIE, "")
    if not session_id:
        raise NotSignedIn("not signed in")
    settings = base.settings
    with session_scope(base.engine) as session:
        who = session_user(
            session,
            session_id,
            idle=timedelta(minutes=settings.session_idle_minutes),
            longest=timedelta(hours=settings.session_max_hours),
            clock=base.clock,
        )
    if who is None:
        raise NotSignedIn("the session has ended: sign in again")
    return Caller(
        name=who.name,
        role=who.role,
        display_name=who.display_name,
        via="session",
        csrf_token=who.csrf_token,
        language=who.language or state.language,
        session_id=session_id,
        ctx=replace(base, actor=who.name),
    )


async def _csrf_ok(request: Request, caller: Caller) -> bool:
    if caller.via != "session" or request.method in SAFE_METHODS:
        return True
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # cached: the route reads the same form afterwards
        value = form.get(CSRF_FIELD, "")
        sent = value if isinstance(value, str) else ""
    return bool(sent) and hmac.compare_digest(sent, caller.csrf_token)


def need(perm: Perm) -> Any:
    """A dependency: the signed-in :class:`Caller`, refused unless their role holds ``perm``."""

    async def dependency(request: Request) -> Caller:
        # Authentication reads the database: run it off the event loop.
        from starlette.concurrency import run_in_threadpool

        caller = await run_in_threadpool(_authenticate, request)
        request.state.caller = caller  # the refusal page still shows the menu
        if not await _csrf_ok(request, caller):
            raise Forbidden("the form's security token is missing or stale: reload the page")
        if not caller.can(perm):
            raise Forbidden(f"a {caller.role} may not do this ({perm.value})")
        return caller

    dependency.__name__ = f"need_{perm.name.lower()}"
    return Depends(dependency)
