"""Users, roles, passwords, tokens, and the supervisor role in dual control."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import Session, col, func, select

from printctl import users
from printctl.domain import RequestType
from printctl.models import ApiToken, AuditEvent, RecordState, UserAccount, as_utc
from printctl.service import Context, UserError
from printctl.service_records import approve_reprint, request_reprint
from printctl.service_users import add_user, issue_token, set_disabled, set_password
from tests.integration.issuance_support import JumpClock, person, seed, with_clock

FAST = 2**10  # scrypt cost for tests: the scheme is the same, the work small


@pytest.fixture(autouse=True)
def _fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "SCRYPT_N", FAST)


def as_user(ctx: Context, name: str) -> Context:
    return replace(ctx, actor=name)


def test_a_password_is_stored_hashed_with_scrypt_and_checks() -> None:
    """The stored form names its parameters and salt; a wrong password fails."""
    stored = users.hash_password("correct horse battery", n=FAST)
    assert stored.startswith(f"scrypt${FAST}$8$1$") and "correct" not in stored
    assert users.check_password("correct horse battery", stored)
    assert not users.check_password("correct horse batterY", stored)
    assert stored != users.hash_password("correct horse battery", n=FAST)  # salted
    assert not users.check_password("x", "garbage")


def test_the_first_user_is_an_admin_who_then_manages_the_others(ctx: Context) -> None:
    """Nobody but an admin adds users, and the first one must be an admin."""
    with pytest.raises(UserError, match="first user must be an admin"):
        add_user(ctx, "Andi", users.Role.OPERATOR, "bakso-urat-2026!")
    add_user(as_user(ctx, "Rina"), "Rina", users.Role.ADMIN, "kopi-tubruk-2026!")
    with pytest.raises(UserError, match="not an admin"):
        add_user(as_user(ctx, "Andi"), "Andi", users.Role.OPERATOR, "bakso-urat-2026!")
    add_user(as_user(ctx, "rina"), "Andi", users.Role.OPERATOR, "bakso-urat-2026!")
    with pytest.raises(UserError, match="already exists"):
        add_user(as_user(ctx, "rina"), "ANDI", users.Role.OPERATOR, "soto-ayam-2026!")
    with pytest.raises(UserError, match="at least 10"):
        add_user(as_user(ctx, "rina"), "Sari", users.Role.SUPERVISOR, "short")
    with pytest.raises(UserError, match="name"):
        add_user(as_user(ctx, "rina"), "Sari", users.Role.SUPERVISOR, "sari-password-2026")
    with pytest.raises(UserError, match="cannot disable themselves"):
        set_disabled(as_user(ctx, "rina"), "Rina", True)


def test_failed_logins_lock_the_account_for_longer_each_time_and_are_journaled(
    ctx: Context,
) -> None:
    """Five failures are free; then each locks for double the last; success clears them."""
    clock = JumpClock()
    office = with_clock(as_user(ctx, "rina"), clock)
    add_user(office, "rina", users.Role.ADMIN, "kopi-tubruk-2026!")
    with Session(office.engine) as session:
        for _ in range(users.FREE_FAILURES):
            assert users.login(session, "rina", "guess", station="s", clock=clock).user is None
        assert users.login(session, "rina", "guess", station="s", clock=clock).user is None
        locked = users.login(session, "rina", "kopi-tubruk-2026!", station="s", clock=clock)
        assert locked.user is None and "try again in" in locked.reason
        clock.jump(days=1 / 24 / 60 * 1.1)  # past the first minute's lock
        ok = users.login(session, "RINA", "kopi-tubruk-2026!", station="s", clock=clock)
        assert ok.user is not None and ok.user.failed_logins == 0
        unknown = users.login(session, "nobody", "x", station="s", clock=clock)
        assert unknown.user is None and unknown.reason == "wrong name or password"
        session.commit()
        failures = session.exec(
            select(func.count()).where(col(AuditEvent.action) == "user.login-failed")
        ).one()
        assert failures == users.FREE_FAILURES + 3  # five, the sixth, the locked try, nobody
        assert (
            session.exec(select(func.count()).where(col(AuditEvent.action) == "user.login")).one()
            == 1
        )


def test_the_lock_grows_to_an_hour_and_a_reset_lifts_it(ctx: Context) -> None:
    """Each failure past the free ones doubles the lock, capped at an hour."""
    clock = JumpClock()
    office = with_clock(as_user(ctx, "rina"), clock)
    add_user(office, "rina", users.Role.ADMIN, "kopi-tubruk-2026!")
    add_user(office, "andi", users.Role.OPERATOR, "nasi-goreng-2026!")
    with Session(office.engine) as session:
        for _ in range(users.FREE_FAILURES + 10):
            users.login(session, "andi", "guess", station="s", clock=clock)
            row = session.get(UserAccount, "andi")
            assert row is not None
            if row.locked_until is not None:
                clock.now = as_utc(row.locked_until)  # wait out the lock, then guess
        session.commit()
        row = session.get(UserAccount, "andi")
        assert row is not None and row.locked_until is not None
        assert as_utc(row.locked_until) - clock.now <= users.LOCK_MAX + timedelta(seconds=2)
    set_password(office, "andi", "sate-padang-2026!")
    with Session(office.engine) as session:
        ok = users.login(session, "andi", "sate-padang-2026!", station="s", clock=clock)
        assert ok.user is not None


def test_a_token_is_shown_once_kept_hashed_and_dies_with_its_user(ctx: Context) -> None:
    """A token authenticates its user until the user is disabled."""
    office = as_user(ctx, "rina")
    add_user(office, "rina", users.Role.ADMIN, "kopi-tubruk-2026!")
    add_user(office, "andi", users.Role.OPERATOR, "nasi-goreng-2026!")
    token = issue_token(office, "andi", "station script")
    assert token.startswith(users.TOKEN_PREFIX)
    with Session(office.engine) as session:
        found = users.user_for_token(session, token, clock=office.clock)
        assert found is not None and found.name == "andi"
        assert users.user_for_token(session, token + "x", clock=office.clock) is None
        stored = session.exec(select(ApiToken.token_sha256)).all()
        assert token not in stored
        session.commit()
    set_disabled(office, "andi", True)
    with Session(office.engine) as session:
        assert users.user_for_token(session, token, clock=office.clock) is None


def test_supervisors_among_the_users_are_the_only_approvers(ctx: Context) -> None:
    """Once a user has the supervisor role, an operator cannot approve a reprint."""
    office = as_user(ctx, "rina")
    add_user(office, "rina", users.Role.ADMIN, "kopi-tubruk-2026!")
    add_user(office, "sari", users.Role.SUPERVISOR, "teh-manis-2026!")
    add_user(office, "andi", users.Role.OPERATOR, "es-cendol-2026!")
    seed(
        office,
        [person(1, request_type=RequestType.REPLACE_LOST)],
        state=RecordState.AWAITING_APPROVAL,
    )
    request_reprint(as_user(office, "andi"), "PRR-I-00001", evidence="LP/5/XII/2026")
    with pytest.raises(UserError, match="not a supervisor"):
        approve_reprint(as_user(office, "budi"), "PRR-I-00001")
    approve_reprint(as_user(office, "Sari"), "PRR-I-00001")
