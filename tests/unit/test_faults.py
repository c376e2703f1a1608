"""Fault plans: grammar, matching, random faults and error mapping (drivers.faults)."""

from __future__ import annotations

import pytest

from drivers.faults import (
    ENCODER_FAULTS,
    PRINTER_FAULTS,
    Fault,
    FaultPlan,
    FaultProfile,
    FaultRule,
    error_for,
)
from printctl.hardware import (
    CardJam,
    CardRemoved,
    ConnectionLost,
    CoverOpen,
    DeviceTimeout,
    DriverConfigError,
    FeederEmpty,
    MediaError,
    NoCard,
    PermissionDenied,
    ReaderGone,
    RibbonOut,
)


@pytest.mark.parametrize(
    ("spec", "rules"),
    [
        ("", ()),
        ("print:3:jam", (FaultRule("print", "jam", start=3),)),
        ("print_card:3:JAM", (FaultRule("print", "jam", start=3),)),
        (
            "print:3:jam,feed:5:empty,encode:2:cover",
            (
                FaultRule("print", "jam", start=3),
                FaultRule("feed", "empty", start=5),
                FaultRule("encode", "cover", start=2),
            ),
        ),
        ("feed:every:10:cover", (FaultRule("feed", "cover", 10, period=10, once=False),)),
        ("open:*:offline", (FaultRule("open", "offline", 1, period=1, once=False),)),
        ("status:4+:timeout", (FaultRule("status", "timeout", 4, period=1, once=False),)),
        (
            " print:1:media-reprint , eject:2:jam ",
            (
                FaultRule("print", "media-reprint", 1),
                FaultRule("eject", "jam", 2),
            ),
        ),
    ],
)
def test_printer_plans_parse(spec: str, rules: tuple[FaultRule, ...]) -> None:
    """Printer plans parse into rules, with aliases and case folded to canonical names."""
    assert FaultPlan.parse(spec, PRINTER_FAULTS).rules == rules


@pytest.mark.parametrize(
    ("spec", "rules"),
    [
        ("run:2:sw6a82", (FaultRule("run", "sw6A82", 2),)),
        (
            "run_script:1:removed,read_uid:2:nocard",
            (
                FaultRule("run", "removed", 1),
                FaultRule("uid", "nocard", 2),
            ),
        ),
        ("detect:every:3:nocard", (FaultRule("detect", "nocard", 3, period=3, once=False),)),
        ("open:1:gone", (FaultRule("open", "gone", 1),)),
    ],
)
def test_encoder_plans_parse(spec: str, rules: tuple[FaultRule, ...]) -> None:
    """Encoder plans parse, with swXXXX normalised to upper-case hex."""
    assert FaultPlan.parse(spec, ENCODER_FAULTS).rules == rules


@pytest.mark.parametrize(
    ("spec", "profile", "message"),
    [
        ("prnt:3:jam", PRINTER_FAULTS, "unknown printer step 'prnt' (steps: feed, encode, print"),
        ("print:3:melt", PRINTER_FAULTS, "kind 'melt' cannot happen on 'print' (kinds: cover, jam"),
        ("feed:3:ribbon", PRINTER_FAULTS, "kind 'ribbon' cannot happen on 'feed'"),
        ("print:0:jam", PRINTER_FAULTS, "bad call number '0'"),
        ("print:x:jam", PRINTER_FAULTS, "bad call number 'x'"),
        ("print:-1:jam", PRINTER_FAULTS, "bad call number '-1'"),
        ("print:jam", PRINTER_FAULTS, "expected step:N:kind"),
        ("print:1:2:jam", PRINTER_FAULTS, "expected step:N:kind"),
        ("feed:every:0:cover", PRINTER_FAULTS, "'every:0' needs a whole number"),
        ("print:1:jam,,feed:1:jam", PRINTER_FAULTS, "has an empty rule"),
        ("run:1:sw6A8", ENCODER_FAULTS, "kind 'sw6a8' cannot happen on 'run'"),
        ("uid:1:sw6A82", ENCODER_FAULTS, "step 'uid' cannot return a status word"),
        ("run:1:jam", ENCODER_FAULTS, "kinds: gone, nocard, offline, removed, swXXXX, timeout"),
        (
            "feed:1:jam",
            ENCODER_FAULTS,
            "unknown encoder step 'feed' (steps: open, detect, uid, run)",
        ),
    ],
)
def test_bad_plans_are_rejected(spec: str, profile: FaultProfile, message: str) -> None:
    """A bad plan raises DriverConfigError quoting the rule and what was expected."""
    with pytest.raises(DriverConfigError) as info:
        FaultPlan.parse(spec, profile, context="sim://?fault=…")
    assert str(info.value).startswith("sim://?fault=…: ")
    assert message in str(info.value)


def test_rate_out_of_range_is_rejected() -> None:
    """A fault rate outside 0..1 is a configuration error."""
    with pytest.raises(DriverConfigError, match="between 0 and 1"):
        FaultPlan.parse("", PRINTER_FAULTS, rate=1.5)


def test_one_shot_rule_fires_once_on_its_call() -> None:
    """print:3:jam fires on the third print call only, counting calls per step."""
    plan = FaultPlan.parse("print:3:jam", PRINTER_FAULTS)
    got = [plan.next("print") for _ in range(5)]
    assert [f.kind if f else None for f in got] == [None, None, "jam", None, None]
    assert plan.next("feed") is None
    assert plan.calls["print"] == 5
    assert plan.fired == [Fault("print", 3, "jam", "plan")]


def test_every_star_and_from_rules_repeat() -> None:
    """every:N fires on multiples of N, * on every call, N+ from call N on."""
    plan = FaultPlan.parse("feed:every:3:cover,status:*:timeout,eject:2+:jam", PRINTER_FAULTS)
    feeds = [plan.next("feed") is not None for _ in range(7)]
    statuses = [plan.next("status") is not None for _ in range(3)]
    ejects = [plan.next("eject") is not None for _ in range(4)]
    assert feeds == [False, False, True, False, False, True, False]
    assert statuses == [True, True, True]
    assert ejects == [False, True, True, True]


def test_first_matching_rule_wins() -> None:
    """When two rules match the same call, the one written first fires."""
    plan = FaultPlan.parse("print:2:media,print:every:2:jam", PRINTER_FAULTS)
    plan.next("print")
    fault = plan.next("print")
    assert fault is not None and fault.kind == "media"


def test_status_word_fault_carries_bytes() -> None:
    """An swXXXX fault exposes its status word as two bytes."""
    plan = FaultPlan.parse("run:1:sw6A82", ENCODER_FAULTS)
    fault = plan.next("run")
    assert fault is not None and fault.status_word == b"\x6a\x82"


def _random_run(seed: int, rate: float = 0.3) -> list[str]:
    plan = FaultPlan.parse("", PRINTER_FAULTS, rate=rate, seed=seed)
    for _ in range(200):
        for step in ("feed", "encode", "print", "eject"):
            plan.next(step)
    return [str(f) for f in plan.fired]


def test_random_faults_are_deterministic_per_seed() -> None:
    """The same seed and call sequence give the same random faults; another seed differs."""
    first = _random_run(7)
    assert first == _random_run(7)
    assert first != _random_run(8)
    assert 0 < len(first) < 800
    assert all(f.endswith("(random)") for f in first)


def test_random_sequence_ignores_scripted_rules() -> None:
    """Adding a scripted rule does not shift the random faults that follow it."""
    plain = FaultPlan.parse("", PRINTER_FAULTS, rate=0.2, seed=3)
    scripted = FaultPlan.parse("print:1:jam", PRINTER_FAULTS, rate=0.2, seed=3)
    a = [plain.next("print") for _ in range(50)]
    b = [scripted.next("print") for _ in range(50)]
    assert b[0] is not None and b[0].source == "plan"
    assert [(f.call, f.kind) if f else None for f in a[1:]] == [
        (f.call, f.kind) if f else None for f in b[1:]
    ]


def test_random_faults_only_hit_steps_with_a_pool() -> None:
    """A rate of 1 faults every pooled step and never status or open."""
    plan = FaultPlan.parse("", PRINTER_FAULTS, rate=1.0, seed=1)
    assert plan.next("status") is None
    assert plan.next("open") is None
    fault = plan.next("print")
    assert fault is not None and fault.kind in PRINTER_FAULTS.random_pool["print"]


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("jam", CardJam),
        ("cover", CoverOpen),
        ("empty", FeederEmpty),
        ("ribbon", RibbonOut),
        ("media", MediaError),
        ("offline", ConnectionLost),
        ("timeout", DeviceTimeout),
        ("denied", PermissionDenied),
        ("nocard", NoCard),
        ("removed", CardRemoved),
        ("gone", ReaderGone),
    ],
)
def test_kinds_map_to_the_error_tree(kind: str, cls: type[Exception]) -> None:
    """Each raising fault kind maps to its class in the hardware error tree."""
    error = error_for(Fault("print", 1, kind, "plan"), "sim://")
    assert type(error) is cls
    assert str(error).startswith("sim:// [simulated fault print#1:")


@pytest.mark.parametrize("kind", ["media-reprint", "sw6A82"])
def test_non_raising_kinds_have_no_single_error(kind: str) -> None:
    """media-reprint and swXXXX are handled by the driver, not by error_for."""
    with pytest.raises(ValueError):
        error_for(Fault("print", 1, kind, "plan"), "sim://")


def test_describe_round_trips_rules() -> None:
    """describe() writes the plan back in its own grammar, plus the random rate."""
    spec = "print:3:jam,feed:every:10:cover,open:*:offline,status:4+:timeout"
    plan = FaultPlan.parse(spec, PRINTER_FAULTS, rate=0.05, seed=7)
    assert plan.describe() == spec + ";rate=0.05,seed=7"
    assert FaultPlan.parse(spec, PRINTER_FAULTS).rules == plan.rules
