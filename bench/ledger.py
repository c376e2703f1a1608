"""Benchmark the blank ledger over a year of an office's entries.

Usage::

    python bench/ledger.py [--days 250] [--cards 300] [--printers 2] [--url sqlite|postgresql+psycopg://…]

Builds ``days`` business days of ``cards`` issued cards per day (with loads, a few spoils and a
destruction each day) and closes each day, then prints:

* posting: entries per second while building (the worker's issued entries dominate);
* the stock check the worker makes before each card (``hopper_available``), median and p95,
  with the days closed (the sum starts at the last closed day's balance) and, for
  comparison, summed over the whole ledger as if no day had been closed;
* ``close-day`` for one full day, and ``stock show`` (``balance``) once.

The target: the per-card stock check stays under 5 ms median on SQLite with a year of
entries, so it never shows next to a printer's ~16 s per card.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, select

from printctl.db import make_engine, migrate
from printctl.models import Batch, Job, LedgerEntry, Record, SpoilReason
from printctl.stock import (
    balance,
    controls,
    days,
    hopper_available,
    in_flight,
    move,
    receive,
    record_issued,
    record_spoiled,
)
from printctl.stock import locations as loc


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=50)
        return self.now


def _job(session: Session) -> int:
    batch = Batch(name="bench", created_by="bench")
    session.add(batch)
    session.flush()
    record = Record(
        record_id="R",
        version=1,
        bundle_id="B",
        request_type="NEW",
        district="D",
        nik_hash="h",
        nik_last4="0000",
        state="printed",
        payload=b"",
        photo=b"",
        signature=b"",
    )
    session.add(record)
    session.flush()
    job = Job(batch_id=batch.id or 0, record_pk=record.id or 0, state="completed")
    session.add(job)
    session.commit()
    return job.id or 0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _whole_ledger_hopper(session: Session, printer: str) -> int:
    """The hopper's balance summed over every entry (no closed-day start)."""
    place = loc.hopper(printer)
    into = session.exec(
        select(func.coalesce(func.sum(LedgerEntry.quantity), 0)).where(
            col(LedgerEntry.to_loc) == place
        )
    ).one()
    out = session.exec(
        select(func.coalesce(func.sum(LedgerEntry.quantity), 0)).where(
            col(LedgerEntry.from_loc) == place
        )
    ).one()
    return int(into) - int(out) - in_flight(session, printer)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--cards", type=int, default=300, help="cards issued per day")
    parser.add_argument("--printers", type=int, default=2)
    parser.add_argument("--url", default="sqlite", help="sqlite, or a PostgreSQL URL")
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()

    folder = tempfile.TemporaryDirectory()
    url = f"sqlite:///{Path(folder.name) / 'ledger.db'}" if args.url == "sqlite" else args.url
    engine = make_engine(url)
    migrate(engine)
    clock = Clock()
    names = [f"p{i}" for i in range(1, args.printers + 1)]
    with Session(engine) as session:
        job_id = _job(session)

    posted = 0
    started = time.perf_counter()
    for d in range(args.days):
        with Session(engine) as session:
            receive(session, args.cards + 10, lot=f"L{d}", actor="b", station="s", clock=clock)
            for name in names:
                move(
                    session,
                    args.cards // len(names) + 5,
                    loc.VAULT,
                    loc.hopper(name),
                    actor="b",
                    station="s",
                    clock=clock,
                )
            session.commit()
            posted += 1 + len(names)
        for i in range(args.cards):
            with Session(engine) as session:  # one transaction per card, as the worker does
                record_issued(
                    session,
                    job_id=job_id,
                    printer=names[i % len(names)],
                    chip_uid="04",
                    actor="w",
                    station="s",
                    clock=clock,
                )
                session.commit()
            posted += 1
        with Session(engine) as session:
            record_spoiled(
                session,
                quantity=1,
                reason=SpoilReason.PRINT_FAILED,
                job_id=job_id,
                printer=names[0],
                note="jam",
                actor="w",
                station="s",
                clock=clock,
            )
            proposal = controls.propose_destruction(
                session,
                witnesses=["A", "B"],
                place="yard",
                method="burned",
                actor="b",
                station="s",
                clock=clock,
            )
            controls.approve(session, proposal.id or 0, actor="boss", station="s", clock=clock)
            session.commit()
            posted += 2
        day = days.business_day(clock.now)
        if d == args.days - 1:
            close_started = time.perf_counter()
        with Session(engine) as session:
            days.close_day(session, day, office_name="O", actor="boss", station="s", clock=clock)
            session.commit()
        if d == args.days - 1:
            close_s = time.perf_counter() - close_started
        clock.now = clock.now.replace(hour=1) + timedelta(days=1)
    build_s = time.perf_counter() - started

    with Session(engine) as session:
        entries = session.exec(select(func.count()).select_from(LedgerEntry)).one()
        checks, whole = [], []
        for i in range(args.samples):
            t = time.perf_counter()
            hopper_available(session, names[i % len(names)])
            checks.append(time.perf_counter() - t)
            t = time.perf_counter()
            _whole_ledger_hopper(session, names[i % len(names)])
            whole.append(time.perf_counter() - t)
        t = time.perf_counter()
        totals = balance(session)
        show_s = time.perf_counter() - t
    engine.dispose()
    folder.cleanup()

    print(f"ledger bench on {url.split('://')[0]}: {args.days} closed days, {entries} entries")
    print(f"  posting: {posted / build_s:,.0f} entries/s ({posted} entries, one per commit mostly)")
    print(
        f"  per-card stock check (from the last closed day): median "
        f"{statistics.median(checks) * 1000:.2f} ms, p95 {_percentile(checks, 0.95) * 1000:.2f} ms"
    )
    print(
        f"  the same summed over the whole ledger:            median "
        f"{statistics.median(whole) * 1000:.2f} ms, p95 {_percentile(whole, 0.95) * 1000:.2f} ms"
    )
    print(f"  close-day of a {args.cards}-card day: {close_s * 1000:.0f} ms")
    print(f"  stock show (balance): {show_s * 1000:.0f} ms; balanced: {totals.balanced}")
    target = statistics.median(checks) * 1000 < 5
    print(f"  target (stock check median < 5 ms): {'met' if target else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
