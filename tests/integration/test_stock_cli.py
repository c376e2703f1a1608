"""``printctl stock …`` as an operator and a supervisor run it: real processes, exit codes,
one-line errors, and the files it writes."""

from __future__ import annotations

import csv
import subprocess
import time
from pathlib import Path

from tests.integration.test_cli import as_json, ok, one_line_error, run


def office_clock() -> dict[str, str]:
    """Every process of a test on one simulated clock: 10:00 at the office from the test's
    start, at the wall clock's pace. The day's entries and its close then fall on one business
    day whenever CI runs (on the wall clock, office midnight is 17:00 UTC: a test running
    across it would post the spoil on one day and close the next)."""
    return {"PRINTCTL_SIMULATED_CLOCK": f"2026-11-27T10:00:00+07:00 x1 @{time.time():.3f}"}


def test_a_day_at_the_counter_from_delivery_to_close(tmp_path: Path) -> None:
    """Receive, load, spoil, count, adjust with a supervisor, destroy, close, and the papers."""
    clock = office_clock()

    def office(*args: str, user: str = "operator") -> subprocess.CompletedProcess[str]:
        return run(tmp_path, *args, user=user, env=clock)

    ok(office("init"))
    out = ok(
        office(
            "stock",
            "receive",
            "50",
            "--lot",
            "L-1",
            "--document",
            "BAST/1",
            "--serial-first",
            "K0001",
            "--serial-last",
            "K0050",
        )
    )
    assert "Vault: 50" in out
    ok(office("stock", "load", "sim-1", "20"))
    one_line_error(office("stock", "load", "sim-1", "40"), "vault holds 30 blanks")
    one_line_error(office("stock", "load", "sim-1", "x"), "valid integer")
    one_line_error(office("stock", "spoil", "1", "--reason", "melted", "--note", "n"), "melted")
    ok(
        office(
            "stock",
            "spoil",
            "1",
            "--reason",
            "damaged",
            "--location",
            "hopper:sim-1",
            "--note",
            "bent in the hopper",
        )
    )
    one_line_error(
        office("stock", "count", "--location", "shelf", "--counted", "1"),
        "unknown printer 'shelf'",
    )

    # A count two short: a discrepancy (exit 1), then the supervisor adjusts.
    count = office("stock", "count", "--location", "vault", "--counted", "28")
    assert count.returncode == 1 and "discrepancy" in count.stderr
    dry = office("stock", "close-day", "--dry-run")
    assert dry.returncode == 1 and "count #1 at vault" in dry.stderr
    one_line_error(
        office("stock", "resolve-count", "1", "--adjust", "--note", "mine"),
        "cannot approve",
    )
    ok(
        office(
            "stock",
            "resolve-count",
            "1",
            "--adjust",
            "--note",
            "two missing",
            user="supervisor",
        )
    )

    # The spoiled blank is destroyed before two witnesses, with a supervisor's approval.
    one_line_error(office("stock", "destroy", "--witness", "A", "--place", "yard"), "two witnesses")
    ok(office("stock", "destroy", "--witness", "Saksi A", "--witness", "Saksi B"))
    one_line_error(office("stock", "approve", "1"), "cannot approve")
    ok(office("stock", "approve", "1", user="supervisor"))
    record = ok(office("stock", "destruction-record", "--pdf", str(tmp_path), user="supervisor"))
    assert "BAP-" in record

    shown = as_json(office("stock", "show", "--json"))
    assert (shown["vault"], shown["hoppers"], shown["to_destroy"]) == (28, {"sim-1": 19}, 0)
    assert shown["in_office"] == 50 - 1 - 2

    closed = as_json(office("stock", "close-day", "--json"))
    assert closed["closed"] and closed["day"] == "2026-11-27"
    assert closed["statement"]["closing"] == 47
    assert closed["statement"]["adjusted"] == -2 and closed["statement"]["spoiled"] == 1
    one_line_error(office("stock", "close-day"), "is closed")

    pdf = tmp_path / "papers"
    pdf.mkdir()
    assert "Wrote" in ok(office("stock", "statement", "--pdf", str(pdf)))
    assert "Wrote" in ok(office("stock", "monthly", "--pdf", str(pdf)))
    assert len(list(pdf.glob("*.pdf"))) == 2
    one_line_error(
        office("stock", "statement", "--pdf", str(tmp_path / "no" / "x.pdf")),
        "does not exist",
    )
    one_line_error(office("stock", "statement", "--day", "yesterday"), "not a date")

    ok(office("stock", "export", "--csv", str(tmp_path / "ledger.csv")))
    with (tmp_path / "ledger.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    kinds = [r["kind"] for r in rows]
    assert kinds == ["received", "moved", "spoiled", "adjusted", "destroyed"]
    assert rows[0]["serial_first"] == "K0001" and rows[3]["approved_by"] == "supervisor"


def test_a_batch_the_stock_cannot_cover_is_refused_or_trimmed(tmp_path: Path) -> None:
    """The operator sees the numbers and chooses: refuse (default) or --trim."""
    from tests.integration.test_cli import make_bundle

    ok(run(tmp_path, "init"))
    ok(run(tmp_path, "center", "make-key", "--out", "center", "--id", "pusat-t", "--seed", "1"))
    ok(run(tmp_path, "keys", "trust", "center/pusat-t.pub.pem", "--id", "pusat-t"))
    ok(run(tmp_path, "import", str(make_bundle(tmp_path, "--count", "10"))))
    ok(run(tmp_path, "stock", "receive", "3", "--lot", "L"))
    one_line_error(run(tmp_path, "batch", "create"), "3 free")
    trimmed = as_json(run(tmp_path, "batch", "create", "--trim", "--json"))
    assert trimmed["jobs"] == 3
