"""The center link from the command line: a flash-drive round trip, an unreachable center,
handover and the outbox, as a user runs them (real processes)."""

from __future__ import annotations

from pathlib import Path

# `office` is test_cli's workspace fixture: `printctl init` and a trusted fake center key.
from tests.integration.test_cli import (
    as_json,
    make_bundle,
    office,  # noqa: F401
    ok,
    one_line_error,
    run,
)


def test_a_flash_drive_round_trip_from_the_command_line(office: Path) -> None:  # noqa: F811
    """Bundles in from a drive, cards printed and handed over, events out to the drive, the
    center's receipt back: every event delivered, the counts the same at both ends."""
    ok(run(office, "keys", "station", "--out", "station-1.pub.pem"))
    drive = office / "drive"
    drive.mkdir()
    for seed, sequence in ((61, 1), (62, 2)):
        path = make_bundle(office, "--count", "3", "--seed", str(seed), "--sequence", str(sequence))
        (office / path).rename(drive / path.name)
    imported = as_json(run(office, "import", str(drive), "--json"))
    assert [o["outcome"] for o in imported] == ["imported", "imported"]
    ok(run(office, "stock", "receive", "10", "--lot", "L-1"))
    ok(run(office, "stock", "load", "sim-1", "10"))
    batch = as_json(run(office, "batch", "create", "--json"))
    ok(run(office, "batch", "start", str(batch["batch_id"]), "--json"))
    record = as_json(run(office, "records", "list", "--json"))[0]["record_id"]
    one_line_error(run(office, "handover", record), "--verified-by")
    ok(run(office, "handover", record, "--verified-by", "dewi"))
    one_line_error(run(office, "handover", record, "--verified-by", "dewi"), "was handed over")

    status = as_json(run(office, "events", "status", "--json"))
    assert status["pending_by_type"]["CARD_PRINTED"] == 6
    assert status["pending_by_type"]["CARD_HANDED_OVER"] == 1
    exported = as_json(run(office, "export-events", str(drive), "--json"))
    assert exported["events"] == status["pending"]
    (events_file,) = [Path(f) for f in exported["files"]]

    # At the center, with the fake center's tools.
    receipt_out = ok(
        run(
            office,
            "center",
            "receipt",
            str(events_file),
            "--state",
            "center-state",
            "--receipt-key",
            "center/pusat-t.key.pem",
            "--station-key",
            "station-1.pub.pem",
            "--out",
            str(drive),
        )
    )
    assert f"{status['pending']} event(s) accepted" in receipt_out
    assert len(list(drive.glob("*.receipt.zip"))) == 1
    (result,) = as_json(run(office, "import-receipt", str(drive), "--json"))  # the whole drive
    assert result["delivered"] == status["pending"] and result["unknown"] == 0
    listed = {r["record_id"]: r for r in as_json(run(office, "records", "list", "--json"))}
    assert listed[record]["handed_over_at"] and not listed[record]["erased"]
    after = as_json(run(office, "events", "status", "--json"))
    assert after["pending"] == 0 and after["delivered"] == status["pending"]
    assert "holds" in ok(run(office, "audit", "verify"))


def test_an_unreachable_center_is_one_line_and_exit_3(office: Path) -> None:  # noqa: F811
    """Nothing listens on the port: pull and push say so in one line, exit 3, and the
    events stay in the outbox."""
    env = {
        "PRINTCTL_CENTER_URL": "http://127.0.0.1:9",
        "PRINTCTL_CENTER_TOKEN": "t",
        "PRINTCTL_CENTER_ATTEMPTS": "1",
        "PRINTCTL_CENTER_TIMEOUT_S": "2",
    }
    bundle = make_bundle(office, "--count", "2", "--bad-record", "duplicate-status=1")
    ok(run(office, "import", str(bundle)))  # one quarantined line: one event to push
    for command in ("pull", "push"):
        result = run(office, command, env=env)
        assert result.returncode == 3, result.stderr
        assert "Traceback" not in result.stderr
        assert "127.0.0.1:9" in result.stderr
    assert as_json(run(office, "events", "status", "--json"))["pending"] == 1
    one_line_error(run(office, "pull"), "no center_url is configured")
    # Without a center, `serve` still erases expired personal data on its schedule.
    assert "tasks erase" in ok(run(office, "serve", "--once"))
    assert "tasks pull, push, erase" in ok(run(office, "serve", "--once", env=env))


def test_overdue_and_erasure_from_the_command_line(office: Path) -> None:  # noqa: F811
    """Nothing is overdue or expired in a fresh office, and both commands say so."""
    assert as_json(run(office, "records", "overdue", "--json")) == []
    assert "0 cards overdue" in ok(run(office, "records", "overdue"))
    erased = as_json(run(office, "records", "erase-expired", "--dry-run", "--json"))
    assert erased == {"erased": [], "waiting_for_center": [], "dry_run": True}
