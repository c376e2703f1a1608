"""What each role may do: one table, read by every route and by the console's menus.

Roles follow the office's separation of duties: operators print and resolve, supervisors
also decide what needs a second person, technicians look after printers, auditors read, and
admins manage users. Nobody approves their own request (the service layer checks that).
"""

from __future__ import annotations

import enum

from printctl.users import Role


class Perm(enum.StrEnum):
    """A capability a route needs."""

    VIEW = "view"  #: dashboards, lists, reports without personal data
    RUN_BATCHES = "batches.run"  #: create, start, pause, cancel batches
    RESOLVE_JOBS = "jobs.resolve"  #: record inspections, hold and release jobs
    HANDOVER = "records.handover"  #: hand a printed card to its holder
    REQUEST_REPRINT = "records.request-reprint"
    REVEAL_NIK = "records.reveal"  #: open one record's full NIK (audited)
    APPROVE = "approve"  #: reprints and stock proposals: approve or refuse
    STOCK_WORK = "stock.work"  #: receive deliveries, load hoppers, count, propose adjustments
    CLOSE_DAY = "stock.close-day"
    DESTRUCTION = "stock.destruction"  #: propose a destruction (the berita acara)
    OPERATE_PRINTERS = "printers.operate"  #: pause and resume printers
    TEST_PRINT = "printers.test-print"
    AUDIT = "audit.read"  #: search and export the audit log
    USERS = "users.manage"


_OPERATOR = {
    Perm.VIEW,
    Perm.RUN_BATCHES,
    Perm.RESOLVE_JOBS,
    Perm.HANDOVER,
    Perm.REQUEST_REPRINT,
    Perm.REVEAL_NIK,
    Perm.STOCK_WORK,
    Perm.OPERATE_PRINTERS,
}

ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.OPERATOR: frozenset(_OPERATOR),
    Role.SUPERVISOR: frozenset(
        _OPERATOR | {Perm.APPROVE, Perm.CLOSE_DAY, Perm.DESTRUCTION, Perm.AUDIT}
    ),
    Role.TECHNICIAN: frozenset({Perm.VIEW, Perm.OPERATE_PRINTERS, Perm.TEST_PRINT}),
    Role.AUDITOR: frozenset({Perm.VIEW, Perm.AUDIT}),
    Role.ADMIN: frozenset({Perm.VIEW, Perm.USERS, Perm.AUDIT}),
}


def allowed(role: Role | str, perm: Perm) -> bool:
    """Whether ``role`` holds ``perm``."""
    try:
        return perm in ROLE_PERMS[Role(role)]
    except ValueError:
        return False


def roles_with(perm: Perm) -> list[str]:
    """The roles holding ``perm``, in the table's order (for the OpenAPI document)."""
    return [role.value for role, perms in ROLE_PERMS.items() if perm in perms]
