"""People who use printctl, their roles, passwords and API tokens.

Passwords are hashed with scrypt (memory-hard: 64 MiB per guess with the default cost), each
with its own salt; tokens are random and stored only as their SHA-256. Failed logins are
counted per user and lock the account for a while, longer after each further failure, so a
password cannot be guessed at speed; every failure and lock is journaled.

Roles (issue 7): an **operator** runs batches, resolves inspections, records handovers; a
**supervisor** also approves reprints and stock adjustments, closes days, signs destructions;
a **technician** looks after printers and drivers; an **auditor** reads everything and changes
nothing; an **admin** manages users.
"""

from __future__ import annotations

import base64
import enum
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select

from printctl.audit import Clock, record_event
from printctl.models import ApiToken, UserAccount, as_utc
from printctl.stock.controls import person_key


class Role(enum.StrEnum):
    """What a user may do."""

    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    TECHNICIAN = "technician"
    AUDITOR = "auditor"
    ADMIN = "admin"


class UserError(Exception):
    """A user-management request that cannot be done (the message says why)."""


#: scrypt cost: N=2**16, r=8 → 64 MiB and ~0.1 s per hash on the reference machine.
SCRYPT_N = 2**16
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSWORD = 10
#: Failed logins allowed before the account locks; each further failure doubles the lock.
FREE_FAILURES = 5
LOCK_FIRST = timedelta(minutes=1)
LOCK_MAX = timedelta(hours=1)
TOKEN_PREFIX = "pct_"


def hash_password(password: str, *, n: int | None = None) -> str:
    """A self-describing scrypt hash: ``scrypt$N$r$p$salt$hash`` (base64); ``n`` defaults
    to :data:`SCRYPT_N`."""
    n = n or SCRYPT_N
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=256 * 1024**2
    )
    b64 = base64.b64encode
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=256 * 1024**2,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _journal(
    session: Session,
    action: str,
    name: str,
    *,
    actor: str,
    station: str,
    clock: Clock,
    outcome: str = "ok",
    detail: dict[str, str] | None = None,
) -> None:
    """An audit event about user ``name`` (never a password or a token)."""
    record_event(
        session,
        actor=actor,
        station=station,
        action=action,
        entity="user",
        entity_id=name,
        outcome=outcome,
        detail=detail,
        clock=clock,
    )


def _check_new_password(name: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    if person_key(name) in person_key(password):
        raise UserError("a password must not contain the user's name")


def add_user(
    session: Session,
    name: str,
    role: Role,
    password: str,
    *,
    actor: str,
    station: str,
    clock: Clock,
    n: int | None = None,
) -> UserAccount:
    """Create a user with a role and a password (stored hashed)."""
    key = person_key(name)
    if not key or len(key) > 100:
        raise UserError("a user needs a name (at most 100 characters)")
    if session.get(UserAccount, key) is not None:
        raise UserError(f"user {name!r} already exists")
    _check_new_password(name, password)
    user = UserAccount(
        name=key,
        display_name=name.strip()[:100],
        role=role.value,
        password_hash=hash_password(password, n=n),
        created_at=clock(),
        created_by=actor,
    )
    session.add(user)
    _journal(
        session,
        "user.added",
        key,
        actor=actor,
        station=station,
        clock=clock,
        detail={"role": role.value},
    )
    return user


def set_password(
    session: Session,
    name: str,
    password: str,
    *,
    actor: str,
    station: str,
    clock: Clock,
    n: int | None = None,
) -> None:
    """Replace a user's password (and lift a lock)."""
    user = _get(session, name)
    _check_new_password(name, password)
    user.password_hash = hash_password(password, n=n)
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    _journal(
        session,
        "user.password-set",
        user.name,
        actor=actor,
        station=station,
        clock=clock,
    )


def set_disabled(
    session: Session, name: str, disabled: bool, *, actor: str, station: str, clock: Clock
) -> None:
    """Disable (or enable again) a user: a disabled user cannot log in or use tokens."""
    user = _get(session, name)
    user.disabled = disabled
    session.add(user)
    _journal(
        session,
        "user.disabled" if disabled else "user.enabled",
        user.name,
        actor=actor,
        station=station,
        clock=clock,
    )


def _get(session: Session, name: str) -> UserAccount:
    user = session.get(UserAccount, person_key(name))
    if user is None:
        raise UserError(f"no user {name!r}")
    return user


@dataclass(frozen=True)
class LoginResult:
    """The outcome of one login attempt."""

    user: UserAccount | None
    reason: str = ""  #: why it failed, in words safe to show (never which part was wrong)


def login(session: Session, name: str, password: str, *, station: str, clock: Clock) -> LoginResult:
    """Check a name and password; counts failures, locks, and journals both."""
    now = clock()
    user = session.get(UserAccount, person_key(name))
    refused = LoginResult(None, "wrong name or password")
    if user is None or user.disabled:
        check_password(password, _dummy_hash())  # the same time as a real check
        _journal_failure(session, person_key(name) or "?", "unknown or disabled", station, clock)
        return refused
    if user.locked_until is not None and as_utc(user.locked_until) > now:
        _journal_failure(session, user.name, "locked", station, clock)
        wait = int((as_utc(user.locked_until) - now).total_seconds()) + 1
        return LoginResult(None, f"too many failed logins; try again in {wait} s")
    if not check_password(password, user.password_hash):
        user.failed_logins += 1
        over = user.failed_logins - FREE_FAILURES
        if over >= 0:
            user.locked_until = now + min(LOCK_FIRST * 2**over, LOCK_MAX)
        session.add(user)
        _journal_failure(session, user.name, "wrong password", station, clock)
        return refused
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.add(user)
    _journal(
        session,
        "user.login",
        user.name,
        actor=user.name,
        station=station,
        clock=clock,
    )
    return LoginResult(user)


def _journal_failure(session: Session, name: str, why: str, station: str, clock: Clock) -> None:
    _journal(
        session,
        "user.login-failed",
        name,
        actor=name,
        station=station,
        clock=clock,
        outcome="refused",
        detail={"why": why},
    )


@functools.cache
def _dummy_hash() -> str:
    """A hash to check unknown names against, so they take as long as known ones."""
    return hash_password(secrets.token_hex(16))


def issue_token(
    session: Session, name: str, label: str, *, actor: str, station: str, clock: Clock
) -> str:
    """A new API token for ``name``; only its hash is kept, so it is shown this once."""
    user = _get(session, name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_name=user.name,
            label=label.strip()[:100] or "token",
            token_sha256=hashlib.sha256(token.encode()).hexdigest(),
            created_at=clock(),
        )
    )
    _journal(
        session,
        "user.token-issued",
        user.name,
        actor=actor,
        station=station,
        clock=clock,
        detail={"label": label},
    )
    return token


def user_for_token(session: Session, token: str, *, clock: Clock) -> UserAccount | None:
    """The enabled user a presented token belongs to, or None."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    row = session.exec(
        select(ApiToken).where(
            col(ApiToken.token_sha256) == digest, col(ApiToken.revoked_at).is_(None)
        )
    ).first()
    if row is None:
        return None
    user = session.get(UserAccount, row.user_name)
    if user is None or user.disabled:
        return None
    row.last_used_at = clock()
    session.add(row)
    return user


def supervisors(session: Session) -> list[str]:
    """Names of the enabled users with the supervisor role."""
    return list(
        session.exec(
            select(UserAccount.name).where(
                col(UserAccount.role) == Role.SUPERVISOR.value,
                col(UserAccount.disabled).is_(False),
            )
        ).all()
    )


def list_users(session: Session) -> list[UserAccount]:
    """Every user, by name."""
    return list(session.exec(select(UserAccount).order_by(col(UserAccount.name))).all())
