"""``printctl users …``: people, roles, passwords and API tokens. Mounted by :mod:`printctl.cli`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from printctl.cli_common import CliError, JsonOpt, _context, _print_json, out
from printctl.users import Role

users_app = typer.Typer(help="Users, their roles, passwords and API tokens.", no_args_is_help=True)

PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Again", hide_input=True) != first:
        raise CliError("the two passwords differ")
    return str(first)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The person's name (how they log in).")],
    role: Annotated[Role, typer.Option(help="What they may do.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user with a role and a password (the first user must be an admin)."""
    from printctl.service_users import add_user

    password = _password(password_stdin)
    with _context() as ctx:
        key = add_user(ctx, name, role, password)
    out.print(f"Added {key} ({role.value}).")


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="Whose password.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a new password for a user (an admin does this; it also lifts a login lock)."""
    from printctl.service_users import set_password

    password = _password(password_stdin)
    with _context() as ctx:
        set_password(ctx, name, password)
    out.print(f"Password of {name} set.")


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="The user.")]) -> None:
    """Disable a user: no login, no tokens (their history stays)."""
    from printctl.service_users import set_disabled

    with _context() as ctx:
        set_disabled(ctx, name, True)
    out.print(f"Disabled {name}.")


@users_app.command("enable")
def users_enable(name: Annotated[str, typer.Argument(help="The user.")]) -> None:
    """Enable a disabled user again."""
    from printctl.service_users import set_disabled

    with _context() as ctx:
        set_disabled(ctx, name, False)
    out.print(f"Enabled {name}.")


@users_app.command("token")
def users_token(
    name: Annotated[str, typer.Argument(help="Whose token.")],
    label: Annotated[str, typer.Option(help="What it is for (a script, a station).")] = "token",
) -> None:
    """Issue an API token for a user; it is shown once and kept only as a hash."""
    from printctl.service_users import issue_token

    with _context() as ctx:
        token = issue_token(ctx, name, label)
    out.print(token)


@users_app.command("list")
def users_list(json_out: JsonOpt = False) -> None:
    """Users, roles, and whether they are disabled or locked."""
    from printctl.service_users import list_users

    with _context(quiet_console=json_out) as ctx:
        rows = list_users(ctx)
    if json_out:
        _print_json(
            [
                {
                    "name": u.name,
                    "display_name": u.display_name,
                    "role": u.role,
                    "disabled": u.disabled,
                    "failed_logins": u.failed_logins,
                    "locked_until": u.locked_until.isoformat() if u.locked_until else None,
                    "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
                }
                for u in rows
            ]
        )
        return
    table = Table()
    for title in ("name", "role", "state", "last login"):
        table.add_column(title)
    for u in rows:
        state = "disabled" if u.disabled else ("locked" if u.locked_until else "active")
        last = f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else ""
        table.add_row(u.display_name, u.role, state, last)
    out.print(table)
