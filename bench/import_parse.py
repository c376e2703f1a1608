"""Measure read_bundle on a fake-center bundle (default 10,000 records) and print records/s.

Usage: python bench/import_parse.py [count] [--repeat N]
Generation time is printed too, since tests and demos pay it.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from printctl.center.bundles import make_bundle
from printctl.center.keys import generate_center_key
from printctl.intake.bundle import BundleLimits, read_bundle


def main() -> None:
    """Generate one bundle, then time read_bundle on it ``--repeat`` times."""
    parser = argparse.ArgumentParser()
    parser.add_argument("count", type=int, nargs="?", default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one read")
    args = parser.parse_args()

    key = generate_center_key(seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        info = make_bundle(Path(tmp), key=key, count=args.count, seed=7)
        gen = time.perf_counter() - start
        size_mb = info.path.stat().st_size / 1e6
        print(f"generated {info.count} records, {size_mb:.1f} MB, in {gen:.2f} s")
        trusted = {key.key_id: key.public_key}
        for workers in (1, BundleLimits().media_workers):
            limits = BundleLimits(media_workers=workers)
            best, cpu = float("inf"), 0.0
            for _ in range(args.repeat):
                start, cpu_start = time.perf_counter(), time.process_time()
                parsed = read_bundle(
                    info.path, trusted_keys=trusted, regency_code="14.09", limits=limits
                )
                elapsed = time.perf_counter() - start
                if elapsed < best:
                    best, cpu = elapsed, time.process_time() - cpu_start
            assert len(parsed.records) == info.count and not parsed.quarantined
            print(
                f"read_bundle, {workers} media worker(s), best of {args.repeat}: {best:.3f} s, "
                f"{info.count / best:,.0f} records/s, {best / info.count * 1e3:.3f} ms/record "
                f"wall, {cpu / info.count * 1e3:.3f} ms/record CPU"
            )
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            read_bundle(info.path, trusted_keys=trusted, regency_code="14.09")
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
