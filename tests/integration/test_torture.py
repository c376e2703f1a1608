"""Torture: ``printctl batch start`` killed with SIGKILL at random points, restarted, inspected.

The scenario lives in ``bench/torture_scenario.py`` (standard library and the printctl
command line only) so that ``bench/torture.py`` runs the same thing with hundreds of kills;
this test runs a few. ``PRINTCTL_TORTURE_KILLS`` and ``PRINTCTL_TORTURE_SEED`` change the
defaults, e.g. to replay a failure reported by the bench.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from torture_scenario import TortureConfig, run_scenario

KILLS = int(os.environ.get("PRINTCTL_TORTURE_KILLS", "5"))
SEED = int(os.environ.get("PRINTCTL_TORTURE_SEED", "20261127"))


@pytest.mark.slow
def test_sigkill_restart_and_inspection_never_print_twice_or_lose_a_blank(tmp_path: Path) -> None:
    """Random SIGKILLs, restarts and inspections never issue a record twice or lose a blank."""
    report = run_scenario(TortureConfig(kills=KILLS, seed=SEED), tmp_path / "office")
    assert report.kills == KILLS
    assert report.restarts >= KILLS
    assert report.duplicates == 0
    assert report.lost_blanks == 0
    assert report.lost_jobs == 0
    assert report.issued == report.records == report.jobs
    assert report.received - report.issued - report.spoiled == report.on_hand
    assert report.hardware_checks >= 1
