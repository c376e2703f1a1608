"""Use cases of user management: the CLI now, the console's admin pages later.

The first user must be an admin; after that only an enabled admin (the acting user) may add
users, reset passwords, disable them or issue tokens. On the command line the acting user is
``PRINTCTL_USER`` or the login: a machine's shell is already trusted with the database, so
this guards against mistakes, while the console authenticates every request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session, col, select

from printctl import users
from printctl.audit import lock_journal
from printctl.db import read_session, session_scope
from printctl.models import UserAccount
from printctl.service import Context, UserError
from printctl.stock.controls import person_key

T = TypeVar("T")


def _as_admin(ctx: Context, action: Callable[[Session], T], *, bootstrap: bool = False) -> T:
    with session_scope(ctx.engine) as session:
        lock_journal(session)
        admins = session.exec(
            select(UserAccount.name).where(
                col(UserAccount.role) == users.Role.ADMIN.value,
                col(UserAccount.disabled).is_(False),
            )
        ).all()
        if not admins and not bootstrap:
            raise UserError("there are no users yet: add an admin first (--role admin)")
        if admins and person_key(ctx.actor) not in admins:
            raise UserError(
                f"{ctx.actor} is not an admin: only an admin manages users (PRINTCTL_USER)"
            )
        try:
            return action(session)
        except users.UserError as exc:
            raise UserError(str(exc)) from None


def add_user(ctx: Context, name: str, role: users.Role, password: str) -> str:
    """Add a user; the first one must be an admin."""

    def add(session: Session) -> str:
        first = session.exec(select(UserAccount.name)).first() is None
        if first and role is not users.Role.ADMIN:
            raise UserError("the first user must be an admin (--role admin), who adds the others")
        user = users.add_user(
            session, name, role, password, actor=ctx.actor, station=ctx.station, clock=ctx.clock
        )
        return user.name

    return _as_admin(ctx, add, bootstrap=True)


def set_password(ctx: Context, name: str, password: str) -> None:
    """Reset a user's password (and lift a lock)."""
    _as_admin(
        ctx,
        lambda s: users.set_password(
            s, name, password, actor=ctx.actor, station=ctx.station, clock=ctx.clock
        ),
    )


def set_disabled(ctx: Context, name: str, disabled: bool) -> None:
    """Disable or enable a user."""
    if disabled and person_key(name) == person_key(ctx.actor):
        raise UserError("an admin cannot disable themselves (another admin can)")
    _as_admin(
        ctx,
        lambda s: users.set_disabled(
            s, name, disabled, actor=ctx.actor, station=ctx.station, clock=ctx.clock
        ),
    )


def issue_token(ctx: Context, name: str, label: str) -> str:
    """A new API token for a user (shown once)."""
    return _as_admin(
        ctx,
        lambda s: users.issue_token(
            s, name, label, actor=ctx.actor, station=ctx.station, clock=ctx.clock
        ),
    )


def list_users(ctx: Context) -> list[UserAccount]:
    """Every user."""
    with read_session(ctx.engine) as session:
        return users.list_users(session)
