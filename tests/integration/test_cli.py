"""The command line end to end, as a user runs it: real processes, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def run(
    cwd: Path, *args: str, user: str = "operator", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PRINTCTL_") or k == "PRINTCTL_REQUIRE_SERVICES"
    }
    environment.update({"PRINTCTL_USER": user, "COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "printctl", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    """A user error: non-zero exit, one clear line, no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert expected in result.stderr, result.stderr


@pytest.mark.slow
def test_demo_prints_every_printable_record_and_balances(tmp_path: Path) -> None:
    """`printctl demo --json` issues every printable record and the ledger balances."""
    summary = as_json(run(tmp_path, "demo", "--json", "--workdir", str(tmp_path / "w")))
    assert summary["records_imported"] + summary["records_quarantined"] == 200
    assert summary["records_quarantined"] >= 3
    assert summary["cards_issued"] == summary["records_imported"]
    assert summary["blanks_spoiled"] >= 1
    assert summary["stock_before"] - summary["stock_after"] == (
        summary["cards_issued"] + summary["blanks_spoiled"]
    )
    assert summary["balanced"] is True
    assert sum(summary["printer_counters"].values()) == (
        summary["cards_issued"] + summary["blanks_spoiled"]
    )
    assert Path(summary["proof_pdf"]).read_bytes().startswith(b"%PDF")
    assert Path(summary["report_pdf"]).read_bytes().startswith(b"%PDF")
    assert summary["proof_cards"] == summary["cards_issued"]


@pytest.fixture
def office(tmp_path: Path) -> Path:
    """A workspace made by `printctl init`, trusting a fake center's key, with a bundle."""
    ok(run(tmp_path, "init"))
    ok(run(tmp_path, "center", "make-key", "--out", "center", "--id", "pusat-t", "--seed", "1"))
    ok(run(tmp_path, "keys", "trust", "center/pusat-t.pub.pem", "--id", "pusat-t"))
    return tmp_path


def make_bundle(office: Path, *extra: str) -> Path:
    info = as_json(
        run(
            office,
            "center",
            "make-bundle",
            "--key",
            "center/pusat-t.key.pem",
            "--key-id",
            "pusat-t",
            "--out",
            "inbox",
            "--json",
            *extra,
        )
    )
    return Path(info["path"])


def test_operator_tour(office: Path) -> None:
    """Import, re-import, list, receive stock, batch, print, and the books balance."""
    bundle = make_bundle(
        office, "--count", "12", "--seed", "3", "--bad-record", "duplicate-status=2"
    )
    first = as_json(run(office, "import", str(bundle), "--json"))
    assert first[0]["outcome"] == "imported" and first[0]["imported"] == 10
    assert [q["reason"] for q in first[0]["quarantined"]] == ["DUPLICATE_RECORD"] * 2
    again = as_json(run(office, "import", str(bundle), "--json"))
    assert again[0]["outcome"] == "already-imported" and again[0]["imported"] == 0

    records = as_json(run(office, "records", "list", "--json"))
    states = sorted(r["state"] for r in records)
    assert states == ["quarantined"] * 2 + ["ready"] * 10
    assert all(r["nik"] is None or r["nik"].startswith("************") for r in records)

    ok(run(office, "stock", "receive", "20", "--lot", "L-1"))
    ok(run(office, "stock", "load", "sim-1", "20"))
    batch = as_json(run(office, "batch", "create", "--json"))
    assert batch["jobs"] == 10
    run_summary = as_json(run(office, "batch", "start", str(batch["batch_id"]), "--json"))
    assert run_summary["jobs"] == {"completed": 10}
    stock = as_json(run(office, "stock", "show", "--json"))
    assert stock["issued"] == 10 and stock["on_hand"] == 20 - 10 - stock["spoiled"]
    assert "holds" in ok(run(office, "audit", "verify"))
    log_text = (office / "printctl.log.jsonl").read_text()
    assert "card issued" in log_text


def test_reprints_need_a_second_person(office: Path) -> None:
    """A reprint waits for approval, and the requester cannot approve it alone."""
    bundle = make_bundle(office, "--count", "6", "--seed", "5", "--reprints", "1")
    ok(run(office, "import", str(bundle)))
    records = as_json(run(office, "records", "list", "--json"))
    assert {r["state"] for r in records} == {"awaiting-approval"}
    target, refused = records[0]["record_id"], records[1]["record_id"]
    # The evidence each kind of reprint rests on (two of each, one per record).
    evidence = {
        "REPLACE_LOST": ["LP/1/XII/2026", "LP/2/XII/2026"],
        "REPLACE_DAMAGED": ["04A1B2C3D4E5F6", "04A1B2C3D4E5F7"],
        "DATA_CHANGE": ["1409010101010077", "1409010101010078"],
    }
    one_line_error(run(office, "records", "approve", target), "nobody has requested")
    for n, record in enumerate(records[:2]):
        reference = evidence[record["request_type"]][n]
        ok(run(office, "records", "request-reprint", record["record_id"], "--evidence", reference))
    one_line_error(run(office, "records", "approve", target), "a second person must approve")
    ok(run(office, "records", "approve", target, user="supervisor"))
    ok(run(office, "records", "refuse", refused, "--reason", "letter is a copy", user="supervisor"))
    states = {r["record_id"]: r["state"] for r in as_json(run(office, "records", "list", "--json"))}
    assert states[target] == "ready" and states[refused] == "refused"


def test_a_higher_version_supersedes(office: Path) -> None:
    """Version 2 of a record replaces an unprinted version 1."""
    ok(run(office, "import", str(make_bundle(office, "--count", "3", "--seed", "9"))))
    second = make_bundle(office, "--count", "3", "--seed", "9", "--version", "2", "--sequence", "2")
    result = as_json(run(office, "import", str(second), "--json"))[0]
    assert len(result["superseded"]) == 3
    records = as_json(run(office, "records", "list", "--json"))
    assert (
        sorted((r["version"], r["state"]) for r in records)
        == [(1, "superseded")] * 3 + [(2, "ready")] * 3
    )


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("bad-signature", "signature"),
        ("tampered-member", "SHA-256"),
        ("wrong-regency", "14.09"),
        ("path-traversal", ".."),
    ],
)
def test_bad_bundles_are_rejected_with_one_reason(office: Path, kind: str, reason: str) -> None:
    """A bad bundle exits 1, names its reason and stores nothing."""
    bundle = make_bundle(office, "--count", "3", "--bad-bundle", kind)
    result = run(office, "import", str(bundle), "--json")
    assert result.returncode == 1
    outcome = json.loads(result.stdout)[0]
    assert outcome["outcome"] == "rejected" and reason in outcome["reason"]
    assert as_json(run(office, "records", "list", "--json")) == []


def test_user_errors_are_one_line_without_traceback(office: Path) -> None:
    """Missing files, bad URLs, no stock and bad config give one clear line and a non-zero exit."""
    missing = run(office, "import", "nope.prr.zip")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    one_line_error(run(office, "keys", "trust", "nope.pem", "--id", "x"), "no such file")
    one_line_error(run(office, "keys", "trust", "center", "--id", "x"), "Is a directory")
    (office / "afile").write_text("")
    one_line_error(run(office, "demo", "--workdir", "afile"), "File exists")
    ok(run(office, "import", str(make_bundle(office, "--count", "2"))))
    one_line_error(run(office, "batch", "create"), "not enough stock")
    ok(run(office, "stock", "receive", "5", "--lot", "L"))
    batch = as_json(run(office, "batch", "create", "--json"))
    one_line_error(
        run(
            office,
            "batch",
            "start",
            str(batch["batch_id"]),
            env={"PRINTCTL_PRINTERS": "x=lpt://printer|sim://"},
        ),
        "unknown printer driver 'lpt'",
    )
    one_line_error(run(office, "stock", "receive", "0", "--lot", "L"), "at least one blank")
    one_line_error(run(office, "batch", "create", "--district", "NOWHERE"), "no ready records")
    (office / "printctl.toml").write_text("colour = 1\n")
    one_line_error(run(office, "stock", "show"), "unknown setting 'colour'")
