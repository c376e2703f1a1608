"""The tamper-evident audit log: who did what, when, from where, with what outcome.

Each :class:`~printctl.models.AuditEvent` stores the SHA-256 of its own content together with
the previous event's hash, so editing or deleting any past event breaks the chain from there
on; :func:`verify_chain` finds the first broken link. Events are written in the same
transaction as the state change they describe, so the log never claims what did not happen.
Details never hold personal data in clear (NIKs are masked by the caller).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, text
from sqlmodel import Session, col, select

from printctl.models import AuditEvent, utcnow

GENESIS = "0" * 64
Clock = Callable[[], datetime]

# An arbitrary constant: the advisory-lock key that serialises audit appends on PostgreSQL.
_PG_AUDIT_LOCK = 0x7072_6E74


_HASHED = ("actor", "station", "action", "entity", "entity_id", "outcome", "detail")


def _digest(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The hash of one event's content chained to the previous event's hash."""
    body = json.dumps(
        [prev_hash, row["at"].isoformat(), *(row[name] for name in _HASHED)],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _fields(event: AuditEvent) -> dict[str, Any]:
    return {"at": event.at, **{name: getattr(event, name) for name in _HASHED}}


def record_event(
    session: Session,
    *,
    actor: str,
    station: str,
    action: str,
    entity: str,
    entity_id: str | int,
    outcome: str = "ok",
    detail: Mapping[str, Any] | None = None,
    clock: Clock = utcnow,
) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction."""
    prev_hash = _chain_head(session)
    event = AuditEvent(
        at=clock(),
        actor=actor,
        station=station,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        outcome=outcome,
        detail=json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True, default=str),
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = _digest(prev_hash, _fields(event))
    session.add(event)
    session.flush()
    return event


def lock_journal(session: Session) -> None:
    """On PostgreSQL, take this transaction's place in the journal (audit chain) order.

    Every writer takes, in this order, the stock days lock shared (a day's close takes it
    alone, first) and then the chain's lock. One order everywhere, so no two writers wait
    on each other's second lock. Re-taking a lock the transaction holds returns at once.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock_shared(hashtext('ledger:days'))"))
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})


def _chain_head(session: Session) -> str:
    """The newest event's hash, with appends serialised until the transaction ends."""
    lock_journal(session)
    # On SQLite the transaction began IMMEDIATE, so no other writer can append in between.
    last = session.exec(
        select(AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1)
    ).first()
    return last or GENESIS


@dataclass(frozen=True)
class EventSpec:
    """One event for :func:`record_events`."""

    action: str
    entity: str
    entity_id: str | int
    outcome: str = "ok"
    detail: Mapping[str, Any] | None = None


def record_events(
    session: Session,
    events: Iterable[EventSpec],
    *,
    actor: str,
    station: str,
    clock: Clock = utcnow,
) -> int:
    """Append many events in one statement (an import journals every record); returns count."""
    prev_hash = _chain_head(session)
    rows = []
    for spec in events:
        # Plain dicts, not model objects: an import journals thousands of records at once.
        row: dict[str, Any] = {
            "at": clock(),
            "actor": actor,
            "station": station,
            "action": spec.action,
            "entity": spec.entity,
            "entity_id": str(spec.entity_id),
            "outcome": spec.outcome,
            "detail": json.dumps(
                dict(spec.detail or {}), ensure_ascii=False, sort_keys=True, default=str
            ),
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = _digest(prev_hash, row)
        rows.append(row)
    if rows:
        session.connection().execute(insert(AuditEvent), rows)
    return len(rows)


def verify_chain(session: Session) -> int | None:
    """The id of the first event whose hash or link is wrong, or None when the chain holds."""
    prev_hash = GENESIS
    for event in session.exec(select(AuditEvent).order_by(col(AuditEvent.id))):
        if event.prev_hash != prev_hash or _digest(prev_hash, _fields(event)) != event.hash:
            return event.id
        prev_hash = event.hash
    return None
