"""Retention: personal data of handed-over (or superseded, refused) records is erased after
the configured period, and nothing accountability needs is lost (issue 6, part 7)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from sqlmodel import Session, col, select

from printctl import outbox
from printctl.audit import verify_chain
from printctl.domain import RequestType
from printctl.models import OutboxEvent, RecordState
from printctl.records import open_record
from printctl.service import Context
from printctl.service_records import erase_expired, handover, refuse_reprint, request_reprint
from printctl.stock import balance
from tests.integration.issuance_support import (
    JumpClock,
    person,
    print_ready,
    record_row,
    seed,
    with_clock,
)


def _database_bytes(ctx: Context) -> bytes:
    """The SQLite database as it is on disk: the file and its write-ahead log."""
    url = ctx.settings.resolved_database_url
    path = Path(url.removeprefix("sqlite:///"))
    data = path.read_bytes()
    wal = Path(f"{path}-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def _deliver_all(ctx: Context) -> None:
    with Session(ctx.engine) as session:
        ids = [e.event_id for e in outbox.pending(session)]
        outbox.mark_delivered(session, ids, via="test")
        session.commit()


def test_a_handed_over_record_is_erased_after_the_period_and_the_books_still_hold(
    ctx: Context,
) -> None:
    """After the period, a handed-over record's fields, photo, signature and chip script
    are gone from the database itself (read from its file on SQLite); the ledger and the
    audit log still balance and verify, and the record's accountable facts remain."""
    clock = JumpClock()
    office = with_clock(replace(ctx, settings=replace(ctx.settings, retention_days=90)), clock)
    photos = [os.urandom(20_000) for _ in range(2)]  # large enough for overflow pages
    seed(office, [person(1, photo=photos[0]), person(2, photo=photos[1])])
    print_ready(office)
    handover(office, "PRR-I-00001", verified_by="dewi")
    before = record_row(office, "PRR-I-00001")
    kept = record_row(office, "PRR-I-00002")
    with Session(office.engine) as session:
        stock_before = balance(session)

    clock.jump(days=89)
    assert erase_expired(office).erased == []  # not yet: the period has not passed
    clock.jump(days=2)
    # The center has not acknowledged the card's events yet: its NIK must still go out.
    waiting = erase_expired(office)
    assert waiting.erased == [] and waiting.waiting_for_center == ["PRR-I-00001 v1"]
    _deliver_all(office)
    assert erase_expired(office, dry_run=True).erased == ["PRR-I-00001 v1"]
    assert erase_expired(office).erased == ["PRR-I-00001 v1"]
    assert erase_expired(office).erased == []  # a second pass finds nothing left

    after = record_row(office, "PRR-I-00001")
    assert (after.payload, after.photo, after.signature, after.nik_hash) == (b"", b"", b"", "")
    assert after.erased_at is not None
    # What accountability needs stays.
    assert (after.record_id, after.version, after.state) == ("PRR-I-00001", 1, "printed")
    assert (after.nik_last4, after.chip_uid) == (before.nik_last4, before.chip_uid)
    assert (after.printed_at, after.handed_over_at) == (before.printed_at, before.handed_over_at)
    # The record not handed over keeps its data and still opens.
    assert open_record(record_row(office, "PRR-I-00002"), office.cipher).photo == photos[1]
    with Session(office.engine) as session:
        assert balance(session) == stock_before
        assert verify_chain(session) is None
        events = session.exec(
            select(OutboxEvent).where(col(OutboxEvent.record_id) == "PRR-I-00001")
        ).all()
        assert {e.type for e in events} == {"CARD_PRINTED", "CARD_HANDED_OVER"}

    if office.engine.dialect.name == "sqlite":
        disk = _database_bytes(office)
        for blob in (before.payload, before.photo, before.signature):
            assert blob[:64] not in disk and blob[-64:] not in disk
        # The check can fail: the record that was not erased is still there.
        assert kept.photo[:64] in disk


def test_a_refused_reprint_is_erased_after_the_period_from_its_refusal(ctx: Context) -> None:
    """A refused record's period runs from the refusal; its refusal text goes with its data,
    while the decision (who asked, who refused) stays."""
    clock = JumpClock()
    office = with_clock(ctx, clock)
    seed(
        office,
        [person(1, request_type=RequestType.REPLACE_LOST)],
        state=RecordState.AWAITING_APPROVAL,
    )
    clock.jump(days=50)  # waiting is not retirement: the period has not started
    request_reprint(office, "PRR-I-00001", evidence="LP/9/XII/2026")
    refuse_reprint(
        replace(office, actor="sari"), "PRR-I-00001", reason="Bu Siti's letter is a copy"
    )
    clock.jump(days=office.settings.retention_days - 1)
    assert erase_expired(office).erased == []
    clock.jump(days=2)
    assert erase_expired(office).erased == ["PRR-I-00001 v1"]
    row = record_row(office, "PRR-I-00001")
    assert (row.state, row.state_reason, row.payload) == ("refused", "", b"")
    assert (row.requested_by, row.approved_by, row.evidence) == ("tester", "sari", "LP/9/XII/2026")
