"""Fault policies: the defaults, per-printer overrides from the configuration, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from printctl.config import ConfigError, load_settings
from printctl.hardware import CardJam, ConnectionLost, CoverOpen, DeviceTimeout, ReaderGone
from printctl.queue.policy import (
    CONDITIONS,
    DEFAULT_ACTIONS,
    Action,
    FaultPolicy,
    PolicyError,
    condition_of,
)


def test_every_condition_has_a_default_action() -> None:
    """No condition a policy may name is left without a default."""
    assert set(CONDITIONS) == set(DEFAULT_ACTIONS)


def test_codes_the_policy_does_not_name_fall_back_to_the_wildcard() -> None:
    """An error code no one foresaw stops the printer (the safe default)."""
    assert FaultPolicy().action_for("card-sequence") is Action.STOP_PRINTER
    custom = FaultPolicy.configured({"*": "hold-job"})
    assert custom.action_for("card-sequence") is Action.HOLD_JOB


def test_encoder_link_failures_are_not_taken_for_the_printer() -> None:
    """A reader that stops answering is ``reader-offline``; the printer's is ``offline``."""
    assert condition_of(ConnectionLost("x"), from_encoder=True) == "reader-offline"
    assert condition_of(DeviceTimeout("x"), from_encoder=True) == "reader-timeout"
    assert condition_of(ConnectionLost("x")) == "offline"
    assert condition_of(ReaderGone("x"), from_encoder=True) == "reader-gone"
    assert condition_of(CardJam("x")) == "media-jam"
    assert condition_of(CoverOpen("x")) == "cover-open"


def test_backoff_doubles_up_to_its_cap() -> None:
    """Re-checks of a condition wait 2, 4, 8 … seconds, never more than the cap."""
    policy = FaultPolicy.configured({}, backoff_initial_s=2, backoff_max_s=10)
    assert [policy.backoff(n) for n in range(5)] == [2, 4, 8, 10, 10]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"paper-out": "retry-now"}, "unknown condition 'paper-out'"),
        ({"media-jam": "pray"}, "unknown action 'pray'"),
    ],
)
def test_a_bad_policy_is_refused_with_what_is_allowed(
    overrides: dict[str, str], message: str
) -> None:
    """A typo in a policy is an error naming the choices, never silently the default."""
    with pytest.raises(PolicyError, match=message):
        FaultPolicy.configured(overrides)


def test_printer_policies_come_from_the_configuration_file(tmp_path: Path) -> None:
    """``[printers.policy]`` overrides the defaults for that printer only."""
    config = tmp_path / "printctl.toml"
    config.write_text(
        'wait_max_s = 60\n[[printers]]\nname = "a"\nurl = "sim://"\nencoder = "sim://"\n'
        '[printers.policy]\nmedia-jam = "hold-job"\n'
        '[[printers]]\nname = "b"\nurl = "sim://"\nencoder = "sim://"\n'
    )
    settings = load_settings(config, environ={})
    a = settings.fault_policy(settings.printer("a"))
    b = settings.fault_policy(settings.printer("b"))
    assert a.action_for("media-jam") is Action.HOLD_JOB
    assert b.action_for("media-jam") is Action.ABORT_JOB
    assert a.wait_max_s == b.wait_max_s == 60


def test_a_bad_printer_policy_in_the_file_is_a_config_error(tmp_path: Path) -> None:
    """The configuration names the printer and the bad entry."""
    config = tmp_path / "printctl.toml"
    config.write_text(
        '[[printers]]\nname = "a"\nurl = "sim://"\n[printers.policy]\ncover-open = "wait"\n'
    )
    with pytest.raises(ConfigError, match="printer 'a': policy: condition 'cover-open'"):
        load_settings(config, environ={})
