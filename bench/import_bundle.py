"""Import throughput: a 10,000-record bundle from the fake center into a fresh database.

Measures the whole `printctl import` path — zip checks, signature, member hashes, record
validation (photos decoded), sealing with AES-GCM, and the database transaction — and prints
records per second. Target on the 2-core reference machine: ≥ 2,000 records/s.

    python bench/import_bundle.py [--records 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from printctl.center.bundles import make_bundle
from printctl.center.keys import generate_center_key, write_key_pair
from printctl.config import Settings
from printctl.crypto import DataCipher, generate_key_file
from printctl.db import make_engine, migrate
from printctl.intake.importer import import_bundle
from printctl.service import Context, trust_key

TARGET = 2000.0


def main() -> int:
    parser = argparse.ArgumentParser(description="Import throughput of a large bundle.")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="printctl-bench-") as tmp:
        root = Path(tmp)
        key = generate_center_key(seed=1)
        public_pem = write_key_pair(key, root / "center").public_pem
        started = time.perf_counter()
        info = make_bundle(root / "inbox", key=key, count=args.records, seed=1)
        made = time.perf_counter() - started
        size_mb = info.path.stat().st_size / 1e6
        print(f"bundle: {args.records} records, {size_mb:.1f} MB, generated in {made:.1f} s")
        generate_key_file(root / "data.key")
        cipher = DataCipher.from_file(root / "data.key")
        rates = []
        for run in range(args.runs):
            url = f"sqlite:///{root}/run{run}.db"  # a fresh database per run
            engine = make_engine(url)
            migrate(engine)
            settings = replace(Settings(base_dir=root), database_url=url, log_file=None)
            trust_key(
                Context(settings=settings, engine=engine, actor="bench"), public_pem, key.key_id
            )
            t0 = time.perf_counter()
            outcome = import_bundle(
                engine, info.path, cipher=cipher, regency_code="14.09", actor="bench", station="b"
            )
            elapsed = time.perf_counter() - t0
            engine.dispose()
            if outcome.outcome != "imported" or outcome.imported != args.records:
                print(f"unexpected outcome: {outcome.outcome} {outcome.reason}", file=sys.stderr)
                return 2
            rates.append(args.records / elapsed)
            print(f"run {run + 1}: {elapsed:.2f} s, {args.records / elapsed:,.0f} records/s")
        median = statistics.median(rates)
        print(f"import throughput: median {median:,.0f} records/s (target >= {TARGET:,.0f})")
        return 0 if median >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
