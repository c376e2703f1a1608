"""Console logins: sessions stored by their SHA-256, CSRF tokens, and the login rate limit.

The cookie carries a random session id; the database keeps only its hash, the user and the
session's CSRF token. A session ends on logout, after ``session_idle_minutes`` without a
request, after ``session_max_hours`` in any case, and at once when its user is disabled.

Failed logins are limited twice over: per account (:func:`printctl.users.login` locks it)
and per client address (:class:`LoginLimiter`), so one machine cannot try many names.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from printctl.audit import Clock
from printctl.models import UserAccount, WebSession, as_utc

COOKIE = "printctl_session"
#: The login form's own CSRF cookie (there is no session yet to hold a token).
LOGIN_COOKIE = "printctl_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class SessionUser:
    """Who a valid session belongs to."""

    name: str
    role: str
    display_name: str
    csrf_token: str
    language: str


def start_session(
    session: Session, user: UserAccount, *, address: str, language: str, clock: Clock
) -> str:
    """A new session for ``user``; returns the cookie value (shown only this once)."""
    session_id = secrets.token_urlsafe(32)
    now = clock()
    session.add(
        WebSession(
            id_sha256=_digest(session_id),
            user_name=user.name,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            address=address[:100],
            language=language[:5],
        )
    )
    return session_id


def session_user(
    session: Session,
    session_id: str,
    *,
    idle: timedelta,
    longest: timedelta,
    clock: Clock,
) -> SessionUser | None:
    """The user of a live session (renewing its idle timer), or None: ended sessions are
    deleted as they are found."""
    row = session.get(WebSession, _digest(session_id))
    if row is None:
        return None
    now = clock()
    user = session.get(UserAccount, row.user_name)
    expired = now - as_utc(row.last_seen_at) > idle or now - as_utc(row.created_at) > longest
    if user is None or user.disabled or expired:
        session.delete(row)
        return None
    # Renewed at most once a minute: a page's polling should not write on every request.
    if now - as_utc(row.last_seen_at) > timedelta(minutes=1):
        row.last_seen_at = now
        session.add(row)
    return SessionUser(
        name=user.name,
        role=user.role,
        display_name=user.display_name or user.name,
        csrf_token=row.csrf_token,
        language=row.language,
    )


def set_language(session: Session, session_id: str, language: str) -> None:
    """Remember the console language the user chose for this session."""
    row = session.get(WebSession, _digest(session_id))
    if row is not None:
        row.language = language[:5]
        session.add(row)


def end_session(session: Session, session_id: str) -> str | None:
    """Delete a session (logout); returns whose it was."""
    row = session.get(WebSession, _digest(session_id))
    if row is None:
        return None
    session.delete(row)
    return row.user_name


class LoginLimiter:
    """Failed logins per client address in a sliding window; over the limit, the address
    waits until its oldest failure leaves the window.

    Kept in memory: a restart forgets it, but the per-account lock (in the database) holds.
    """

    def __init__(self, *, limit: int = 10, window: timedelta = timedelta(minutes=5)) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def _trim(self, address: str, now: datetime) -> deque[datetime]:
        times = self._failures.setdefault(address, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def wait_s(self, address: str, now: datetime) -> int:
        """Seconds this address must wait before it may try again (0: it may now)."""
        with self._lock:
            times = self._trim(address, now)
            if len(times) < self.limit:
                return 0
            return int((times[0] + self.window - now).total_seconds()) + 1

    def failed(self, address: str, now: datetime) -> None:
        """Count a failed login from ``address``."""
        with self._lock:
            self._trim(address, now).append(now)
