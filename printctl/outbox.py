"""The outbox: issuance events on their way to the center (spec ``prr-bundle-v1`` §5).

Every event is added inside the transaction of the state change it reports (a card issued,
a blank spoiled, a card handed over, a record quarantined), so the outbox and the state can
never disagree: if the change rolls back, so does its event. Delivery happens later and
separately (``printctl push`` online, ``printctl export-events`` on a flash drive); the center
ignores an ``event_id`` it already has, so an event may be sent any number of times until it
is acknowledged, and is then marked delivered.

Rows hold no personal data. :func:`event_payload` puts the holder's NIK into the event only
when a bundle is made, reading it from the encrypted record.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from printctl.crypto import DataCipher
from printctl.models import EventType, Job, OutboxEvent, OutboxState, Record, utcnow
from printctl.records import record_nik

__all__ = [
    "OutboxCounts",
    "add_event",
    "add_events",
    "counts",
    "event_payload",
    "mark_delivered",
    "mark_exported",
    "mark_rejected",
    "pending",
]


def add_event(
    session: Session,
    event_type: EventType,
    *,
    at: datetime,
    station: str,
    record_pk: int | None = None,
    job_id: int | None = None,
    printer: str | None = None,
    chip_uid: str | None = None,
    reason: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> OutboxEvent:
    """Add one event inside the caller's transaction. With ``job_id`` the record is the job's."""
    if record_pk is None and job_id is not None:
        record_pk = session.exec(select(Job.record_pk).where(col(Job.id) == job_id)).first()
    record_id: str | None = None
    version: int | None = None
    if record_pk is not None:
        found = session.exec(
            select(Record.record_id, Record.version).where(col(Record.id) == record_pk)
        ).first()
        if found is not None:
            record_id, version = found
    event = OutboxEvent(
        event_id=str(uuid.uuid4()),
        type=event_type.value,
        at=at,
        station=station,
        printer=printer or None,
        record_pk=record_pk,
        record_id=record_id or None,
        version=version,
        chip_uid=chip_uid or None,
        reason=_reason(event_type.value, reason),
        detail=json.dumps(dict(detail or {}), sort_keys=True, default=str),
    )
    session.add(event)
    session.flush()
    return event


def add_events(session: Session, rows: Iterable[Mapping[str, Any]]) -> int:
    """Add many events in one statement (an import quarantines thousands of lines at once).

    Each row names ``type``, ``at``, ``station`` and any of ``record_pk``, ``record_id``,
    ``version``, ``reason``, ``detail`` (a mapping); ``event_id`` is assigned here.
    """
    values = []
    for row in rows:
        item = dict(row)
        item["event_id"] = str(uuid.uuid4())
        item["detail"] = json.dumps(dict(item.get("detail") or {}), sort_keys=True, default=str)
        item["reason"] = _reason(str(item["type"]), item.get("reason"))
        for name in ("record_id", "chip_uid", "printer"):
            item[name] = item.get(name) or None
        if not isinstance(item.get("version"), int) or isinstance(item.get("version"), bool):
            item["version"] = None
        item.setdefault("state", OutboxState.PENDING.value)
        values.append(item)
    if values:
        session.connection().execute(insert(OutboxEvent), values)
    return len(values)


#: Event types that must say why (spec §5).
_NEEDS_REASON = {EventType.BLANK_SPOILED.value, EventType.RECORD_QUARANTINED.value}


def _reason(event_type: str, reason: object) -> str | None:
    """The reason as the center will accept it: never blank where the spec wants one (an
    event the center would refuse must not be written at all)."""
    text = str(reason).strip()[:1000] if reason is not None else ""
    if not text and event_type in _NEEDS_REASON:
        return "unspecified"
    return text or None


def pending(
    session: Session,
    *,
    limit: int | None = None,
    after_id: int = 0,
    unexported: bool = False,
) -> list[OutboxEvent]:
    """Undelivered events, oldest first (``unexported``: only those not yet on a drive)."""
    query = (
        select(OutboxEvent)
        .where(
            col(OutboxEvent.state) == OutboxState.PENDING.value,
            col(OutboxEvent.id) > after_id,
        )
        .order_by(col(OutboxEvent.id))
    )
    if unexported:
        query = query.where(col(OutboxEvent.exported_in).is_(None))
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def event_payload(session: Session, event: OutboxEvent, cipher: DataCipher) -> dict[str, Any]:
    """The event as the center reads it (spec §5), with the holder's NIK from the record."""
    body: dict[str, Any] = {
        "event_id": event.event_id,
        "type": event.type,
        "record_id": event.record_id,
        "version": event.version,
        "station": event.station,
        "at": event.at.isoformat().replace("+00:00", "Z"),
    }
    if event.record_pk is not None:
        row = session.get(Record, event.record_pk)
        nik = record_nik(row, cipher) if row is not None else None
        if nik:
            body["nik"] = nik
    for name in ("chip_uid", "printer", "reason"):
        value = getattr(event, name)
        if value:
            body[name] = value
    detail = json.loads(event.detail or "{}")
    if detail:
        body["detail"] = detail
    return body


def mark_delivered(
    session: Session, event_ids: Sequence[str], *, via: str, at: datetime | None = None
) -> int:
    """Mark the named events delivered (already delivered ones are left as they were)."""
    done = 0
    for start in range(0, len(event_ids), 500):
        chunk = list(event_ids[start : start + 500])
        result = session.execute(
            update(OutboxEvent)
            .where(
                col(OutboxEvent.event_id).in_(chunk),
                col(OutboxEvent.state) == OutboxState.PENDING.value,
            )
            .values(
                state=OutboxState.DELIVERED.value,
                delivered_at=at or utcnow(),
                delivered_via=via[:200],
            )
        )
        done += int(getattr(result, "rowcount", 0) or 0)
    return done


def mark_rejected(session: Session, event_ids: Sequence[str], *, problem: str) -> int:
    """Set refused events aside with the center's reason (still pending ones only)."""
    result = session.execute(
        update(OutboxEvent)
        .where(
            col(OutboxEvent.event_id).in_(list(event_ids)),
            col(OutboxEvent.state) == OutboxState.PENDING.value,
        )
        .values(state=OutboxState.REJECTED.value, problem=problem[:1000])
    )
    return int(getattr(result, "rowcount", 0) or 0)


def mark_exported(
    session: Session, event_ids: Sequence[str], *, bundle_id: str, at: datetime
) -> None:
    """Note that the events went out on a flash drive in ``bundle_id`` (still pending)."""
    for start in range(0, len(event_ids), 500):
        chunk = list(event_ids[start : start + 500])
        session.execute(
            update(OutboxEvent)
            .where(col(OutboxEvent.event_id).in_(chunk))
            .values(exported_in=bundle_id, exported_at=at)
        )


@dataclass(frozen=True)
class OutboxCounts:
    """How many events wait, how many went out on a drive awaiting a receipt, by type."""

    pending: int
    exported: int
    delivered: int
    rejected: int
    pending_by_type: dict[str, int]
    oldest_pending: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "pending": self.pending,
            "exported_awaiting_receipt": self.exported,
            "delivered": self.delivered,
            "rejected": self.rejected,
            "pending_by_type": self.pending_by_type,
            "oldest_pending": self.oldest_pending.isoformat() if self.oldest_pending else None,
        }


def counts(session: Session) -> OutboxCounts:
    """The outbox at a glance."""
    by_type: dict[str, int] = {}
    for event_type, n in session.exec(
        select(OutboxEvent.type, func.count())
        .where(col(OutboxEvent.state) == OutboxState.PENDING.value)
        .group_by(col(OutboxEvent.type))
    ):
        by_type[event_type] = int(n)
    exported = session.exec(
        select(func.count()).where(
            col(OutboxEvent.state) == OutboxState.PENDING.value,
            col(OutboxEvent.exported_in).is_not(None),
        )
    ).one()
    by_state = dict(
        session.exec(select(OutboxEvent.state, func.count()).group_by(col(OutboxEvent.state))).all()
    )
    delivered = by_state.get(OutboxState.DELIVERED.value, 0)
    oldest = session.exec(
        select(func.min(OutboxEvent.at)).where(col(OutboxEvent.state) == OutboxState.PENDING.value)
    ).one()
    return OutboxCounts(
        pending=sum(by_type.values()),
        exported=int(exported),
        delivered=int(delivered),
        rejected=int(by_state.get(OutboxState.REJECTED.value, 0)),
        pending_by_type=dict(sorted(by_type.items())),
        oldest_pending=oldest,
    )
