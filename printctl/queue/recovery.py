"""Start-up reconciliation: work that was in flight when the process died is examined.

Nothing is re-run blindly. A job that had not yet asked the printer for a blank goes back
to pending; a job whose step shows a blank may have left the hopper becomes
``needs-inspection`` (its blank is counted in doubt) until a person records what came out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from printctl.audit import Clock
from printctl.models import ACTIVE_JOB_STATES, Job, JobReason, JobState, JobStep, RecordState
from printctl.queue.store import set_record_state, transition_job

#: Steps at which no blank is out of the hopper unaccounted: none has moved yet, or the
#: attempt's blank is already spoiled in the ledger.
_BEFORE_ANY_CARD = {JobStep.NONE.value, JobStep.RENDERING.value, JobStep.SPOILED.value}


@dataclass
class Recovery:
    """What start-up reconciliation did."""

    requeued: list[int] = field(default_factory=list)
    needs_inspection: list[int] = field(default_factory=list)


def recover_in_flight(
    session: Session,
    *,
    station: str,
    actor: str,
    clock: Clock,
    cause: str = "",
    reasons: Iterable[JobReason] = (JobReason.RECOVERED,),
) -> Recovery:
    """Reconcile the jobs ``station`` holds (``processing`` or ``stopped``) after it died.

    Call it only when no run of ``station`` is alive (its station lock is held by the
    caller). ``cause`` says why the work was abandoned (default: this station restarted);
    ``reasons`` are the job-state-reasons set on every job moved.
    """
    result = Recovery()
    stale = session.exec(
        select(Job)
        .where(
            col(Job.state).in_([s.value for s in ACTIVE_JOB_STATES]),
            col(Job.station) == station,
        )
        .order_by(col(Job.id))
    ).all()
    for job in stale:
        assert job.id is not None
        held = JobState(job.state)
        if job.step in _BEFORE_ANY_CARD:
            transition_job(
                session,
                job.id,
                from_state=held,
                to_state=JobState.PENDING,
                reason=f"{cause or 'recovered after restart'}: no card had moved",
                actor=actor,
                station=station,
                clock=clock,
                columns={"printer": None, "owner": None},
                reasons=reasons,
            )
            result.requeued.append(job.id)
            continue
        reason = f"{cause or 'process stopped'} while {job.step}: a card may exist"
        transition_job(
            session,
            job.id,
            from_state=held,
            to_state=JobState.NEEDS_INSPECTION,
            step=JobStep(job.step),
            reason=reason,
            actor=actor,
            station=station,
            clock=clock,
            columns={"error": reason},
            reasons=(*reasons, JobReason.OUTCOME_UNKNOWN),
        )
        set_record_state(
            session,
            job.record_pk,
            RecordState.NEEDS_INSPECTION,
            reason=reason,
            actor=actor,
            station=station,
            clock=clock,
        )
        result.needs_inspection.append(job.id)
    return result
