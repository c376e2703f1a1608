"""``printctl center serve`` and ``printctl center receipt`` as a user runs them (real processes)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from printctl.center.bundles import make_bundle
from printctl.center.keys import generate_center_key, write_key_pair
from printctl.sync.client import CenterClient
from printctl.sync.eventbundle import load_signing_key, read_receipt, write_event_bundle

AT = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRINTCTL_")}
    env["COLUMNS"] = "200"
    return env


def printctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printctl", *args],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def station_bundle(tmp_path: Path) -> tuple[Path, Path]:
    """A station key pair and a flash-drive event bundle signed with it."""
    files = write_key_pair(generate_center_key("kuansing-1", seed=1), tmp_path / "keys")
    key = load_signing_key(files.private_pem, key_id="kuansing-1", issuer="kuansing-1")
    event = {
        "event_id": "ev-1",
        "type": "CARD_PRINTED",
        "record_id": "PRR-2026-000001",
        "version": 1,
        "at": "2026-11-27T21:14:03Z",
    }
    path = write_event_bundle(
        tmp_path / "drive", [event], key=key, bundle_id="evb-1", created_at=AT
    )
    return files.public_pem, path


def test_receipt_ingests_once_and_writes_a_verifiable_receipt(tmp_path: Path) -> None:
    station_pub, bundle = station_bundle(tmp_path)
    center = write_key_pair(generate_center_key("pusat-receipts", seed=2), tmp_path / "center")
    args = (
        "center",
        "receipt",
        str(bundle),
        "--state",
        str(tmp_path / "state"),
        "--receipt-key",
        str(center.private_pem),
        "--station-key",
        str(station_pub),
        "--out",
        str(tmp_path / "receipts"),
    )
    first = printctl(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    assert "1 event(s) accepted, 0 already received" in first.stdout
    again = printctl(tmp_path, *args)
    assert "0 event(s) accepted, 1 already received" in again.stdout
    receipt = read_receipt(
        (tmp_path / "receipts" / "evb-1.receipt.zip").read_bytes(),
        trusted_keys={"pusat-receipts": generate_center_key("pusat-receipts", seed=2).public_key},
    )
    assert receipt.duplicates == ("ev-1",)


def test_receipt_for_an_untrusted_station_is_one_line_exit_2(tmp_path: Path) -> None:
    _, bundle = station_bundle(tmp_path)
    center = write_key_pair(generate_center_key("pusat-receipts", seed=2), tmp_path / "center")
    result = printctl(
        tmp_path,
        "center",
        "receipt",
        str(bundle),
        "--receipt-key",
        str(center.private_pem),
        "--station-key",
        str(center.public_pem),  # not the station's key
        "--out",
        str(tmp_path / "receipts"),
    )
    assert result.returncode == 2
    assert "not a trusted key" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "receipts").exists()


def test_serve_prints_its_url_answers_the_api_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    make_bundle(tmp_path / "bundles", key=generate_center_key(seed=3), count=3)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "printctl",
            "center",
            "serve",
            "--bundles",
            str(tmp_path / "bundles"),
            "--state",
            str(tmp_path / "state"),
            "--port",
            "0",
        ],
        cwd=tmp_path,
        env={**environment(), "PRINTCTL_CENTER_TOKEN": "secret"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()  # printed once the socket is listening
        match = re.search(r"http://127\.0\.0\.1:\d+", first_line)
        assert match, first_line
        offers = CenterClient(match.group(0), "secret").list_bundles(regency="14.09", after=0)
        assert len(offers) == 1
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        assert "Stopping." in out
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
