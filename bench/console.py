"""How fast the console answers: the pages an operator keeps open, and the fragments they
poll every 3 s, on an office with many records and a finished batch.

A training office with ``--records`` records (one batch of ``--batch`` of them printed on the
simulated printers) is served in-process (FastAPI's test client, no network); each page is
fetched ``--rounds`` times by a signed-in operator. Prints the median and 95th percentile per
page. Target: every polled fragment under 100 ms at the median with 5,000 records, so a
counter PC polling three pages costs the station little.

    python bench/console.py [--records 5000] [--batch 500] [--rounds 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from printctl.queue.batches import BatchFilters
from printctl.service import new_batch, release_batches, run_station
from printctl.users import Role
from tests.web.support import USERS, make_office

PAGES = (
    "/fragments/dashboard",
    "/fragments/printers",
    "/fragments/attention",
    "/fragments/batches/1",
    "/records",
    "/api/v1/dashboard",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="printctl-bench-console-") as folder:
        office = make_office(
            Path(folder) / "office", printers=2, records=args.records, timescale=100000
        )
        from dataclasses import replace

        operator = replace(office.ctx, actor=USERS[Role.OPERATOR])
        from printctl.service_stock import load_printer, receive_delivery

        receive_delivery(operator, args.batch, "BENCH-LOT")
        for name in ("sim-1", "sim-2"):
            load_printer(operator, name, args.batch // 2)
        batch_id, jobs = new_batch(operator, BatchFilters(limit=args.batch))
        release_batches(operator, [batch_id])
        started = time.perf_counter()
        run_station(operator, office.ctx.settings.printers, batch_ids=[batch_id], until_idle=True)
        printed = time.perf_counter() - started
        client, _csrf = office.login(Role.OPERATOR)
        print(
            f"office: {args.records} records, batch {batch_id} of {jobs} printed in {printed:.1f} s "
            f"(simulated printers); {args.rounds} rounds per page"
        )
        worst = 0.0
        for path in PAGES:
            times = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                answer = client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                assert answer.status_code == 200, (path, answer.status_code)
            times.sort()
            median = statistics.median(times)
            p95 = times[int(0.95 * (len(times) - 1))]
            if path.startswith("/fragments"):
                worst = max(worst, median)
            print(
                f"  {path:28} median {median:7.1f} ms   p95 {p95:7.1f} ms   {len(answer.content):>8,} bytes"
            )
        verdict = "PASS" if worst < 100 else "FAIL"
        print(f"slowest polled fragment: median {worst:.1f} ms (target < 100 ms): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
