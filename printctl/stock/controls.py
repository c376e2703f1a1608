"""Two-person controls on the stock: adjustments, destructions and physical counts.

An adjustment or a destruction is *proposed* by one person and carried out only when a
supervisor, a different person, approves it; the proposal, the decision and who made each are
kept. A physical count that differs from the ledger opens a discrepancy that blocks the day's
close until a supervisor resolves it: by an adjustment (the count's person proposed it, the
supervisor approves it) or by a recount that found the blanks.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import update
from sqlmodel import Session, col, select

from printctl.audit import Clock, record_event
from printctl.models import (
    CounterExplanation,
    Destruction,
    LedgerEntry,
    LedgerKind,
    StockCount,
    StockDay,
    StockProposal,
    utcnow,
)
from printctl.stock import locations as loc
from printctl.stock.figures import DestroyedCard, DestructionRecord
from printctl.stock.ledger import (
    MAX_QUANTITY,
    StockError,
    available,
    business_day,
    office_time,
    post,
    posting_day,
)


def person_key(name: str) -> str:
    """A name as compared for dual control: Unicode-normalised (NFKC), case-folded, without
    invisible characters or spaces, so "Alice", " ALICE" and a full-width "ａlice" are one
    person."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(c for c in folded if not c.isspace() and unicodedata.category(c) != "Cf")


@dataclass(frozen=True)
class Supervisors:
    """Who may approve: anyone but the proposer, or only the named supervisors."""

    names: frozenset[str] = frozenset()

    @classmethod
    def of(cls, names: Iterable[str]) -> Supervisors:
        """From the configuration's list (empty: any second person)."""
        return cls(frozenset(person_key(n) for n in names if person_key(n)))

    def check(self, approver: str, proposer: str, what: str) -> None:
        """Refuse (StockError) unless ``approver`` may approve ``proposer``'s ``what``."""
        if not person_key(approver):
            raise StockError("who approves must be named (PRINTCTL_USER)")
        if person_key(approver) == person_key(proposer):
            raise StockError(
                f"{approver} proposed {what} and cannot approve it: a second person must"
            )
        if self.names and person_key(approver) not in self.names:
            raise StockError(
                f"{approver} is not a supervisor (settings: supervisors); {what} stays proposed"
            )


# ---------------------------------------------------------------------------- proposals


def _stock_place(text: str) -> str:
    try:
        place = loc.parse_location(text)
    except ValueError as exc:
        raise StockError(str(exc)) from None
    if place not in (loc.VAULT,) and loc.hopper_printer(place) is None:
        raise StockError(f"{place} cannot be adjusted: only the vault and printers' hoppers can")
    return place


def _journal(
    session: Session, proposal: StockProposal, action: str, actor: str, station: str, clock: Clock
) -> None:
    record_event(
        session,
        actor=actor,
        station=station,
        action=f"stock.{proposal.kind}-{action}",
        entity="stock-proposal",
        entity_id=proposal.id or 0,
        detail={
            "location": proposal.location,
            "quantity": proposal.quantity,
            "reason": proposal.reason,
            "note": proposal.decision_note,
        },
        clock=clock,
    )


def propose_adjustment(
    session: Session,
    location: str,
    delta: int,
    reason: str,
    *,
    actor: str,
    station: str,
    clock: Clock = utcnow,
) -> StockProposal:
    """Propose correcting ``location``'s balance by ``delta`` blanks (signed), for ``reason``."""
    place = _stock_place(location)
    if delta == 0:
        raise StockError("an adjustment changes the balance by at least one blank")
    if abs(delta) > MAX_QUANTITY:
        raise StockError(f"an adjustment of {delta} blanks is not plausible")
    if not reason.strip():
        raise StockError("an adjustment needs its reason (--reason)")
    if delta < 0 and available(session, place) < -delta:
        raise StockError(
            f"{place} holds {available(session, place)} blank(s); it cannot lose {-delta}"
        )
    proposal = StockProposal(
        kind="adjust",
        at=clock(),
        proposed_by=actor,
        location=place,
        quantity=delta,
        reason=reason[:500],
    )
    session.add(proposal)
    session.flush()
    _journal(session, proposal, "proposed", actor, station, clock)
    return proposal


def spoiled_awaiting_destruction(session: Session) -> list[LedgerEntry]:
    """Spoiled entries whose cards are not destroyed yet (oldest first)."""
    destroyed = select(LedgerEntry.ref_entry_id).where(
        col(LedgerEntry.kind) == LedgerKind.DESTROYED.value
    )
    return list(
        session.exec(
            select(LedgerEntry)
            .where(
                col(LedgerEntry.kind) == LedgerKind.SPOILED.value,
                col(LedgerEntry.id).not_in(destroyed),
            )
            .order_by(col(LedgerEntry.id))
        ).all()
    )


def propose_destruction(
    session: Session,
    *,
    witnesses: list[str],
    place: str,
    method: str,
    actor: str,
    station: str,
    entry_ids: list[int] | None = None,
    clock: Clock = utcnow,
) -> StockProposal:
    """Propose destroying spoiled cards (all awaiting, or the entries ``entry_ids``) before
    the named witnesses. A supervisor's approval carries it out."""
    names = [w.strip() for w in witnesses if w.strip()]
    if len(names) < 2:
        raise StockError("a destruction needs at least two witnesses (--witness, twice)")
    if len({person_key(n) for n in names}) < len(names):
        raise StockError("each witness is named once")
    if any(len(n) > 100 for n in names) or len(json.dumps(names, ensure_ascii=False)) > 1900:
        raise StockError("witness names are too long (100 characters each, 20 witnesses at most)")
    if len(place) > 200 or len(method) > 200:
        raise StockError("--place and --method are 200 characters at most")
    waiting = {e.id: e for e in spoiled_awaiting_destruction(session)}
    if entry_ids is None:
        chosen = sorted(i for i in waiting if i is not None)
    else:
        missing = [i for i in entry_ids if i not in waiting]
        if missing:
            raise StockError(f"entries {missing} are not spoiled cards awaiting destruction")
        chosen = sorted(set(entry_ids))
    if not chosen:
        raise StockError("no spoiled cards await destruction")
    already = _proposed_entries(session)
    overlap = sorted(set(chosen) & already)
    if overlap:
        raise StockError(f"entries {overlap} are already on a destruction awaiting approval")
    total = sum(waiting[i].quantity for i in chosen)
    proposal = StockProposal(
        kind="destroy",
        at=clock(),
        proposed_by=actor,
        location=loc.SPOILED,
        quantity=total,
        reason=f"destruction of {total} spoiled card(s)",
        detail=json.dumps(
            {"entries": chosen, "witnesses": names, "place": place, "method": method}
        ),
    )
    session.add(proposal)
    session.flush()
    _journal(session, proposal, "proposed", actor, station, clock)
    return proposal


def _proposed_entries(session: Session) -> set[int]:
    out: set[int] = set()
    for p in session.exec(
        select(StockProposal).where(
            col(StockProposal.kind) == "destroy", col(StockProposal.state) == "proposed"
        )
    ).all():
        out.update(json.loads(p.detail).get("entries", []))
    return out


def _pending(session: Session, proposal_id: int) -> StockProposal:
    proposal = session.get(StockProposal, proposal_id)
    if proposal is None:
        raise StockError(f"no proposal #{proposal_id}")
    if proposal.state != "proposed":
        raise StockError(
            f"proposal #{proposal_id} was {proposal.state} by {proposal.decided_by} already"
        )
    return proposal


def _decide(
    session: Session, proposal: StockProposal, state: str, actor: str, note: str, clock: Clock
) -> None:
    """Move the proposal out of ``proposed`` — only if it is still there. Two supervisors
    deciding at once: the second finds it decided (the row's update is the referee)."""
    claimed = session.execute(
        update(StockProposal)
        .where(col(StockProposal.id) == proposal.id, col(StockProposal.state) == "proposed")
        .values(state=state, decided_by=actor, decided_at=clock(), decision_note=note[:500])
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise StockError(f"proposal #{proposal.id} was decided by someone else meanwhile")
    session.refresh(proposal)


def approve(
    session: Session,
    proposal_id: int,
    *,
    actor: str,
    station: str,
    supervisors: Supervisors = Supervisors(),
    note: str = "",
    clock: Clock = utcnow,
) -> StockProposal:
    """A supervisor approves a proposal, which is carried out in the same transaction."""
    proposal = _pending(session, proposal_id)
    supervisors.check(actor, proposal.proposed_by, f"{proposal.kind} #{proposal_id}")
    _decide(session, proposal, "approved", actor, note, clock)
    result_id: int | None = None
    if proposal.kind == "adjust":
        inward = proposal.quantity > 0
        entry = post(
            session,
            LedgerKind.ADJUSTED,
            abs(proposal.quantity),
            loc.ADJUSTMENT if inward else proposal.location,
            proposal.location if inward else loc.ADJUSTMENT,
            actor=proposal.proposed_by,
            station=station,
            clock=clock,
            audit_action="stock.adjusted",
            audit_detail={"approved_by": actor, "reason": proposal.reason},
            approved_by=actor,
            printer=loc.hopper_printer(proposal.location),
            note=proposal.reason,
        )
        result_id = entry.id
    elif proposal.kind == "destroy":
        result_id = _destroy(session, proposal, approver=actor, station=station, clock=clock).id
    elif proposal.kind == "explain":
        result_id = _explain(session, proposal, approver=actor, clock=clock)
    elif proposal.kind != "confirm":  # pragma: no cover - kinds are written by this package
        raise StockError(f"unknown proposal kind {proposal.kind}")
    # "confirm": the entries are written already (a printer took the blanks); the
    # supervisor has seen the stock and confirms them.
    if result_id is not None:
        session.execute(
            update(StockProposal)
            .where(col(StockProposal.id) == proposal.id)
            .values(result_id=result_id)
        )
        session.refresh(proposal)
    _journal(session, proposal, "approved", actor, station, clock)
    return proposal


def reject(
    session: Session,
    proposal_id: int,
    *,
    actor: str,
    station: str,
    note: str,
    supervisors: Supervisors = Supervisors(),
    clock: Clock = utcnow,
) -> StockProposal:
    """A supervisor turns a proposal down; nothing moves."""
    proposal = _pending(session, proposal_id)
    supervisors.check(actor, proposal.proposed_by, f"{proposal.kind} #{proposal_id}")
    if not note.strip():
        raise StockError("say why the proposal is rejected (--note)")
    if proposal.kind == "confirm":
        raise StockError(
            f"#{proposal_id} records blanks a printer has taken; they cannot be rejected. "
            "Count the stock (printctl stock count) and approve it"
        )
    _decide(session, proposal, "rejected", actor, note, clock)
    _journal(session, proposal, "rejected", actor, station, clock)
    return proposal


def _explain(session: Session, proposal: StockProposal, *, approver: str, clock: Clock) -> int:
    """Record an approved explanation of a counter difference."""
    detail = json.loads(proposal.detail)
    if session.get(StockDay, detail["day"]) is not None:
        raise StockError(f"{detail['day']} is closed: nothing may be changed or added to it")
    row = CounterExplanation(
        at=clock(),
        day=detail["day"],
        printer=detail["printer"],
        quantity=proposal.quantity,
        note=f"{proposal.reason} (approved by {approver})"[:500],
        actor=proposal.proposed_by,
    )
    session.add(row)
    session.flush()
    return row.id or 0


def _destroy(
    session: Session, proposal: StockProposal, *, approver: str, station: str, clock: Clock
) -> Destruction:
    detail = json.loads(proposal.detail)
    waiting = {e.id: e for e in spoiled_awaiting_destruction(session)}
    gone = [i for i in detail["entries"] if i not in waiting]
    if gone:
        raise StockError(f"entries {gone} were destroyed under another record meanwhile")
    at = clock()
    day = business_day(at)  # the paper's "pada hari ini": the day it was done
    destruction = Destruction(
        # Numbered by its proposal: two destructions approved at once never collide.
        number=f"BAP-{day:%Y%m%d}-{proposal.id:04d}",
        day=day.isoformat(),
        at=at,
        proposed_by=proposal.proposed_by,
        approved_by=approver,
        witnesses=json.dumps(detail["witnesses"], ensure_ascii=False),
        place=str(detail.get("place", "")),
        method=str(detail.get("method", "")),
        quantity=proposal.quantity,
    )
    session.add(destruction)
    session.flush()
    for entry_id in detail["entries"]:
        spoiled = waiting[entry_id]
        post(
            session,
            LedgerKind.DESTROYED,
            spoiled.quantity,
            loc.SPOILED,
            loc.DESTROYED,
            actor=proposal.proposed_by,
            station=station,
            clock=clock,
            audit_action="card.destroyed",
            audit_detail={"destruction": destruction.number, "spoiled_entry": entry_id},
            ref_entry_id=entry_id,
            document=destruction.number,
            approved_by=approver,
            reason=spoiled.reason,
            chip_uid=spoiled.chip_uid,
            printer=spoiled.printer,
            record_id=spoiled.record_id,
        )
    return destruction


def destruction_record(
    session: Session, destruction_id: int, *, office_name: str
) -> DestructionRecord:
    """The figures of a destruction record, for its berita acara."""
    row = session.get(Destruction, destruction_id)
    if row is None:
        raise StockError(f"no destruction #{destruction_id}")
    entries = session.exec(
        select(LedgerEntry)
        .where(
            col(LedgerEntry.kind) == LedgerKind.DESTROYED.value,
            col(LedgerEntry.document) == row.number,
        )
        .order_by(col(LedgerEntry.id))
    ).all()
    cards = []
    for e in entries:
        spoiled = session.get(LedgerEntry, e.ref_entry_id) if e.ref_entry_id else None
        cards.append(
            DestroyedCard(
                entry_id=e.ref_entry_id or 0,
                day=date.fromisoformat(spoiled.day if spoiled else row.day),
                reason=e.reason or "",
                quantity=e.quantity,
                chip_uid=e.chip_uid,
                printer=e.printer,
                record_id=e.record_id,
                note=spoiled.note if spoiled else "",
            )
        )
    return DestructionRecord(
        office_name=office_name,
        number=row.number,
        day=date.fromisoformat(row.day),
        executed_at=office_time(row.at),
        proposed_by=row.proposed_by,
        approved_by=row.approved_by,
        witnesses=tuple(json.loads(row.witnesses)),
        place=row.place,
        method=row.method,
        cards=tuple(cards),
    )


# ---------------------------------------------------------------------------- counts


def count(
    session: Session,
    location: str,
    counted: int,
    *,
    actor: str,
    station: str,
    note: str = "",
    clock: Clock = utcnow,
) -> StockCount:
    """Record a physical count of ``location``. A difference opens a discrepancy."""
    place = _stock_place(location)
    if counted < 0 or counted > MAX_QUANTITY:
        raise StockError(f"a count is between 0 and {MAX_QUANTITY}, got {counted}")
    open_count = session.exec(
        select(StockCount).where(col(StockCount.location) == place, col(StockCount.state) == "open")
    ).first()
    if open_count is not None:
        raise StockError(
            f"count #{open_count.id} of {place} is still open: a supervisor resolves it first"
        )
    at = clock()
    expected = available(session, place)  # a hopper's cards being printed are not in it
    row = StockCount(
        at=at,
        day=posting_day(session, at).isoformat(),
        location=place,
        counted=counted,
        expected=expected,
        actor=actor,
        state="matched" if counted == expected else "open",
        note=note[:500],
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        actor=actor,
        station=station,
        action="stock.counted",
        entity="stock-count",
        entity_id=row.id or 0,
        outcome=row.state,
        detail={"location": place, "counted": counted, "expected": expected},
        clock=clock,
    )
    return row


def resolve_count(
    session: Session,
    count_id: int,
    resolution: str,
    *,
    note: str,
    actor: str,
    station: str,
    supervisors: Supervisors = Supervisors(),
    clock: Clock = utcnow,
) -> StockCount:
    """A supervisor settles an open count: ``adjust`` the ledger to the count, or ``found``
    (a recount matched the ledger: nothing moves). The reason is kept."""
    row = session.get(StockCount, count_id)
    if row is None:
        raise StockError(f"no count #{count_id}")
    if row.state != "open":
        raise StockError(f"count #{count_id} is {row.state}, not open")
    supervisors.check(actor, row.actor, f"count #{count_id}")
    if not note.strip():
        raise StockError("a resolution needs its reason (--note)")
    if resolution == "adjust":
        delta = row.counted - row.expected
        inward = delta > 0
        entry = post(
            session,
            LedgerKind.ADJUSTED,
            abs(delta),
            loc.ADJUSTMENT if inward else row.location,
            row.location if inward else loc.ADJUSTMENT,
            actor=row.actor,
            station=station,
            clock=clock,
            audit_action="stock.adjusted",
            audit_detail={"approved_by": actor, "count": count_id, "reason": note},
            approved_by=actor,
            printer=loc.hopper_printer(row.location),
            note=f"count #{count_id}: {note}"[:500],
        )
        row.adjustment_entry_id = entry.id
    elif resolution != "found":
        raise StockError(f"unknown resolution {resolution!r}: use adjust or found")
    claimed = session.execute(
        update(StockCount)
        .where(col(StockCount.id) == count_id, col(StockCount.state) == "open")
        .values(
            state="resolved",
            resolution=resolution,
            resolved_by=actor,
            resolved_at=clock(),
            note=((row.note + " | ") if row.note else "") + note[:400],
            adjustment_entry_id=row.adjustment_entry_id,
        )
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise StockError(f"count #{count_id} was resolved by someone else meanwhile")
    session.refresh(row)
    record_event(
        session,
        actor=actor,
        station=station,
        action="stock.count-resolved",
        entity="stock-count",
        entity_id=count_id,
        outcome=resolution,
        detail={"location": row.location, "counted": row.counted, "expected": row.expected},
        clock=clock,
    )
    return row


def open_items(session: Session) -> dict[str, list[str]]:
    """Proposals and counts waiting for a supervisor, in words (for ``stock show``)."""
    proposals = [
        f"#{p.id} {p.kind} {p.location} {p.quantity:+d} by {p.proposed_by} "
        f"({business_day(p.at)}): {p.reason}"
        for p in session.exec(
            select(StockProposal).where(col(StockProposal.state) == "proposed")
        ).all()
    ]
    counts = [
        f"#{c.id} {c.location}: counted {c.counted}, ledger {c.expected} (by {c.actor})"
        for c in session.exec(select(StockCount).where(col(StockCount.state) == "open")).all()
    ]
    return {"proposals": proposals, "counts": counts}
