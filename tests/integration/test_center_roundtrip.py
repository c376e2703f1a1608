"""The office against the fake center on 127.0.0.1: records in, events out, online with every
failure switch on, and by flash drive with the center's receipt (issue 6, parts 1–4)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from printctl.audit import verify_chain
from printctl.center.bundles import make_bundle
from printctl.center.keys import CenterKey, generate_center_key, write_key_pair
from printctl.center.server import CenterServer, FaultSwitches
from printctl.models import AuditEvent, Bundle, OutboxEvent, Record
from printctl.service import Context, UserError, import_bundles, trust_key
from printctl.service_records import handover
from printctl.service_sync import (
    center_client,
    confirm_export,
    export_events,
    import_receipt,
    pull,
    push,
    station_key,
)
from printctl.sync.client import RetryPolicy
from printctl.sync.eventbundle import SigningKey, read_event_bundle
from tests.integration.issuance_support import outbox_rows, print_ready

TOKEN = "token-14-09"


class NoSleep:
    """The client's backoff waits, recorded instead of slept."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def center_key(ctx: Context, tmp_path: Path) -> CenterKey:
    key = generate_center_key(seed=21)
    trust_key(ctx, write_key_pair(key, tmp_path / "center-keys").public_pem, key.key_id)
    return key


def _bundles(center_key: CenterKey, folder: Path, count: int = 3) -> list[Path]:
    return [
        make_bundle(folder, key=center_key, count=4, seed=40 + n, sequence=n).path
        for n in range(1, count + 1)
    ]


@pytest.fixture
def center(ctx: Context, center_key: CenterKey, tmp_path: Path) -> Iterator[CenterServer]:
    _bundles(center_key, tmp_path / "center-bundles")
    station = station_key(ctx, create=True)
    server = CenterServer(
        bundles_dir=tmp_path / "center-bundles",
        state_dir=tmp_path / "center-state",
        token=TOKEN,
        station_keys={station.key_id: station.public_key()},
        receipt_key=SigningKey(center_key.key_id, center_key.issuer, center_key.private_key),
    )
    with server:
        yield server


def _online(ctx: Context, server: CenterServer) -> Context:
    settings = replace(ctx.settings, center_url=server.url, center_token=TOKEN)
    return replace(ctx, settings=settings)


def _count(ctx: Context, model: type, *where: object) -> int:
    with Session(ctx.engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def test_every_bundle_and_event_crosses_exactly_once_with_every_fault_on(
    ctx: Context, center: CenterServer, tmp_path: Path
) -> None:
    """Drops mid-transfer, stalls, 500s, corrupted files and an outage: each offered bundle
    is imported once, no partial file is ever stored or left, and every event reaches the
    center once."""
    office = _online(ctx, center)
    sleeps = NoSleep()
    client = center_client(
        office, timeout_s=0.5, retry=RetryPolicy(attempts=12, backoff_s=0.01), sleep=sleeps
    )
    spool = office.settings.resolve(office.settings.spool_dir) / "incoming"

    center.go_offline(3600)
    offline = pull(office, client)
    assert offline.error and center.url in offline.error
    assert _count(office, Bundle) == 0

    center.go_offline(0)
    center.faults = FaultSwitches(
        drop_every=2,
        drop_after_bytes=4096,
        stall_every=5,
        stall_s=1.0,
        error_every=3,
        corrupt_every=3,
    )
    for _attempt in range(10):
        result = pull(office, client)
        if result.error is None:
            break
    assert result.error is None
    assert _count(office, Bundle) == 3
    assert _count(office, Record) == 12
    imported = _count(office, AuditEvent, col(AuditEvent.action) == "bundle.imported")
    assert imported == 3
    assert list(spool.iterdir()) == []  # no part file, no downloaded bundle left behind
    again = pull(office, client)
    assert (again.error, again.outcomes, len(again.skipped)) == (None, [], 0)

    print_ready(office)
    handover(office, "PRR-2026-S41-000001", verified_by="dewi")
    events = outbox_rows(office)
    assert len(events) >= 13  # 12 printed (plus any spoiled) and one handover
    for _attempt in range(10):
        pushed = push(office, client, per_bundle=4)
        if pushed.error is None:
            break
    assert pushed.error is None and pushed.pending == 0
    received = center.received_events()
    assert set(received) == {e.event_id for e in events}
    # Stored once each at the center, however often the lost answers made us resend.
    stored = (tmp_path / "center-state" / "events.jsonl").read_text().splitlines()
    assert len(stored) == len(events)
    assert all(e.state == "delivered" for e in outbox_rows(office))
    assert received[events[0].event_id]["nik"].isdigit()  # the center gets the real NIK
    assert push(office, client).sent == 0
    with Session(office.engine) as session:
        assert verify_chain(session) is None


def test_a_flash_drive_round_trip_balances(
    ctx: Context, center_key: CenterKey, center: CenterServer, tmp_path: Path
) -> None:
    """Bundles in from a drive, events out to it, the center's receipt back: the counts
    match and every event is delivered exactly once."""
    drive = tmp_path / "drive"
    _bundles(center_key, drive)
    outcomes = import_bundles(ctx, [drive])
    assert [o.outcome for o in outcomes] == ["imported"] * 3
    print_ready(ctx)
    pending = len(outbox_rows(ctx))

    exported = export_events(ctx, drive, per_bundle=5)
    assert exported.events == pending and len(exported.paths) == -(-pending // 5)
    assert all(e.state == "pending" and e.exported_in for e in outbox_rows(ctx))
    receipts = []
    for path in exported.paths:
        # At the center: the drive's event bundles go in, a signed receipt comes out.
        receipt = center.receipt_for(path.read_bytes())
        receipts.append(drive / f"{path.name}.receipt.zip")
        receipts[-1].write_bytes(receipt)
    assert len(center.received_events()) == pending
    delivered = sum(import_receipt(ctx, r).delivered for r in receipts)
    assert delivered == pending
    assert all(e.state == "delivered" for e in outbox_rows(ctx))
    # The same receipt again changes nothing.
    assert import_receipt(ctx, receipts[0]).delivered == 0
    assert export_events(ctx, drive).events == 0


def test_an_exported_bundle_is_read_by_the_center_with_the_events_it_had(
    ctx: Context, center: CenterServer, center_key: CenterKey, tmp_path: Path
) -> None:
    """What goes on the drive is a signed §5 event bundle of the pending events."""
    drive = tmp_path / "drive"
    drive.mkdir()
    import_bundles(ctx, _bundles(center_key, tmp_path / "in", count=1))
    print_ready(ctx)
    (path,) = export_events(ctx, drive).paths
    station = station_key(ctx)
    parsed = read_event_bundle(
        path.read_bytes(), trusted_keys={station.key_id: station.public_key()}
    )
    assert {e["event_id"] for e in parsed.events} == {e.event_id for e in outbox_rows(ctx)}
    assert {e["type"] for e in parsed.events} >= {"CARD_PRINTED"}


def test_a_forged_receipt_is_refused_and_confirmation_is_explicit(
    ctx: Context, center_key: CenterKey, center: CenterServer, tmp_path: Path
) -> None:
    """A receipt signed by an untrusted key delivers nothing; an operator can confirm a
    bundle the center took without a receipt."""
    drive = tmp_path / "drive"
    drive.mkdir()
    import_bundles(ctx, _bundles(center_key, tmp_path / "in", count=1))
    print_ready(ctx)
    (path,) = export_events(ctx, drive).paths
    impostor = generate_center_key(seed=99)
    forged_center = CenterServer(
        bundles_dir=tmp_path / "in",
        state_dir=tmp_path / "impostor",
        token=TOKEN,
        station_keys={station_key(ctx).key_id: station_key(ctx).public_key()},
        receipt_key=SigningKey("impostor-1", "X", impostor.private_key),
    )
    forged = drive / "forged.receipt.zip"
    forged.write_bytes(forged_center.receipt_for(path.read_bytes()))
    with pytest.raises(UserError, match="receipt rejected"):
        import_receipt(ctx, forged)
    assert all(e.state == "pending" for e in outbox_rows(ctx))
    bundle_id = outbox_rows(ctx)[0].exported_in
    assert bundle_id
    assert confirm_export(ctx, bundle_id) == len(outbox_rows(ctx))
    delivered = {e.delivered_via for e in outbox_rows(ctx)}
    assert delivered == {"confirmed by tester"}
    with pytest.raises(UserError, match="no pending events"):
        confirm_export(ctx, bundle_id)


def test_an_offline_office_is_told_to_use_flash_drives(ctx: Context) -> None:
    """Without a center URL, pull and push say how to move data instead."""
    with pytest.raises(UserError, match="flash drive"):
        pull(ctx)
    with pytest.raises(UserError, match="flash drive"):
        push(ctx)


def test_events_of_a_quarantined_record_reach_the_outbox_with_the_import(
    ctx: Context, center_key: CenterKey, tmp_path: Path
) -> None:
    """A quarantined line is a RECORD_QUARANTINED event with its reason, written by the
    import that quarantined it."""
    bundle = make_bundle(
        tmp_path / "in", key=center_key, count=5, seed=77, bad_records={"duplicate-status": 2}
    )
    import_bundles(ctx, [bundle.path])
    quarantined = [e for e in outbox_rows(ctx) if e.type == "RECORD_QUARANTINED"]
    assert [e.reason for e in quarantined] == ["DUPLICATE_RECORD"] * 2
    with Session(ctx.engine) as session:
        assert session.exec(select(func.count()).select_from(OutboxEvent)).one() == 2
