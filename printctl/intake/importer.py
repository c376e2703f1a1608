"""Importing a verified PRR bundle into the database, all or nothing.

:func:`printctl.intake.bundle.read_bundle` decides what the bundle holds (and rejects it
whole when a bundle-level rule fails); this module stores the result in one transaction:
the bundle row, every valid record (sealed), every quarantined line with its reason, and the
supersession of lower versions (spec §3). Importing the same bundle again is a no-op that
says so. A rejected bundle leaves only an audit event behind.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, func, insert, update
from sqlmodel import Session, col, select

from printctl.audit import Clock, EventSpec, record_event, record_events
from printctl.crypto import DataCipher
from printctl.domain import RecordData
from printctl.intake.bundle import BundleLimits, BundleRejected, ParsedBundle, read_bundle
from printctl.logs import get_logger
from printctl.models import (
    Bundle,
    Job,
    JobState,
    QuarantinedRecord,
    Record,
    RecordState,
    TrustedKey,
    utcnow,
)
from printctl.records import seal_record

log = get_logger(__name__)

# States of an older version that a newer version simply replaces (nothing was printed).
_REPLACEABLE = {
    RecordState.READY.value,
    RecordState.AWAITING_APPROVAL.value,
    RecordState.QUEUED.value,
    RecordState.FAILED.value,
}


@dataclass
class ImportOutcome:
    """What happened to one bundle file."""

    path: str
    outcome: str  # imported | already-imported | rejected
    bundle_id: str | None = None
    sequence: int | None = None
    reason: str | None = None
    imported: int = 0
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    printed_outdated: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``printctl import --json``."""
        return dict(self.__dict__)


def trusted_keys(session: Session) -> dict[str, Ed25519PublicKey]:
    """The center keys bundles may be signed with, by key id."""
    return {
        row.key_id: Ed25519PublicKey.from_public_bytes(base64.b64decode(row.public_key))
        for row in session.exec(select(TrustedKey))
    }


def import_bundle(
    engine: Engine,
    path: Path,
    *,
    cipher: DataCipher,
    regency_code: str,
    actor: str,
    station: str,
    limits: BundleLimits | None = None,
    clock: Clock = utcnow,
) -> ImportOutcome:
    """Verify and store one bundle file; never raises for a bad bundle (it is ``rejected``)."""
    with Session(engine, expire_on_commit=False) as session:
        keys = trusted_keys(session)
        session.commit()
    try:
        parsed = read_bundle(
            path,
            trusted_keys=keys,
            regency_code=regency_code,
            limits=limits or BundleLimits(),
        )
    except BundleRejected as exc:
        with Session(engine) as session:
            record_event(
                session,
                actor=actor,
                station=station,
                action="bundle.rejected",
                entity="bundle",
                entity_id=exc.bundle_id or path.name,
                outcome="rejected",
                detail={"file": path.name, "reason": exc.reason},
                clock=clock,
            )
            session.commit()
        log.warning("bundle rejected", file=path.name, reason=exc.reason)
        return ImportOutcome(str(path), "rejected", bundle_id=exc.bundle_id, reason=exc.reason)
    with Session(engine, expire_on_commit=False) as session:
        try:
            outcome = _store(session, path, parsed, cipher, actor, station, clock)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    log.info(
        "bundle processed",
        file=path.name,
        bundle_id=outcome.bundle_id,
        outcome=outcome.outcome,
        imported=outcome.imported,
        quarantined=len(outcome.quarantined),
    )
    return outcome


def _store(
    session: Session,
    path: Path,
    parsed: ParsedBundle,
    cipher: DataCipher,
    actor: str,
    station: str,
    clock: Clock,
) -> ImportOutcome:
    outcome = ImportOutcome(
        str(path),
        "imported",
        bundle_id=parsed.bundle_id,
        sequence=parsed.sequence,
        warnings=list(parsed.warnings),
    )
    existing = session.exec(select(Bundle).where(col(Bundle.bundle_id) == parsed.bundle_id)).first()
    if existing is not None:
        if existing.manifest_sha256 == parsed.manifest_sha256:
            outcome.outcome = "already-imported"
            outcome.reason = f"bundle {parsed.bundle_id} was imported on {existing.imported_at:%Y-%m-%d %H:%M} UTC; nothing changed"
            return outcome
        outcome.outcome = "rejected"
        outcome.reason = f"bundle id {parsed.bundle_id} was already imported with different content"
        record_event(
            session,
            actor=actor,
            station=station,
            action="bundle.rejected",
            entity="bundle",
            entity_id=parsed.bundle_id,
            outcome="rejected",
            detail={"file": path.name, "reason": outcome.reason},
            clock=clock,
        )
        return outcome

    last_sequence = session.exec(select(func.max(Bundle.sequence))).one()
    if last_sequence is not None and parsed.sequence > last_sequence + 1:
        outcome.warnings.append(
            f"sequence gap: last imported bundle was {last_sequence}, this one is "
            f"{parsed.sequence}; bundle(s) {last_sequence + 1}..{parsed.sequence - 1} may be missing"
        )

    now = clock()
    records = _new_versions(session, parsed.records, outcome)
    _supersede(session, records, outcome, actor, station, clock)
    rows = []
    for record, state in records:
        row = seal_record(record, cipher, bundle_id=parsed.bundle_id, state=state)
        row["imported_at"] = now
        row["state_reason"] = (
            "" if state is not RecordState.SUPERSEDED else "a higher version was already imported"
        )
        rows.append(row)
    if rows:
        # Core executemany, not the ORM's bulk path: a third of the cost for 10,000 rows.
        session.connection().execute(insert(Record), rows)
    outcome.imported = len(rows)

    for q in parsed.quarantined:
        outcome.quarantined.append(
            {"record_id": q.record_id, "version": q.version, "line": q.line, "reason": q.reason}
        )
    if parsed.quarantined:
        session.execute(
            insert(QuarantinedRecord),
            [
                {
                    "bundle_id": parsed.bundle_id,
                    "line": q.line,
                    "record_id": q.record_id,
                    "version": q.version,
                    "reason": q.reason[:1000],
                    "at": now,
                }
                for q in parsed.quarantined
            ],
        )
    session.add(
        Bundle(
            bundle_id=parsed.bundle_id,
            sequence=parsed.sequence,
            issuer=parsed.issuer,
            key_id=parsed.key_id,
            manifest_sha256=parsed.manifest_sha256,
            file_name=path.name[:500],
            records_imported=outcome.imported,
            records_quarantined=len(parsed.quarantined),
            imported_at=now,
        )
    )
    record_event(
        session,
        actor=actor,
        station=station,
        action="bundle.imported",
        entity="bundle",
        entity_id=parsed.bundle_id,
        detail={
            "file": path.name,
            "sequence": parsed.sequence,
            "imported": outcome.imported,
            "quarantined": len(outcome.quarantined),
            "superseded": outcome.superseded,
            "printed_outdated": outcome.printed_outdated,
        },
        clock=clock,
    )
    # Every record's arrival is a state change of its own: journal each one.
    record_events(
        session,
        [
            EventSpec(
                action="record.imported",
                entity="record",
                entity_id=f"{record.record_id} v{record.version}",
                outcome=state.value,
                detail={"bundle_id": parsed.bundle_id},
            )
            for record, state in records
        ]
        + [
            EventSpec(
                action="record.quarantined",
                entity="record",
                entity_id=f"{q.record_id} v{q.version}" if q.record_id else f"line {q.line}",
                outcome="quarantined",
                detail={"bundle_id": parsed.bundle_id, "line": q.line, "reason": q.reason},
            )
            for q in parsed.quarantined
        ],
        actor=actor,
        station=station,
        clock=clock,
    )
    return outcome


def _new_versions(
    session: Session, records: list[RecordData], outcome: ImportOutcome
) -> list[tuple[RecordData, RecordState]]:
    """The records not stored yet, each with the state it starts in."""
    ids = sorted({r.record_id for r in records})
    stored: dict[str, dict[int, str]] = defaultdict(dict)
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        for record_id, version, state in session.exec(
            select(Record.record_id, Record.version, Record.state).where(
                col(Record.record_id).in_(chunk)
            )
        ):
            stored[record_id][version] = state
    newest_in_bundle: dict[str, int] = {}
    for record in records:
        newest_in_bundle[record.record_id] = max(
            record.version, newest_in_bundle.get(record.record_id, 0)
        )
    out: list[tuple[RecordData, RecordState]] = []
    for record in records:
        versions = stored.get(record.record_id, {})
        if record.version in versions:
            outcome.warnings.append(
                f"{record.record_id} v{record.version} is already stored; kept the stored copy"
            )
            continue
        newest = max([newest_in_bundle[record.record_id], *versions.keys()])
        if record.version < newest:
            state = RecordState.SUPERSEDED
        elif record.request_type.is_reprint:
            state = RecordState.AWAITING_APPROVAL
        else:
            state = RecordState.READY
        out.append((record, state))
    return out


def _supersede(
    session: Session,
    records: list[tuple[RecordData, RecordState]],
    outcome: ImportOutcome,
    actor: str,
    station: str,
    clock: Clock,
) -> None:
    """Older stored versions of the incoming records: replace or report them (spec §3)."""
    newest: dict[str, int] = {}
    for record, state in records:
        if state is not RecordState.SUPERSEDED:
            newest[record.record_id] = record.version
    if not newest:
        return
    ids = sorted(newest)
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        older = session.exec(select(Record).where(col(Record.record_id).in_(chunk))).all()
        for row in older:
            if row.version >= newest[row.record_id]:
                continue
            label = f"{row.record_id} v{row.version}"
            if row.state in _REPLACEABLE:
                reason = f"superseded by version {newest[row.record_id]}"
                _cancel_pending_jobs(session, row, reason, actor, station, clock)
                new_state = RecordState.SUPERSEDED.value
                outcome.superseded.append(label)
            elif row.state == RecordState.PRINTED.value:
                reason = (
                    f"printed, then version {newest[row.record_id]} arrived: "
                    "the card carries outdated data and needs a reprint decision"
                )
                new_state = RecordState.PRINTED_OUTDATED.value
                outcome.printed_outdated.append(label)
                outcome.warnings.append(f"{label} was already printed; {reason}")
            else:
                # Superseded already, or mid-print / under inspection: a person decides.
                continue
            session.execute(
                update(Record)
                .where(col(Record.id) == row.id)
                .values(state=new_state, state_reason=reason)
            )
            record_event(
                session,
                actor=actor,
                station=station,
                action="record." + new_state,
                entity="record",
                entity_id=label,
                detail={"reason": reason},
                clock=clock,
            )


def _cancel_pending_jobs(
    session: Session, row: Record, reason: str, actor: str, station: str, clock: Clock
) -> None:
    jobs = session.exec(
        select(Job).where(col(Job.record_pk) == row.id, col(Job.state) == JobState.PENDING.value)
    ).all()
    for job in jobs:
        job.state = JobState.CANCELED.value
        job.error = reason
        job.updated_at = clock()
        session.add(job)
        record_event(
            session,
            actor=actor,
            station=station,
            action="job.canceled",
            entity="job",
            entity_id=job.id or 0,
            detail={"reason": reason},
            clock=clock,
        )
