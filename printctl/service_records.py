"""Use cases of a record's life after import: reprint decisions, handover, surrender, erasure.

Reprints are under dual control (DOMAIN: a reprint for a NIK that may already hold a card):
an operator requests one and names the evidence the office holds; a different person, a
supervisor when the office names them, approves or refuses. Only an approved record can be
batched (batches take ``ready`` records only). The counter's handover after the fingerprint
check closes a printed card's life; some time later retention erases the personal data and
keeps what accountability needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, text, update
from sqlmodel import Session, col, select

from printctl import outbox
from printctl.audit import lock_journal
from printctl.db import read_session, session_scope
from printctl.domain import RequestType, mask_last4, mask_nik
from printctl.models import (
    ACTIVE_JOB_STATES,
    RETIRED_RECORD_STATES,
    EventType,
    EvidenceKind,
    Job,
    JobState,
    OutboxEvent,
    OutboxState,
    Record,
    RecordState,
    Surrender,
)
from printctl.service import Context, UserError, supervisors
from printctl.stock import StockError
from printctl.stock.ledger import holder_return

#: The evidence a request type rests on, when the operator does not name one.
DEFAULT_EVIDENCE = {
    RequestType.REPLACE_LOST: EvidenceKind.POLICE_LETTER,
    RequestType.REPLACE_DAMAGED: EvidenceKind.SURRENDERED_CARD,
    RequestType.DATA_CHANGE: EvidenceKind.FAMILY_CARD,
}
#: The evidence each request type accepts (a NEW record waits only when a card of a lower
#: version exists; the holder then brings that card or the papers of the change).
ACCEPTED_EVIDENCE = {
    RequestType.REPLACE_LOST: (EvidenceKind.POLICE_LETTER,),
    RequestType.REPLACE_DAMAGED: (EvidenceKind.SURRENDERED_CARD,),
    RequestType.DATA_CHANGE: (EvidenceKind.FAMILY_CARD, EvidenceKind.SURRENDERED_CARD),
    RequestType.NEW: tuple(EvidenceKind),
}
_CHIP_UID_RE = re.compile(r"(?:[0-9A-F]{2}){4,10}")
_LETTER_RE = re.compile(r"[\w][\w ./-]{2,99}")


def _latest(session: Session, record_id: str) -> Record:
    row = session.exec(
        select(Record)
        .where(col(Record.record_id) == record_id)
        .order_by(col(Record.version).desc())
    ).first()
    if row is None:
        raise UserError(f"no record {record_id}")
    return row


def _awaiting(session: Session, record_id: str) -> Record:
    row = _latest(session, record_id)
    if row.state != RecordState.AWAITING_APPROVAL.value:
        raise UserError(f"{record_id} v{row.version} is {row.state}, not awaiting approval")
    return row


def _label(row: Record) -> str:
    return f"{row.record_id} v{row.version}"


def check_evidence(request_type: RequestType, kind: EvidenceKind, reference: str) -> str:
    """The evidence reference as it is stored, or a UserError saying what is expected.

    A police letter is its number; a surrendered card is its chip UID (hex, read at the
    counter); a family card (KK) is its 16-digit number, kept masked to its last four
    digits because it is personal data.
    """
    accepted = ACCEPTED_EVIDENCE[request_type]
    if kind not in accepted:
        names = ", ".join(k.value for k in accepted)
        raise UserError(f"a {request_type.value} reprint rests on {names}, not {kind.value}")
    value = reference.strip()
    if kind is EvidenceKind.POLICE_LETTER:
        if not _LETTER_RE.fullmatch(value):
            raise UserError(
                "--evidence must be the police loss letter's number (3-100 letters, digits, / . -)"
            )
        return value
    if kind is EvidenceKind.SURRENDERED_CARD:
        uid = value.upper().replace(":", "").replace(" ", "")
        if not _CHIP_UID_RE.fullmatch(uid):
            raise UserError(
                "--evidence must be the surrendered card's chip UID in hex (8-20 digits, "
                "as `printctl driver` or the counter reader shows it)"
            )
        return uid
    digits = value.replace(" ", "").replace(".", "")
    if not (digits.isdigit() and len(digits) == 16):
        raise UserError("--evidence must be the family card (KK) number: 16 digits")
    return mask_nik(digits)


def request_reprint(
    ctx: Context, record_id: str, *, evidence: str, kind: EvidenceKind | None = None
) -> str:
    """First half of dual control: the acting user asks for a reprint and names the evidence.

    A surrendered (damaged) card is handed in with the request: it is recorded at once in
    the blank ledger's returned-by-holder category, to be destroyed with the spoiled cards.
    """
    if not evidence.strip():
        raise UserError(
            "a reprint request must name its evidence (--evidence): police loss letter "
            "number, surrendered card's chip UID, or updated family card (KK) number"
        )
    with session_scope(ctx.engine) as session:
        lock_journal(session)  # the writers' one lock order (see printctl.audit)
        row = _awaiting(session, record_id)
        request_type = RequestType(row.request_type)
        chosen = kind or DEFAULT_EVIDENCE.get(request_type)
        if chosen is None:
            raise UserError(
                f"{_label(row)} waits because a card of a lower version exists: say what the "
                "evidence is with --evidence-kind (police-letter, surrendered-card, family-card)"
            )
        reference = check_evidence(request_type, chosen, evidence)
        if row.requested_by:
            raise UserError(
                f"{_label(row)}: {row.requested_by} already requested this reprint "
                f"({row.evidence_kind} {row.evidence}); a supervisor approves or refuses it"
            )
        row.requested_by = ctx.actor
        row.evidence_kind = chosen.value
        row.evidence = reference
        session.add(row)
        ctx.journal(
            session,
            "record.reprint-requested",
            entity="record",
            entity_id=_label(row),
            detail={"evidence_kind": chosen.value, "evidence": reference},
        )
        if chosen is EvidenceKind.SURRENDERED_CARD:
            _surrendered(
                session,
                ctx,
                reference,
                f"handed in with the reprint request of {_label(row)}",
                holder=row,
            )
        return _label(row)


def _same_holder(row: Record) -> Any:
    """Rows of the same holder as ``row``: the same record (any version, also once erased)
    or the same NIK (its keyed hash, while the data is kept)."""
    same_record = col(Record.record_id) == row.record_id
    if not row.nik_hash:
        return same_record
    return or_(same_record, col(Record.nik_hash) == row.nik_hash)


def _surrendered(
    session: Session, ctx: Context, chip_uid: str, note: str, *, holder: Record
) -> None:
    """Record an old card handed back: the ledger's returned-by-holder, and (when it is one
    of this holder's cards) the record it was printed for."""
    try:
        holder_return(
            session,
            1,
            note=note,
            chip_uid=chip_uid,
            actor=ctx.actor,
            station=ctx.station,
            clock=ctx.clock,
        )
    except StockError as exc:
        raise UserError(str(exc)) from None
    session.execute(
        update(Record)
        .where(col(Record.chip_uid) == chip_uid, _same_holder(holder))
        .values(surrender=Surrender.SURRENDERED.value)
    )


def _decide(ctx: Context, session: Session, record_id: str, what: str) -> Record:
    row = _awaiting(session, record_id)
    if not row.requested_by:
        raise UserError(
            f"{record_id}: nobody has requested this reprint yet "
            "(`printctl records request-reprint` with the evidence)"
        )
    try:
        supervisors(ctx).check(ctx.actor, row.requested_by, f"the reprint of {_label(row)}")
    except StockError as exc:
        raise UserError(f"{exc} ({what})") from None
    return row


def approve_reprint(ctx: Context, record_id: str) -> str:
    """Second half of dual control: a supervisor (not the requester) approves; it becomes
    ready for a batch. Approving a data change marks the holder's earlier cards as to be
    surrendered."""
    with session_scope(ctx.engine) as session:
        lock_journal(session)  # the writers' one lock order (see printctl.audit)
        row = _decide(ctx, session, record_id, "a second person must approve")
        now = ctx.clock()
        row.state = RecordState.READY.value
        row.state_reason = ""
        row.approved_by = ctx.actor
        row.decided_at = now
        session.add(row)
        due: list[str] = []
        if row.request_type == RequestType.DATA_CHANGE.value:
            due = _mark_earlier_cards_due(session, row)
        ctx.journal(
            session,
            "record.reprint-approved",
            entity="record",
            entity_id=_label(row),
            detail={
                "evidence_kind": row.evidence_kind,
                "evidence": row.evidence,
                "requested_by": row.requested_by,
                "to_surrender": due,
            },
        )
        return _label(row)


def _mark_earlier_cards_due(session: Session, row: Record) -> list[str]:
    """The holder's other printed cards (same NIK) must come back: mark them to surrender."""
    earlier = session.exec(
        select(Record).where(
            _same_holder(row),
            col(Record.id) != row.id,
            col(Record.state).in_([RecordState.PRINTED.value, RecordState.PRINTED_OUTDATED.value]),
            col(Record.surrender) == Surrender.NONE.value,
        )
    ).all()
    for card in earlier:
        card.surrender = Surrender.DUE.value
        session.add(card)
    return [_label(card) for card in earlier]


def refuse_reprint(ctx: Context, record_id: str, *, reason: str) -> str:
    """A supervisor refuses a requested reprint: the record is never printed."""
    if not reason.strip():
        raise UserError("say why the reprint is refused (--reason)")
    with session_scope(ctx.engine) as session:
        lock_journal(session)  # the writers' one lock order (see printctl.audit)
        row = _decide(ctx, session, record_id, "a second person must decide")
        now = ctx.clock()
        row.state = RecordState.REFUSED.value
        row.state_reason = f"reprint refused: {reason.strip()}"[:500]
        row.approved_by = ctx.actor
        row.decided_at = now
        row.retired_at = now
        session.add(row)
        ctx.journal(
            session,
            "record.reprint-refused",
            entity="record",
            entity_id=_label(row),
            outcome="refused",
            detail={"reason": reason.strip(), "requested_by": row.requested_by},
        )
        return _label(row)


# ---------------------------------------------------------------------------- handover


def handover(ctx: Context, record_id: str, *, verified_by: str) -> str:
    """Record that the holder received the printed card after the fingerprint check.

    ``verified_by`` is the person who matched the fingerprint at the counter. The event
    (``CARD_HANDED_OVER``) goes to the outbox in the same transaction.
    """
    if not verified_by.strip():
        raise UserError("--verified-by must name who checked the fingerprint")
    with session_scope(ctx.engine) as session:
        lock_journal(session)  # the writers' one lock order (see printctl.audit)
        rows = session.exec(
            select(Record)
            .where(col(Record.record_id) == record_id)
            .order_by(col(Record.version).desc())
        ).all()
        if not rows:
            raise UserError(f"no record {record_id}")
        printed = [r for r in rows if r.state == RecordState.PRINTED.value]
        if not printed:
            outdated = [r for r in rows if r.state == RecordState.PRINTED_OUTDATED.value]
            if outdated:
                raise UserError(
                    f"{_label(outdated[0])} carries outdated data (a higher version arrived): "
                    "do not hand it over; a supervisor decides on the reprint"
                )
            raise UserError(f"{record_id} has no printed card to hand over ({rows[0].state})")
        row = printed[0]
        if row.surrender == Surrender.DUE.value:
            raise UserError(
                f"{_label(row)} was replaced by an approved data change: do not hand it over; "
                "the new card replaces it"
            )
        if row.handed_over_at is not None:
            raise UserError(
                f"{_label(row)} was handed over on {row.handed_over_at:%Y-%m-%d %H:%M} UTC "
                f"(verified by {row.verified_by})"
            )
        now = ctx.clock()
        row.handed_over_at = now
        row.handed_over_by = ctx.actor
        row.verified_by = verified_by.strip()[:100]
        row.retired_at = now
        session.add(row)
        ctx.journal(
            session,
            "record.handed-over",
            entity="record",
            entity_id=_label(row),
            detail={"verified_by": row.verified_by, "chip_uid": row.chip_uid},
        )
        outbox.add_event(
            session,
            EventType.CARD_HANDED_OVER,
            at=now,
            station=ctx.station,
            record_pk=row.id,
            chip_uid=row.chip_uid,
            detail={"verified_by": row.verified_by},
        )
        return _label(row)


@dataclass(frozen=True)
class WaitingCard:
    """A printed card not yet handed over."""

    record_id: str
    version: int
    nik: str  #: masked
    district: str
    printed_at: datetime | None
    days_waiting: int
    chip_uid: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = dict(self.__dict__)
        out["printed_at"] = self.printed_at.isoformat() if self.printed_at else None
        return out


def overdue_handovers(ctx: Context, *, days: int | None = None) -> list[WaitingCard]:
    """Printed cards not handed over within ``days`` (default: handover_overdue_days)."""
    limit = ctx.settings.handover_overdue_days if days is None else days
    now = ctx.clock()
    cutoff = now - timedelta(days=limit)
    with read_session(ctx.engine) as session:
        rows = session.exec(
            select(Record)
            .where(
                col(Record.state).in_(
                    [RecordState.PRINTED.value, RecordState.PRINTED_OUTDATED.value]
                ),
                col(Record.handed_over_at).is_(None),
                col(Record.printed_at) <= cutoff,
            )
            .order_by(col(Record.printed_at), col(Record.record_id))
        ).all()
    return [
        WaitingCard(
            record_id=r.record_id,
            version=r.version,
            nik=mask_last4(r.nik_last4),
            district=r.district,
            printed_at=r.printed_at,
            days_waiting=(now - r.printed_at).days if r.printed_at else 0,
            chip_uid=r.chip_uid,
        )
        for r in rows
    ]


def surrender(ctx: Context, record_id: str, *, chip_uid: str, note: str = "") -> str:
    """The holder handed back the earlier card a data change replaced."""
    uid = check_evidence(RequestType.NEW, EvidenceKind.SURRENDERED_CARD, chip_uid)
    with session_scope(ctx.engine) as session:
        lock_journal(session)  # the writers' one lock order (see printctl.audit)
        rows = session.exec(
            select(Record).where(
                col(Record.record_id) == record_id, col(Record.surrender) == Surrender.DUE.value
            )
        ).all()
        if not rows:
            raise UserError(f"{record_id} has no card waiting to be surrendered")
        row = rows[0]
        if row.chip_uid and row.chip_uid.upper() != uid:
            raise UserError(
                f"{_label(row)}'s card has chip {row.chip_uid}, not {uid}: is it the right card?"
            )
        _surrendered(
            session,
            ctx,
            uid,
            note.strip() or f"{_label(row)} surrendered after a data change",
            holder=row,
        )
        ctx.journal(
            session,
            "record.card-surrendered",
            entity="record",
            entity_id=_label(row),
            detail={"chip_uid": uid},
        )
        return _label(row)


# ---------------------------------------------------------------------------- retention


@dataclass(frozen=True)
class ErasureResult:
    """What one retention pass erased and what it had to leave for now."""

    erased: list[str]
    #: Records past their period whose events the center has not acknowledged yet.
    waiting_for_center: list[str]
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def erase_expired(ctx: Context, *, dry_run: bool = False) -> ErasureResult:
    """Erase the personal data of records retired more than retention_days ago.

    A record qualifies once its card was handed over, or it was superseded or refused, and
    the period has passed. What remains is what accountability needs: record id, version,
    the NIK's last four digits, chip UID, dates and states; the ledger and the audit log
    never held personal data and are untouched. A record whose events still wait in the
    outbox keeps its data until the center has them (the NIK goes into the event bundle).
    """
    cutoff = ctx.clock() - timedelta(days=ctx.settings.retention_days)
    with session_scope(ctx.engine) as session:
        lock_journal(session)  # the writers' one lock order (see printctl.audit)
        candidates = session.exec(
            select(Record).where(
                col(Record.erased_at).is_(None),
                col(Record.retired_at).is_not(None),
                col(Record.retired_at) <= cutoff,
            )
        ).all()
        if not dry_run and session.get_bind().dialect.name == "sqlite":
            # Overwrite freed pages with zeros, so the old ciphertext is not left in the
            # file's free space.
            session.connection().exec_driver_sql("PRAGMA secure_delete=ON")
        erased: list[str] = []
        waiting: list[str] = []
        for row in candidates:
            retired = row.handed_over_at is not None or row.state in {
                s.value for s in RETIRED_RECORD_STATES
            }
            if not retired or _card_in_flight(session, row):
                continue
            if _events_pending(session, row):
                waiting.append(_label(row))
                continue
            erased.append(_label(row))
            if dry_run:
                continue
            session.execute(
                update(Record)
                .where(col(Record.id) == row.id)
                .values(
                    payload=b"",
                    photo=b"",
                    signature=b"",
                    nik_hash="",
                    district="",
                    state_reason="",  # a refusal's words may name the person
                    erased_at=ctx.clock(),
                )
            )
        if erased and not dry_run:
            ctx.journal(
                session,
                "records.erased",
                entity="record",
                entity_id=f"{len(erased)} records",
                detail={"records": erased, "retention_days": ctx.settings.retention_days},
            )
    if not dry_run:
        # Every pass, not only one that erased: a pass whose compaction was busy (a reader
        # open) leaves old pages in the log until a later pass empties it.
        _compact(ctx)
    return ErasureResult(erased=erased, waiting_for_center=waiting, dry_run=dry_run)


def _card_in_flight(session: Session, row: Record) -> bool:
    return (
        session.exec(
            select(Job.id).where(
                col(Job.record_pk) == row.id,
                col(Job.state).in_(
                    [s.value for s in (*ACTIVE_JOB_STATES, JobState.NEEDS_INSPECTION)]
                ),
            )
        ).first()
        is not None
    )


def _events_pending(session: Session, row: Record) -> bool:
    return (
        session.exec(
            select(OutboxEvent.id).where(
                col(OutboxEvent.record_pk) == row.id,
                # A refused event needs a person, and maybe the data: keep it until then.
                col(OutboxEvent.state).in_([OutboxState.PENDING.value, OutboxState.REJECTED.value]),
            )
        ).first()
        is not None
    )


def _compact(ctx: Context) -> None:
    """Make the erasure reach the disk: old row versions must not linger in the files."""
    engine = ctx.engine
    try:
        if engine.dialect.name == "sqlite":
            # The WAL still holds the pages as they were when the records arrived: copy the
            # erased pages into the file and empty the log. Outside any transaction (the
            # engine's connections begin IMMEDIATE), so on the driver's own connection.
            raw = engine.raw_connection()
            try:
                busy, _log, _done = (
                    raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                )
            finally:
                raw.close()
            if busy:
                raise RuntimeError("another connection is reading; the log is emptied next pass")
        elif engine.dialect.name == "postgresql":
            # Old tuple versions stay in the heap until VACUUM reclaims them.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM record"))
    except Exception as exc:  # a busy reader only delays it to the next pass
        record_note = f"compaction after erasure deferred: {exc}"
        with session_scope(engine) as session:
            ctx.journal(
                session,
                "records.erase-compaction-deferred",
                entity="record",
                entity_id="-",
                outcome="deferred",
                detail={"reason": record_note[:300]},
            )


__all__ = [
    "ErasureResult",
    "WaitingCard",
    "approve_reprint",
    "check_evidence",
    "erase_expired",
    "handover",
    "overdue_handovers",
    "refuse_reprint",
    "request_reprint",
    "surrender",
]


def reveal_nik(ctx: Context, record_id: str, *, reason: str) -> str:
    """The full NIK of a record's latest version, for a person who asked for it by name and
    said why; the opening is journaled (``record.nik-revealed``) with the reason."""
    from printctl.records import record_nik

    if not reason.strip():
        raise UserError("say why the full NIK is needed (the audit log keeps the reason)")
    with session_scope(ctx.engine) as session:
        row = _latest(session, record_id)
        nik = record_nik(row, ctx.cipher)
        if nik is None:
            raise UserError(f"{record_id}: its personal data was erased after retention")
        ctx.journal(
            session,
            "record.nik-revealed",
            entity="record",
            entity_id=record_id,
            detail={"version": row.version, "reason": reason.strip()[:300]},
        )
    return nik
