"""Reprints under dual control, the counter handover, surrendered cards and the outbox events
those state changes write (issue 6, parts 2, 5 and 6)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlmodel import Session, select

from printctl.audit import verify_chain
from printctl.domain import RequestType
from printctl.models import EventType, EvidenceKind, Record, RecordState, Surrender
from printctl.queue.batches import BatchFilters
from printctl.service import Context, UserError, new_batch, receive_stock
from printctl.service_records import (
    approve_reprint,
    handover,
    overdue_handovers,
    refuse_reprint,
    request_reprint,
    surrender,
)
from printctl.stock import balance, spoiled_by_reason
from tests.integration.issuance_support import (
    JumpClock,
    outbox_rows,
    person,
    print_ready,
    record_row,
    seed,
    with_clock,
)

AWAITING = RecordState.AWAITING_APPROVAL


def as_user(ctx: Context, name: str) -> Context:
    return replace(ctx, actor=name)


def test_printing_and_spoiling_write_their_events_with_the_state_change(ctx: Context) -> None:
    """Each issued card is one CARD_PRINTED event and each spoiled blank one BLANK_SPOILED,
    with the chip UID, printer and reason the ledger has."""
    seed(ctx, [person(i) for i in range(3)])
    result = print_ready(ctx, printer_url="sim://?cards=50&fault=print:2:jam")
    assert result.completed == 3
    events = outbox_rows(ctx)
    printed = [e for e in events if e.type == EventType.CARD_PRINTED.value]
    spoiled = [e for e in events if e.type == EventType.BLANK_SPOILED.value]
    assert sorted(e.record_id for e in printed) == [f"PRR-I-{i:05d}" for i in range(3)]
    assert all(e.chip_uid and e.printer == "p1" and e.version == 1 for e in printed)
    assert [(e.reason, e.printer) for e in spoiled] == [("print-failed", "p1")]
    assert all(e.state == "pending" for e in events)
    with Session(ctx.engine) as session:
        uids = {r.record_id: r.chip_uid for r in session.exec(select(Record))}
    assert {e.record_id: e.chip_uid for e in printed} == uids
    assert len({e.event_id for e in events}) == len(events) == 4


def test_a_reprint_is_batched_only_after_a_second_person_approves(ctx: Context) -> None:
    """Awaiting reprints are never batched; the requester cannot approve their own request."""
    receive_stock(ctx, 5, "LOT-R")
    seed(ctx, [person(1, request_type=RequestType.REPLACE_LOST)], state=AWAITING)
    with pytest.raises(UserError, match="no ready records"):
        new_batch(ctx, BatchFilters())
    with pytest.raises(UserError, match="nobody has requested"):
        approve_reprint(as_user(ctx, "sari"), "PRR-I-00001")
    with pytest.raises(UserError, match="police loss letter"):
        request_reprint(ctx, "PRR-I-00001", evidence="?")
    request_reprint(ctx, "PRR-I-00001", evidence="LP/77/XI/2026/RES-KS")
    with pytest.raises(UserError, match="second person"):
        approve_reprint(ctx, "PRR-I-00001")
    with pytest.raises(UserError, match="TESTER"):
        approve_reprint(as_user(ctx, "TESTER"), "PRR-I-00001")  # the same person, in capitals
    with pytest.raises(UserError, match="no ready records"):
        new_batch(ctx, BatchFilters())
    approve_reprint(as_user(ctx, "sari"), "PRR-I-00001")
    row = record_row(ctx, "PRR-I-00001")
    assert (row.state, row.requested_by, row.approved_by) == ("ready", "tester", "sari")
    assert (row.evidence_kind, row.evidence) == ("police-letter", "LP/77/XI/2026/RES-KS")
    _, jobs = new_batch(ctx, BatchFilters())
    assert jobs == 1


def test_only_a_named_supervisor_may_decide_when_the_office_names_them(ctx: Context) -> None:
    """With supervisors configured, another operator can neither approve nor refuse."""
    office = replace(ctx, settings=replace(ctx.settings, supervisors="Bu Rina"))
    seed(office, [person(1, request_type=RequestType.REPLACE_LOST)], state=AWAITING)
    request_reprint(office, "PRR-I-00001", evidence="LP/1/XII/2026")
    with pytest.raises(UserError, match="not a supervisor"):
        approve_reprint(as_user(office, "andi"), "PRR-I-00001")
    with pytest.raises(UserError, match="not a supervisor"):
        refuse_reprint(as_user(office, "andi"), "PRR-I-00001", reason="no letter")
    refuse_reprint(as_user(office, "bu rina"), "PRR-I-00001", reason="the letter is a copy")
    row = record_row(office, "PRR-I-00001")
    assert row.state == "refused" and row.approved_by == "bu rina" and row.retired_at is not None
    with pytest.raises(UserError, match="no ready records"):
        new_batch(office, BatchFilters())


def test_evidence_must_fit_the_request_type(ctx: Context) -> None:
    """A damaged card's evidence is the surrendered card's chip UID, a data change's the
    family card number (stored masked); a lost card's police letter cannot be swapped in."""
    seed(
        ctx,
        [
            person(1, request_type=RequestType.REPLACE_DAMAGED),
            person(2, request_type=RequestType.DATA_CHANGE),
        ],
        state=AWAITING,
    )
    with pytest.raises(UserError, match="chip UID"):
        request_reprint(ctx, "PRR-I-00001", evidence="LP/1/XII/2026")
    with pytest.raises(UserError, match="rests on"):
        request_reprint(
            ctx, "PRR-I-00001", evidence="LP/1/XII/2026", kind=EvidenceKind.POLICE_LETTER
        )
    request_reprint(ctx, "PRR-I-00001", evidence="04:a1:b2:c3:d4:e5:f6")
    with pytest.raises(UserError, match="16 digits"):
        request_reprint(ctx, "PRR-I-00002", evidence="1409-KK")
    request_reprint(ctx, "PRR-I-00002", evidence="1409 0101 0101 0077")
    assert record_row(ctx, "PRR-I-00001").evidence == "04A1B2C3D4E5F6"
    assert record_row(ctx, "PRR-I-00002").evidence == "************0077"
    # The damaged card was handed in with the request: it waits for destruction, outside
    # the blank stock.
    with Session(ctx.engine) as session:
        assert spoiled_by_reason(session) == {"returned-by-holder": 1}
        assert balance(session).on_hand == 0
        assert verify_chain(session) is None


def test_a_data_change_marks_the_old_card_to_surrender(ctx: Context) -> None:
    """Approving a data change marks the holder's printed card to be handed back; handing it
    back records it as returned-by-holder and clears the mark."""
    seed(ctx, [person(1)])
    print_ready(ctx)
    old_uid = record_row(ctx, "PRR-I-00001").chip_uid
    assert old_uid
    seed(ctx, [person(2, request_type=RequestType.DATA_CHANGE, nik_serial=1)], state=AWAITING)
    request_reprint(ctx, "PRR-I-00002", evidence="1409010101010077")
    approve_reprint(as_user(ctx, "sari"), "PRR-I-00002")
    assert record_row(ctx, "PRR-I-00001").surrender == Surrender.DUE.value
    with pytest.raises(UserError, match="not 04FFFFFFFF"):
        surrender(ctx, "PRR-I-00001", chip_uid="04FFFFFFFF")
    surrender(ctx, "PRR-I-00001", chip_uid=old_uid)
    assert record_row(ctx, "PRR-I-00001").surrender == Surrender.SURRENDERED.value
    with pytest.raises(UserError, match="no card waiting"):
        surrender(ctx, "PRR-I-00001", chip_uid=old_uid)
    with Session(ctx.engine) as session:
        assert spoiled_by_reason(session).get("returned-by-holder") == 1


def test_handover_records_the_fingerprint_check_and_tells_the_center(ctx: Context) -> None:
    """A printed card is handed over once, with who verified; the event joins the outbox."""
    seed(ctx, [person(1), person(2)])
    print_ready(ctx)
    with pytest.raises(UserError, match="--verified-by"):
        handover(ctx, "PRR-I-00001", verified_by=" ")
    with pytest.raises(UserError, match="no record"):
        handover(ctx, "PRR-X-1", verified_by="dewi")
    handover(ctx, "PRR-I-00001", verified_by="dewi")
    with pytest.raises(UserError, match=r"was handed over on .* \(verified by dewi\)"):
        handover(ctx, "PRR-I-00001", verified_by="dewi")
    row = record_row(ctx, "PRR-I-00001")
    assert (row.handed_over_by, row.verified_by) == ("tester", "dewi")
    handed = [e for e in outbox_rows(ctx) if e.type == EventType.CARD_HANDED_OVER.value]
    assert [(e.record_id, e.chip_uid) for e in handed] == [("PRR-I-00001", row.chip_uid)]


def test_a_card_with_outdated_data_is_not_handed_over(ctx: Context) -> None:
    """Printed, then superseded: handing it over is refused with the reason."""
    seed(ctx, [person(1)])
    print_ready(ctx)
    with Session(ctx.engine) as session:
        row = session.exec(select(Record)).one()
        row.state = "printed-outdated"
        session.add(row)
        session.commit()
    with pytest.raises(UserError, match="outdated data"):
        handover(ctx, "PRR-I-00001", verified_by="dewi")


def test_cards_waiting_too_long_are_listed_as_overdue(ctx: Context) -> None:
    """Cards printed and not handed over within the period are listed, oldest first."""
    clock = JumpClock()
    office = with_clock(ctx, clock)
    seed(office, [person(1), person(2), person(3)])
    print_ready(office)
    handover(office, "PRR-I-00002", verified_by="dewi")
    assert overdue_handovers(office, days=30) == []
    clock.jump(days=31)
    waiting = overdue_handovers(office, days=30)
    assert [w.record_id for w in waiting] == ["PRR-I-00001", "PRR-I-00003"]
    assert all(w.days_waiting == 31 and w.nik.startswith("*" * 12) for w in waiting)
    assert overdue_handovers(office, days=40) == []
