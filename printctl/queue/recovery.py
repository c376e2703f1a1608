"""Start-up reconciliation: work that was in flight when the process died is examined.

Nothing is re-run blindly. A job that had not yet asked the printer for a blank goes back
to pending; a job whose step shows a blank may have left the hopper becomes
``needs-inspection`` (its blank is counted in doubt) until a person records what came out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from printctl.audit import Clock
from printctl.models import ACTIVE_JOB_STATES, Job, JobReason, JobState, JobStep, RecordState
from printctl.queue.store import set_record_state, transition_job

_BEFORE_ANY_CARD = {JobStep.NONE.value, JobStep.RENDERING.value}  # no blank has moved yet


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
    why: str = "process stopped",
    reason_code: JobReason = JobReason.RECOVERED,
) -> Recovery:
    """Reconcile the station's jobs left ``processing`` or ``stopped`` by a process that died.

    ``why`` and ``reason_code`` say what happened to that process (a restart, or a station
    whose lease expired).
    """
    result = Recovery()
    stale = session.exec(
        select(Job).where(
            col(Job.state).in_([s.value for s in ACTIVE_JOB_STATES]), col(Job.station) == station
        )
    ).all()
    for job in stale:
        assert job.id is not None
        from_state = JobState(job.state)
        if job.step in _BEFORE_ANY_CARD:
            transition_job(
                session,
                job.id,
                from_state=from_state,
                to_state=JobState.PENDING,
                reason=f"{why}: no card had moved",
                actor=actor,
                station=station,
                clock=clock,
                columns={"printer": None, "owner": None},
                reasons=(reason_code,),
            )
            result.requeued.append(job.id)
            continue
        reason = f"{why} while {job.step}: a card may exist"
        transition_job(
            session,
            job.id,
            from_state=from_state,
            to_state=JobState.NEEDS_INSPECTION,
            step=JobStep(job.step),
            reason=reason,
            actor=actor,
            station=station,
            clock=clock,
            columns={"error": reason},
            reasons=(reason_code, JobReason.OUTCOME_UNKNOWN),
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
