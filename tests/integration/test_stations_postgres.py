"""Four ``printctl run --station`` processes on one PostgreSQL database print one batch.

Each station is a real subprocess with its own two ``sim://`` printers; all claim from the
same running batch. One station is killed with SIGKILL mid-run, while one of its cards is in
the printer. The others must notice its lease expire, prove it dead by taking its station
lock, and reconcile its work (not-fed jobs back to pending, its in-flight cards to
needs-inspection), then finish the batch. A scripted person inspects the in-doubt cards (a
SIGKILLed simulator's card is gone with its process, so the finding is scripted as in the
torture scenario) and one more station run prints what the inspections requeued.

The checks read the database with raw SQL: every record issued exactly once, every job
completed, the blank ledger balanced with nothing in doubt, every issued card issued by the
station that held its job, each surviving printer's own counter matching its ledger entries,
and the audit chain intact.

``PRINTCTL_STATIONS_CARDS`` sets the batch size (default 5000, as issue 4 asks).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from conftest import _postgres_schema_url

from printctl.config import Settings
from printctl.crypto import generate_key_file
from printctl.queue.batches import BatchFilters
from printctl.service import Context, new_batch, receive_stock
from tests.integration.station_support import seed_printable_records

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from torture_scenario import CARD_STEPS, decide

REPO = Path(__file__).resolve().parents[2]
CARDS = int(os.environ.get("PRINTCTL_STATIONS_CARDS", "5000"))
STATIONS = ("s1", "s2", "s3", "s4")
#: Blanks received: every one of the eight printers' hoppers gets CARDS + 100.
BLANKS = len(STATIONS) * 2 * (CARDS + 100)
VICTIM = "s3"
LEASE_S = 2.0
CARD_MS = 20
#: Upper bounds on every wait, so a bug makes the test fail instead of hanging CI.
RUN_TIMEOUT = float(os.environ.get("PRINTCTL_STATIONS_TIMEOUT", "900"))
KILL_TIMEOUT = 300.0
SEED = 20261201


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL database (skipped or failed when it is missing)."""
    yield from _postgres_schema_url()


class Db:
    """Raw SQL on the test schema, in autocommit: every read sees the newest commit."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(
            url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
        )

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def scalar(self, sql: str, *params: Any) -> int:
        value = self.rows(sql, *params)[0][0]
        return int(value or 0)

    def close(self) -> None:
        self.conn.close()


@dataclass
class Station:
    """One ``printctl run`` subprocess and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    out: Path
    err: Path

    def summary(self) -> dict[str, Any]:
        err = self.err.read_text(encoding="utf-8", errors="replace")
        text = self.out.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in err + text, f"{self.name} printed a traceback:\n{err[-3000:]}"
        try:
            summary: dict[str, Any] = json.loads(text)
        except json.JSONDecodeError:
            raise AssertionError(f"{self.name}: no JSON summary; stderr: {err[-2000:]}") from None
        return summary


class Office:
    """A workspace whose stations share one PostgreSQL schema, driven by the command line."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        self.runs = 0

    def env(self, station: str | None = None, user: str = "operator") -> dict[str, str]:
        environment = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PRINTCTL_") or k == "PRINTCTL_REQUIRE_SERVICES"
        }
        environment.update(
            {
                "PYTHONPATH": str(REPO),  # this checkout's printctl, whatever is installed
                "PRINTCTL_USER": user,
                "PRINTCTL_DATABASE_URL": self.url,
                "PRINTCTL_LOG_FILE": "",
                "PRINTCTL_LEASE_S": str(LEASE_S),
                "PRINTCTL_POLL_S": "0.2",
                "COLUMNS": "200",
            }
        )
        if station is not None:
            environment["PRINTCTL_PRINTERS"] = self.printers(station)
        return environment

    def printers(self, station: str) -> str:
        """Two sim printers of ``station``, with a big hopper and a short card time."""
        base = (STATIONS.index(station) + 1) * 10 + self.runs * 100
        return ";".join(
            f"{station}-p{i}=sim://?cards={CARDS + 100}&ribbon={CARDS + 100}&card_ms={CARD_MS}"
            f"&serial={station.upper()}{i}|sim://?seed={base + i}"
            for i in (1, 2)
        )

    def cli(self, *args: str, user: str = "operator") -> str:
        result = subprocess.run(
            [sys.executable, "-m", "printctl", *args],
            cwd=self.root,
            env=self.env(user=user),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"printctl {' '.join(args)}: {result.stderr}"
        assert "Traceback" not in result.stderr
        return result.stdout

    def start(self, station: str, *extra: str) -> Station:
        self.runs += 1
        out = self.root / f"{station}-run{self.runs}.out"
        err = out.with_suffix(".err")
        command = ["run", "--station", station, "--until-idle", "--json", *extra]
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "printctl", *command],
                cwd=self.root,
                env=self.env(station),
                stdout=stdout,
                stderr=stderr,
            )
        return Station(station, process, out, err)


def wait(station: Station, deadline: float) -> int:
    """Wait for a station run to end by itself before ``deadline`` (monotonic)."""
    try:
        return station.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        station.process.kill()
        station.process.wait()
        raise AssertionError(
            f"{station.name} did not finish in time; stderr: "
            f"{station.err.read_text(errors='replace')[-2000:]}"
        ) from None


def poll(db: Db, what: str, sql: str, *params: Any, until: Any, deadline: float) -> Any:
    """Poll ``sql`` until ``until(value)`` holds; fails at ``deadline``."""
    while True:
        value = db.rows(sql, *params)
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last: {value})")
        time.sleep(0.005)  # a polling interval, not a synchronisation guess


@pytest.mark.slow
@pytest.mark.postgres
def test_four_stations_print_one_batch_once_and_a_killed_station_loses_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    """Four stations share a batch; SIGKILL one mid-card: every card issued once, none lost."""
    started = time.monotonic()
    root = tmp_path / "office"
    root.mkdir()
    generate_key_file(root / "data.key")
    settings = replace(Settings(base_dir=root), database_url=pg_url, log_file=None)
    ctx = Context.open(settings, actor="operator")
    try:
        seed_printable_records(ctx.engine, ctx.cipher, CARDS)
        # Each hopper could print the whole batch: which station prints how much is chance.
        hoppers = [f"{station}-p{i}" for station in STATIONS for i in (1, 2)]
        receive_stock(ctx, BLANKS, "LOT-STATIONS", load=hoppers)
        batch_id, jobs = new_batch(ctx, BatchFilters(), name="four stations")
    finally:
        ctx.close()
    assert jobs == CARDS
    office = Office(root, pg_url)
    office.cli("batch", "release", str(batch_id))
    db = Db(pg_url)
    stations: dict[str, Station] = {}
    try:
        seeded = time.monotonic()
        stations = {name: office.start(name) for name in STATIONS}
        victim = stations[VICTIM]

        # Kill the victim once it has issued some cards and while one of its cards is in a
        # printer (a step that took a blank): that card must go to inspection, not be reprinted.
        deadline = time.monotonic() + KILL_TIMEOUT
        poll(
            db,
            f"{VICTIM} to issue cards",
            "SELECT count(*) FROM ledger_entry WHERE kind = 'issued' AND printer LIKE %s",
            f"{VICTIM}-%",
            until=lambda r: r[0][0] >= max(3, CARDS // 50) or victim.process.poll() is not None,
            deadline=deadline,
        )
        assert victim.process.poll() is None, "the victim finished before it could be killed"
        poll(
            db,
            f"a card of {VICTIM} in a printer",
            "SELECT count(*) FROM job WHERE station = %s AND state = 'processing' "
            "AND step = ANY(%s)",
            VICTIM,
            list(CARD_STEPS),
            until=lambda r: r[0][0] > 0,
            deadline=deadline,
        )
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=30)
        killed_at_audit = db.scalar("SELECT max(id) FROM audit_event")
        in_flight = db.rows(
            "SELECT id, step FROM job WHERE station = %s AND state = 'processing' ORDER BY id",
            VICTIM,
        )
        issued_at_kill = db.scalar("SELECT count(*) FROM ledger_entry WHERE kind = 'issued'")
        assert in_flight, "nothing of the victim was in flight when it was killed"
        assert issued_at_kill < CARDS, "the batch was done before the kill"

        # The survivors finish the batch, reaping the victim after its lease.
        deadline = time.monotonic() + RUN_TIMEOUT
        survivors = [s for name, s in stations.items() if name != VICTIM]
        codes = {s.name: wait(s, deadline) for s in survivors}
        summaries = {s.name: s.summary() for s in survivors}
        assert codes == dict.fromkeys(codes, 0), {
            n: [w["stop_reason"] for w in summaries[n]["printers"]] for n in codes
        }
        survived = time.monotonic()
        reapers = [n for n, s in summaries.items() if any(r["name"] == VICTIM for r in s["reaped"])]
        assert len(reapers) == 1, summaries  # exactly one station reconciled the victim
        assert db.rows("SELECT state FROM station WHERE name = %s", VICTIM) == [("lost",)]
        assert {r[0] for r in db.rows("SELECT state FROM station WHERE name != %s", VICTIM)} == {
            "stopped"
        }

        # The victim's in-flight work: a card in a printer went to inspection, the rest back
        # to pending (the first job transition after the kill says which).
        for job_id, step in in_flight:
            first = db.rows(
                "SELECT action, actor FROM audit_event WHERE id > %s AND entity = 'job' "
                "AND entity_id = %s AND action LIKE 'job.%%' ORDER BY id LIMIT 1",
                killed_at_audit,
                str(job_id),
            )
            expected = "job.needs-inspection" if step in CARD_STEPS else "job.pending"
            assert first and first[0][0] == expected, (job_id, step, first)
        # Only the victim's in-flight cards wait for a person; nothing else is open.
        waiting = db.rows(
            "SELECT id, step, station FROM job WHERE state = 'needs-inspection' ORDER BY id"
        )
        assert {(j, s) for j, s, _ in waiting} == {(j, s) for j, s in in_flight if s in CARD_STEPS}
        assert (
            db.scalar(
                "SELECT count(*) FROM job WHERE state NOT IN ('completed', 'needs-inspection')"
            )
            == 0
        )

        # A person inspects each in-doubt card (scripted, as in the torture scenario).
        findings: dict[int, str] = {}
        for job_id, step, _station in waiting:
            findings[job_id] = decide(SEED, job_id, step, 0)
            office.cli(
                "jobs", "inspect", str(job_id), "--found", findings[job_id], user="inspector"
            )
        requeued = [j for j, f in findings.items() if f != "issued"]
        if requeued:
            # The victim's station runs again (its printers are clear now) and prints them.
            final = office.start(VICTIM, "--batch", str(batch_id))
            assert wait(final, time.monotonic() + RUN_TIMEOUT) == 0, final.summary()
            assert final.summary()["printers"][0]["stop_reason"] == ""
        finished = time.monotonic()

        check_books(db, findings)
        verify = json.loads(office.cli("audit", "verify", "--json"))
        assert verify["holds"], verify
        check_hardware(db, summaries)
        stations_list = json.loads(office.cli("stations", "list", "--json"))
        assert {s["name"]: s["in_flight"] for s in stations_list} == dict.fromkeys(STATIONS, 0)
        per_station = dict(
            db.rows(
                "SELECT j.station, count(*) FROM ledger_entry l JOIN job j ON j.id = l.job_id "
                "WHERE l.kind = 'issued' GROUP BY j.station"
            )
        )
        print(
            f"\n{CARDS} cards on {len(STATIONS)} stations: seeded in {seeded - started:.1f} s, "
            f"survivors done {survived - seeded:.1f} s after start, all done in "
            f"{finished - started:.1f} s; issued per station {per_station}; in flight at the "
            f"kill {in_flight}; findings {findings}"
        )
    finally:
        for station in stations.values():
            if station.process.poll() is None:
                station.process.kill()
                station.process.wait()
        db.close()


def check_books(db: Db, findings: dict[int, str]) -> None:
    """Every record issued exactly once, by the station that held its job; the ledger balances."""
    assert (
        db.rows(
            "SELECT r.record_id, count(l.id) FROM record r JOIN job j ON j.record_pk = r.id "
            "LEFT JOIN ledger_entry l ON l.job_id = j.id AND l.kind = 'issued' "
            "GROUP BY r.record_id HAVING count(l.id) != 1"
        )
        == []
    )
    assert db.scalar("SELECT count(*) FROM record") == CARDS
    assert db.rows("SELECT state, count(*) FROM job GROUP BY state") == [("completed", CARDS)]
    assert db.rows("SELECT state, count(*) FROM record GROUP BY state") == [("printed", CARDS)]
    assert db.scalar("SELECT count(*) FROM job") == CARDS  # one job per record, none doubled
    # A card is issued by a printer of the station that held the job, or by the inspector
    # who found it: no job's card came out of two stations' printers.
    wrong = db.rows(
        "SELECT l.job_id, l.printer, j.station, l.actor FROM ledger_entry l "
        "JOIN job j ON j.id = l.job_id WHERE l.kind = 'issued' AND l.actor != 'inspector' "
        "AND l.printer NOT LIKE j.station || '-%%'"
    )
    assert wrong == []
    completions = db.rows(
        "SELECT entity_id, count(*) FROM audit_event WHERE action = 'job.completed' "
        "GROUP BY entity_id HAVING count(*) != 1"
    )
    assert completions == []
    issued_by_inspector = db.scalar(
        "SELECT count(*) FROM ledger_entry WHERE kind = 'issued' AND actor = 'inspector'"
    )
    spoiled_by_inspector = db.scalar(
        "SELECT count(*) FROM ledger_entry WHERE kind = 'spoiled' AND actor = 'inspector'"
    )
    assert issued_by_inspector == sum(1 for f in findings.values() if f == "issued")
    assert spoiled_by_inspector == sum(1 for f in findings.values() if f == "spoiled")

    def total(kind: str) -> int:
        return db.scalar("SELECT sum(quantity) FROM ledger_entry WHERE kind = %s", kind)

    received, issued, spoiled = total("received"), total("issued"), total("spoiled")
    assert issued == CARDS
    assert received == BLANKS
    assert db.scalar("SELECT count(*) FROM job WHERE state IN ('processing', 'stopped')") == 0
    assert db.scalar("SELECT count(*) FROM job WHERE state = 'needs-inspection'") == 0
    on_hand = received - issued - spoiled - total("returned")
    assert on_hand == BLANKS - CARDS - spoiled >= 0


def check_hardware(db: Db, summaries: dict[str, dict[str, Any]]) -> None:
    """Each surviving printer's own counter rose by exactly the blanks its worker recorded."""
    for summary in summaries.values():
        for worker in summary["printers"]:
            written = db.scalar(
                "SELECT sum(quantity) FROM ledger_entry WHERE actor = %s "
                "AND kind IN ('issued', 'spoiled')",
                f"worker:{worker['printer']}",
            )
            assert worker["counter_end"] - worker["counter_start"] == written, worker
