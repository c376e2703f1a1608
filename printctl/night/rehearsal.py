"""A rehearsal night: a training office whose simulated night passes in a minute or two.

For training, for the tests and for ``bench/night.py``. :func:`prepare_night_office` writes
an office with simulated printers, each with its own trouble (a fault plan in its URL, a
short ribbon, few blanks) and a state file, so that a printer remembers its counters when
the process is killed; :func:`rehearse` runs ``printctl overnight`` in a child process on a
simulated clock and starts it again whenever it dies (a simulated power cut ends it with
exit status 137), with the same clock, as a systemd unit with ``Restart=on-failure`` would;
:func:`check_night` sets the morning report against the ledger and the printers' own state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from printctl.center.bundles import make_bundle
from printctl.center.keys import generate_center_key, write_key_pair
from printctl.config import load_settings
from printctl.crypto import generate_key_file
from printctl.domain import RequestType
from printctl.models import LedgerEntry, LedgerKind, NightRun, as_utc
from printctl.service import Context, import_bundles, receive_stock, trust_key
from printctl.service_stock import load_printer
from printctl.timebase import ScaledClock


@dataclass(frozen=True)
class RehearsalPrinter:
    """One simulated printer of the rehearsal office."""

    name: str
    blanks: int  #: loaded into its hopper (the simulator's hopper holds as many)
    ribbon: int = 1000  #: cards its ribbon has left
    fault: str = ""  #: a fault plan (``print:30:jam,feed:25+:offline``)
    card_ms: int = 120_000  #: simulated milliseconds a card takes (two minutes, as measured)
    rest_after: int = 0
    rest_minutes: float = 0.0
    rated_cards_per_hour: float = 0.0


def prepare_night_office(
    workdir: Path,
    printers: list[RehearsalPrinter],
    *,
    records: int,
    vault: int = 0,
    reserve: int = 0,
    timescale: float = 300,
    seed: int = 11,
    replacements: float = 0.0,
) -> Path:
    """Write the office (config, keys, database with ``records`` ready records and the
    blanks: each printer's hopper, plus ``vault`` in the vault); returns the config path."""
    workdir.mkdir(parents=True, exist_ok=True)
    tables = []
    for p in printers:
        url = (
            f"sim://?cards={p.blanks}&ribbon={p.ribbon}&card_ms={p.card_ms}"
            f"&timescale={timescale:g}&serial=R{p.name}&state={workdir / (p.name + '.state.json')}"
        )
        if p.fault:
            url += f"&fault={p.fault}"
        tables.append(
            f'[[printers]]\nname = "{p.name}"\nurl = "{url}"\nencoder = "sim://"\n'
            f"rest_after = {p.rest_after}\nrest_minutes = {p.rest_minutes}\n"
            f"rated_cards_per_hour = {p.rated_cards_per_hour}\n"
        )
    config = workdir / "printctl.toml"
    config.write_text(
        "# A rehearsal night's office (printctl.night.rehearsal).\n"
        'station = "night-station"\n'
        'database_url = "sqlite:///printctl.db"\n'
        'data_key_file = "data.key"\n'
        'log_file = "printctl.log.jsonl"\n'
        f"night_reserve = {reserve}\n"
        # A simulated minute passes in a fraction of a second: waits measured in simulated
        # time would otherwise be hours of it (the lease, the station's looks for work).
        f"lease_s = {max(30.0, 30 * timescale):g}\n"
        "poll_s = 0.2\n"
        "retry_backoff_s = 30\nretry_backoff_max_s = 300\n\n" + "\n".join(tables),
        encoding="utf-8",
    )
    generate_key_file(workdir / "data.key")
    settings = load_settings(config, environ={})
    ctx = Context.open(settings, actor="rehearsal-setup")
    try:
        center_key = generate_center_key(seed=seed)
        files = write_key_pair(center_key, workdir / "center")
        trust_key(ctx, files.public_pem, center_key.key_id)
        kinds = {RequestType.NEW: 1.0 - replacements}
        if replacements:
            kinds[RequestType.REPLACE_DAMAGED] = replacements
        bundle = make_bundle(
            workdir / "inbox", key=center_key, count=records, seed=seed, request_types=kinds
        )
        import_bundles(ctx, [bundle.path])
        receive_stock(ctx, vault + sum(p.blanks for p in printers), "NIGHT-LOT-1")
        for p in printers:
            if p.blanks:
                load_printer(ctx, p.name, p.blanks)
    finally:
        ctx.close()
    return config


@dataclass
class Rehearsal:
    """What a rehearsal night did: the report, and each process's exit status."""

    report: dict[str, Any]
    exits: list[int] = field(default_factory=list)
    clock: str = ""

    @property
    def restarts(self) -> int:
        """How often the night was started again after its process died."""
        return len(self.exits) - 1


def rehearse(
    config: Path,
    *,
    start: datetime,
    until: str,
    timescale: float = 300,
    max_runs: int = 4,
    timeout_s: float = 900,
) -> Rehearsal:
    """Run the night in child processes until one ends it (exit 0 or 1), restarting it after
    a power cut; raises RuntimeError for any other exit or when it keeps dying."""
    clock = ScaledClock(start, timescale, time.time())
    env = {**os.environ, "PRINTCTL_SIMULATED_CLOCK": clock.spec(), "PRINTCTL_USER": "night"}
    env.pop("PRINTCTL_CONFIG", None)
    command = [sys.executable, "-m", "printctl", "--config", str(config)]
    exits: list[int] = []
    for _run in range(max_runs):
        done = subprocess.run(
            [*command, "overnight", "--until", until, "--json"],
            env=env,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
        exits.append(done.returncode)
        if done.returncode == 0:
            return Rehearsal(json.loads(done.stdout), exits, clock.spec())
        if done.returncode != 137:
            raise RuntimeError(
                f"printctl overnight exited {done.returncode}: "
                + done.stderr.decode("utf-8", "replace")[-2000:]
            )
    raise RuntimeError(f"the night died {len(exits)} times: {exits}")


def check_night(config: Path, report: dict[str, Any]) -> list[str]:
    """Set the report against the ledger and the simulators' state; the problems found."""
    settings = load_settings(config, environ={})
    ctx = Context.open(settings, actor="rehearsal-check")
    problems: list[str] = []
    try:
        with Session(ctx.engine) as session:
            night = session.get(NightRun, report["night"])
            assert night is not None and night.ended_at is not None
            start, end = as_utc(night.started_at), as_utc(night.ended_at)
            issued = session.exec(
                select(LedgerEntry).where(col(LedgerEntry.kind) == LedgerKind.ISSUED.value)
            ).all()
            tonight = [e for e in issued if start <= as_utc(e.at) <= end]
            if len(tonight) != report["totals"]["printed"]:
                problems.append(
                    f"report says {report['totals']['printed']} printed, ledger {len(tonight)}"
                )
            by_printer = Counter(e.printer for e in tonight)
            for line in report["printers"]:
                if by_printer.get(line["printer"], 0) != line["printed"]:
                    problems.append(f"{line['printer']}: report and ledger disagree")
            twice = [r for r, n in Counter(e.record_id for e in issued).items() if n > 1]
            if twice:
                problems.append(f"records issued twice: {twice}")
            late = [e for e in tonight if as_utc(e.at) > as_utc(night.window_end)]
            if late:
                problems.append(f"{len(late)} card(s) came out after the window ended")
        if not report["reserve_kept"]:
            problems.append("the reserve was touched")
        for state_file in sorted(config.parent.glob("*.state.json")):
            labels = json.loads(state_file.read_text(encoding="utf-8"))["printed_labels"]
            again = [label for label, n in labels.items() if n > 1 and label]
            if again:
                problems.append(f"{state_file.stem}: printed twice: {again}")
    finally:
        ctx.close()
    return problems
