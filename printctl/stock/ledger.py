"""The blank ledger: append-only entries that move blanks between locations.

Every entry moves ``quantity`` blanks from one location to another
(:mod:`printctl.stock.locations`), so each location's balance is the sum of what entered it
minus what left it, derived from the entries and never kept as a mutable counter. A closed day
(:mod:`printctl.stock.days`) freezes its closing balance per location; later balances start
there, which keeps the sums short over a year of entries. The database refuses to change or
delete an entry (triggers, migration 0003).

Blanks being printed right now (a job between ``feeding`` and its outcome) are still in their
hopper's balance: :func:`in_flight` counts them apart, so what a printer may still draw is its
hopper's balance minus its cards in flight. The office's stock obeys::

    received − issued − spoiled − returned + adjusted = vault + hoppers + in doubt
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func
from sqlmodel import Session, col, select

from printctl import outbox
from printctl.audit import Clock, lock_journal, record_event
from printctl.models import (
    ACTIVE_JOB_STATES,
    CARD_STEPS,
    EventType,
    Job,
    LedgerEntry,
    LedgerKind,
    SpoilReason,
    StockDay,
    StockDayBalance,
    StockProposal,
    utcnow,
)
from printctl.stock import locations as loc


class StockError(Exception):
    """A stock operation cannot be done (bad count, not enough blanks, a closed day, …)."""


#: No entry moves more blanks than this (a typo of a few zeros is refused, and the sums stay
#: far from any integer limit).
MAX_QUANTITY = 1_000_000

#: The longest texts an entry keeps (the columns' sizes); a longer one is refused, not cut.
_TEXT_LIMITS = {
    "lot": 100,
    "document": 100,
    "serial_first": 40,
    "serial_last": 40,
    "chip_uid": 40,
    "record_id": 40,
    "printer": 100,
}


# ---------------------------------------------------------------------------- business days

_office_tz: tzinfo = ZoneInfo("Asia/Jakarta")


def set_office_timezone(name: str) -> None:
    """Use the office's time zone (``Asia/Jakarta``, ``Asia/Makassar``, ``Asia/Jayapura``)
    for business days. One office per process: the context sets it from the settings."""
    global _office_tz
    try:
        _office_tz = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise StockError(f"unknown time zone {name!r} (e.g. Asia/Jakarta)") from exc


def office_timezone() -> tzinfo:
    """The time zone business days are counted in."""
    return _office_tz


def office_time(at: datetime) -> datetime:
    """``at`` in the office's time zone (a stored time without a zone is UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(_office_tz)


def business_day(at: datetime) -> date:
    """The office's calendar date at ``at``."""
    return office_time(at).date()


def last_closed_day(session: Session) -> date | None:
    """The newest closed business day, or None."""
    day = session.exec(select(func.max(StockDay.day))).one()
    return date.fromisoformat(day) if day else None


def posting_day(session: Session, at: datetime) -> date:
    """The day an entry made at ``at`` belongs to: its local date, or the first open day
    after the last closed one (a closed day takes nothing more)."""
    day = business_day(at)
    closed = last_closed_day(session)
    if closed is not None and day <= closed:
        return closed + timedelta(days=1)
    return day


# ---------------------------------------------------------------------------- balances


def _sums(session: Session, column: Any, after_day: str | None, through_day: str | None) -> Any:
    query = select(column, func.coalesce(func.sum(LedgerEntry.quantity), 0)).group_by(column)
    if after_day is not None:
        query = query.where(col(LedgerEntry.day) > after_day)
    if through_day is not None:
        query = query.where(col(LedgerEntry.day) <= through_day)
    return session.exec(query).all()


def _snapshot(session: Session, through_day: str | None) -> tuple[str | None, dict[str, int]]:
    """The newest closed day not after ``through_day`` and its balances per location."""
    query = select(func.max(StockDay.day))
    if through_day is not None:
        query = query.where(col(StockDay.day) <= through_day)
    day = session.exec(query).one()
    if day is None:
        return None, {}
    rows = session.exec(select(StockDayBalance).where(col(StockDayBalance.day) == day)).all()
    return day, {r.location: r.quantity for r in rows}


def location_balances(session: Session, through_day: date | None = None) -> dict[str, int]:
    """Blanks at each inside location at the end of ``through_day`` (default: now).

    Locations that never held a blank are absent; ``vault`` is always present.
    """
    through = through_day.isoformat() if through_day is not None else None
    snap_day, out = _snapshot(session, through)
    out = dict(out)
    for location, n in _sums(session, col(LedgerEntry.to_loc), snap_day, through):
        if loc.is_inside(location):
            out[location] = out.get(location, 0) + int(n)
    for location, n in _sums(session, col(LedgerEntry.from_loc), snap_day, through):
        if loc.is_inside(location):
            out[location] = out.get(location, 0) - int(n)
    out.setdefault(loc.VAULT, 0)
    return out


def location_balance(session: Session, location: str) -> int:
    """Blanks at one location now (the short sum the worker asks before each card)."""
    snap_day, snap = _snapshot(session, None)
    total = snap.get(location, 0)
    for column, sign in ((col(LedgerEntry.to_loc), 1), (col(LedgerEntry.from_loc), -1)):
        query = select(func.coalesce(func.sum(LedgerEntry.quantity), 0)).where(column == location)
        if snap_day is not None:
            query = query.where(col(LedgerEntry.day) > snap_day)
        total += sign * int(session.exec(query).one())
    return total


def in_flight(session: Session, printer: str | None = None) -> int:
    """Blanks a printer (any, or ``printer``) holds right now: jobs between feeding and
    their outcome. They are still in their hopper's balance."""
    query = select(func.count()).where(
        col(Job.state).in_([s.value for s in ACTIVE_JOB_STATES]),
        col(Job.step).in_([s.value for s in CARD_STEPS]),
    )
    if printer is not None:
        query = query.where(col(Job.printer) == printer)
    return int(session.exec(query).one())


def available(session: Session, location: str) -> int:
    """Blanks that may be taken from ``location`` now (a hopper's cards in flight excluded)."""
    held = location_balance(session, location)
    printer = loc.hopper_printer(location)
    if printer is not None:
        held -= in_flight(session, printer)
    return held


def hopper_available(session: Session, printer: str) -> int:
    """Blanks the ledger says ``printer`` may still draw from its hopper."""
    return available(session, loc.hopper(printer))


def office_available(session: Session) -> int:
    """Blanks on hand in the office that a card may still take: the vault and every hopper,
    less the cards printers hold now (what a night's stock reserve is measured against)."""
    places = location_balances(session)
    held = places.get(loc.VAULT, 0) + sum(
        n for place, n in places.items() if loc.hopper_printer(place) is not None
    )
    return held - in_flight(session)


@dataclass(frozen=True)
class StockBalance:
    """The office's stock now, totals and per location, derived from the ledger."""

    received: int
    issued: int
    spoiled: int  #: blanks spoiled from stock (not cards handed back by holders)
    returned: int
    in_doubt: int
    #: Blanks in a printer right now (a job between feeding and its outcome).
    in_flight: int = 0
    adjusted: int = 0  #: signed: corrections in minus corrections out
    vault: int = 0
    hoppers: dict[str, int] = field(default_factory=dict)  #: printer → ledger balance
    to_destroy: int = 0  #: spoiled cards awaiting destruction
    holder_returned: int = 0
    destroyed: int = 0

    @property
    def in_office(self) -> int:
        """Every blank in the office's stock: vault, hoppers and in doubt."""
        return self.vault + sum(self.hoppers.values()) + self.in_doubt

    @property
    def on_hand(self) -> int:
        """Blanks that may still be printed on (vault and hoppers, less those in flight)."""
        return self.vault + sum(self.hoppers.values()) - self.in_flight

    @property
    def balanced(self) -> bool:
        """Whether the totals and the locations agree."""
        flows = self.received - self.issued - self.spoiled - self.returned + self.adjusted
        return flows == self.in_office

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with ``on_hand`` and ``in_office``."""
        return {**asdict(self), "on_hand": self.on_hand, "in_office": self.in_office}


def kind_totals(
    session: Session, *, day: date | None = None, first: date | None = None
) -> dict[str, int]:
    """Ledger totals for one day (or ``first``…``day``, or all time) by figure name:
    received, issued, spoiled, holder_returned, returned, adjusted, destroyed, moved."""
    query = select(
        LedgerEntry.kind,
        LedgerEntry.from_loc,
        LedgerEntry.to_loc,
        func.coalesce(func.sum(LedgerEntry.quantity), 0),
    ).group_by(col(LedgerEntry.kind), col(LedgerEntry.from_loc), col(LedgerEntry.to_loc))
    if day is not None:
        if first is None:
            query = query.where(col(LedgerEntry.day) == day.isoformat())
        else:
            query = query.where(
                col(LedgerEntry.day) >= first.isoformat(), col(LedgerEntry.day) <= day.isoformat()
            )
    out = dict.fromkeys(
        (
            "received",
            "issued",
            "spoiled",
            "holder_returned",
            "returned",
            "adjusted",
            "destroyed",
            "moved",
            "in_doubt",
        ),
        0,
    )
    for kind, source, _target, n in session.exec(query).all():
        n = int(n)
        if kind == LedgerKind.SPOILED.value:
            out["holder_returned" if source == loc.HOLDERS else "spoiled"] += n
        elif kind == LedgerKind.ADJUSTED.value:
            out["adjusted"] += n if source == loc.ADJUSTMENT else -n
        elif kind == LedgerKind.IN_DOUBT.value:
            out["in_doubt"] += n
        elif kind in out:
            out[kind] += n
    return out


def balance(session: Session) -> StockBalance:
    """The stock now: totals by kind and balances by location."""
    totals = kind_totals(session)
    places = location_balances(session)
    return StockBalance(
        received=totals["received"],
        issued=totals["issued"],
        spoiled=totals["spoiled"],
        returned=totals["returned"],
        in_doubt=places.get(loc.IN_DOUBT, 0),
        in_flight=in_flight(session),
        adjusted=totals["adjusted"],
        vault=places.get(loc.VAULT, 0),
        hoppers={
            printer: n
            for place, n in sorted(places.items())
            if (printer := loc.hopper_printer(place)) is not None
        },
        to_destroy=places.get(loc.SPOILED, 0),
        holder_returned=totals["holder_returned"],
        destroyed=totals["destroyed"],
    )


def spoiled_by_reason(session: Session, *, day: date | None = None) -> dict[str, int]:
    """Spoiled blanks (and cards handed back by holders) per reason code."""
    query = (
        select(LedgerEntry.reason, func.sum(LedgerEntry.quantity))
        .where(col(LedgerEntry.kind) == LedgerKind.SPOILED.value)
        .group_by(col(LedgerEntry.reason))
    )
    if day is not None:
        query = query.where(col(LedgerEntry.day) == day.isoformat())
    return {str(reason): int(total) for reason, total in session.exec(query).all()}


# ---------------------------------------------------------------------------- posting


def post(
    session: Session,
    kind: LedgerKind,
    quantity: int,
    source: str,
    target: str,
    *,
    actor: str,
    station: str,
    clock: Clock = utcnow,
    audit_action: str | None = None,
    audit_entity: str = "ledger",
    audit_id: str | int | None = None,
    audit_outcome: str = "ok",
    audit_detail: dict[str, Any] | None = None,
    respect_in_flight: bool = True,
    fact: bool = False,
    **columns: Any,
) -> LedgerEntry:
    """Append one entry moving ``quantity`` blanks from ``source`` to ``target``, journaled.

    Refused (:class:`StockError`, nothing written) when the kind does not allow that move,
    the quantity is not positive, or ``source`` does not hold enough blanks. With
    ``respect_in_flight`` a hopper's cards being printed are not available to take.

    A ``fact`` (a printer took the blank: it was issued, spoiled or is in doubt) is never
    refused for want of blanks: a card that exists must be in the ledger. If the hopper's
    ledger held too few, the shortfall is taken from the vault (a load nobody recorded) or,
    when the vault has none either, from the adjustment account; either way a confirmation
    is opened that blocks the day's close until a supervisor has looked.
    """
    if quantity <= 0:
        raise StockError(f"a ledger entry moves at least one blank, got {quantity}")
    if not loc.move_allowed(kind, source, target):
        raise StockError(f"a {kind.value} entry cannot move blanks from {source} to {target}")
    if quantity > MAX_QUANTITY:
        raise StockError(f"{quantity} blanks in one entry is not a plausible count")
    for name, limit in _TEXT_LIMITS.items():
        value = columns.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise StockError(f"{name.replace('_', ' ')} is longer than {limit} characters")
    if source == loc.IN_DOUBT and columns.get("job_id") is None:
        raise StockError(
            "a blank in doubt leaves doubt only by its job's inspection (printctl jobs inspect)"
        )
    at = clock()
    # The journal's locks before the balance is read: postings are serialised, so two
    # people taking the vault's last blanks cannot both succeed (SQLite: its write lock).
    lock_journal(session)
    if loc.is_inside(source):
        have = (
            available(session, source) if respect_in_flight else location_balance(session, source)
        )
        if have < quantity and fact and loc.hopper_printer(source) is not None:
            _cover_shortfall(
                session,
                source,
                quantity - have,
                actor=actor,
                station=station,
                clock=clock,
                job_id=columns.get("job_id"),
            )
        elif have < quantity:
            raise StockError(
                f"{source} holds {have} blank{'s' if have != 1 else ''} the ledger can account "
                f"for; {quantity} cannot be taken from it"
            )
    entry = LedgerEntry(
        at=at,
        day=posting_day(session, at).isoformat(),
        kind=kind.value,
        quantity=quantity,
        from_loc=source,
        to_loc=target,
        actor=actor,
        **columns,
    )
    session.add(entry)
    session.flush()
    detail = {"quantity": quantity, "from": source, "to": target, **(audit_detail or {})}
    record_event(
        session,
        actor=actor,
        station=station,
        action=audit_action or f"stock.{kind.value}",
        entity=audit_entity,
        entity_id=audit_id if audit_id is not None else (entry.id or 0),
        outcome=audit_outcome,
        detail=detail,
        clock=clock,
    )
    return entry


def _cover_shortfall(
    session: Session,
    hopper_place: str,
    missing: int,
    *,
    actor: str,
    station: str,
    clock: Clock,
    job_id: int | None,
) -> None:
    """Bring ``missing`` blanks into a hopper whose printer took them, and ask a supervisor
    to confirm (see :func:`post`)."""
    from_vault = min(missing, max(0, available(session, loc.VAULT)))
    entries = []
    printer = loc.hopper_printer(hopper_place)
    note = f"printer {printer} took blank(s) its hopper's ledger did not hold (job {job_id})"
    if from_vault:
        entries.append(
            post(
                session,
                LedgerKind.MOVED,
                from_vault,
                loc.VAULT,
                hopper_place,
                actor=actor,
                station=station,
                clock=clock,
                printer=printer,
                note=f"load not recorded: {note}",
            )
        )
    if missing > from_vault:
        entries.append(
            post(
                session,
                LedgerKind.ADJUSTED,
                missing - from_vault,
                loc.ADJUSTMENT,
                hopper_place,
                actor=actor,
                station=station,
                clock=clock,
                printer=printer,
                note=f"blanks from outside the ledger: {note}",
            )
        )
    proposal = StockProposal(
        kind="confirm",
        at=clock(),
        proposed_by=actor,
        location=hopper_place,
        quantity=missing,
        reason=f"{note}: count the stock, then confirm",
        detail=json.dumps({"entries": [e.id for e in entries], "job": job_id}),
    )
    session.add(proposal)
    session.flush()


_SERIAL = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)$")


def _serial_count(first: str, last: str) -> int:
    """How many serials ``first``…``last`` spans (same prefix and width), or StockError."""
    a, b = _SERIAL.match(first), _SERIAL.match(last)
    if a is None or b is None or a["prefix"] != b["prefix"]:
        raise StockError(
            f"serial range {first}…{last}: both ends need the same prefix and a number"
        )
    span = int(b["number"]) - int(a["number"]) + 1
    if span <= 0:
        raise StockError(f"serial range {first}…{last} runs backwards")
    return span


def _serial_key(serial: str) -> tuple[str, int]:
    match = _SERIAL.match(serial)
    assert match is not None
    return match["prefix"], int(match["number"])


def _check_serials_unused(session: Session, first: str, last: str) -> None:
    prefix, lo = _serial_key(first)
    hi = _serial_key(last)[1]
    rows = session.exec(
        select(LedgerEntry).where(
            col(LedgerEntry.kind) == LedgerKind.RECEIVED.value,
            col(LedgerEntry.serial_first).is_not(None),
        )
    ).all()
    for row in rows:
        assert row.serial_first is not None and row.serial_last is not None
        other_prefix, other_lo = _serial_key(row.serial_first)
        other_hi = _serial_key(row.serial_last)[1]
        if other_prefix == prefix and lo <= other_hi and other_lo <= hi:
            raise StockError(
                f"serials {first}…{last} overlap delivery #{row.id} "
                f"({row.serial_first}…{row.serial_last}, lot {row.lot}): "
                "a blank cannot be received twice"
            )


def receive(
    session: Session,
    count: int,
    *,
    lot: str,
    actor: str,
    station: str,
    note: str = "",
    document: str | None = None,
    serial_first: str | None = None,
    serial_last: str | None = None,
    clock: Clock = utcnow,
) -> LedgerEntry:
    """Record a delivery of ``count`` blanks from lot ``lot`` into the vault."""
    if count <= 0:
        raise StockError(f"a delivery must be at least one blank, got {count}")
    if not lot.strip():
        raise StockError("a delivery needs its lot number (--lot)")
    if (serial_first is None) != (serial_last is None):
        raise StockError("a serial range needs both its first and its last serial")
    if serial_first is not None and serial_last is not None:
        lock_journal(session)  # one delivery at a time: the overlap check must hold
        span = _serial_count(serial_first, serial_last)
        if span != count:
            raise StockError(
                f"serials {serial_first}…{serial_last} are {span} blanks, "
                f"but the delivery says {count}"
            )
        _check_serials_unused(session, serial_first, serial_last)
    return post(
        session,
        LedgerKind.RECEIVED,
        count,
        loc.SUPPLIER,
        loc.VAULT,
        actor=actor,
        station=station,
        clock=clock,
        audit_action="stock.received",
        audit_detail={"count": count, "lot": lot, "document": document},
        lot=lot.strip(),
        document=document,
        serial_first=serial_first,
        serial_last=serial_last,
        note=note[:500],
    )


def move(
    session: Session,
    count: int,
    source: str,
    target: str,
    *,
    actor: str,
    station: str,
    note: str = "",
    job_id: int | None = None,
    clock: Clock = utcnow,
) -> LedgerEntry:
    """Move blanks between the vault and printers' hoppers (loading, unloading); with
    ``job_id``, an inspection puts a blank that never left its hopper back."""
    return post(
        session,
        LedgerKind.MOVED,
        count,
        source,
        target,
        actor=actor,
        station=station,
        clock=clock,
        printer=loc.hopper_printer(target) or loc.hopper_printer(source),
        job_id=job_id,
        note=note[:500],
    )


def return_blanks(
    session: Session,
    count: int,
    *,
    document: str,
    actor: str,
    station: str,
    note: str = "",
    clock: Clock = utcnow,
) -> LedgerEntry:
    """Send blanks from the vault back to the province or the center, under a document."""
    if not document.strip():
        raise StockError("a return needs the number of its letter or handover document")
    return post(
        session,
        LedgerKind.RETURNED,
        count,
        loc.VAULT,
        loc.PROVINCE,
        actor=actor,
        station=station,
        clock=clock,
        document=document.strip(),
        note=note[:500],
    )


def record_issued(
    session: Session,
    *,
    job_id: int,
    printer: str,
    chip_uid: str | None,
    actor: str,
    station: str,
    record_id: str | None = None,
    from_doubt: bool = False,
    clock: Clock = utcnow,
) -> LedgerEntry:
    """One blank became a card handed to the output tray for job ``job_id`` (from the
    printer's hopper, or, after an inspection, from doubt). The center hears of it through
    the outbox (``CARD_PRINTED``), in the same transaction."""
    entry = post(
        session,
        LedgerKind.ISSUED,
        1,
        loc.IN_DOUBT if from_doubt else loc.hopper(printer),
        loc.HOLDERS,
        actor=actor,
        station=station,
        clock=clock,
        audit_action="blank.issued",
        audit_entity="job",
        audit_id=job_id,
        audit_detail={"printer": printer, "chip_uid": chip_uid},
        respect_in_flight=False,
        fact=True,
        job_id=job_id,
        record_id=record_id,
        printer=printer,
        chip_uid=chip_uid,
    )
    outbox.add_event(
        session,
        EventType.CARD_PRINTED,
        at=entry.at,
        station=station,
        job_id=job_id,
        printer=printer,
        chip_uid=chip_uid,
    )
    return entry


def record_in_doubt(
    session: Session,
    *,
    job_id: int,
    printer: str,
    note: str,
    actor: str,
    station: str,
    chip_uid: str | None = None,
    clock: Clock = utcnow,
) -> LedgerEntry:
    """A printer took a blank for job ``job_id`` and what came out is unknown."""
    return post(
        session,
        LedgerKind.IN_DOUBT,
        1,
        loc.hopper(printer),
        loc.IN_DOUBT,
        actor=actor,
        station=station,
        clock=clock,
        audit_action="blank.in-doubt",
        audit_entity="job",
        audit_id=job_id,
        audit_detail={"printer": printer},
        respect_in_flight=False,
        fact=True,
        job_id=job_id,
        printer=printer,
        chip_uid=chip_uid,
        note=note[:500],
    )


def record_spoiled(
    session: Session,
    *,
    quantity: int,
    reason: SpoilReason,
    job_id: int | None,
    printer: str | None,
    note: str,
    actor: str,
    station: str,
    chip_uid: str | None = None,
    record_id: str | None = None,
    source: str | None = None,
    clock: Clock = utcnow,
) -> LedgerEntry:
    """``quantity`` blanks were spoiled for ``reason`` (they go to the store of cards to
    destroy). ``source`` defaults to the printer's hopper, or the vault without a printer."""
    if reason is SpoilReason.RETURNED_BY_HOLDER:
        raise StockError("a card handed back by its holder is recorded with holder_return")
    origin = source or (loc.hopper(printer) if printer else loc.VAULT)
    entry = post(
        session,
        LedgerKind.SPOILED,
        quantity,
        origin,
        loc.SPOILED,
        actor=actor,
        station=station,
        clock=clock,
        audit_action="blank.spoiled",
        audit_entity="job" if job_id is not None else "ledger",
        audit_id=job_id,
        audit_outcome=reason.value,
        audit_detail={"printer": printer, "note": note, "chip_uid": chip_uid},
        respect_in_flight=job_id is None,
        fact=job_id is not None,
        job_id=job_id,
        printer=printer,
        reason=reason.value,
        chip_uid=chip_uid,
        record_id=record_id,
        note=note[:500],
    )
    # One event per blank: the center counts blanks by their events.
    for _ in range(quantity):
        outbox.add_event(
            session,
            EventType.BLANK_SPOILED,
            at=entry.at,
            station=station,
            job_id=job_id,
            printer=printer,
            chip_uid=chip_uid,
            reason=reason.value,
            detail={"ledger_entry": entry.id},
        )
    return entry


def holder_return(
    session: Session,
    quantity: int,
    *,
    note: str,
    actor: str,
    station: str,
    chip_uid: str | None = None,
    document: str | None = None,
    clock: Clock = utcnow,
) -> LedgerEntry:
    """Old cards handed back by their holders: they are destroyed with the spoiled cards
    but were never blanks of this stock."""
    if not note.strip():
        raise StockError("say why the card was handed back (a move, a data change, …)")
    return post(
        session,
        LedgerKind.SPOILED,
        quantity,
        loc.HOLDERS,
        loc.SPOILED,
        actor=actor,
        station=station,
        clock=clock,
        audit_action="card.returned-by-holder",
        audit_outcome=SpoilReason.RETURNED_BY_HOLDER.value,
        reason=SpoilReason.RETURNED_BY_HOLDER.value,
        chip_uid=chip_uid,
        document=document,
        note=note[:500],
    )


def last_entry_id(session: Session) -> int:
    """The highest ledger entry id (0 for an empty ledger)."""
    newest = session.exec(select(func.max(col(LedgerEntry.id)))).one()
    return int(newest or 0)
