"""Kill-and-restart torture of ``printctl batch start``: SIGKILL at random points, then check the books.

The scenario drives the real command line in a real workspace (SQLite, two ``sim://``
printers): it starts ``printctl batch start --json`` as a subprocess, watches the database
until a random number of new audit events has been committed, waits a random fraction of a
card, and kills the process with SIGKILL. The next run's start-up recovery must examine what
was in flight; every job left ``needs-inspection`` is resolved with ``printctl jobs inspect``
by a scripted "person" (see :func:`decide`); then the run is started again. This repeats until
the requested number of kills is reached, in rounds of one batch each, and every batch is
finished.

What must hold whatever the timing (checked by :func:`check_invariants` after every run and
at the end; a violation stops the scenario and keeps the workspace for a post-mortem):

* no record and no job has more than one ``issued`` ledger entry; at the end every job is
  completed with exactly one, and there is one job per record (no job lost, none stuck);
* a job that held a card when its run died is never requeued blindly: its first transition
  after the kill is ``needs-inspection`` (a job that had not fed a blank goes back to pending);
* the ledger balances: ``received − issued − spoiled − returned − in_doubt − in_flight =
  on_hand`` computed here from the raw ledger equals ``printctl stock show``, and nothing is
  in doubt or in flight at the end;
* the inspections' ledger entries are exactly the decisions recorded (one blank each for
  ``issued`` / ``spoiled``, none for ``none``);
* a run that ends by itself reconciles with the hardware: each printer's own card counter
  rose by exactly the blanks its worker wrote to the ledger during that run;
* a run that ends by itself exits 0, or 1 only because a printer awaits inspection, and
  never with a traceback; ``printctl audit verify`` holds.

A simulated printer lives inside the process, so after a kill the physical truth about the
card in flight is gone with it: the scripted inspection stands in for the person who looks.

Used by ``tests/integration/test_torture.py`` (a few kills, in CI) and ``bench/torture.py``
(hundreds). Only the standard library and the ``printctl`` command line are used, so the
checks do not share code with what they check.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Job steps during which a blank is out of the hopper (printctl.models.CARD_STEPS).
CARD_STEPS = ("feeding", "encoding", "printing", "ejecting", "rejecting")
#: What a kill waits for after its audit events: nothing, or a job reaching this step.
KILL_TARGETS = ("", "rendering", "feeding", "encoding", "printing", "ejecting")
INSPECTOR = "inspector"
OPERATOR = "operator"


class ScenarioFailed(Exception):
    """An invariant broke or a command misbehaved; the message says which and where."""

    report: TortureReport | None = None


@dataclass(frozen=True)
class TortureConfig:
    """How hard to torture: kills, seed, records per round, printers and card time."""

    kills: int = 5
    seed: int = 20261127
    records: int = 40
    printers: int = 2
    card_ms: int = 40
    #: A run is killed after 1..max_events new audit events (4 per card, 1 per claim).
    max_events: int = 12
    #: Seconds a run may take to reach its kill point or to finish before it counts as stuck.
    run_deadline: float = 90.0
    #: Stop planning kills after this many seconds (None: no limit); batches still finish.
    time_budget: float | None = None


@dataclass(frozen=True)
class KillPoint:
    """Where one SIGKILL landed: the plan drawn from the seed and what was in flight."""

    round: int
    run: int
    threshold: int
    target: str  # the job step waited for before the delay ("" none)
    jitter_ms: float
    events_seen: int
    in_flight: tuple[tuple[int, str], ...]  # (job, step) in processing when killed

    def describe(self) -> str:
        """One line for a reproduction report."""
        flight = ", ".join(f"job {j} {s or 'claimed'}" for j, s in self.in_flight) or "nothing"
        return (
            f"round {self.round} run {self.run}: killed after {self.events_seen} audit events "
            f"(plan: {self.threshold}, then {self.target or 'any step'}, then "
            f"{self.jitter_ms:.0f} ms); in flight: {flight}"
        )


@dataclass
class TortureReport:
    """What the scenario did and found."""

    seed: int
    workspace: Path
    kills: int = 0
    restarts: int = 0
    runs: int = 0
    rounds: int = 0
    inspections: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    lost_blanks: int = 0
    lost_jobs: int = 0
    records: int = 0
    jobs: int = 0
    issued: int = 0
    spoiled: int = 0
    received: int = 0
    on_hand: int = 0
    hardware_checks: int = 0
    audit_events: int = 0
    wall_time: float = 0.0
    kill_points: list[KillPoint] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The numbers, JSON-ready."""
        return {
            "seed": self.seed,
            "kills": self.kills,
            "restarts": self.restarts,
            "runs": self.runs,
            "rounds": self.rounds,
            "inspections": sum(self.inspections.values()),
            "inspections_by_outcome": dict(sorted(self.inspections.items())),
            "duplicates": self.duplicates,
            "lost_blanks": self.lost_blanks,
            "lost_jobs": self.lost_jobs,
            "records": self.records,
            "jobs": self.jobs,
            "issued": self.issued,
            "spoiled": self.spoiled,
            "received": self.received,
            "on_hand": self.on_hand,
            "hardware_checks": self.hardware_checks,
            "audit_events": self.audit_events,
            "wall_time_s": round(self.wall_time, 1),
        }


def decide(seed: int, job_id: int, step: str, nth: int) -> str:
    """The scripted person's finding for a card in doubt, from the step its job had reached.

    The step is committed before the printer is told to act, so a job at ``encoding`` or
    later certainly took a blank. At ``feeding`` the blank may or may not have left the
    hopper (``none`` or ``spoiled``); at ``encoding``/``printing``/``rejecting`` the card is
    unfinished (``spoiled``); at ``ejecting`` it was printed and encoded, so a good card may
    have come out (``issued``) or the person may judge it spoiled. The choice is a function of
    the seed, the job and how often it was inspected, so it does not depend on timing.
    """
    rng = random.Random(f"{seed}/{job_id}/{nth}")
    if step == "feeding":
        return rng.choice(("none", "spoiled"))
    if step == "ejecting":
        return rng.choice(("issued", "spoiled"))
    return "spoiled"


class Workspace:
    """A printctl workspace driven through its command line, and read through raw SQLite."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs = root / "runs"
        self._db: sqlite3.Connection | None = None

    # ----------------------------------------------------------------- commands

    def env(self, user: str) -> dict[str, str]:
        """The environment for a command: no stray PRINTCTL_* settings, a named user."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PRINTCTL_")}
        environment.update({"PRINTCTL_USER": user, "COLUMNS": "200"})
        return environment

    def cli(self, *args: str, user: str = OPERATOR, check: bool = True) -> str:
        """Run ``printctl ARGS`` to completion; its stdout (a failure raises ScenarioFailed)."""
        result = subprocess.run(
            [sys.executable, "-m", "printctl", *args],
            cwd=self.root,
            env=self.env(user),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and result.returncode != 0:
            raise ScenarioFailed(
                f"`printctl {' '.join(args)}` exited {result.returncode}: "
                f"{result.stderr.strip()[-2000:]}"
            )
        return result.stdout

    def cli_json(self, *args: str, user: str = OPERATOR) -> Any:
        """Run a ``--json`` command and parse its output."""
        return json.loads(self.cli(*args, "--json", user=user))

    def start_run(self, batch_ids: list[int], run: int) -> tuple[subprocess.Popen[bytes], Path]:
        """Start ``printctl batch start --json`` in the background; output goes to files."""
        self.logs.mkdir(exist_ok=True)
        out = self.logs / f"run-{run:04d}.out"
        with out.open("wb") as stdout, (self.logs / f"run-{run:04d}.err").open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "printctl", "batch", "start", "--json"]
                + [str(b) for b in batch_ids],
                cwd=self.root,
                env=self.env(OPERATOR),
                stdout=stdout,
                stderr=stderr,
            )
        return process, out

    # ----------------------------------------------------------------- raw reads

    @property
    def db(self) -> sqlite3.Connection:
        """A reading connection in autocommit mode: every query sees the newest commit."""
        if self._db is None:
            self._db = sqlite3.connect(self.root / "printctl.db", timeout=60, isolation_level=None)
        return self._db

    def close(self) -> None:
        """Close the reading connection."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def scalar(self, sql: str, *params: Any) -> int:
        """One integer from the database (0 for NULL)."""
        value = self.db.execute(sql, params).fetchone()[0]
        return int(value or 0)

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows from the database."""
        return list(self.db.execute(sql, params).fetchall())

    def last_audit_id(self) -> int:
        """The newest audit event's id."""
        return self.scalar("SELECT max(id) FROM audit_event")

    def last_ledger_id(self) -> int:
        """The newest ledger entry's id."""
        return self.scalar("SELECT max(id) FROM ledger_entry")

    def ledger_sum(self, kind: str, actor: str | None = None) -> int:
        """Blanks in ledger entries of one kind (optionally written by one actor)."""
        if actor is None:
            return self.scalar("SELECT sum(quantity) FROM ledger_entry WHERE kind = ?", kind)
        return self.scalar(
            "SELECT sum(quantity) FROM ledger_entry WHERE kind = ? AND actor = ?", kind, actor
        )


class Scenario:
    """One torture scenario: set up, kill and restart, inspect, and check."""

    def __init__(self, config: TortureConfig, root: Path) -> None:
        self.config = config
        self.ws = Workspace(root)
        self.rng = random.Random(config.seed)
        self.report = TortureReport(seed=config.seed, workspace=root)
        self.inspected: Counter[int] = Counter()
        # (job, audit id at the kill, the first job.* action expected after it)
        self.pending_checks: list[tuple[int, int, str, KillPoint]] = []
        self.started = 0.0
        self.last_kill: KillPoint | None = None

    # ----------------------------------------------------------------- set-up

    def printers_toml(self) -> str:
        """The ``[[printers]]`` tables: sim printers with a big hopper and a short card time."""
        tables = []
        for i in range(1, self.config.printers + 1):
            card_ms = self.config.card_ms
            url = f"sim://?cards=100000&ribbon=100000&card_ms={card_ms}&serial=SIM{i:04d}"
            tables.append(
                f'[[printers]]\nname = "sim-{i}"\nurl = "{url}"\nencoder = "sim://?seed={i}"\n'
            )
        return "\n".join(tables)

    def set_up(self) -> None:
        """``printctl init``, the sim printers in printctl.toml, and a fake center's key."""
        ws = self.ws
        ws.root.mkdir(parents=True, exist_ok=True)
        ws.cli("init")
        config = ws.root / "printctl.toml"
        text = config.read_text(encoding="utf-8")
        head = text.split("[[printers]]", 1)[0]
        config.write_text(head + self.printers_toml(), encoding="utf-8")
        ws.cli("center", "make-key", "--out", "center", "--id", "pusat-t", "--seed", "1")
        ws.cli("keys", "trust", "center/pusat-t.pub.pem", "--id", "pusat-t")

    def new_round(self, number: int) -> int:
        """Import a fresh bundle, receive blanks for it, and create its batch; the batch id."""
        ws = self.ws
        info = ws.cli_json(
            "center",
            "make-bundle",
            "--key",
            "center/pusat-t.key.pem",
            "--key-id",
            "pusat-t",
            "--out",
            "inbox",
            "--count",
            str(self.config.records),
            "--seed",
            str(self.config.seed % 100_000 * 1000 + number),
            "--sequence",
            str(number),
        )
        outcome = ws.cli_json("import", info["path"])[0]
        if outcome["outcome"] != "imported" or outcome["imported"] != self.config.records:
            raise ScenarioFailed(f"round {number}: bundle not imported as expected: {outcome}")
        self.top_up(self.config.records)
        batch = ws.cli_json("batch", "create", "--name", f"torture round {number}")
        if batch["jobs"] != self.config.records:
            raise ScenarioFailed(f"round {number}: batch has {batch['jobs']} jobs: {batch}")
        return int(batch["batch_id"])

    def on_hand(self) -> int:
        """Blanks on hand, computed here from the raw ledger and the job table."""
        ws = self.ws
        in_doubt = ws.scalar("SELECT count(*) FROM job WHERE state = 'needs-inspection'")
        in_flight = ws.scalar(
            "SELECT count(*) FROM job WHERE state = 'processing' AND step IN (?, ?, ?, ?, ?)",
            *CARD_STEPS,
        )
        return (
            ws.ledger_sum("received")
            - ws.ledger_sum("issued")
            - ws.ledger_sum("spoiled")
            - ws.ledger_sum("returned")
            - in_doubt
            - in_flight
        )

    def hopper(self, printer: str) -> int:
        """What the ledger says ``printer``'s hopper holds."""
        place = f"hopper:{printer}"
        return self.ws.scalar(
            "SELECT coalesce(sum(CASE WHEN to_loc = ? THEN quantity ELSE 0 END), 0)"
            " - coalesce(sum(CASE WHEN from_loc = ? THEN quantity ELSE 0 END), 0)"
            " FROM ledger_entry",
            place,
            place,
        )

    def top_up(self, jobs_left: int) -> None:
        """Receive and load blanks so that each printer's hopper could print every job left
        and a spoiled card per kill (any printer may end up doing them all)."""
        kills_left = max(self.config.kills - self.report.kills, 0) + 1
        needed = jobs_left + min(kills_left, 10) + 5  # + the cards in flight
        for i in range(1, self.config.printers + 1):
            name = f"sim-{i}"
            have = self.hopper(name)
            if have < needed:
                lot = f"L-{self.report.rounds}-{self.report.runs}-{i}"
                self.ws.cli("stock", "receive", str(needed - have + 10), "--lot", lot)
                self.ws.cli("stock", "load", name, str(needed - have + 10))

    # ----------------------------------------------------------------- the loop

    def run(self) -> TortureReport:
        """Set up, torture until ``kills`` kills were made and every batch is done, check."""
        self.started = time.monotonic()
        try:
            self.set_up()
            number = 0
            while number == 0 or self.kills_wanted():
                number += 1
                self.report.rounds = number
                batch = self.new_round(number)
                self.finish_batch(batch)
            self.final_checks()
        except ScenarioFailed as exc:
            failure = ScenarioFailed(f"{exc}\n{self.reproduction()}")
            failure.report = self.report
            raise failure from None
        finally:
            self.report.wall_time = time.monotonic() - self.started
            self.ws.close()
        return self.report

    def kills_wanted(self) -> bool:
        """Whether more kills should be planned (count not reached, time budget left)."""
        budget = self.config.time_budget
        if budget is not None and time.monotonic() - self.started > budget:
            return False
        return self.report.kills < self.config.kills

    def batch_open_jobs(self, batch: int) -> int:
        """Jobs of the batch not yet in a final state."""
        return self.ws.scalar(
            "SELECT count(*) FROM job WHERE batch_id = ? "
            "AND state NOT IN ('completed', 'aborted', 'canceled')",
            batch,
        )

    def finish_batch(self, batch: int) -> None:
        """Start, kill, recover, inspect and restart until the batch has no open job."""
        runs = 0
        kills_before = self.report.kills
        while True:
            self.inspect_all()
            open_jobs = self.batch_open_jobs(batch)
            if open_jobs == 0:
                return
            # Each kill costs at most a recovery-only run; anything beyond that is a job stuck.
            runs += 1
            if runs > 2 * (self.report.kills - kills_before) + 5:
                self.fail(
                    f"batch {batch}: {open_jobs} job(s) still open after {runs - 1} runs "
                    f"(jobs: {self.job_states(batch)})"
                )
            self.top_up(open_jobs)
            self.one_run(batch)
            self.check_invariants(final=False)

    def job_states(self, batch: int) -> dict[str, int]:
        """The batch's jobs per state."""
        rows = self.ws.rows(
            "SELECT state, count(*) FROM job WHERE batch_id = ? GROUP BY state", batch
        )
        return {str(state): int(n) for state, n in rows}

    def one_run(self, batch: int) -> None:
        """One ``batch start``: killed at a planned point, or left to end by itself."""
        ws = self.ws
        cfg = self.config
        self.report.runs += 1
        if self.last_kill is not None:
            self.report.restarts += 1
        run = self.report.runs
        plan = self.plan_kill()  # drawn for every run: the plan depends on seed and run only
        kill = self.kills_wanted()
        audit_before, ledger_before = ws.last_audit_id(), ws.last_ledger_id()
        process, out = ws.start_run([batch], run)
        deadline = time.monotonic() + cfg.run_deadline
        try:
            if kill and self.reach(plan, process, audit_before, deadline):
                process.send_signal(signal.SIGKILL)
                process.wait()
                self.killed(run, plan, audit_before)
                return
            remaining = max(deadline - time.monotonic(), 0.1)
            try:
                process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                raise ScenarioFailed(
                    f"run {run} (batch {batch}) neither reached its kill point nor ended within "
                    f"{cfg.run_deadline:.0f} s (jobs: {self.job_states(batch)}); see {out}"
                ) from None
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.ended(run, batch, process.returncode, out, ledger_before)

    def plan_kill(self) -> tuple[int, str, float]:
        """Draw a kill point: audit events to wait for, a step to wait for, a delay after it.

        Without a step target the kill lands anywhere (mostly while a card is rendered, the
        longest stretch); a target makes the narrow windows around each printer call likely:
        the sim spends 25 % of ``card_ms`` feeding, 50 % printing and 25 % ejecting.
        """
        cfg = self.config
        threshold = self.rng.randint(1, cfg.max_events)
        target = self.rng.choice(KILL_TARGETS)
        spread = 2.0 if target == "" else 0.25
        jitter = self.rng.uniform(0.0, spread * cfg.card_ms / 1000)
        return threshold, target, jitter

    def reach(
        self,
        plan: tuple[int, str, float],
        process: subprocess.Popen[bytes],
        audit_before: int,
        deadline: float,
    ) -> bool:
        """Wait for the planned kill point; False if the run ended first."""
        threshold, target, jitter = plan
        ws = self.ws
        while ws.last_audit_id() - audit_before < threshold:
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        if target:
            # Bounded: a step missed between two polls is not waited for beyond a few cards.
            give_up = min(time.monotonic() + 40 * self.config.card_ms / 1000, deadline)
            while not ws.rows(
                "SELECT 1 FROM job WHERE state = 'processing' AND step = ? LIMIT 1", target
            ):
                if process.poll() is not None:
                    return False
                if time.monotonic() > give_up:
                    break
                time.sleep(0.001)
        time.sleep(jitter)
        return process.poll() is None

    def killed(self, run: int, plan: tuple[int, str, float], audit_before: int) -> None:
        """Note a kill and what it left in flight, for the recovery check."""
        ws = self.ws
        at = ws.last_audit_id()
        flight = tuple(
            (int(job), str(step))
            for job, step in ws.rows(
                "SELECT id, step FROM job WHERE state = 'processing' ORDER BY id"
            )
        )
        threshold, target, jitter = plan
        point = KillPoint(
            round=self.report.rounds,
            run=run,
            threshold=threshold,
            target=target,
            jitter_ms=jitter * 1000,
            events_seen=at - audit_before,
            in_flight=flight,
        )
        self.report.kills += 1
        self.report.kill_points.append(point)
        self.last_kill = point
        for job, step in flight:
            expected = "job.needs-inspection" if step in CARD_STEPS else "job.pending"
            self.pending_checks.append((job, at, expected, point))

    def ended(self, run: int, batch: int, code: int, out: Path, ledger_before: int) -> None:
        """Check a run that ended by itself: exit code, nothing left open, hardware counters."""
        err = out.with_suffix(".err").read_text(encoding="utf-8", errors="replace")
        text = out.read_text(encoding="utf-8", errors="replace")
        where = f"run {run} ({out})"
        if "Traceback" in err + text:
            raise ScenarioFailed(f"{where} printed a traceback:\n{err[-3000:]}")
        try:
            summary = json.loads(text)
        except json.JSONDecodeError:
            message = f"{where} exited {code} without its JSON summary: {err[-2000:]}"
            raise ScenarioFailed(message) from None
        stopped = [w for w in summary["printers"] if w["stop_reason"]]
        awaiting = all("await inspection" in w["stop_reason"] for w in stopped)
        if code != 0 and not (code == 1 and stopped and awaiting):
            raise ScenarioFailed(f"{where} exited {code}: {stopped or err[-2000:]}")
        states = self.job_states(batch)
        worked = any(w["counter_start"] is not None for w in summary["printers"])
        if states.get("processing") or (worked and states.get("pending")):
            # A printer that ran takes every pending job; nothing stays processing after a run.
            raise ScenarioFailed(f"{where} ended by itself and left jobs open: {states}")
        for worker in summary["printers"]:
            start, end = worker["counter_start"], worker["counter_end"]
            if start is None or end is None:
                continue  # a printer left out of the run (awaiting inspection)
            written = self.ws.scalar(
                "SELECT sum(quantity) FROM ledger_entry WHERE id > ? AND actor = ? "
                "AND kind IN ('issued', 'spoiled')",
                ledger_before,
                f"worker:{worker['printer']}",
            )
            self.report.hardware_checks += 1
            if written != end - start:
                raise ScenarioFailed(
                    f"{where}: printer {worker['printer']}'s counter rose by {end - start} but "
                    f"its worker wrote {written} blank(s) to the ledger (lost or invented blanks)"
                )

    # ----------------------------------------------------------------- inspections

    def inspect_all(self) -> None:
        """Resolve every job waiting for inspection with the scripted person's finding."""
        waiting = self.ws.rows(
            "SELECT id, step FROM job WHERE state = 'needs-inspection' ORDER BY id"
        )
        for job, step in waiting:
            nth = self.inspected[int(job)]
            found = decide(self.config.seed, int(job), str(step), nth)
            self.ws.cli(
                "jobs",
                "inspect",
                str(job),
                "--found",
                found,
                "--note",
                f"torture: step {step}, inspection {nth + 1}",
                user=INSPECTOR,
            )
            self.inspected[int(job)] += 1
            self.report.inspections[found] += 1

    # ----------------------------------------------------------------- invariants

    def fail(self, message: str) -> None:
        """Stop the scenario: an invariant broke."""
        raise ScenarioFailed(message)

    def reproduction(self) -> str:
        """How to find this failure again: the seed, the plan and the last kill points."""
        cfg = self.config
        lines = [
            f"seed {cfg.seed}, kills {cfg.kills}, records {cfg.records}, printers "
            f"{cfg.printers}, card_ms {cfg.card_ms}, max_events {cfg.max_events}; "
            f"round {self.report.rounds}, run {self.report.runs}, kill {self.report.kills}",
            f"workspace kept at {self.ws.root} (run output in {self.ws.logs})",
        ]
        lines += ["  " + k.describe() for k in self.report.kill_points[-3:]]
        return "\n".join(lines)

    def check_invariants(self, *, final: bool) -> None:
        """The invariants that hold after every run (and, with ``final``, at the end)."""
        ws = self.ws
        per_job = ws.rows(
            "SELECT job_id, sum(quantity) FROM ledger_entry WHERE kind = 'issued' "
            "GROUP BY job_id HAVING sum(quantity) > 1"
        )
        per_record = ws.rows(
            "SELECT r.record_id, sum(l.quantity) FROM ledger_entry l "
            "JOIN job j ON j.id = l.job_id JOIN record r ON r.id = j.record_pk "
            "WHERE l.kind = 'issued' GROUP BY r.record_id HAVING sum(l.quantity) > 1"
        )
        orphans = ws.scalar(
            "SELECT count(*) FROM ledger_entry WHERE kind = 'issued' "
            "AND (job_id IS NULL OR job_id NOT IN (SELECT id FROM job))"
        )
        self.report.duplicates = len(per_job) + len(per_record) + orphans
        if self.report.duplicates:
            self.fail(
                f"a card was issued twice: per job {per_job}, per record {per_record}, "
                f"issued without a job {orphans}"
            )
        completed_without = ws.rows(
            "SELECT id FROM job WHERE state = 'completed' AND id NOT IN "
            "(SELECT job_id FROM ledger_entry WHERE kind = 'issued' AND job_id IS NOT NULL)"
        )
        issued_not_completed = ws.rows(
            "SELECT DISTINCT job_id FROM ledger_entry WHERE kind = 'issued' AND job_id IN "
            "(SELECT id FROM job WHERE state != 'completed')"
        )
        if completed_without or issued_not_completed:
            self.fail(
                f"jobs and ledger disagree: completed without an issued blank "
                f"{completed_without}, issued but not completed {issued_not_completed}"
            )
        self.check_recoveries()
        self.check_inspection_entries()
        if final:
            return
        if self.on_hand() < 0:
            self.fail(f"the ledger says {self.on_hand()} blanks on hand")

    def check_recoveries(self) -> None:
        """A job killed holding a card went to inspection; one killed before feeding, to pending."""
        still = []
        for job, at, expected, point in self.pending_checks:
            first = self.ws.rows(
                "SELECT action FROM audit_event WHERE id > ? AND entity = 'job' "
                "AND entity_id = ? AND action LIKE 'job.%' AND action != 'job.inspected' "
                "ORDER BY id LIMIT 1",
                at,
                str(job),
            )
            if not first:
                still.append((job, at, expected, point))  # no run has recovered it yet
                continue
            if first[0][0] != expected:
                self.fail(
                    f"job {job} was in flight when killed ({point.describe()}); its next "
                    f"transition was {first[0][0]}, expected {expected}"
                )
        self.pending_checks = still

    def check_inspection_entries(self) -> None:
        """Each inspection wrote exactly the blank its finding says, and nothing else."""
        ws = self.ws
        events = Counter(
            {
                str(outcome): int(n)
                for outcome, n in ws.rows(
                    "SELECT outcome, count(*) FROM audit_event WHERE action = 'job.inspected' "
                    "GROUP BY outcome"
                )
            }
        )
        if +events != +self.report.inspections:
            self.fail(f"inspections recorded {dict(events)}, made {dict(self.report.inspections)}")
        for kind, found in (("issued", "issued"), ("spoiled", "spoiled")):
            written = ws.ledger_sum(kind, INSPECTOR)
            if written != self.report.inspections[found]:
                self.fail(
                    f"{self.report.inspections[found]} inspection(s) found {found}, but the "
                    f"inspector wrote {written} {kind} blank(s)"
                )

    def final_checks(self) -> None:
        """At the end: every job completed once, nothing lost, books balance, audit holds."""
        ws = self.ws
        self.check_invariants(final=True)
        if self.pending_checks:
            self.fail(f"in-flight jobs never recovered: {self.pending_checks}")
        report = self.report
        report.records = ws.scalar("SELECT count(*) FROM record")
        report.jobs = ws.scalar("SELECT count(*) FROM job")
        states = dict(ws.rows("SELECT state, count(*) FROM job GROUP BY state"))
        record_states = dict(ws.rows("SELECT state, count(*) FROM record GROUP BY state"))
        jobs_per_record = ws.rows(
            "SELECT record_pk, count(*) FROM job GROUP BY record_pk HAVING count(*) != 1"
        )
        issued_per_job = ws.rows(
            "SELECT j.id, count(l.id) FROM job j LEFT JOIN ledger_entry l "
            "ON l.job_id = j.id AND l.kind = 'issued' GROUP BY j.id HAVING count(l.id) != 1"
        )
        report.lost_jobs = (report.records - states.get("completed", 0)) + len(jobs_per_record)
        if report.jobs != report.records or jobs_per_record or report.lost_jobs:
            self.fail(
                f"jobs lost or doubled: {report.records} records, {report.jobs} jobs "
                f"{states}; records with other than one job: {jobs_per_record}"
            )
        if issued_per_job:
            self.fail(f"jobs not issued exactly once: {issued_per_job}")
        if record_states != {"printed": report.records}:
            self.fail(f"records not all printed: {record_states}")
        stock = ws.cli_json("stock", "show")
        report.received = ws.ledger_sum("received")
        report.issued = ws.ledger_sum("issued")
        report.spoiled = ws.ledger_sum("spoiled")
        returned = ws.ledger_sum("returned")
        report.on_hand = int(stock["on_hand"])
        mine = {
            "received": report.received,
            "issued": report.issued,
            "spoiled": report.spoiled,
            "returned": returned,
            "in_doubt": 0,
            "in_flight": 0,
        }
        theirs = {key: stock[key] for key in mine}
        expected_on_hand = report.received - report.issued - report.spoiled - returned
        report.lost_blanks = abs(expected_on_hand - report.on_hand) + sum(
            abs(theirs[k] - mine[k]) for k in mine
        )
        if theirs != mine or report.on_hand != expected_on_hand:
            self.fail(
                f"the ledger does not balance: `stock show` says {stock}, the raw ledger "
                f"{mine} (on hand {expected_on_hand})"
            )
        if report.issued != report.records:
            self.fail(f"{report.issued} cards issued for {report.records} records")
        verify = ws.cli_json("audit", "verify")
        report.audit_events = int(verify["events"])
        if not verify["holds"]:
            self.fail(f"the audit chain is broken at event {verify['first_broken_event']}")


def run_scenario(config: TortureConfig, root: Path) -> TortureReport:
    """Run the torture scenario in ``root`` (created); raises ScenarioFailed on a violation."""
    return Scenario(config, root).run()
