"""How well the night plan predicts the night, and what a night with every fault does.

Two rehearsal nights (:mod:`printctl.night.rehearsal`) on simulated printers, each making a
card in two simulated minutes (the field figure), on a clock ``--scale`` times faster than
the wall clock:

* **clean**: three printers with a duty cycle (15 minutes' rest after 50 cards), more ready
  records than one night can print, after a one-hour evening shift from which the plan
  learns each printer's real pace. The night is limited by its window, so the plan's count
  is a prediction of printing time. Target: printed within 5 % of planned.
* **faults**: four printers, a jam, a ribbon that runs out, a printer that goes offline, a
  hopper that empties and a power cut that kills the process mid-card (it is started again
  and carries on). Checked against the ledger: report = ledger, nothing printed twice,
  nothing after the window, the reserve untouched.

Prints, per night, planned and printed per printer and in all, the error, the faults the
report names, and the wall-clock time it took.

    python bench/night.py [--scale 300] [--only clean|faults]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from printctl.night.rehearsal import (
    RehearsalPrinter,
    check_night,
    prepare_night_office,
    rehearse,
)

TARGET = 0.05


def _show(name: str, report: dict, seconds: float, exits: list[int], problems: list[str]) -> float:
    totals = report["totals"]
    planned, printed = totals["planned"], totals["printed"]
    error = (printed - planned) / planned if planned else 0.0
    print(f"\n== {name} night {report['window']['label']} — ended: {report['ended_because']}")
    print(f"   {'printer':8} {'planned':>8} {'printed':>8} {'spoiled':>8}  plan said")
    for p in report["printers"]:
        said = p["planned_limit"] + (
            f", ribbon out {p['ribbon_out_planned']}" if p["ribbon_out_planned"] else ""
        )
        print(f"   {p['printer']:8} {p['planned']:8} {p['printed']:8} {p['spoiled']:8}  {said}")
    print(
        f"   {'total':8} {planned:8} {printed:8} {totals['spoiled']:8}  in doubt "
        f"{totals['in_doubt']}, back to ready {totals['returned_to_ready']}"
    )
    print(f"   printed vs planned: {error:+.1%}; last card {report['last_card_at']}")
    for fault in report["faults"]:
        print(f"   fault {fault['time']} {fault['printer']}: {fault['what'][:90]}")
    print(f"   first thing: {report['first_thing']}")
    print(
        f"   wall clock {seconds:.1f} s, processes {exits}, ledger check: "
        + ("agrees" if not problems else "; ".join(problems))
    )
    return error


def clean(folder: Path, scale: float) -> tuple[float, bool]:
    printers = [
        RehearsalPrinter(f"c{i}", blanks=300, rest_after=50, rest_minutes=15) for i in (1, 2, 3)
    ]
    config = prepare_night_office(folder, printers, records=800, timescale=scale)
    # The evening shift: an hour of printing, which the plan then learns each pace from.
    rehearse(
        config,
        start=datetime.fromisoformat("2026-12-02T17:59:00+07:00"),
        until="19:00",
        timescale=scale,
    )
    started = time.monotonic()
    night = rehearse(
        config,
        start=datetime.fromisoformat("2026-12-02T21:59:00+07:00"),
        until="05:30",
        timescale=scale,
    )
    problems = check_night(config, night.report)
    error = _show("clean", night.report, time.monotonic() - started, night.exits, problems)
    return error, not problems


def faults(folder: Path, scale: float) -> tuple[float, bool]:
    printers = [
        RehearsalPrinter(
            "sim-1",
            blanks=150,
            fault="print:5:jam,print:60:power",
            rest_after=50,
            rest_minutes=15,
            rated_cards_per_hour=28,
        ),
        RehearsalPrinter("sim-2", blanks=80, ribbon=30, rated_cards_per_hour=28),
        RehearsalPrinter("sim-3", blanks=80, fault="feed:20+:offline", rated_cards_per_hour=28),
        RehearsalPrinter("sim-4", blanks=30, rated_cards_per_hour=28),
    ]
    config = prepare_night_office(
        folder, printers, records=140, vault=40, reserve=40, timescale=scale
    )
    started = time.monotonic()
    night = rehearse(
        config,
        start=datetime.fromisoformat("2026-12-02T21:59:00+07:00"),
        until="05:30",
        timescale=scale,
    )
    problems = check_night(config, night.report)
    error = _show("faults", night.report, time.monotonic() - started, night.exits, problems)
    return error, not problems and night.exits == [137, 0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=300.0, help="simulated seconds per second")
    parser.add_argument("--only", choices=("clean", "faults"))
    args = parser.parse_args()
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="printctl-night-") as tmp:
        for name, run in (("clean", clean), ("faults", faults)):
            if args.only and args.only != name:
                continue
            error, sound = run(Path(tmp) / name, args.scale)
            verdicts.append(abs(error) <= TARGET and sound)
            print(
                f"   {name}: plan within {TARGET:.0%}: {'PASS' if abs(error) <= TARGET else 'FAIL'}"
                f"; accounting: {'PASS' if sound else 'FAIL'}"
            )
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
