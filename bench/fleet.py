"""Fleet throughput: do 32 printers at 225 cards/hour ever wait on the software?

One process drives ``--printers`` simulated printers (``sim://``, rated 16 s a card: 25 % feed,
50 % print, 25 % eject), each through its own :class:`PrinterWorker` thread, exactly as
``run_batches`` does (station lock, recovery, ``start_batch``, one thread per printer,
``finish_batches``). The workspace is a temp dir: a fake-center bundle of ``printers ×
cards-per-printer`` records, signed, trusted and imported; blanks received; one batch.

What is measured:

* **busy %** per printer: the time the simulated printer spent in its own card operations
  (the sum of the sim's ``sleep`` calls, timed) divided by the wall time from the run's
  start to the end of that printer's last card. The issue's target is ≥ 99 % for every
  printer, i.e. the printer never waits on software;
* where the printer's idle time goes: before its first card (start-up), between cards
  (eject → next feed: completion commit, claim, record load, render, ``feeding`` commit) and
  inside a card (the step commits between feed, print and eject, and the chip script), in ms
  per card; and the worker's own phases (wall and thread-CPU ms per card) to say which
  software step it is;
* cards/hour achieved versus rated, the process CPU time (``time.process_time``) per card
  during the print run, wall time, and whether the ledger shows every card issued.

Time scaling divides only the printer's time: the software still costs what it costs, so
at ``--timescale 50`` one process must do 50× the real fleet's work per second, and the busy
% measures the machine's headroom rather than the office's. The per-card gap (ms) is the
figure to carry to rated speed; the script prints the busy % that gap would give there.
Compare a few time scales to see where the software saturates.

    python bench/fleet.py [--printers 32] [--timescale 10] [--cards-per-printer 10]
                          [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                          [--per-printer]

A PostgreSQL URL gets a fresh schema (``?options=-csearch_path=…``), dropped at the end.
The script prints its numbers and asserts nothing about timing; it exits 1 when a card was
not issued or the ledger does not balance.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlmodel import Session, col, func, select

from drivers.sim import SimEncoder, SimPrinter
from printctl.center.bundles import make_bundle
from printctl.center.keys import generate_center_key, write_key_pair
from printctl.config import PrinterConfig, Settings
from printctl.crypto import generate_key_file
from printctl.db import session_scope
from printctl.domain import ChipCommand
from printctl.hardware import CardImage
from printctl.logs import configure_logging
from printctl.models import Job, JobState
from printctl.queue.batches import BatchFilters, finish_batches, start_batch
from printctl.queue.recovery import recover_in_flight
from printctl.queue.station_lock import station_lock
from printctl.queue.worker import PrinterWorker, Renderer
from printctl.service import (
    Context,
    import_bundles,
    make_card_renderer,
    new_batch,
    receive_stock,
    stock,
    trust_key,
)

RATED_CARD_MS = 16_000  # 225 cards/hour
TARGET_BUSY = 99.0
FIRST_RENDER = "render, first card (cold caches)"


# ---------------------------------------------------------------------------- instruments


@dataclass
class PrinterMeter:
    """What one simulated printer did: each of its timed waits, by step."""

    step: str = ""
    waits: list[tuple[str, float, float]] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        started = time.perf_counter()
        time.sleep(seconds)
        self.waits.append((self.step, started, time.perf_counter()))


class MeteredPrinter(SimPrinter):
    """A sim whose injected ``sleep`` records every card operation with its step."""

    def __init__(self, url: str, meter: PrinterMeter) -> None:
        super().__init__(url, sleep=meter.sleep)
        self.meter = meter

    def feed(self) -> None:
        self.meter.step = "feed"
        super().feed()

    def print_card(self, image: CardImage) -> None:
        self.meter.step = "print"
        super().print_card(image)

    def eject(self) -> None:
        self.meter.step = "eject"
        super().eject()

    def reject(self) -> None:
        self.meter.step = "reject"
        super().reject()


class Phases:
    """Wall and thread-CPU seconds per worker phase (one instance per worker thread)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.wall[name] += time.perf_counter() - wall
            self.cpu[name] += time.thread_time() - cpu
            self.calls[name] += 1


class MeteredEncoder(SimEncoder):
    """A sim encoder whose chip script is timed."""

    def __init__(self, url: str, phases: Phases) -> None:
        super().__init__(url)
        self.phases = phases

    def run_script(self, script: Sequence[ChipCommand]) -> str:
        with self.phases.timed("chip script"):
            return super().run_script(script)


class MeteredWorker(PrinterWorker):
    """The real worker, with its database and render steps timed (behaviour unchanged)."""

    def __init__(self, *, phases: Phases, **kwargs: Any) -> None:
        render: Renderer = kwargs.pop("render")

        def timed_render(record: Any) -> CardImage:
            first = not phases.calls["render"] and not phases.calls[FIRST_RENDER]
            with phases.timed(FIRST_RENDER if first else "render"):
                return render(record)

        super().__init__(render=timed_render, **kwargs)
        self.phases = phases

    def _claim(self) -> Job | None:
        with self.phases.timed("claim (commit)"):
            return super()._claim()

    def _process(self, prepared: Any) -> None:
        with self.phases.timed("_process"):
            super()._process(prepared)

    def _enter_feeding(self, job: Job) -> bool:
        with self.phases.timed("feeding: stock balance + commit"):
            return super()._enter_feeding(job)

    def _encode(self, job: Job, record: Any) -> str:
        with self.phases.timed("encode: chip thread (UID goes with the next step)"):
            return super()._encode(job, record)

    def _step(self, job: Any, step: Any, **columns: Any) -> Any:
        with self.phases.timed("step commits (encode/print/eject)"):
            return super()._step(job, step, **columns)

    def _complete(self, card: Any) -> None:
        with self.phases.timed("complete: ledger + record + commit"):
            super()._complete(card)


# ---------------------------------------------------------------------------- database


@contextmanager
def database(url: str | None, root: Path) -> Iterator[str]:
    """SQLite in ``root`` by default; for PostgreSQL a fresh schema, dropped afterwards."""
    if url is None:
        yield f"sqlite:///{root}/printctl.db"
        return
    if not url.startswith("postgresql"):
        yield url
        return
    schema = f"bench_fleet_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


# ---------------------------------------------------------------------------- the run


@dataclass
class Fleet:
    configs: list[PrinterConfig]
    meters: dict[str, PrinterMeter]
    phases: dict[str, Phases]
    workers: list[MeteredWorker] = field(default_factory=list)


def build_fleet(printers: int, cards: int, timescale: float) -> list[PrinterConfig]:
    """One ``PrinterConfig`` per simulated printer, rated 16 s a card, time-scaled."""
    stockpile = cards + 10
    return [
        PrinterConfig(
            name=f"sim-{i + 1:02d}",
            url=(
                f"sim://?cards={stockpile}&ribbon={stockpile}&card_ms={RATED_CARD_MS}"
                f"&timescale={timescale:g}&serial=SIM{i + 1:04d}"
            ),
            encoder=f"sim://?seed={i + 1}",
        )
        for i in range(printers)
    ]


def run_fleet(ctx: Context, batch_id: int, fleet: Fleet) -> tuple[float, float, float]:
    """``run_batches`` with metered devices; returns (start, end, process CPU seconds)."""
    with station_lock(ctx.engine, ctx.station):
        with session_scope(ctx.engine) as session:
            recover_in_flight(session, station=ctx.station, actor=ctx.actor, clock=ctx.clock)
            start_batch(session, batch_id, actor=ctx.actor, station=ctx.station, clock=ctx.clock)
        render = make_card_renderer(ctx.clock().date())
        stop = threading.Event()
        for config in fleet.configs:
            assert config.encoder is not None
            phases = fleet.phases[config.name]
            fleet.workers.append(
                MeteredWorker(
                    phases=phases,
                    engine=ctx.engine,
                    cipher=ctx.cipher,
                    name=config.name,
                    printer=MeteredPrinter(config.url, fleet.meters[config.name]),
                    encoder=MeteredEncoder(config.encoder, phases),
                    render=render,
                    station=ctx.station,
                    clock=ctx.clock,
                    max_attempts=ctx.settings.max_attempts,
                    encode_deadline=ctx.settings.encode_deadline_s,
                    rest_after=config.rest_after,
                    rest_seconds=config.rest_minutes * 60,
                    batch_ids=[batch_id],
                    stop=stop,
                )
            )
        threads = [threading.Thread(target=w.run, name=f"worker-{w.name}") for w in fleet.workers]
        cpu0 = time.process_time()
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        end = time.perf_counter()
        cpu = time.process_time() - cpu0
        with session_scope(ctx.engine) as session:
            finish_batches(
                session, [batch_id], actor=ctx.actor, station=ctx.station, clock=ctx.clock
            )
    return start, end, cpu


# ---------------------------------------------------------------------------- report


@dataclass
class PrinterFigures:
    name: str
    cards: int
    busy: float  # seconds in card operations
    span: float  # run start → end of the last card
    startup: float  # run start → first feed
    between: list[float]  # eject end → next feed start, per card boundary
    inside: list[float]  # feed → print and print → eject gaps

    @property
    def busy_pct(self) -> float:
        return 100.0 * self.busy / self.span if self.span > 0 else 0.0


def figures(name: str, meter: PrinterMeter, start: float, cards: int) -> PrinterFigures:
    waits = meter.waits
    if not waits:
        return PrinterFigures(name, cards, 0.0, 0.0, 0.0, [], [])
    between: list[float] = []
    inside: list[float] = []
    for (_, _, prev_end), (step, begin, _) in pairwise(waits):
        (between if step == "feed" else inside).append(begin - prev_end)
    return PrinterFigures(
        name=name,
        cards=cards,
        busy=sum(end - begin for _, begin, end in waits),
        span=waits[-1][2] - start,
        startup=waits[0][1] - start,
        between=between,
        inside=inside,
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def report(
    args: argparse.Namespace,
    fleet: Fleet,
    start: float,
    end: float,
    cpu: float,
    ledger: dict[str, int],
    expected: int,
) -> bool:
    card_s = RATED_CARD_MS / 1000 / args.timescale
    rows = [figures(w.name, fleet.meters[w.name], start, w.result.completed) for w in fleet.workers]
    issued = sum(r.cards for r in rows)
    busy = sorted(r.busy_pct for r in rows)
    wall = end - start
    rated_per_hour = len(rows) * 3600 / card_s
    achieved_per_hour = issued * 3600 / wall if wall > 0 else 0.0

    print(f"database: {args.db_label}")
    print(
        f"fleet: {len(rows)} printers × {args.cards_per_printer} cards, rated "
        f"{3600 * 1000 / RATED_CARD_MS:.0f} cards/h each, timescale {args.timescale:g} "
        f"→ {card_s * 1000:.0f} ms per card"
    )
    print(f"wall time (print run): {wall:.2f} s; ideal {args.cards_per_printer * card_s:.2f} s")
    print(
        f"busy %: min {busy[0]:.1f}, median {statistics.median(busy):.1f}, "
        f"max {busy[-1]:.1f} (target ≥ {TARGET_BUSY:.0f} for every printer)"
    )
    print(
        f"throughput: {achieved_per_hour:,.0f} cards/h achieved vs {rated_per_hour:,.0f} rated "
        f"({100 * achieved_per_hour / rated_per_hour:.1f} %) at this timescale; "
        f"= {achieved_per_hour / args.timescale:,.0f} vs "
        f"{rated_per_hour / args.timescale:,.0f} cards/h in real printer time"
    )
    print(
        f"CPU: {cpu:.2f} s process time for {issued} cards = {1000 * cpu / max(issued, 1):.1f} ms"
        f" per card ({100 * cpu / wall:.0f} % of one core over the run)"
    )

    # Where a printer's idle time goes, per card (fleet means).
    idle = sum(r.span - r.busy for r in rows)
    gap_ms = 1000 * idle / max(issued, 1)
    between = [g for r in rows for g in r.between]
    inside = [g for r in rows for g in r.inside]
    startup = [r.startup for r in rows]
    print(f"printer idle per card: {gap_ms:.1f} ms (span − busy, over all printers)")
    print(
        f"  start-up (run start → first feed): mean {_ms(statistics.fmean(startup))}, "
        f"max {_ms(max(startup))} once per printer"
    )
    if between:
        print(
            f"  between cards (eject → next feed): mean {_ms(statistics.fmean(between))}, "
            f"median {_ms(statistics.median(between))}, max {_ms(max(between))}"
        )
    if inside:
        per_card = sum(inside) / max(issued, 1)
        print(
            f"  inside a card (feed → print → eject): {_ms(per_card)} per card, "
            f"max gap {_ms(max(inside))}"
        )
    steady_ms = 1000 * (sum(between) + sum(inside)) / max(len(between) + len(rows), 1)
    projected = 100 * RATED_CARD_MS / (RATED_CARD_MS + steady_ms)
    print(
        f"  steady state (between + inside, start-up excluded): {steady_ms:.1f} ms per card; "
        f"at rated speed (16 s a card) that is {projected:.2f} % busy "
        f"(if the gap stayed the same at 1/{args.timescale:g} of this load)"
    )

    # The worker's phases: which software step the time is.
    wall_by: dict[str, float] = defaultdict(float)
    cpu_by: dict[str, float] = defaultdict(float)
    for phases in fleet.phases.values():
        for name, seconds in phases.wall.items():
            wall_by[name] += seconds
        for name, seconds in phases.cpu.items():
            cpu_by[name] += seconds
    sleeps = sum(r.busy for r in rows)
    process = wall_by.pop("_process", 0.0)
    process_cpu = cpu_by.pop("_process", 0.0)
    inner = (
        FIRST_RENDER,
        "render",
        "feeding: stock balance + commit",
        "step commits (encode/print/eject)",
        "encode: chip thread (UID goes with the next step)",
        "complete: ledger + record + commit",
    )
    wall_by["record load + status reads + other"] = (
        process - sleeps - sum(wall_by[n] for n in inner)
    )
    cpu_by["record load + status reads + other"] = process_cpu - sum(cpu_by[n] for n in inner)
    order = ("claim (commit)", "record load + status reads + other", *inner[1:])
    print("worker phases, per card (wall = incl. waiting for the GIL / DB lock; cpu = thread):")
    n = max(issued, 1)
    for name in order:
        print(f"  {name:<36} wall {_ms(wall_by[name] / n)}   cpu {_ms(cpu_by[name] / n)}")
        if name.startswith("encode"):
            label = "  of which the chip script"
            print(f"  {label:<36} wall {_ms(wall_by['chip script'] / n)}")
    first = [p.wall[FIRST_RENDER] for p in fleet.phases.values() if p.calls[FIRST_RENDER]]
    if first:
        print(
            f"  (render of each printer's first card, cold caches: mean "
            f"{_ms(statistics.fmean(first)).strip()}, once per printer, in start-up above)"
        )

    if args.per_printer:
        print("per printer:")
        for r in sorted(rows, key=lambda r: r.busy_pct):
            mean_between = statistics.fmean(r.between) if r.between else 0.0
            print(
                f"  {r.name}  cards {r.cards:3d}  busy {r.busy_pct:5.1f} %  "
                f"span {r.span:7.2f} s  start-up {_ms(r.startup)}  between {_ms(mean_between)}"
            )

    hardware = sum(
        (w.result.blanks_taken or 0) for w in fleet.workers if w.result.blanks_taken is not None
    )
    used = ledger["issued"] + ledger["spoiled"] + ledger["in_doubt"]
    ok = (
        ledger["issued"] == expected
        and ledger["completed_jobs"] == expected
        and issued == expected
        and hardware == used
    )
    print(
        f"ledger: {ledger['issued']}/{expected} issued, {ledger['spoiled']} spoiled, "
        f"{ledger['in_doubt']} in doubt, {ledger['completed_jobs']} jobs completed; printers' "
        f"counters {hardware} blanks → " + ("every card issued, balanced" if ok else "NOT OK")
    )
    stopped = [f"{w.name}: {w.result.stop_reason}" for w in fleet.workers if w.result.stop_reason]
    for line in stopped:
        print(f"  stopped {line}")
    return ok


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=32)
    parser.add_argument("--timescale", type=float, default=10.0)
    parser.add_argument("--cards-per-printer", type=int, default=10)
    parser.add_argument("--database-url", default=None, help="default: SQLite in the temp dir")
    parser.add_argument("--per-printer", action="store_true", help="a line per printer")
    args = parser.parse_args(argv)
    total = args.printers * args.cards_per_printer

    with tempfile.TemporaryDirectory(prefix="printctl-fleet-") as tmp:
        root = Path(tmp)
        with database(args.database_url, root) as url:
            args.db_label = url.split("://", 1)[0] + (
                " (fresh schema)" if url.startswith("postgresql") else " (temp file)"
            )
            configure_logging(root / "printctl.log.jsonl", console=None)
            generate_key_file(root / "data.key")
            configs = build_fleet(args.printers, args.cards_per_printer, args.timescale)
            settings = replace(
                Settings(base_dir=root),
                database_url=url,
                station="bench-fleet",
                log_file=None,
                printers=tuple(configs),
            )
            setup = time.perf_counter()
            ctx = Context.open(settings, actor="bench")
            try:
                key = generate_center_key(seed=11)
                pem = write_key_pair(key, root / "center").public_pem
                trust_key(ctx, pem, key.key_id)
                bundle = make_bundle(root / "inbox", key=key, count=total, seed=11)
                (outcome,) = import_bundles(ctx, [bundle.path])
                if outcome.outcome != "imported" or outcome.imported != total:
                    print(f"import: {outcome.outcome} {outcome.reason}", file=sys.stderr)
                    return 2
                receive_stock(
                    ctx,
                    total * len(configs),  # any printer could print them all
                    "BENCH-LOT-1",
                    note="bench/fleet.py",
                    load=[c.name for c in configs],
                )
                batch_id, jobs = new_batch(ctx, BatchFilters(), name="fleet bench")
                assert jobs == total, jobs
                print(
                    f"setup: {total} records signed, imported, batched in "
                    f"{time.perf_counter() - setup:.1f} s"
                )
                fleet = Fleet(
                    configs=configs,
                    meters={c.name: PrinterMeter() for c in configs},
                    phases={c.name: Phases() for c in configs},
                )
                start, end, cpu = run_fleet(ctx, batch_id, fleet)
                after = stock(ctx)
                with Session(ctx.engine) as session:
                    completed = session.exec(
                        select(func.count()).where(col(Job.state) == JobState.COMPLETED.value)
                    ).one()
                ledger = {
                    "issued": after.issued,
                    "spoiled": after.spoiled,
                    "in_doubt": after.in_doubt,
                    "completed_jobs": int(completed),
                }
                ok = report(args, fleet, start, end, cpu, ledger, total)
            finally:
                ctx.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
