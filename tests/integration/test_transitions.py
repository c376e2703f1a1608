"""The state machines: one table of allowed moves per kind, one atomic writer, every change journaled."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from printctl.models import AuditEvent, Job, JobState, PrinterRow, PrinterRunState
from printctl.queue.store import (
    JOB_TRANSITIONS,
    PRINTER_TRANSITIONS,
    TransitionConflict,
    transition_job,
    transition_printer,
)
from printctl.service import Context
from tests.integration.test_worker import start


def test_every_state_has_a_row_and_terminal_states_are_final() -> None:
    """The tables cover every state; completed and canceled jobs never move again."""
    assert set(JOB_TRANSITIONS) == set(JobState)
    assert set(PRINTER_TRANSITIONS) == set(PrinterRunState)
    assert JOB_TRANSITIONS[JobState.COMPLETED] == JOB_TRANSITIONS[JobState.CANCELED] == set()
    # A card in doubt leaves only through what a person found (issued, spoiled/none, or a
    # decision), never back into a printer's hands directly.
    assert JOB_TRANSITIONS[JobState.NEEDS_INSPECTION] == {
        JobState.COMPLETED,
        JobState.PENDING,
        JobState.ABORTED,
        JobState.CANCELED,
    }


def test_a_move_outside_the_table_is_refused(ctx: Context) -> None:
    """pending → completed skips the printer: refused, nothing written."""
    start(ctx, records=1, blanks=1)
    with Session(ctx.engine) as session:
        with pytest.raises(ValueError, match="pending → completed is not allowed"):
            transition_job(
                session,
                1,
                from_state=JobState.PENDING,
                to_state=JobState.COMPLETED,
                actor="t",
                station="s",
                clock=ctx.clock,
            )
        session.rollback()
        assert session.get(Job, 1).state == "pending"  # type: ignore[union-attr]


def test_a_move_from_a_stale_state_conflicts(ctx: Context) -> None:
    """Two writers racing: the second sees the row count 0 and gets a conflict."""
    start(ctx, records=1, blanks=1)
    with Session(ctx.engine) as session:
        for expected in ("ok", "conflict"):
            try:
                transition_job(
                    session,
                    1,
                    from_state=JobState.PENDING,
                    to_state=JobState.HELD,
                    actor="t",
                    station="s",
                    clock=ctx.clock,
                    reasons=("job-held-by-operator",),
                )
                outcome = "ok"
            except TransitionConflict:
                outcome = "conflict"
            assert outcome == expected
        session.commit()
        job = session.get(Job, 1)
        assert job is not None and (job.state, job.reasons) == ("held", "job-held-by-operator")
        events = session.exec(select(AuditEvent).where(col(AuditEvent.action) == "job.held")).all()
        assert len(events) == 1 and '"reasons": "job-held-by-operator"' in events[0].detail


def test_printer_changes_are_journaled_once(ctx: Context) -> None:
    """A printer's state and reasons are journaled when they change, not on every update."""
    with Session(ctx.engine) as session:
        kwargs = {"actor": "w", "station": "s", "clock": ctx.clock, "url": "sim://"}
        assert transition_printer(session, "p1", PrinterRunState.PROCESSING, **kwargs)
        assert not transition_printer(session, "p1", PrinterRunState.PROCESSING, **kwargs)
        assert transition_printer(
            session,
            "p1",
            PrinterRunState.STOPPED,
            reasons=("cover-open",),
            reason="the cover is open",
            auto_resume=True,
            **kwargs,
        )
        session.commit()
        row = session.get(PrinterRow, "p1")
        assert row is not None
        assert (row.state, row.reasons, row.auto_resume) == ("stopped", "cover-open", True)
        actions = session.exec(
            select(AuditEvent.action).where(col(AuditEvent.entity) == "printer")
        ).all()
        assert actions == ["printer.processing", "printer.stopped"]


def test_jobs_can_be_held_and_released_by_a_person(ctx: Context) -> None:
    """An operator holds a pending job (no printer takes it) and releases it again."""
    from printctl.service import UserError, hold, release

    start(ctx, records=1, blanks=1)
    hold(ctx, 1, "checking the photo")
    with pytest.raises(UserError, match="only a pending job can be held"):
        hold(ctx, 1)
    assert release(ctx, 1) == "job-held-by-operator"
    with pytest.raises(UserError, match="not held"):
        release(ctx, 1)
    with pytest.raises(UserError, match="no job 99"):
        release(ctx, 99)
