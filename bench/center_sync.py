"""The center link's throughput: pulling bundles from the fake center and pushing events.

Pull: ``--bundles`` bundles of ``--records`` records each are downloaded from the fake
center on 127.0.0.1 (optionally with every failure switch on: a drop every 2nd download, a
500 every 3rd request, a corrupted file every 3rd download) and imported; prints MB/s and
records/s end to end. Push: one CARD_PRINTED event per imported record goes to the center
in signed event bundles of 500; prints events/s.

    python bench/center_sync.py [--bundles 4] [--records 1000] [--faults]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from sqlmodel import Session, select

from printctl import outbox
from printctl.center.bundles import make_bundle
from printctl.center.keys import generate_center_key, write_key_pair
from printctl.center.server import CenterServer, FaultSwitches
from printctl.config import Settings
from printctl.crypto import generate_key_file
from printctl.models import EventType, Record
from printctl.service import Context, trust_key
from printctl.service_sync import center_client, pull, push, station_key
from printctl.sync.client import RetryPolicy
from printctl.sync.eventbundle import SigningKey

TOKEN = "bench-token"


def main() -> int:
    parser = argparse.ArgumentParser(description="Pull and push throughput (fake center).")
    parser.add_argument("--bundles", type=int, default=4)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--faults", action="store_true", help="every failure switch on")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="printctl-sync-bench-") as tmp:
        root = Path(tmp)
        key = generate_center_key(seed=5)
        made = time.perf_counter()
        size = 0
        for n in range(1, args.bundles + 1):
            info = make_bundle(
                root / "center", key=key, count=args.records, seed=100 + n, sequence=n
            )
            size += info.path.stat().st_size
        print(
            f"center: {args.bundles} bundles x {args.records} records, {size / 1e6:.1f} MB, "
            f"made in {time.perf_counter() - made:.1f} s"
        )
        generate_key_file(root / "data.key")
        settings = replace(
            Settings(base_dir=root), database_url="sqlite:///office.db", log_file=None
        )
        ctx = Context.open(settings, actor="bench")
        trust_key(ctx, write_key_pair(key, root / "keys").public_pem, key.key_id)
        station = station_key(ctx, create=True)
        faults = (
            FaultSwitches(drop_every=2, drop_after_bytes=1 << 20, error_every=3, corrupt_every=3)
            if args.faults
            else FaultSwitches()
        )
        server = CenterServer(
            bundles_dir=root / "center",
            state_dir=root / "center-state",
            token=TOKEN,
            station_keys={station.key_id: station.public_key()},
            receipt_key=SigningKey(key.key_id, key.issuer, key.private_key),
            faults=faults,
        )
        with server:
            ctx = replace(
                ctx, settings=replace(ctx.settings, center_url=server.url, center_token=TOKEN)
            )
            client = center_client(
                ctx, retry=RetryPolicy(attempts=20, backoff_s=0.01), sleep=lambda _s: None
            )
            started = time.perf_counter()
            rounds = 0
            while True:
                rounds += 1
                result = pull(ctx, client)
                if result.error is None or rounds >= 10:
                    break
            took = time.perf_counter() - started
            with Session(ctx.engine) as session:
                records = session.exec(select(Record.id)).all()
            print(
                f"pull{' (faults on)' if args.faults else ''}: {len(records)} records in "
                f"{took:.1f} s ({rounds} round(s)): {size / 1e6 / took:.1f} MB/s, "
                f"{len(records) / took:,.0f} records/s"
            )
            if result.error is not None:
                print(f"pull did not finish: {result.error}")
                return 1

            with Session(ctx.engine) as session:
                now = ctx.clock()
                outbox.add_events(
                    session,
                    [
                        {
                            "type": EventType.CARD_PRINTED.value,
                            "at": now,
                            "station": ctx.station,
                            "record_pk": pk,
                            "record_id": f"R{pk}",
                            "version": 1,
                            "chip_uid": f"04{pk:012X}",
                        }
                        for pk in records
                    ],
                )
                session.commit()
            started = time.perf_counter()
            pushed = push(ctx, client)
            took = time.perf_counter() - started
            delivered = len(server.received_events())
            print(
                f"push: {pushed.sent} events in {len(pushed.bundles)} bundles, {took:.1f} s: "
                f"{pushed.sent / took:,.0f} events/s; the center holds {delivered}"
            )
            ok = pushed.error is None and delivered == len(records)
        ctx.close()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
