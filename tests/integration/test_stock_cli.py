"""``printctl stock …`` as an operator and a supervisor run it: real processes, exit codes,
one-line errors, and the files it writes."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.integration.test_cli import as_json, ok, one_line_error, run


def test_a_day_at_the_counter_from_delivery_to_close(tmp_path: Path) -> None:
    """Receive, load, spoil, count, adjust with a supervisor, destroy, close, and the papers."""
    ok(run(tmp_path, "init"))
    out = ok(
        run(
            tmp_path,
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
    ok(run(tmp_path, "stock", "load", "sim-1", "20"))
    one_line_error(run(tmp_path, "stock", "load", "sim-1", "40"), "vault holds 30 blanks")
    one_line_error(run(tmp_path, "stock", "load", "sim-1", "x"), "valid integer")
    one_line_error(
        run(tmp_path, "stock", "spoil", "1", "--reason", "melted", "--note", "n"), "melted"
    )
    ok(
        run(
            tmp_path,
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
        run(tmp_path, "stock", "count", "--location", "shelf", "--counted", "1"),
        "unknown printer 'shelf'",
    )

    # A count two short: a discrepancy (exit 1), then the supervisor adjusts.
    count = run(tmp_path, "stock", "count", "--location", "vault", "--counted", "28")
    assert count.returncode == 1 and "discrepancy" in count.stderr
    dry = run(tmp_path, "stock", "close-day", "--dry-run")
    assert dry.returncode == 1 and "count #1 at vault" in dry.stderr
    one_line_error(
        run(tmp_path, "stock", "resolve-count", "1", "--adjust", "--note", "mine"),
        "cannot approve",
    )
    ok(
        run(
            tmp_path,
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
    one_line_error(
        run(tmp_path, "stock", "destroy", "--witness", "A", "--place", "yard"), "two witnesses"
    )
    ok(run(tmp_path, "stock", "destroy", "--witness", "Saksi A", "--witness", "Saksi B"))
    one_line_error(run(tmp_path, "stock", "approve", "1"), "cannot approve")
    ok(run(tmp_path, "stock", "approve", "1", user="supervisor"))
    record = ok(
        run(tmp_path, "stock", "destruction-record", "--pdf", str(tmp_path), user="supervisor")
    )
    assert "BAP-" in record

    shown = as_json(run(tmp_path, "stock", "show", "--json"))
    assert (shown["vault"], shown["hoppers"], shown["to_destroy"]) == (28, {"sim-1": 19}, 0)
    assert shown["in_office"] == 50 - 1 - 2

    closed = as_json(run(tmp_path, "stock", "close-day", "--json"))
    assert closed["closed"] and closed["statement"]["closing"] == 47
    assert closed["statement"]["adjusted"] == -2 and closed["statement"]["spoiled"] == 1
    one_line_error(run(tmp_path, "stock", "close-day"), "is closed")

    pdf = tmp_path / "papers"
    pdf.mkdir()
    assert "Wrote" in ok(run(tmp_path, "stock", "statement", "--pdf", str(pdf)))
    assert "Wrote" in ok(run(tmp_path, "stock", "monthly", "--pdf", str(pdf)))
    assert len(list(pdf.glob("*.pdf"))) == 2
    one_line_error(
        run(tmp_path, "stock", "statement", "--pdf", str(tmp_path / "no" / "x.pdf")),
        "does not exist",
    )
    one_line_error(run(tmp_path, "stock", "statement", "--day", "yesterday"), "not a date")

    ok(run(tmp_path, "stock", "export", "--csv", str(tmp_path / "ledger.csv")))
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
