"""The office's CenterClient against a real fake CenterServer on 127.0.0.1 (spec §4–§5).

Faults are real socket-level faults of the server; the client's waits go to an injected
``sleep`` that records them (and, where a test needs the network to heal, flips a switch).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from printctl.center.bundles import BundleInfo, make_bundle
from printctl.center.keys import generate_center_key
from printctl.center.server import CenterServer, FaultSwitches
from printctl.sync.client import (
    BundleOffer,
    CenterClient,
    CenterRefused,
    CenterUnreachable,
    RetryPolicy,
)
from printctl.sync.eventbundle import SigningKey, event_bundle_bytes, read_receipt

TOKEN = "office-14-09-token"
AT = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
STATION = SigningKey(
    "kuansing-1", "kuansing-1", Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
)
RECEIPTS = SigningKey(
    "pusat-receipts-01", "DUKCAPIL-PUSAT", Ed25519PrivateKey.from_private_bytes(bytes(32))
)


@dataclass
class Sleeps:
    """A no-op ``sleep`` that records each requested delay and can run a hook first."""

    delays: list[float] = field(default_factory=list)
    hook: Callable[[int], None] | None = None

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.hook is not None:
            self.hook(len(self.delays))


@dataclass
class Center:
    bundles: list[BundleInfo]
    bundles_dir: Path
    state_dir: Path
    server: CenterServer

    def restart(self) -> CenterServer:
        """Stop the server and start a new one on the same folders (same faults object)."""
        self.server.stop()
        self.server = CenterServer(
            bundles_dir=self.bundles_dir,
            state_dir=self.state_dir,
            token=TOKEN,
            station_keys={STATION.key_id: STATION.public_key()},
            receipt_key=RECEIPTS,
            faults=self.server.faults,
        )
        self.server.start()
        return self.server


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    key = generate_center_key(seed=3)
    bundles_dir = tmp_path / "center-bundles"
    bundles = [make_bundle(bundles_dir, key=key, count=4, seed=s, sequence=s) for s in range(1, 4)]
    # Another regency's bundle in the same folder must never be offered to 14.09.
    make_bundle(bundles_dir, key=key, count=3, seed=9, sequence=2, bad_bundle="wrong-regency")
    server = CenterServer(
        bundles_dir=bundles_dir,
        state_dir=tmp_path / "center-state",
        token=TOKEN,
        station_keys={STATION.key_id: STATION.public_key()},
        receipt_key=RECEIPTS,
    )
    server.start()
    c = Center(bundles, bundles_dir, tmp_path / "center-state", server)
    try:
        yield c
    finally:
        c.server.stop()


def client(
    server: CenterServer,
    sleeps: Sleeps | None = None,
    *,
    token: str = TOKEN,
    attempts: int = 6,
    timeout_s: float = 5.0,
) -> CenterClient:
    return CenterClient(
        server.url,
        token,
        timeout_s=timeout_s,
        retry=RetryPolicy(attempts=attempts, backoff_s=1.0, backoff_max_s=8.0, jitter=0.5),
        sleep=sleeps if sleeps is not None else Sleeps(),
        rng=lambda: 0.0,
    )


def offer_for(info: BundleInfo) -> BundleOffer:
    data = info.path.read_bytes()
    return BundleOffer(info.bundle_id, info.sequence, len(data), hashlib.sha256(data).hexdigest())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def events(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"ev-{i:04d}",
            "type": "CARD_PRINTED",
            "record_id": f"PRR-2026-{i:06d}",
            "version": 1,
            "station": "kuansing-1",
            "at": "2026-11-27T21:14:03Z",
        }
        for i in range(start, start + n)
    ]


def events_zip(n: int, start: int = 0, bundle_id: str = "ev-1") -> bytes:
    return event_bundle_bytes(events(n, start), key=STATION, bundle_id=bundle_id, created_at=AT)


def statuses(server: CenterServer, method: str, prefix: str) -> list[int]:
    return [s for m, p, s in server.requests_log() if m == method and p.startswith(prefix)]


# ---------------------------------------------------------------------------- listing


def test_list_offers_this_regencys_bundles_after_the_sequence_oldest_first(
    center: Center,
) -> None:
    offers = client(center.server).list_bundles(regency="14.09", after=1)
    assert offers == [offer_for(b) for b in center.bundles[1:]]
    assert client(center.server).list_bundles(regency="14.09", after=3) == []


def test_list_sees_a_bundle_added_while_the_server_runs(center: Center) -> None:
    key = generate_center_key(seed=3)
    added = make_bundle(center.bundles_dir, key=key, count=3, seed=4, sequence=4)
    offers = client(center.server).list_bundles(regency="14.09", after=3)
    assert offers == [offer_for(added)]


# ---------------------------------------------------------------------------- downloads


def test_download_writes_exactly_the_offered_file_and_no_part(
    center: Center, tmp_path: Path
) -> None:
    offer = offer_for(center.bundles[0])
    path = client(center.server).download(offer, tmp_path / "inbox")
    assert path == tmp_path / "inbox" / f"{offer.bundle_id}.prr.zip"
    assert path.read_bytes() == center.bundles[0].path.read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_download_of_an_unknown_bundle_is_refused_with_404(center: Center, tmp_path: Path) -> None:
    offer = BundleOffer("no-such-bundle", 9, 10, "0" * 64)
    with pytest.raises(CenterRefused) as info:
        client(center.server).download(offer, tmp_path)
    assert info.value.status == 404
    assert not list(tmp_path.glob("no-such-bundle*"))


def test_dropped_connections_resume_with_range_until_the_file_is_complete(
    center: Center, tmp_path: Path
) -> None:
    center.server.faults.drop_every = 1
    center.server.faults.drop_after_bytes = 8000
    offer = offer_for(center.bundles[0])
    assert offer.size > 5 * 8000  # more drops than the retry budget: progress must count
    path = client(center.server, attempts=3).download(offer, tmp_path)
    assert sha(path) == offer.sha256
    codes = statuses(center.server, "GET", "/v1/bundles/")
    assert codes[0] == 200
    assert set(codes[1:]) == {206}
    assert len(codes) == -(-offer.size // 8000)  # one request per 8000-byte piece


def test_download_resumes_from_a_part_left_by_an_earlier_process(
    center: Center, tmp_path: Path
) -> None:
    offer = offer_for(center.bundles[0])
    data = center.bundles[0].path.read_bytes()
    (tmp_path / f"{offer.bundle_id}.prr.zip.part").write_bytes(data[:10000])
    path = client(center.server).download(offer, tmp_path)  # a new client: a restarted office
    assert sha(path) == offer.sha256
    ranges = [s for s in statuses(center.server, "GET", "/v1/bundles/")]
    assert ranges == [206]


def test_interrupted_download_leaves_a_part_that_a_new_client_finishes(
    center: Center, tmp_path: Path
) -> None:
    center.server.faults.drop_every = 1
    center.server.faults.drop_after_bytes = 10000
    offer = offer_for(center.bundles[1])
    with pytest.raises(CenterUnreachable):
        # Attempts=1: the first cut ends this "process".
        client(center.server, attempts=1).download(offer, tmp_path)
    part = tmp_path / f"{offer.bundle_id}.prr.zip.part"
    assert part.stat().st_size == 10000
    assert not (tmp_path / f"{offer.bundle_id}.prr.zip").exists()
    center.server.faults.drop_every = 0
    path = client(center.server).download(offer, tmp_path)
    assert sha(path) == offer.sha256
    assert statuses(center.server, "GET", "/v1/bundles/") == [200, 206]


def test_a_part_longer_than_the_offer_is_discarded_and_downloaded_again(
    center: Center, tmp_path: Path
) -> None:
    offer = offer_for(center.bundles[0])
    (tmp_path / f"{offer.bundle_id}.prr.zip.part").write_bytes(b"x" * (offer.size + 5))
    path = client(center.server).download(offer, tmp_path)
    assert sha(path) == offer.sha256
    assert statuses(center.server, "GET", "/v1/bundles/") == [200]


def test_a_full_size_part_with_wrong_bytes_is_discarded_and_downloaded_again(
    center: Center, tmp_path: Path
) -> None:
    offer = offer_for(center.bundles[0])
    (tmp_path / f"{offer.bundle_id}.prr.zip.part").write_bytes(b"x" * offer.size)
    path = client(center.server).download(offer, tmp_path)
    assert sha(path) == offer.sha256


def test_corrupted_download_is_never_renamed_and_the_next_attempt_is_clean(
    center: Center, tmp_path: Path
) -> None:
    center.server.faults.corrupt_every = 1
    final = tmp_path / f"{center.bundles[0].bundle_id}.prr.zip"

    def heal(_: int) -> None:
        # Between the first and second attempt: nothing with the final name exists yet.
        assert not final.exists()
        center.server.faults.corrupt_every = 0

    sleeps = Sleeps(hook=heal)
    offer = offer_for(center.bundles[0])
    path = client(center.server, sleeps).download(offer, tmp_path)
    assert path == final
    assert sha(path) == offer.sha256
    assert len(sleeps.delays) == 1


def test_always_corrupted_download_gives_up_without_a_final_file(
    center: Center, tmp_path: Path
) -> None:
    center.server.faults.corrupt_every = 1
    offer = offer_for(center.bundles[0])
    with pytest.raises(CenterUnreachable, match="did not match the offer's SHA-256"):
        client(center.server, attempts=3).download(offer, tmp_path / "inbox")
    assert list((tmp_path / "inbox").iterdir()) == []


def test_server_errors_are_retried(center: Center, tmp_path: Path) -> None:
    center.server.faults.error_every = 1
    sleeps = Sleeps(
        hook=lambda n: setattr(center.server.faults, "error_every", 0) if n == 2 else None
    )
    offers = client(center.server, sleeps).list_bundles(regency="14.09", after=0)
    assert len(offers) == 3
    assert statuses(center.server, "GET", "/v1/bundles") == [500, 500, 200]


def test_a_stalled_answer_times_out_and_is_retried(center: Center, tmp_path: Path) -> None:
    center.server.faults.stall_every = 1
    center.server.faults.stall_s = 5.0
    sleeps = Sleeps(hook=lambda _: setattr(center.server.faults, "stall_every", 0))
    offer = offer_for(center.bundles[0])
    path = client(center.server, sleeps, timeout_s=0.2).download(offer, tmp_path)
    assert sha(path) == offer.sha256
    assert len(sleeps.delays) == 1


def test_offline_center_is_unreachable_after_the_budget_with_growing_capped_backoff(
    center: Center, tmp_path: Path
) -> None:
    center.server.go_offline(3600)
    sleeps = Sleeps()
    with pytest.raises(CenterUnreachable) as info:
        client(center.server, sleeps, attempts=7).list_bundles(regency="14.09", after=0)
    message = str(info.value)
    assert center.server.url in message
    assert "after 7 attempts" in message
    assert "\n" not in message
    assert sleeps.delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert center.server.requests_log() == []  # no request was ever answered


def test_jitter_shortens_each_delay_by_the_rng_share() -> None:
    policy = RetryPolicy(attempts=3, backoff_s=2.0, backoff_max_s=60.0, jitter=0.5)
    assert policy.delay(0, lambda: 1.0) == 1.0
    assert policy.delay(1, lambda: 0.5) == 3.0
    assert policy.delay(10, lambda: 0.0) == 60.0


def test_coming_back_online_lets_the_retry_succeed(center: Center, tmp_path: Path) -> None:
    center.server.go_offline(3600)
    sleeps = Sleeps(hook=lambda n: center.server.go_offline(0) if n == 3 else None)
    offer = offer_for(center.bundles[2])
    path = client(center.server, sleeps).download(offer, tmp_path)
    assert sha(path) == offer.sha256
    assert len(sleeps.delays) == 3


def test_nothing_listening_is_unreachable(tmp_path: Path) -> None:
    server = CenterServer(
        bundles_dir=tmp_path, state_dir=tmp_path / "s", token=TOKEN, station_keys={}
    )
    url = server.url
    server.stop()  # the port is free again: connections are refused
    c = CenterClient(url, TOKEN, retry=RetryPolicy(attempts=2), sleep=Sleeps(), rng=lambda: 0.0)
    with pytest.raises(CenterUnreachable, match="refused"):
        c.list_bundles(regency="14.09", after=0)


def test_bad_token_is_refused_with_401_and_not_retried(center: Center) -> None:
    sleeps = Sleeps()
    with pytest.raises(CenterRefused) as info:
        client(center.server, sleeps, token="wrong").list_bundles(regency="14.09", after=0)
    assert info.value.status == 401
    assert sleeps.delays == []
    assert center.server.requests_log() == [("GET", "/v1/bundles", 401)]


# ---------------------------------------------------------------------------- events


def test_posting_the_same_bundle_twice_accepts_then_counts_duplicates(center: Center) -> None:
    c = client(center.server)
    bundle = events_zip(5)
    assert c.post_events(bundle) == (5, 0)
    assert c.post_events(bundle) == (0, 5)
    assert sorted(center.server.received_events()) == [f"ev-{i:04d}" for i in range(5)]


def test_overlapping_bundles_store_each_event_once(center: Center) -> None:
    c = client(center.server)
    assert c.post_events(events_zip(3, 0, "ev-a")) == (3, 0)
    assert c.post_events(events_zip(3, 2, "ev-b")) == (2, 1)
    assert len(center.server.received_events()) == 5


def test_rejected_event_bundle_is_refused_with_the_reason_and_nothing_stored(
    center: Center,
) -> None:
    stranger = SigningKey("kuansing-7", "kuansing-7", STATION.private_key)
    bundle = event_bundle_bytes(events(2), key=stranger, bundle_id="ev-x", created_at=AT)
    sleeps = Sleeps()
    with pytest.raises(CenterRefused) as info:
        client(center.server, sleeps).post_events(bundle)
    assert info.value.status == 400
    assert "not a trusted key" in info.value.reason
    assert sleeps.delays == []
    assert center.server.received_events() == {}


def test_post_through_every_fault_delivers_each_event_exactly_once(center: Center) -> None:
    faults = center.server.faults
    faults.drop_every = 2  # every 2nd stored post loses its answer
    faults.stall_every = 3
    faults.stall_s = 5.0
    faults.error_every = 5
    faults.corrupt_every = 1  # downloads only: must not disturb posts
    sleeps = Sleeps(hook=lambda n: center.server.go_offline(3600 if n == 1 else 0))
    c = client(center.server, sleeps, attempts=20, timeout_s=0.2)
    for k in range(4):
        accepted, duplicates = c.post_events(events_zip(5, 5 * k, f"ev-{k}"))
        assert accepted + duplicates == 5
    assert sorted(center.server.received_events()) == [f"ev-{i:04d}" for i in range(20)]
    lines = (center.state_dir / "events.jsonl").read_bytes().splitlines()
    assert len(lines) == 20  # the store on disk holds each event once too
    assert sleeps.delays  # faults really happened and were retried


def test_received_events_survive_a_server_restart(center: Center) -> None:
    client(center.server).post_events(events_zip(4))
    server = center.restart()
    assert sorted(server.received_events()) == [f"ev-{i:04d}" for i in range(4)]
    assert client(server).post_events(events_zip(4)) == (0, 4)


def test_a_torn_last_line_in_the_store_is_dropped_on_restart(center: Center) -> None:
    client(center.server).post_events(events_zip(2))
    store = center.state_dir / "events.jsonl"
    with store.open("ab") as stream:
        stream.write(b'{"event_id": "ev-9999", "ty')  # a crash mid-append, never acknowledged
    server = center.restart()
    assert sorted(server.received_events()) == ["ev-0000", "ev-0001"]
    assert client(server).post_events(events_zip(3)) == (1, 2)
    assert len(store.read_bytes().splitlines()) == 3


def test_receipt_for_a_flash_drive_bundle_is_signed_and_idempotent(center: Center) -> None:
    client(center.server).post_events(events_zip(2))  # two of them already arrived online
    data = center.server.receipt_for(events_zip(4, 0, "ev-drive"))
    receipt = read_receipt(data, trusted_keys={RECEIPTS.key_id: RECEIPTS.public_key()})
    assert receipt.events_bundle_id == "ev-drive"
    assert receipt.issuer == "DUKCAPIL-PUSAT"
    assert receipt.accepted == ("ev-0002", "ev-0003")
    assert receipt.duplicates == ("ev-0000", "ev-0001")
    assert len(center.server.received_events()) == 4


def test_fault_switches_default_off() -> None:
    faults = FaultSwitches()
    assert (faults.drop_every, faults.stall_every, faults.error_every, faults.corrupt_every) == (
        0,
        0,
        0,
        0,
    )
    assert faults.offline_until == 0.0
