"""Import memory: a 100,000-record bundle imported in bounded memory (target < 300 MB peak RSS).

Generates the bundle with the fake center (or reuses one with --bundle), then imports it into
a fresh SQLite database in a child process, so the peak resident set size measured is the
importer's own (the generator's memory and this process's do not count). Prints records,
bundle size, peak RSS, seconds, records per second, and PASS or FAIL against the target.

    python bench/import_memory.py [--records 100000] [--bundle PATH] [--keep-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

TARGET_MB = 300.0


def _child(bundle: Path, work: Path, public_pem: Path, key_id: str, records: int) -> int:
    """Import ``bundle`` into a fresh database under ``work``; print a JSON line of results."""
    from printctl.config import Settings
    from printctl.crypto import DataCipher, generate_key_file
    from printctl.db import make_engine, migrate
    from printctl.intake.importer import import_bundle
    from printctl.service import Context, trust_key

    url = f"sqlite:///{work}/import.db"
    engine = make_engine(url)
    migrate(engine)
    settings = replace(Settings(base_dir=work), database_url=url, log_file=None)
    trust_key(Context(settings=settings, engine=engine, actor="bench"), public_pem, key_id)
    generate_key_file(work / "data.key")
    cipher = DataCipher.from_file(work / "data.key")
    started = time.perf_counter()
    outcome = import_bundle(
        engine, bundle, cipher=cipher, regency_code="14.09", actor="bench", station="b"
    )
    elapsed = time.perf_counter() - started
    engine.dispose()
    print(
        json.dumps(
            {
                "outcome": outcome.outcome,
                "reason": outcome.reason,
                "imported": outcome.imported,
                "seconds": elapsed,
            }
        )
    )
    return 0 if outcome.outcome == "imported" and outcome.imported == records else 2


def main() -> int:
    """Generate (or reuse) the bundle, import it in a child process, report the peak."""
    parser = argparse.ArgumentParser(description="Peak memory of importing a large bundle.")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--bundle", type=Path, help="reuse this bundle (made with seed=1)")
    parser.add_argument("--keep-dir", type=Path, help="generate into / keep files in this dir")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        bundle, work, pem, key_id = args.child
        return _child(Path(bundle), Path(work), Path(pem), key_id, args.records)

    from printctl.center.bundles import make_bundle
    from printctl.center.keys import generate_center_key, write_key_pair

    with tempfile.TemporaryDirectory(prefix="printctl-bench-mem-") as tmp:
        root = args.keep_dir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        key = generate_center_key(seed=1)
        public_pem = write_key_pair(key, root / "center").public_pem
        if args.bundle is not None:
            bundle = args.bundle
        else:
            started = time.perf_counter()
            bundle = make_bundle(root / "inbox", key=key, count=args.records, seed=1).path
            print(f"generated {args.records} records in {time.perf_counter() - started:.1f} s")
        size_mb = bundle.stat().st_size / 1e6
        work = root / "import"
        work.mkdir(exist_ok=True)
        (work / "import.db").unlink(missing_ok=True)
        (work / "data.key").unlink(missing_ok=True)
        child = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--records",
                str(args.records),
                "--child",
                str(bundle),
                str(work),
                str(public_pem),
                key.key_id,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        output = child.stdout.read()
        # wait4 gives this one child's own peak (ru_maxrss, KiB on Linux), not a maximum
        # over every child this process ever had.
        _pid, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        peak_mb = usage.ru_maxrss / 1024
        lines = [line for line in output.splitlines() if line.startswith("{")]
        if child.returncode != 0 or not lines:
            print(f"import failed (exit {child.returncode}): {output.strip()}", file=sys.stderr)
            return 2
        result = json.loads(lines[-1])
        seconds = result["seconds"]
        verdict = "PASS" if peak_mb < TARGET_MB else "FAIL"
        print(f"records:     {result['imported']}")
        print(f"bundle:      {size_mb:,.1f} MB")
        print(f"peak RSS:    {peak_mb:,.1f} MB (target < {TARGET_MB:.0f} MB)")
        print(f"seconds:     {seconds:,.1f}")
        print(f"records/s:   {result['imported'] / seconds:,.0f}")
        print(verdict)
        return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
