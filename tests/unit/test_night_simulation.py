"""The night plan's card-by-card simulation: pace, duty cycle, hoppers, ribbons, window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from printctl.night.plan import PlannedPrinter, simulate, stop_time

START = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 22:00 in the office (WIB)


def printer(name: str, *, pace: float = 120.0, hopper: int = 1000, **kw: object) -> PlannedPrinter:
    values: dict[str, object] = {
        "name": name,
        "usable": True,
        "not_ready": "",
        "seconds_per_card": pace,
        "pace_source": "test",
        "rest_after": 0,
        "rest_s": 0.0,
        "hopper": hopper,
        "ribbon_cards": None,
        "ribbon_source": "test",
    }
    values.update(kw)
    return PlannedPrinter(**values)  # type: ignore[arg-type]


def test_each_printer_prints_at_its_own_pace_until_the_window_stops_it() -> None:
    fast, slow = printer("fast", pace=60), printer("slow", pace=120)
    stop = START + timedelta(hours=1)
    cards = simulate([fast, slow], 1000, 1000, START, stop)
    # A card may start until the stop time: 60 starts at 0..59 min, 30 at 0..58 min.
    assert (fast.cards, slow.cards) == (60, 30)
    assert len(cards) == 90
    assert fast.limit == slow.limit == "window"
    assert fast.last_at == START + timedelta(minutes=60)


def test_a_duty_cycle_rest_costs_its_minutes() -> None:
    rested = printer("p", pace=60, rest_after=10, rest_s=600)
    simulate([rested], 1000, 1000, START, START + timedelta(hours=1))
    # Cycles of 10 cards (10 min) and a 10-minute rest: 30 cards start within the hour.
    assert rested.cards == 30
    assert rested.rests == 3


def test_the_hopper_and_the_ribbon_end_a_printers_night_and_say_when() -> None:
    short_ribbon = printer("a", pace=60, ribbon_cards=5)
    few_blanks = printer("b", pace=60, hopper=3)
    simulate([short_ribbon, few_blanks], 100, 100, START, START + timedelta(hours=2))
    assert (short_ribbon.cards, short_ribbon.limit) == (5, "ribbon")
    assert short_ribbon.ribbon_out_at == START + timedelta(minutes=5)
    assert (few_blanks.cards, few_blanks.limit) == (3, "blanks")
    assert few_blanks.blanks_out_at == START + timedelta(minutes=3)


def test_the_blanks_the_reserve_allows_cap_the_whole_night() -> None:
    a, b = printer("a", pace=60), printer("b", pace=60)
    cards = simulate([a, b], 100, 7, START, START + timedelta(hours=2), reserve=20)
    assert len(cards) == 7
    assert {a.limit, b.limit} == {"reserve"}


def test_work_is_shared_by_whoever_is_free_first() -> None:
    a, b = printer("a", pace=60), printer("b", pace=180)
    cards = simulate([a, b], 8, 100, START, START + timedelta(hours=2))
    assert [who for who, _at in cards].count(0) == 6  # the faster printer takes three in four
    assert (a.limit, b.limit) == ("work", "work")
    assert max(at for _who, at in cards) == START + timedelta(minutes=6)


def test_a_printer_that_is_not_ready_gets_nothing() -> None:
    broken = printer("x", usable=False, not_ready="awaiting inspection")
    ok = printer("y", pace=60)
    cards = simulate([broken, ok], 5, 100, START, START + timedelta(hours=1))
    assert broken.cards == 0 and broken.limit == "not-ready"
    assert ok.cards == 5 and len(cards) == 5


def test_the_last_card_starts_one_slow_card_before_the_end() -> None:
    end = START + timedelta(hours=7)
    stop = stop_time([printer("a", pace=60), printer("b", pace=120)], end)
    assert end - timedelta(seconds=300) < stop < end - timedelta(seconds=120)
