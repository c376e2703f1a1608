"""A simulated clock for training offices and tests: a night that passes in minutes.

``simulated_clock = "2026-12-02T21:55:00+07:00 x300"`` (or ``PRINTCTL_SIMULATED_CLOCK``) makes
every timestamp printctl writes — the journal, the ledger, the window a night run keeps —
run 300 times faster than the wall clock, starting at that instant. An optional anchor,
``@EPOCH`` (the wall-clock second the simulated time started), lets a process that was
killed and started again carry on the same simulated night, with the outage counted in
simulated time too, as a real power cut would be::

    PRINTCTL_SIMULATED_CLOCK="2026-12-02T21:55:00+07:00 x300 @1764686100.5"

Waits that printctl itself makes on simulated time (a duty-cycle rest, a fault's backoff)
are divided by the same factor. It drives only ``sim://`` printers: a real printer does not
print 300 times faster, so settings that pair the two are refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_SPEC = re.compile(
    r"^\s*(?P<start>\S+)\s+x(?P<scale>[0-9]+(?:\.[0-9]+)?)(?:\s+@(?P<anchor>[0-9]+(?:\.[0-9]+)?))?\s*$"
)


class TimebaseError(ValueError):
    """A simulated-clock setting that cannot be read."""


@dataclass(frozen=True)
class ScaledClock:
    """Simulated time: ``start`` at wall-clock second ``anchor``, ``scale`` times faster."""

    start: datetime
    scale: float
    anchor: float
    wall: Callable[[], float] = time.time

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(self.wall() - self.anchor) * self.scale)

    def spec(self) -> str:
        """The setting that reproduces this clock in another process (anchor included)."""
        return f"{self.start.isoformat()} x{self.scale:g} @{self.anchor:.3f}"


def parse_simulated_clock(text: str, *, wall: Callable[[], float] = time.time) -> ScaledClock:
    """Read ``START xSCALE [@ANCHOR]``; without an anchor the simulated time starts now."""
    match = _SPEC.match(text)
    if match is None:
        raise TimebaseError(
            f"simulated_clock {text!r}: expected 'START xSCALE [@EPOCH]', "
            "e.g. '2026-12-02T21:55:00+07:00 x300'"
        )
    try:
        start = datetime.fromisoformat(match.group("start"))
    except ValueError:
        raise TimebaseError(
            f"simulated_clock: {match.group('start')!r} is not an ISO 8601 time"
        ) from None
    if start.tzinfo is None:
        raise TimebaseError("simulated_clock: the start needs a UTC offset, e.g. +07:00")
    scale = float(match.group("scale"))
    if not 1 <= scale <= 10_000:
        raise TimebaseError(f"simulated_clock: x{scale:g} must be between x1 and x10000")
    anchor = float(match.group("anchor")) if match.group("anchor") else wall()
    return ScaledClock(start.astimezone(UTC), scale, anchor, wall)
