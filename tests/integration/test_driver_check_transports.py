"""`printctl driver check` as a technician runs it: a real process against real transports.

The Evolis device simulator listens on a TCP socket and on a pseudo-terminal; the PC/SC check
goes through pcscd to the virtual reader with a virtual card. A simulator told to misbehave
must fail the check with a readable table.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.evolis.simulator import EvolisSimulator
from tests.pcsc_support import (
    CONTRACT_PORT,
    CONTRACT_READER,
    DEFAULT_UID,
    VPCD_HOST,
    encoder_url,
    require_stack,
)


def check(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "printctl", "driver", "check", url, *extra],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=Path(__file__).parent,
        check=False,
    )


@pytest.fixture
def simulator() -> Iterator[EvolisSimulator]:
    sim = EvolisSimulator("cards=20")
    yield sim
    sim.stop()


def test_check_passes_for_evolis_over_tcp(simulator: EvolisSimulator) -> None:
    """Every printer check passes for the Evolis driver over TCP against its simulator."""
    port = simulator.serve_tcp()
    result = check(f"evolis+tcp://127.0.0.1:{port}?timeout=3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fail" not in result.stdout.lower().replace("0 failed", "")
    assert "pass" in result.stdout


def test_check_passes_for_evolis_over_a_serial_pty(simulator: EvolisSimulator) -> None:
    """Every printer check passes for the Evolis driver over a real pseudo-terminal."""
    slave = simulator.serve_pty()
    result = check(f"evolis+serial://{slave}?baud=115200&timeout=3")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_fails_readably_for_a_misbehaving_printer() -> None:
    """A simulator that garbles its replies fails the check, exit 1, with a table of failures."""
    sim = EvolisSimulator("cards=20&garble=true")
    try:
        port = sim.serve_tcp()
        result = check(f"evolis+tcp://127.0.0.1:{port}?timeout=1")
    finally:
        sim.stop()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "fail" in result.stdout


def test_check_passes_for_pcsc_with_the_virtual_card() -> None:
    """Every encoder check passes for the PC/SC driver through pcscd and a virtual card."""
    require_stack(CONTRACT_READER)
    url = encoder_url(
        CONTRACT_READER,
        virtual_card=DEFAULT_UID.hex().upper(),
        vpcd=f"{VPCD_HOST}:{CONTRACT_PORT}",
        timeout="5",
    )
    result = check(url, "--encoder")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pass" in result.stdout
