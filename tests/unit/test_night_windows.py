"""Night windows (cron-like days, times in office time) and the simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from printctl.config import ConfigError, PrinterConfig, Settings, validate
from printctl.night.windows import (
    WindowError,
    next_window,
    parse_window,
    until,
    window_now,
)
from printctl.stock.ledger import set_office_timezone
from printctl.timebase import TimebaseError, parse_simulated_clock


@pytest.fixture(autouse=True)
def _jakarta() -> None:
    set_office_timezone("Asia/Jakarta")


def wib(text: str) -> datetime:
    """An office time (WIB, UTC+7) as an aware UTC datetime."""
    return datetime.fromisoformat(text + "+07:00").astimezone(UTC)


def test_a_weeknight_window_starts_on_its_days_and_ends_the_next_morning() -> None:
    window = parse_window("mon-fri 22:00-05:30")
    assert window.days == frozenset({0, 1, 2, 3, 4})
    assert (window.start, window.end) == (time(22, 0), time(5, 30))
    # Wednesday 2026-12-02, 23:00: inside Wednesday's window.
    assert window.around(wib("2026-12-02T23:00")) == (
        wib("2026-12-02T22:00"),
        wib("2026-12-03T05:30"),
    )
    # Thursday 03:00 is still Wednesday's night.
    assert window.around(wib("2026-12-03T03:00")) == (
        wib("2026-12-02T22:00"),
        wib("2026-12-03T05:30"),
    )
    assert window.around(wib("2026-12-03T06:00")) is None
    # Saturday morning belongs to Friday's window; Saturday night has none.
    assert window.around(wib("2026-12-05T02:00")) == (
        wib("2026-12-04T22:00"),
        wib("2026-12-05T05:30"),
    )
    assert window.around(wib("2026-12-05T23:00")) is None
    # After Friday's window the next one is Monday's.
    assert window.next_after(wib("2026-12-05T12:00")) == (
        wib("2026-12-07T22:00"),
        wib("2026-12-08T05:30"),
    )


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("* 23:00-04:00", {0, 1, 2, 3, 4, 5, 6}),
        ("sat,sun 20:00-23:00", {5, 6}),
        ("fri-mon 22:00-05:00", {4, 5, 6, 0}),
        ("Monday 21:00-23:00", {0}),
        ("mon,wed-thu 1:00-2:00", {0, 2, 3}),
    ],
)
def test_days_are_written_as_cron_writes_them(text: str, days: set[int]) -> None:
    assert parse_window(text).days == frozenset(days)


@pytest.mark.parametrize(
    "text",
    ["22:00-05:30", "weekdays 22:00-05:30", "mon-fri 25:00-05:30", "mon 22:00", "mon 22:60-23:00"],
)
def test_a_window_that_cannot_be_read_says_what_is_expected(text: str) -> None:
    with pytest.raises(WindowError):
        parse_window(text)


def test_the_earliest_configured_window_wins_and_next_window_looks_ahead() -> None:
    windows = ("mon-fri 22:00-05:30", "* 21:00-23:00")
    assert window_now(windows, wib("2026-12-02T22:30")) == (
        wib("2026-12-02T21:00"),
        wib("2026-12-02T23:00"),
    )
    assert next_window(windows, wib("2026-12-02T12:00")) == (
        wib("2026-12-02T21:00"),
        wib("2026-12-02T23:00"),
    )
    assert window_now((), wib("2026-12-02T22:30")) is None


def test_until_is_the_next_such_time_in_the_office() -> None:
    assert until(wib("2026-12-02T22:10"), "05:30") == wib("2026-12-03T05:30")
    assert until(wib("2026-12-03T01:00"), "05:30") == wib("2026-12-03T05:30")
    with pytest.raises(WindowError):
        until(wib("2026-12-03T01:00"), "half past five")


def test_the_configuration_refuses_a_bad_window_and_a_simulated_clock_on_real_printers() -> None:
    with pytest.raises(ConfigError, match="overnight"):
        validate(Settings(overnight=("weeknights",)))
    real = PrinterConfig("p1", "evolis-tcp://127.0.0.1:9100", "pcsc://")
    with pytest.raises(ConfigError, match="simulated printers only"):
        validate(Settings(printers=(real,), simulated_clock="2026-12-02T22:00:00+07:00 x300"))
    sim = PrinterConfig("p1", "sim://", "sim://")
    assert validate(Settings(printers=(sim,), simulated_clock="2026-12-02T22:00:00+07:00 x300"))
    with pytest.raises(ConfigError, match="night_reserve"):
        validate(Settings(night_reserve=-1))


def test_a_simulated_clock_runs_scale_times_faster_from_its_anchor() -> None:
    wall = [1000.0]
    clock = parse_simulated_clock("2026-12-02T22:00:00+07:00 x300 @1000", wall=lambda: wall[0])
    assert clock() == wib("2026-12-02T22:00")
    wall[0] = 1012.0  # 12 wall seconds: an hour of simulated time
    assert clock() == wib("2026-12-02T23:00")
    again = parse_simulated_clock(clock.spec(), wall=lambda: wall[0])
    assert again() == clock()  # a restarted process carries on the same simulated night


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-02T22:00:00 x300",
        "2026-12-02T22:00:00+07:00",
        "soon x300",
        "2026-12-02T22:00:00+07:00 x0",
    ],
)
def test_a_simulated_clock_that_cannot_be_read_is_refused(text: str) -> None:
    with pytest.raises(TimebaseError):
        parse_simulated_clock(text)
