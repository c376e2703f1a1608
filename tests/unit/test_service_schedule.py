"""``printctl serve``'s schedule: intervals, backoff while the center is unreachable, and a
loop that survives a failing task (fake time throughout)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from printctl.service_sync import SyncSchedule, run_service_loop


def test_tasks_run_at_once_then_on_their_intervals() -> None:
    """Every task is due at start; each then waits its own interval."""
    schedule = SyncSchedule({"pull": 300.0, "push": 60.0})
    assert schedule.due(0.0) == ["pull", "push"]
    schedule.done("pull", 0.0, ok=True)
    schedule.done("push", 0.0, ok=True)
    assert schedule.due(59.0) == []
    assert schedule.due(60.0) == ["push"]
    assert schedule.next_due() == 60.0


def test_failures_back_off_doubling_to_ten_intervals_and_success_restores() -> None:
    """An outage stretches the waits (1, 2, 4, 8, then capped at 10 intervals)."""
    schedule = SyncSchedule({"push": 60.0})
    waits = []
    now = 0.0
    for _ in range(6):
        schedule.done("push", now, ok=False)
        waits.append(schedule.next_at["push"] - now)
        now = schedule.next_at["push"]
    assert waits == [60.0, 120.0, 240.0, 480.0, 600.0, 600.0]
    schedule.done("push", now, ok=True)
    assert schedule.next_at["push"] - now == 60.0


@dataclass
class Outcome:
    error: str | None = None


class FakeTime:
    """A monotonic clock that the loop's waits move forward."""

    def __init__(self, rounds: int) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self.rounds = rounds

    def monotonic(self) -> float:
        return self.now

    def stop(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return len(self.waits) >= self.rounds


def test_the_loop_reports_each_result_and_outlives_a_task_that_raises() -> None:
    """A task that raises is reported and retried later; the others keep their schedule."""
    time = FakeTime(rounds=4)
    calls: list[str] = []
    reports: list[tuple[str, Any]] = []

    def pull() -> Outcome:
        calls.append("pull")
        return Outcome(error="center unreachable" if calls.count("pull") < 3 else None)

    def erase() -> Outcome:
        calls.append("erase")
        raise RuntimeError("database is locked")

    run_service_loop(
        None,  # type: ignore[arg-type]  # the tasks are given: no context is needed
        stop=time.stop,
        monotonic=time.monotonic,
        tasks={"pull": (100.0, pull), "erase": (1000.0, erase)},
        report=lambda task, result: reports.append((task, result)),
    )
    assert calls[:2] == ["pull", "erase"]
    assert isinstance(reports[1][1], RuntimeError)
    # pull failed at 0 (wait 100) and at 100 (wait 200), then succeeded at 300.
    assert [t for t, _ in reports] == ["pull", "erase", "pull", "pull", "pull"]
    assert time.waits[:3] == [100.0, 200.0, 100.0]
