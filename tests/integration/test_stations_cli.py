"""``printctl run``, ``stations list`` and ``batch release`` as a user runs them (SQLite).

Real processes on a workspace seeded in-process; the multi-station case on PostgreSQL is
``test_stations_postgres.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from printctl.config import Settings
from printctl.crypto import generate_key_file
from printctl.models import Job, LedgerEntry, StationRow
from printctl.queue.batches import BatchFilters
from printctl.queue.station_lock import station_lock
from printctl.service import Context, new_batch, receive_stock
from tests.integration.station_support import seed_printable_records
from tests.integration.test_cli import as_json, run
from tests.integration.test_cli import one_line_error as expect_user_error

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Context]:
    """A workspace in tmp_path with 12 ready records, 20 blanks and one open batch."""
    generate_key_file(tmp_path / "data.key")
    settings = replace(
        Settings(base_dir=tmp_path), database_url="sqlite:///printctl.db", log_file=None
    )
    ctx = Context.open(settings, actor="operator")
    seed_printable_records(ctx.engine, ctx.cipher, 12)
    receive_stock(ctx, 20, "LOT-CLI", load=["p1", "p2"])
    new_batch(ctx, BatchFilters(), name="cli")
    yield ctx
    ctx.close()


def env(card_ms: int = 0, **extra: str) -> dict[str, str]:
    """This checkout's printctl, two sim printers, a short poll; ``extra`` on top."""
    return {
        "PYTHONPATH": str(REPO),
        "PRINTCTL_LOG_FILE": "",
        "PRINTCTL_POLL_S": "0.1",
        "PRINTCTL_PRINTERS": ";".join(
            f"p{i}=sim://?cards=100&card_ms={card_ms}&serial=C{i}|sim://?seed={i}" for i in (1, 2)
        ),
        **extra,
    }


def cli(root: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return run(root, *args, env=env(**extra))


def one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    """A user error: exit 2, one line naming the problem, no traceback."""
    expect_user_error(result, expected)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def job_states(ctx: Context) -> dict[str, int]:
    with Session(ctx.engine) as session:
        return dict(session.exec(select(Job.state, func.count()).group_by(Job.state)).all())


def test_run_until_idle_prints_a_released_batch_and_lists_the_station(
    office: Context, tmp_path: Path
) -> None:
    """`batch release` then `run --until-idle` prints every job; `stations list` shows it stopped."""
    assert cli(tmp_path, "batch", "release", "1").returncode == 0
    summary = as_json(cli(tmp_path, "run", "--station", "desk-1", "--until-idle", "--json"))
    assert summary["station"] == "desk-1" and not summary["lost"]
    assert summary["jobs"] == {"completed": 12}
    assert sum(w["completed"] for w in summary["printers"]) == 12
    assert job_states(office) == {"completed": 12}
    stations = as_json(cli(tmp_path, "stations", "list", "--json"))
    assert [(s["name"], s["state"], s["in_flight"]) for s in stations] == [("desk-1", "stopped", 0)]
    table = cli(tmp_path, "stations", "list")
    assert table.returncode == 0 and "desk-1" in table.stdout


def test_sigterm_lets_each_printer_finish_its_card_then_exits_cleanly(
    office: Context, tmp_path: Path
) -> None:
    """SIGTERM mid-run: no job is left in a printer, nothing is lost, the station is stopped."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PRINTCTL_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "printctl", "run", "--batch", "1", "--json"],
        cwd=tmp_path,
        env={**environment, **env(card_ms=400)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # bounded poll for the first issued card
            with Session(office.engine) as session:
                issued = session.exec(
                    select(func.count()).where(col(LedgerEntry.kind) == "issued")
                ).one()
            if issued or process.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert issued and process.poll() is None
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    summary = json.loads(stdout)
    assert summary["stopped_by_signal"] is True
    states = job_states(office)
    assert "processing" not in states and "needs-inspection" not in states
    assert 0 < states.get("completed", 0) < 12
    assert states.get("completed", 0) + states.get("pending", 0) == 12
    with Session(office.engine) as session:
        issued = session.exec(select(func.count()).where(col(LedgerEntry.kind) == "issued")).one()
        row = session.get(StationRow, "station-1")
    assert issued == states["completed"]
    assert row is not None and row.state == "stopped"


def test_run_user_errors_are_one_line(office: Context, tmp_path: Path) -> None:
    """Unknown printer or batch, a bad lease, a station already running: one line, exit 2."""
    one_line_error(cli(tmp_path, "run", "--printer", "nope"), "no printer named 'nope'")
    one_line_error(cli(tmp_path, "run", "--batch", "99"), "no batch 99")
    one_line_error(cli(tmp_path, "stations", "list", PRINTCTL_LEASE_S="0"), "lease_s")
    one_line_error(cli(tmp_path, "run", "--station", " "), "station must name this station")
    with station_lock(office.engine, "desk-2"):
        one_line_error(
            cli(tmp_path, "run", "--station", "desk-2", "--until-idle"),
            "another printctl run is active for station 'desk-2'",
        )
