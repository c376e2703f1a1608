"""Fault policy: what the queue does when a printer or chip encoder reports a condition.

Every failure the worker meets has a **condition code** — the driver error's ``code``
(:mod:`printctl.hardware`), with a few the worker itself names (``render-failed``,
``encode-deadline``, ``out-of-stock``; an encoder that stops answering is ``reader-offline``
/ ``reader-timeout``, so that it is not taken for the printer). A policy maps each code to one
:class:`Action`. Printers take the :data:`DEFAULT_ACTIONS` unless their configuration says
otherwise (``[printers.policy]`` in ``printctl.toml``).

Two rules stand above any policy, because they are about what is physically true:

* **An unknown outcome is always inspected.** When a card may have left the hopper and the
  printer cannot say where it is (it stopped answering mid-card, or a card could not be
  rejected), the job becomes ``needs-inspection`` whatever the policy says: no blank is fed
  for that record again until a person has looked.
* **A card that is spoiled is accounted for before anything else.** Whichever action
  follows, a ruined card is rejected into the bin and its blank recorded as spoiled first.

What each action does, for the job and for the printer:

================  ======================================================  ==================
action            the job                                                 the printer
================  ======================================================  ==================
retry-now         the same step again at once, on the same card while it  goes on
                  is intact (at most ``retry_now_limit`` times; then
                  retry-later if the condition is retryable, else
                  stop-printer)
retry-later       keeps its intact card and waits (``stopped``); with no  ``stopped``, clears
                  card (or a spoiled one) it goes back to ``pending`` for  itself: re-checked
                  any printer                                              with backoff, then
                                                                          goes on
hold-job          ``held`` until a person releases it                     goes on
stop-printer      back to ``pending`` for another printer                 ``stopped`` until a
                                                                          person resumes it
abort-job         this attempt ends (its blank spoiled); ``pending`` for  goes on
                  a fresh blank, ``aborted`` once ``max_attempts`` blanks
                  were spoiled for it
needs-inspection  ``needs-inspection``; its blank is in doubt             ``stopped`` until
                                                                          inspected
================  ======================================================  ==================
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from printctl.hardware import ConnectionLost, DeviceTimeout, HardwareError
from printctl.models import PrinterReason


class Action(enum.StrEnum):
    """What the queue does about a condition (CUPS backend outcomes, plus inspection)."""

    RETRY_NOW = "retry-now"  #: try the same step again at once
    RETRY_LATER = "retry-later"  #: wait with backoff until the condition clears, then go on
    HOLD_JOB = "hold-job"  #: set the job aside for a person; the printer goes on
    STOP_PRINTER = "stop-printer"  #: the printer takes no job until a person resumes it
    ABORT_JOB = "abort-job"  #: spoil this attempt's blank; try the record on a fresh one
    NEEDS_INSPECTION = "needs-inspection"  #: a person must look before anything else


#: Every condition code a policy may name, with what it means and the printer reason it
#: shows while the printer is stopped for it.
CONDITIONS: Mapping[str, tuple[str, PrinterReason]] = MappingProxyType(
    {
        "cover-open": ("the printer's cover is open", PrinterReason.COVER_OPEN),
        "media-empty": ("the printer's hopper is empty", PrinterReason.MEDIA_EMPTY),
        "ribbon-empty": ("the ribbon ran out", PrinterReason.RIBBON_EMPTY),
        "media-jam": ("a card jammed", PrinterReason.MEDIA_JAM),
        "media-error": ("a print failed on the card", PrinterReason.DEVICE_ERROR),
        "offline": ("the printer stopped answering", PrinterReason.OFFLINE),
        "timeout": ("a printer command did not finish in time", PrinterReason.OFFLINE),
        "permission-denied": ("the OS refused access to the printer", PrinterReason.OFFLINE),
        "driver-config": ("the driver URL or its dependency is wrong", PrinterReason.DEVICE_ERROR),
        "no-card": ("the chip did not answer at the encoder", PrinterReason.ENCODER_FAULT),
        "status-word": ("a chip command was refused", PrinterReason.ENCODER_FAULT),
        "card-removed": ("the card left the reader's field", PrinterReason.ENCODER_FAULT),
        "reader-gone": ("the chip reader disappeared", PrinterReason.ENCODER_FAULT),
        "reader-offline": ("the chip reader stopped answering", PrinterReason.ENCODER_FAULT),
        "reader-timeout": ("a chip command did not finish in time", PrinterReason.ENCODER_FAULT),
        "encode-deadline": (
            "the chip was not written before the encoding deadline",
            PrinterReason.ENCODER_FAULT,
        ),
        "render-failed": ("the card could not be drawn", PrinterReason.DEVICE_ERROR),
        "out-of-stock": ("the ledger has no blank on hand", PrinterReason.OUT_OF_STOCK),
        "stock-reserve": (
            "only the night's stock reserve is left on hand",
            PrinterReason.OUT_OF_STOCK,
        ),
        "*": ("any other device error", PrinterReason.DEVICE_ERROR),
    }
)

#: What printers do unless configured otherwise.
DEFAULT_ACTIONS: Mapping[str, Action] = MappingProxyType(
    {
        # Conditions a person fixes at the printer; the printer then goes on by itself.
        "cover-open": Action.RETRY_LATER,
        "media-empty": Action.RETRY_LATER,
        "ribbon-empty": Action.RETRY_LATER,
        "out-of-stock": Action.RETRY_LATER,
        "stock-reserve": Action.RETRY_LATER,  # clears when the night (its reserve) ends
        "offline": Action.RETRY_LATER,  # with a card in the path it is always inspected
        "timeout": Action.RETRY_LATER,
        # The card was ruined; the record deserves a fresh blank.
        "media-jam": Action.ABORT_JOB,
        "media-error": Action.ABORT_JOB,
        "no-card": Action.ABORT_JOB,
        "status-word": Action.ABORT_JOB,
        "card-removed": Action.ABORT_JOB,
        # Something about the installation is wrong: a technician must look.
        "permission-denied": Action.STOP_PRINTER,
        "driver-config": Action.STOP_PRINTER,
        "reader-gone": Action.STOP_PRINTER,
        "reader-offline": Action.STOP_PRINTER,
        "reader-timeout": Action.STOP_PRINTER,
        "encode-deadline": Action.STOP_PRINTER,  # a reader that hangs is as bad as none
        # The template or the record's data: a person decides, the printer goes on.
        "render-failed": Action.HOLD_JOB,
        "*": Action.STOP_PRINTER,
    }
)


class PolicyError(ValueError):
    """A configured policy names an unknown condition or action."""


@dataclass(frozen=True)
class FaultPolicy:
    """One printer's fault policy: condition code → action, and the waits that go with it."""

    actions: Mapping[str, Action] = field(default_factory=lambda: DEFAULT_ACTIONS)
    #: Immediate retries of a step before ``retry-now`` escalates.
    retry_now_limit: int = 2
    #: Backoff of ``retry-later``: first wait, doubling up to the cap (seconds).
    backoff_initial_s: float = 2.0
    backoff_max_s: float = 60.0
    #: How long an intact card may wait in the printer for a condition to clear before it is
    #: rejected (seconds).
    card_wait_s: float = 600.0
    #: In a batch run (not a station run, which waits for as long as it runs), how long a
    #: printer waits for conditions to clear, in all since its last good card, before it
    #: leaves the run, stopped with the condition so that the next run checks it again (s).
    wait_max_s: float = 1800.0
    #: How often a ``retry-later`` condition may clear and the step fail again with no good
    #: card in between before the printer stops until resumed: a fault that the printer's
    #: status does not show (it fails on every feed, the status reads clean) is no transient.
    retry_later_limit: int = 5

    def action_for(self, code: str) -> Action:
        """The action for a condition code (``*`` for codes the policy does not name)."""
        action = self.actions.get(code)
        if action is None:
            action = self.actions.get("*", DEFAULT_ACTIONS["*"])
        return action

    @classmethod
    def configured(
        cls,
        overrides: Mapping[str, str],
        *,
        retry_now_limit: int = 2,
        backoff_initial_s: float = 2.0,
        backoff_max_s: float = 60.0,
        card_wait_s: float = 600.0,
        wait_max_s: float = 1800.0,
        retry_later_limit: int = 5,
    ) -> FaultPolicy:
        """The default actions with ``overrides`` (code → action name) applied, validated."""
        actions = dict(DEFAULT_ACTIONS)
        for code, name in overrides.items():
            if code not in CONDITIONS:
                known = ", ".join(sorted(CONDITIONS))
                raise PolicyError(f"unknown condition {code!r} (known: {known})")
            try:
                actions[code] = Action(str(name))
            except ValueError:
                choices = ", ".join(a.value for a in Action)
                raise PolicyError(
                    f"condition {code!r}: unknown action {name!r} (one of: {choices})"
                ) from None
        waits = (card_wait_s, wait_max_s)
        if retry_now_limit < 0 or retry_later_limit < 1 or min(waits) < 0:
            raise PolicyError("retry_now_limit and the waits must be >= 0, retry_later_limit >= 1")
        if backoff_initial_s <= 0 or backoff_max_s < backoff_initial_s:
            # A zero backoff would turn every wait into a busy loop polling the printer.
            raise PolicyError("retry_backoff_s must be > 0 and retry_backoff_max_s >= it")
        return cls(
            actions=MappingProxyType(actions),
            retry_now_limit=retry_now_limit,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
            card_wait_s=card_wait_s,
            wait_max_s=wait_max_s,
            retry_later_limit=retry_later_limit,
        )

    def backoff(self, attempt: int) -> float:
        """The wait before the ``attempt``-th re-check (0-based) of a condition."""
        return float(min(self.backoff_initial_s * 2.0**attempt, self.backoff_max_s))


def condition_of(error: HardwareError, *, from_encoder: bool = False) -> str:
    """The condition code of a driver error (encoder link failures get their own codes)."""
    if from_encoder and isinstance(error, ConnectionLost):
        return "reader-timeout" if isinstance(error, DeviceTimeout) else "reader-offline"
    return error.code


def printer_reason(code: str) -> PrinterReason:
    """The printer-state reason shown while a printer is stopped for ``code``."""
    return CONDITIONS.get(code, CONDITIONS["*"])[1]
