"""What the center link does when things go wrong: a center that miscounts or refuses an
event, a pull killed before it cleaned up, a bundle rejected on every pull, a lost drive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from printctl import outbox
from printctl.center.bundles import make_bundle, make_superseding_bundle
from printctl.center.keys import CenterKey, generate_center_key, write_key_pair
from printctl.center.server import CenterServer
from printctl.domain import RequestType
from printctl.models import EventType, Record, RecordState, Surrender
from printctl.service import Context, UserError, import_bundles, trust_key
from printctl.service_records import approve_reprint, erase_expired, handover, request_reprint
from printctl.service_sync import (
    center_client,
    export_events,
    outbox_status,
    pull,
    push,
    retry_rejected,
    station_key,
)
from printctl.sync.client import BundleOffer, CenterRefused, RetryPolicy
from printctl.sync.eventbundle import read_event_bundle
from tests.integration.issuance_support import (
    JumpClock,
    outbox_rows,
    person,
    print_ready,
    record_row,
    seed,
    with_clock,
)

TOKEN = "t-14-09"


@dataclass
class ScriptedCenter:
    """A stand-in for CenterClient whose answer to each event bundle a test decides."""

    ctx: Context
    answer: Callable[[list[dict[str, object]]], tuple[int, int]]
    offers: list[BundleOffer] = field(default_factory=list)
    posted: list[list[str]] = field(default_factory=list)

    def post_events(self, bundle: bytes) -> tuple[int, int]:
        key = station_key(self.ctx)
        events = list(read_event_bundle(bundle, trusted_keys={key.key_id: key.public_key()}).events)
        self.posted.append([str(e["event_id"]) for e in events])
        return self.answer(events)

    def list_bundles(self, *, regency: str, after: int) -> list[BundleOffer]:
        return self.offers

    def download(self, offer: BundleOffer, dest_dir: Path) -> Path:
        raise AssertionError("nothing should be downloaded")


def _events_to_push(ctx: Context, n: int) -> list[str]:
    seed(ctx, [person(i) for i in range(n)])
    print_ready(ctx, blanks=n + 5)
    return [e.event_id for e in outbox_rows(ctx)]


def test_a_center_answer_that_miscounts_leaves_the_events_pending(ctx: Context) -> None:
    """Marked delivered only when the center counts every event of the bundle."""
    _events_to_push(ctx, 3)
    center = ScriptedCenter(ctx, answer=lambda events: (len(events) - 1, 0))
    result = push(ctx, center)  # type: ignore[arg-type]
    assert result.error and "counted 2 accepted" in result.error
    assert all(e.state == "pending" for e in outbox_rows(ctx))
    center.answer = lambda events: (0, len(events))  # the center had them all after all
    assert push(ctx, center).error is None  # type: ignore[arg-type]
    assert all(e.state == "delivered" for e in outbox_rows(ctx))


def test_an_event_the_center_refuses_is_set_aside_and_the_rest_flow(ctx: Context) -> None:
    """A 400 for one event: the bundle is split until that event is found; it becomes
    `rejected` with the center's reason, every other event is delivered, and its record keeps
    its data for the person who must look."""
    ids = _events_to_push(ctx, 5)
    poison = ids[2]

    def answer(events: list[dict[str, object]]) -> tuple[int, int]:
        if any(e["event_id"] == poison for e in events):
            raise CenterRefused("http://center", 400, f"event {poison}: unknown record")
        return len(events), 0

    center = ScriptedCenter(ctx, answer=answer)
    result = push(ctx, center)  # type: ignore[arg-type]
    assert result.error is None and result.rejected == [poison]
    states = {e.event_id: (e.state, e.problem) for e in outbox_rows(ctx)}
    assert states[poison] == ("rejected", f"event {poison}: unknown record")
    assert all(state == "delivered" for eid, (state, _) in states.items() if eid != poison)
    assert outbox_status(ctx).rejected == 1
    assert push(ctx, center).sent == 0  # type: ignore[arg-type]  # not retried for ever
    # The center fixed its side: a person sends it again.
    with pytest.raises(UserError, match="not a rejected event"):
        retry_rejected(ctx, [ids[0]])
    assert retry_rejected(ctx) == 1
    center.answer = lambda events: (len(events), 0)
    assert push(ctx, center).sent == 1  # type: ignore[arg-type]
    assert {e.state for e in outbox_rows(ctx)} == {"delivered"}


def test_a_refused_token_is_not_blamed_on_the_events(ctx: Context) -> None:
    """A 401 stops the push with the reason; no event is set aside."""
    _events_to_push(ctx, 2)

    def answer(_events: list[dict[str, object]]) -> tuple[int, int]:
        raise CenterRefused("http://center", 401, "bad token")

    result = push(ctx, ScriptedCenter(ctx, answer=answer))  # type: ignore[arg-type]
    assert result.error and "401" in result.error
    assert {e.state for e in outbox_rows(ctx)} == {"pending"}


def test_events_always_carry_what_the_center_requires(ctx: Context) -> None:
    """An empty record id or a blank reason from upstream never makes an event the center
    would refuse: they are written as null and `unspecified`."""
    with Session(ctx.engine) as session:
        outbox.add_events(
            session,
            [
                {
                    "type": EventType.RECORD_QUARANTINED.value,
                    "at": ctx.clock(),
                    "station": "s",
                    "record_id": "",
                    "version": "1",
                    "reason": "  ",
                }
            ],
        )
        session.commit()
    (event,) = outbox_rows(ctx)
    assert (event.record_id, event.version, event.reason) == (None, None, "unspecified")
    center = ScriptedCenter(ctx, answer=lambda events: (len(events), 0))
    assert push(ctx, center).sent == 1  # type: ignore[arg-type]


@pytest.fixture
def center_key(ctx: Context, tmp_path: Path) -> CenterKey:
    key = generate_center_key(seed=31)
    trust_key(ctx, write_key_pair(key, tmp_path / "keys").public_pem, key.key_id)
    return key


def test_a_pull_killed_before_its_clean_up_leaves_no_bundle_behind(
    ctx: Context, center_key: CenterKey, tmp_path: Path
) -> None:
    """A downloaded bundle (and a part file) of a bundle already held are deleted by the
    next pull: they hold personal data in clear."""
    info = make_bundle(tmp_path / "drive", key=center_key, count=2, seed=5)
    import_bundles(ctx, [info.path])
    incoming = ctx.settings.resolve(ctx.settings.spool_dir) / "incoming"
    incoming.mkdir(parents=True)
    (incoming / info.path.name).write_bytes(info.path.read_bytes())
    (incoming / f"{info.path.name}.part").write_bytes(b"PK")
    (incoming / "someone-elses.prr.zip.part").write_bytes(b"PK")
    center = ScriptedCenter(ctx, answer=lambda events: (len(events), 0))
    assert pull(ctx, center).error is None  # type: ignore[arg-type]
    assert sorted(p.name for p in incoming.iterdir() if not p.name.startswith(".")) == [
        "someone-elses.prr.zip.part"
    ]


def test_a_bundle_the_office_rejects_is_not_fetched_again(
    ctx: Context, center_key: CenterKey, tmp_path: Path
) -> None:
    """A bundle with a tampered member is rejected once; later pulls list it without
    downloading it again, until the center offers a different file."""
    make_bundle(tmp_path / "center", key=center_key, count=2, seed=6, bad_bundle="tampered-member")
    station = station_key(ctx, create=True)
    with CenterServer(
        bundles_dir=tmp_path / "center",
        state_dir=tmp_path / "state",
        token=TOKEN,
        station_keys={station.key_id: station.public_key()},
    ) as server:
        online = replace(
            ctx, settings=replace(ctx.settings, center_url=server.url, center_token=TOKEN)
        )
        client = center_client(online, retry=RetryPolicy(attempts=2), sleep=lambda _s: None)
        first = pull(online, client)
        assert [o.outcome for o in first.outcomes] == ["rejected"]
        downloads = sum(
            1 for m, path, _ in server.requests_log() if m == "GET" and "/v1/bundles/" in path
        )
        second = pull(online, client)
        assert second.outcomes == [] and len(second.refused) == 1
        after = sum(
            1 for m, path, _ in server.requests_log() if m == "GET" and "/v1/bundles/" in path
        )
        assert after == downloads == 1


def test_each_export_carries_new_events_and_again_carries_all(ctx: Context, tmp_path: Path) -> None:
    """A second drive gets only what the first did not carry; `again` (a lost drive)
    carries every pending event in a new bundle."""
    drive = tmp_path / "drive"
    drive.mkdir()
    _events_to_push(ctx, 2)
    first = export_events(ctx, drive)
    assert export_events(ctx, drive).events == 0
    handover(ctx, "PRR-I-00000", verified_by="dewi")
    second = export_events(ctx, drive)
    assert second.events == 1
    lost = export_events(ctx, drive, again=True)
    assert lost.events == first.events + second.events
    bundles = {e.exported_in for e in outbox_rows(ctx)}
    assert len(bundles) == 1 and lost.paths[0].name.startswith(bundles.pop() or "?")


def test_a_data_change_finds_the_old_card_after_its_data_was_erased(ctx: Context) -> None:
    """Erasure removes the NIK's hash, but the old card is still found by its record id."""
    clock = JumpClock()
    office = with_clock(ctx, clock)
    seed(office, [person(1)])
    print_ready(office)
    handover(office, "PRR-I-00001", verified_by="dewi")
    with Session(office.engine) as session:
        outbox.mark_delivered(session, [e.event_id for e in outbox.pending(session)], via="t")
        session.commit()
    clock.jump(days=office.settings.retention_days + 1)
    assert erase_expired(office).erased == ["PRR-I-00001 v1"]
    changed = replace(person(1, request_type=RequestType.DATA_CHANGE), version=2)
    seed(office, [changed], state=RecordState.AWAITING_APPROVAL)
    request_reprint(office, "PRR-I-00001", evidence="1409010101010077")
    approve_reprint(replace(office, actor="sari"), "PRR-I-00001")
    with Session(office.engine) as session:
        old = session.exec(
            select(Record).where(col(Record.record_id) == "PRR-I-00001", col(Record.version) == 1)
        ).one()
    assert old.surrender == Surrender.DUE.value


def test_a_card_a_data_change_replaced_is_not_handed_over(ctx: Context) -> None:
    """Printed, then replaced by an approved data change before collection: refused."""
    seed(ctx, [person(7)])
    print_ready(ctx, blanks=3)
    with Session(ctx.engine) as session:
        row = session.exec(select(Record).where(col(Record.record_id) == "PRR-I-00007")).one()
        row.surrender = Surrender.DUE.value
        session.add(row)
        session.commit()
    with pytest.raises(UserError, match="replaced by an approved data change"):
        handover(ctx, "PRR-I-00007", verified_by="dewi")


def test_superseding_by_import_starts_the_retention_period(
    ctx: Context, center_key: CenterKey, tmp_path: Path
) -> None:
    """A version superseded by an import is erased once the period has passed."""
    clock = JumpClock()
    office = with_clock(ctx, clock)
    first = make_bundle(tmp_path / "in", key=center_key, count=2, seed=8)
    import_bundles(office, [first.path])
    import_bundles(
        office,
        [make_superseding_bundle(tmp_path / "in", key=center_key, previous=first, sequence=2).path],
    )
    assert record_row(office, first.record_ids[0]).version == 2
    clock.jump(days=office.settings.retention_days + 1)
    erased = erase_expired(office).erased
    assert sorted(erased) == sorted(f"{record_id} v1" for record_id in first.record_ids)
