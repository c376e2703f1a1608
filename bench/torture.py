"""Torture run: SIGKILL ``printctl batch start`` many times and check that no card is doubled.

Runs the scenario of ``bench/torture_scenario.py`` (the one ``tests/integration/test_torture.py``
runs with a few kills) and prints kills, restarts, inspections, duplicates (must be 0), lost
blanks, lost jobs and wall time. Exits 1, with the seed and the last kill points, if any
invariant broke; the workspace is then kept for a post-mortem.

    python bench/torture.py [--kills 200] [--seed N] [--records 40] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from torture_scenario import ScenarioFailed, TortureConfig, TortureReport, run_scenario


def _print(report: TortureReport, as_json: bool, verbose: bool) -> None:
    if verbose:
        for point in report.kill_points:
            print(point.describe(), file=sys.stderr)
    summary = report.summary()
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key.replace('_', ' '):<{width}}  {value}")


def main() -> int:
    """Parse the options, run the scenario, print the numbers; 1 if an invariant broke."""
    parser = argparse.ArgumentParser(description="Kill printctl at random points; check books.")
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs to make (200)")
    parser.add_argument("--seed", type=int, default=20261127, help="seed of the kill plan")
    parser.add_argument("--records", type=int, default=40, help="records per round (40)")
    parser.add_argument("--printers", type=int, default=2, help="sim printers (2)")
    parser.add_argument("--card-ms", type=int, default=40, help="simulated ms per card (40)")
    parser.add_argument(
        "--max-events", type=int, default=12, help="kill after 1..N new audit events (12)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=None, help="plan no more kills after this long"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep the workspace here")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--verbose", action="store_true", help="also list every kill point")
    args = parser.parse_args()

    config = TortureConfig(
        kills=args.kills,
        seed=args.seed,
        records=args.records,
        printers=args.printers,
        card_ms=args.card_ms,
        max_events=args.max_events,
        time_budget=args.max_seconds,
    )
    if args.workdir is not None:
        root = args.workdir
        if root.exists() and any(root.iterdir()):
            parser.error(f"{root} is not empty")
        temporary = None
    else:
        temporary = Path(tempfile.mkdtemp(prefix="printctl-torture-"))
        root = temporary / "office"
    try:
        report = run_scenario(config, root)
    except ScenarioFailed as exc:
        print(f"INVARIANT BROKEN: {exc}", file=sys.stderr)
        if exc.report is not None:
            _print(exc.report, args.json, args.verbose)
        return 1
    _print(report, args.json, args.verbose)
    if temporary is not None:
        shutil.rmtree(temporary, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
