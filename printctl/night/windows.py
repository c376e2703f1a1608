"""Night windows: when an unattended run may print, written the way cron writes days.

A window is ``DAYS HH:MM-HH:MM`` in the office's time zone::

    mon-fri 22:00-05:30     weeknights, ending the next morning
    sat,sun 20:00-23:00     weekend evenings
    * 23:00-04:00           every night

``DAYS`` are the days a window *starts* on: ``*``, a day (``mon`` … ``sun``), a range
(``mon-fri``, ``fri-mon`` wraps) or a comma-separated list of those. An end before the start
(or equal to it: 24 hours) is on the next day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from printctl.stock.ledger import office_timezone

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_WINDOW = re.compile(
    r"^\s*(?P<days>\S+)\s+(?P<start>\d{1,2}:\d{2})\s*[-–]\s*(?P<end>\d{1,2}:\d{2})\s*$"
)


class WindowError(ValueError):
    """A window that cannot be read; the message shows the expected form."""


@dataclass(frozen=True)
class NightWindow:
    """One configured window: the weekdays it starts on (0 = Monday) and its times."""

    days: frozenset[int]
    start: time
    end: time
    text: str

    def occurrence(self, day: date) -> tuple[datetime, datetime]:
        """The window starting on ``day`` (whether or not it is one of its days), in UTC."""
        tz = office_timezone()
        begin = datetime.combine(day, self.start, tzinfo=tz)
        finish = datetime.combine(day, self.end, tzinfo=tz)
        if finish <= begin:
            finish += timedelta(days=1)
        return begin.astimezone(UTC), finish.astimezone(UTC)

    def around(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence of this window that ``now`` falls in, or None."""
        local = now.astimezone(office_timezone()).date()
        for day in (local - timedelta(days=1), local):
            if day.weekday() not in self.days:
                continue
            begin, finish = self.occurrence(day)
            if begin <= now < finish:
                return begin, finish
        return None

    def next_after(self, now: datetime) -> tuple[datetime, datetime]:
        """The first occurrence of this window that starts after ``now``."""
        local = now.astimezone(office_timezone()).date()
        for offset in range(0, 8):
            day = local + timedelta(days=offset)
            if day.weekday() in self.days:
                begin, finish = self.occurrence(day)
                if begin > now:
                    return begin, finish
        raise AssertionError("a window with days recurs within a week")  # parse refuses none


def _parse_time(text: str, window: str) -> time:
    hours, _, minutes = text.partition(":")
    if not (0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59):
        raise WindowError(f"{window!r}: {text} is not a time of day (00:00-23:59)")
    return time(int(hours), int(minutes))


def _parse_days(text: str, window: str) -> frozenset[int]:
    if text == "*":
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.lower().split(","):
        first, _, last = part.partition("-")
        try:
            a = DAY_NAMES.index(first[:3]) if len(first) >= 3 else -1
            b = DAY_NAMES.index(last[:3]) if last else a
        except ValueError:
            a = b = -1
        if a < 0 or b < 0:
            raise WindowError(
                f"{window!r}: {part!r} is not a day or a range of days (mon … sun, mon-fri, *)"
            )
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(days)


def parse_window(text: str) -> NightWindow:
    """Read one window, e.g. ``mon-fri 22:00-05:30``."""
    match = _WINDOW.match(text)
    if match is None:
        raise WindowError(f"{text!r}: expected DAYS HH:MM-HH:MM, e.g. 'mon-fri 22:00-05:30'")
    return NightWindow(
        days=_parse_days(match.group("days"), text),
        start=_parse_time(match.group("start"), text),
        end=_parse_time(match.group("end"), text),
        text=" ".join(text.split()),
    )


def window_now(windows: tuple[str, ...], now: datetime) -> tuple[datetime, datetime] | None:
    """The configured window ``now`` falls in (the earliest-starting one), or None."""
    found = [w for w in (parse_window(t).around(now) for t in windows) if w is not None]
    return min(found) if found else None


def next_window(windows: tuple[str, ...], now: datetime) -> tuple[datetime, datetime] | None:
    """The next configured window to start after ``now`` (None: none configured)."""
    found = [parse_window(t).next_after(now) for t in windows]
    return min(found) if found else None


def until(now: datetime, text: str) -> datetime:
    """The next time it is ``HH:MM`` in the office after ``now`` (``--until 05:30``), in UTC."""
    at = _parse_time(text, text) if re.fullmatch(r"\d{1,2}:\d{2}", text) else None
    if at is None:
        raise WindowError(f"--until {text!r}: expected a time of day, HH:MM")
    local = now.astimezone(office_timezone())
    end = datetime.combine(local.date(), at, tzinfo=local.tzinfo)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)
