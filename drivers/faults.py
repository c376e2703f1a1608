"""Deterministic fault plans for the simulated drivers, read from a driver URL.

A fault plan says which call of which step fails, and how, so that a test (or a technician
rehearsing with ``printctl driver check``) can replay exactly the same trouble every time::

    sim://?fault=print:3:jam                       the 3rd print_card jams
    sim://?fault=print:3:jam,feed:5:empty          two one-shot faults
    sim://?fault=feed:every:10:cover               every 10th feed finds the cover open
    sim://?fault=open:*:offline                    the device never answers
    sim://?fault=status:4+:timeout                 status reads hang from the 4th on
    sim://?fault=run:2:sw6A82                      the 2nd chip script gets status word 6A82
    sim://?fault_rate=0.05&seed=7                  5 % random faults, same ones for seed 7
    sim://?fault=print:40:power&state=sim1.json    the power fails during the 40th print

Grammar (case-insensitive step and kind names)::

    plan  := rule ("," rule)*
    rule  := step ":" when ":" kind
    when  := N              the N-th call of that step (1-based), once
           | "every:" N     calls N, 2N, 3N, …
           | "*"            every call
           | N "+"          every call from the N-th on

Calls are counted per step from 1, including calls that fail. When several rules match the
same call, the first one in the plan wins. A random fault (``fault_rate``) is drawn for every
call of a step that has a random pool (see :data:`PRINTER_FAULTS`, :data:`ENCODER_FAULTS`),
whether or not a scripted rule fired, so the random sequence for a seed depends only on the
sequence of calls.

What each kind raises is in :data:`ERROR_CLASSES`; what it does to the simulated card (spoiled
into the reject bin, left in place, …) is the driver's business, documented in
:mod:`drivers.sim`. Three kinds raise nothing by themselves: ``media-reprint`` (the printer
re-prints on a second blank and the call succeeds) and ``swXXXX`` (the driver raises
:class:`~printctl.hardware.StatusWordMismatch` with the command's index and status words);
``power`` raises nothing either: the simulated printer ends the whole process mid-card.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from drivers.urls import OptionReader
from printctl.hardware import (
    CardJam,
    CardRemoved,
    ConnectionLost,
    CoverOpen,
    DeviceTimeout,
    DriverConfigError,
    FeederEmpty,
    HardwareError,
    MediaError,
    NoCard,
    PermissionDenied,
    ReaderGone,
    RibbonOut,
)

__all__ = [
    "ENCODER_FAULTS",
    "ERROR_CLASSES",
    "PRINTER_FAULTS",
    "Fault",
    "FaultPlan",
    "FaultProfile",
    "FaultRule",
    "error_for",
]

#: The exception each raising fault kind maps to (``swXXXX`` and ``media-reprint`` excepted).
ERROR_CLASSES: Mapping[str, type[HardwareError]] = {
    "jam": CardJam,
    "cover": CoverOpen,
    "empty": FeederEmpty,
    "ribbon": RibbonOut,
    "media": MediaError,
    "offline": ConnectionLost,
    "timeout": DeviceTimeout,
    "denied": PermissionDenied,
    "nocard": NoCard,
    "removed": CardRemoved,
    "gone": ReaderGone,
}

_SW_KIND = re.compile(r"^sw([0-9a-f]{4})$", re.IGNORECASE)
_COUNT = re.compile(r"^[1-9][0-9]*$")


@dataclass(frozen=True)
class FaultProfile:
    """The steps of one kind of device, the fault kinds each step accepts, and random pools.

    ``aliases`` map method names (``print_card``) to step names (``print``). The kind ``sw``
    in ``allowed`` stands for every ``swXXXX``.
    """

    device: str
    allowed: Mapping[str, frozenset[str]]
    random_pool: Mapping[str, tuple[str, ...]]
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def steps(self) -> tuple[str, ...]:
        """The step names, in the order the profile declares them."""
        return tuple(self.allowed)


_LINK = frozenset({"offline", "timeout"})

#: Printer steps: ``encode`` is ``move_to_encoder``, ``print`` is ``print_card``.
PRINTER_FAULTS = FaultProfile(
    device="printer",
    allowed={
        "feed": frozenset({"jam", "cover", "empty"}) | _LINK,
        "encode": frozenset({"jam", "cover"}) | _LINK,
        "print": frozenset({"jam", "cover", "ribbon", "media", "media-reprint", "power"}) | _LINK,
        "eject": frozenset({"jam", "cover"}) | _LINK,
        "reject": frozenset({"jam", "cover"}) | _LINK,
        "status": _LINK,
        "open": _LINK | {"denied"},
    },
    # Random faults are the mechanical ones a long run meets; link faults are left to
    # scripted rules because a random "offline" mostly tests the caller's patience.
    random_pool={
        "feed": ("jam", "cover"),
        "encode": ("jam",),
        "print": ("media-reprint", "media", "jam"),
        "eject": ("jam",),
    },
    aliases={"move_to_encoder": "encode", "print_card": "print"},
)

#: Encoder steps: ``uid`` is ``read_uid``, ``run`` is ``run_script``.
ENCODER_FAULTS = FaultProfile(
    device="encoder",
    allowed={
        "open": _LINK | {"denied", "gone"},
        "detect": frozenset({"nocard", "gone"}) | _LINK,
        "uid": frozenset({"nocard", "removed", "gone"}) | _LINK,
        "run": frozenset({"nocard", "removed", "gone", "sw"}) | _LINK,
    },
    random_pool={
        "uid": ("nocard",),
        # 6581 = "memory failure": what a weak chip answers to an UPDATE BINARY.
        "run": ("removed", "nocard", "sw6581"),
    },
    aliases={"read_uid": "uid", "run_script": "run"},
)


@dataclass(frozen=True)
class FaultRule:
    """One scripted rule: fire ``kind`` on call ``start`` of ``step``, then every ``period``.

    ``once`` rules fire on call ``start`` only.
    """

    step: str
    kind: str
    start: int
    period: int = 1
    once: bool = True

    def matches(self, call: int) -> bool:
        """True when this rule fires on the ``call``-th call of its step."""
        if call < self.start:
            return False
        if self.once:
            return call == self.start
        return (call - self.start) % self.period == 0

    def __str__(self) -> str:
        if self.once:
            when = str(self.start)
        elif self.period == 1:
            when = "*" if self.start == 1 else f"{self.start}+"
        else:
            when = f"every:{self.period}"
        return f"{self.step}:{when}:{self.kind}"


@dataclass(frozen=True)
class Fault:
    """A fault that fires now: which step, which call of it, what kind, and why.

    ``status_word`` is set for ``swXXXX`` kinds. ``source`` is ``"plan"`` or ``"random"``.
    """

    step: str
    call: int
    kind: str
    source: str
    status_word: bytes | None = None

    def __str__(self) -> str:
        return f"{self.step}#{self.call}:{self.kind} ({self.source})"


def error_for(fault: Fault, message: str) -> HardwareError:
    """The exception for a raising fault kind, its message prefixed with ``message``.

    Raises :class:`ValueError` for the two kinds that raise nothing by themselves.
    """
    cls = ERROR_CLASSES.get(fault.kind)
    if cls is None:
        raise ValueError(f"fault kind {fault.kind!r} does not map to one exception")
    return cls(f"{message} [simulated fault {fault}]")


class FaultPlan:
    """Scripted rules plus an optional seeded random rate; asks "does this call fail?".

    Not thread-safe by itself: the driver that owns it calls :meth:`next` under its lock.
    """

    def __init__(
        self,
        rules: tuple[FaultRule, ...] = (),
        *,
        profile: FaultProfile = PRINTER_FAULTS,
        rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.rules = rules
        self.profile = profile
        self.rate = rate
        self.seed = seed
        self._rng = random.Random(seed)
        self.calls: dict[str, int] = dict.fromkeys(profile.steps, 0)
        #: Every fault that fired, in order: what a test asserts on after a long run.
        self.fired: list[Fault] = []

    @classmethod
    def parse(
        cls,
        spec: str,
        profile: FaultProfile,
        *,
        rate: float = 0.0,
        seed: int = 0,
        context: str = "",
    ) -> FaultPlan:
        """Parse a plan like ``print:3:jam,feed:every:10:cover``; an empty spec has no rules.

        Raises :class:`DriverConfigError` naming the bad rule and what was expected;
        ``context`` (usually the URL) prefixes the message.
        """
        prefix = f"{context}: " if context else ""
        rules: list[FaultRule] = []
        for text in (part.strip() for part in spec.split(",")):
            if not text:
                if spec.strip():
                    raise DriverConfigError(f"{prefix}fault plan {spec!r} has an empty rule")
                continue
            try:
                rules.append(_parse_rule(text, profile))
            except ValueError as exc:
                raise DriverConfigError(f"{prefix}fault rule {text!r}: {exc}") from None
        if not 0.0 <= rate <= 1.0:
            raise DriverConfigError(f"{prefix}fault_rate={rate}: must be between 0 and 1")
        return cls(tuple(rules), profile=profile, rate=rate, seed=seed)

    @classmethod
    def from_options(cls, options: OptionReader, profile: FaultProfile, *, seed: int) -> FaultPlan:
        """Read ``fault`` and ``fault_rate`` from a driver URL (the driver reads ``seed``)."""
        spec = options.get_str("fault", "")
        rate = options.get_float("fault_rate", 0.0, minimum=0.0, maximum=1.0)
        return cls.parse(spec, profile, rate=rate, seed=seed, context=options.url.raw)

    def next(self, step: str) -> Fault | None:
        """Count one call of ``step`` and return the fault it meets, if any."""
        if step not in self.calls:
            raise ValueError(f"unknown {self.profile.device} step {step!r}")
        self.calls[step] += 1
        call = self.calls[step]
        fault: Fault | None = None
        for rule in self.rules:
            if rule.step == step and rule.matches(call):
                fault = _fault(step, call, rule.kind, "plan")
                break
        pool = self.profile.random_pool.get(step)
        if self.rate > 0.0 and pool:
            # Draw on every call (even when a rule fired) so the random sequence depends on
            # the calls alone, not on which rules the plan happens to have.
            hit = self._rng.random() < self.rate
            kind = self._rng.choice(pool)
            if hit and fault is None:
                fault = _fault(step, call, kind, "random")
        if fault is not None:
            self.fired.append(fault)
        return fault

    def describe(self) -> str:
        """The plan in its own grammar, plus the random rate: for status details and logs."""
        text = ",".join(str(rule) for rule in self.rules)
        if self.rate:
            text += f"{';' if text else ''}rate={self.rate},seed={self.seed}"
        return text


def _fault(step: str, call: int, kind: str, source: str) -> Fault:
    match = _SW_KIND.match(kind)
    word = bytes.fromhex(match.group(1)) if match else None
    return Fault(step=step, call=call, kind=kind, source=source, status_word=word)


def _parse_rule(text: str, profile: FaultProfile) -> FaultRule:
    parts = [part.strip().lower() for part in text.split(":")]
    if len(parts) == 4 and parts[1] == "every":
        step_name, _, count, kind = parts
        if not _COUNT.match(count):
            raise ValueError(f"'every:{count}' needs a whole number ≥ 1")
        start, period, once = int(count), int(count), False
    elif len(parts) == 3:
        step_name, when, kind = parts
        if when == "*":
            start, period, once = 1, 1, False
        elif when.endswith("+") and _COUNT.match(when[:-1]):
            start, period, once = int(when[:-1]), 1, False
        elif _COUNT.match(when):
            start, period, once = int(when), 1, True
        else:
            raise ValueError(f"bad call number {when!r} (expected N, N+, * or every:N; N ≥ 1)")
    else:
        raise ValueError("expected step:N:kind, step:every:N:kind, step:*:kind or step:N+:kind")
    step = profile.aliases.get(step_name, step_name)
    if step not in profile.allowed:
        raise ValueError(
            f"unknown {profile.device} step {step_name!r} (steps: {', '.join(profile.steps)})"
        )
    allowed = profile.allowed[step]
    sw = _SW_KIND.match(kind)
    if sw:
        if "sw" not in allowed:
            raise ValueError(f"step {step!r} cannot return a status word")
        kind = "sw" + sw.group(1).upper()
    elif kind not in allowed:
        shown = sorted("swXXXX" if name == "sw" else name for name in allowed)
        raise ValueError(f"kind {kind!r} cannot happen on {step!r} (kinds: {', '.join(shown)})")
    return FaultRule(step=step, kind=kind, start=start, period=period, once=once)
