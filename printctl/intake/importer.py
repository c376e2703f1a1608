"""Importing a verified PRR bundle into the database, all or nothing.

:func:`printctl.intake.bundle.open_bundle` decides what the bundle holds (and rejects it
whole when a bundle-level rule fails); this module stores the result in one transaction:
the bundle row, every valid record (sealed), every quarantined line with its reason, and the
supersession of lower versions (spec §3). Importing the same bundle again is a no-op that
says so. A rejected bundle leaves only an audit event behind.

Memory stays bounded whatever the bundle's size (100,000 records carry over a gigabyte of
media): records are validated and sealed as they stream out of the bundle, and the sealed rows
(ciphertext only) wait in an anonymous temporary file until the transaction reads them back in
chunks. Only a few small keys per record stay in memory, for supersession and the journal.
"""

from __future__ import annotations

import base64
import itertools
import json
import struct
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from printctl import outbox
from printctl.audit import Clock, EventSpec, lock_journal, record_event, record_events
from printctl.crypto import DataCipher
from printctl.db import read_session
from printctl.intake.bundle import BundleLimits, BundleRejected, Quarantined, open_bundle
from printctl.logs import get_logger
from printctl.models import (
    ACTIVE_JOB_STATES,
    Bundle,
    EventType,
    Job,
    JobState,
    QuarantinedRecord,
    Record,
    RecordState,
    TrustedKey,
    utcnow,
)
from printctl.queue.store import TransitionConflict, transition_job
from printctl.records import seal_record

log = get_logger(__name__)

# States of an older version that a newer version simply replaces (nothing was printed).
# States of a lower version that mean its card exists or may exist.
_CARD_EXISTS = {
    RecordState.PRINTED.value,
    RecordState.PRINTED_OUTDATED.value,
    RecordState.NEEDS_INSPECTION.value,
}

#: Rows per INSERT and events per journal append: bounds memory, keeps executemany fast.
CHUNK = 500

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
    with read_session(engine) as session:
        keys = trusted_keys(session)
        session.commit()
    # Anonymous (unlinked at creation), so the sealed rows vanish with the process whatever
    # happens; ciphertext only, but there is no reason to leave it lying around.
    with tempfile.TemporaryFile(prefix="printctl-import-") as spool_file:
        spool = _Spool(spool_file)
        try:
            # Validate and seal before taking the database's write lock: sealing 100,000
            # photos takes a while.
            staged = _stage(path, spool, keys, cipher, regency_code, limits or BundleLimits())
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
                outcome = _store(session, path, staged, spool, actor, station, clock)
                session.commit()
            except IntegrityError:
                # Another station imported the same bundle (or records) at the same moment;
                # our transaction stored nothing. Importing again will say what is there.
                session.rollback()
                return ImportOutcome(
                    str(path),
                    "rejected",
                    bundle_id=staged.bundle_id,
                    reason="another import stored the same bundle or records at the same "
                    "moment; nothing was stored from this file, import it again",
                )
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


class _Key(NamedTuple):
    """What the import keeps in memory of a valid record: its spool entry stays on disk."""

    record_id: str
    version: int
    reprint: bool


@dataclass
class _Staged:
    """A bundle validated and sealed into the spool, ready for the transaction."""

    bundle_id: str
    sequence: int
    issuer: str
    key_id: str
    manifest_sha256: str
    records: list[_Key]  # in spool (line) order
    quarantined: list[Quarantined]
    warnings: list[str]


_FRAME = struct.Struct(">II")  # lengths of the JSON head and of the blob lengths
_LENGTH = struct.Struct(">I")


class _Spool:
    """Sealed record rows on disk, written once in order and read back once in order.

    A row is a JSON head of its text and number columns plus its byte columns (ciphertext),
    length-prefixed: no pickle, so reading the file back can never run code.
    """

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    def write(self, row: dict[str, Any]) -> None:
        """Append one row (values: str, int or bytes)."""
        blobs = {k: v for k, v in row.items() if isinstance(v, bytes)}
        head = json.dumps(
            {"columns": {k: v for k, v in row.items() if k not in blobs}, "blobs": list(blobs)}
        ).encode()
        lengths = b"".join(_LENGTH.pack(len(v)) for v in blobs.values())
        self._file.write(_FRAME.pack(len(head), len(lengths)))
        self._file.write(head)
        self._file.write(lengths)
        for value in blobs.values():
            self._file.write(value)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every row, from the first."""
        self._file.seek(0)
        read = self._file.read
        while frame := read(_FRAME.size):
            head_len, lengths_len = _FRAME.unpack(frame)
            head = json.loads(read(head_len))
            lengths = read(lengths_len)
            row: dict[str, Any] = head["columns"]
            for index, name in enumerate(head["blobs"]):
                (size,) = _LENGTH.unpack_from(lengths, index * _LENGTH.size)
                row[name] = read(size)
            yield row


def _stage(
    path: Path,
    spool: _Spool,
    keys: dict[str, Ed25519PublicKey],
    cipher: DataCipher,
    regency_code: str,
    limits: BundleLimits,
) -> _Staged:
    """Check the bundle (rules 1–4), then validate and seal each record into ``spool``.

    Raises :class:`BundleRejected`; then the spool holds rows that must not be stored.
    """
    with open_bundle(path, trusted_keys=keys, regency_code=regency_code, limits=limits) as bundle:
        staged = _Staged(
            bundle_id=bundle.bundle_id,
            sequence=bundle.sequence,
            issuer=bundle.issuer,
            key_id=bundle.key_id,
            manifest_sha256=bundle.manifest_sha256,
            records=[],
            quarantined=[],
            warnings=bundle.warnings,
        )
        for item in bundle.records():
            if isinstance(item, Quarantined):
                staged.quarantined.append(item)
                continue
            spool.write(
                seal_record(item, cipher, bundle_id=bundle.bundle_id, state=RecordState.READY)
            )
            staged.records.append(_Key(item.record_id, item.version, item.request_type.is_reprint))
    return staged


_T = TypeVar("_T")


def _chunks(items: Iterable[_T], size: int = CHUNK) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _store(
    session: Session,
    path: Path,
    parsed: _Staged,
    spool: _Spool,
    actor: str,
    station: str,
    clock: Clock,
) -> ImportOutcome:
    # The writers' one lock order (printctl.audit): the journal first, then rows; the
    # supersession below updates records that an approval or handover may also touch.
    lock_journal(session)
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
    plan = _new_versions(session, parsed.records, outcome)
    newest: dict[str, tuple[int, str]] = {}
    for planned in plan:
        if planned is not None and planned[1] is not RecordState.SUPERSEDED:
            newest[planned[0].record_id] = (planned[0].version, "")
    for q in parsed.quarantined:
        if q.record_id and q.version and q.version > newest.get(q.record_id, (0, ""))[0]:
            newest[q.record_id] = (q.version, f" (quarantined: {q.reason})")
    _supersede(session, newest, outcome, actor, station, clock)
    outcome.imported = _store_records(session, spool, plan, now)
    _store_quarantined(session, parsed.bundle_id, parsed.quarantined, now, outcome, station)
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
    # Every record's arrival is a state change of its own: journal each one. In chunks, each
    # appended to the chain's head as the previous chunk left it, so the chain is one.
    events = (
        EventSpec(
            action="record.imported",
            entity="record",
            entity_id=f"{key.record_id} v{key.version}",
            outcome=state.value,
            detail={"bundle_id": parsed.bundle_id},
        )
        for key, state, _why in (p for p in plan if p is not None)
    )
    quarantined = (
        EventSpec(
            action="record.quarantined",
            entity="record",
            entity_id=f"{q.record_id} v{q.version}" if q.record_id else f"line {q.line}",
            outcome="quarantined",
            detail={"bundle_id": parsed.bundle_id, "line": q.line, "reason": q.reason},
        )
        for q in parsed.quarantined
    )
    for chunk in _chunks(itertools.chain(events, quarantined)):
        record_events(session, chunk, actor=actor, station=station, clock=clock)
    return outcome


_Plan = list[tuple[_Key, RecordState, str] | None]


def _store_records(session: Session, spool: _Spool, plan: _Plan, now: datetime) -> int:
    """Insert the planned records from the spool, a chunk at a time; returns how many.

    ``plan`` is aligned with the spool: None skips a row (that version is already stored).
    """
    stored = 0

    def rows() -> Iterator[dict[str, Any]]:
        for row, planned in zip(spool.rows(), plan, strict=True):
            if planned is None:
                continue
            _key, state, why = planned
            row["state"] = state.value
            row["imported_at"] = now
            row["state_reason"] = why
            yield row

    for chunk in _chunks(rows()):
        # Core executemany, not the ORM's bulk path: a third of the cost for 10,000 rows.
        session.connection().execute(insert(Record), chunk)
        stored += len(chunk)
    return stored


def _store_quarantined(
    session: Session,
    bundle_id: str,
    quarantined: list[Quarantined],
    now: datetime,
    outcome: ImportOutcome,
    station: str,
) -> None:
    """Store the bundle's quarantined lines, each with its reason, and report them; the
    center hears of each one (``RECORD_QUARANTINED``), in the import's transaction."""
    for q in quarantined:
        outcome.quarantined.append(
            {"record_id": q.record_id, "version": q.version, "line": q.line, "reason": q.reason}
        )
    for chunk in _chunks(quarantined):
        session.execute(
            insert(QuarantinedRecord),
            [
                {
                    "bundle_id": bundle_id,
                    "line": q.line,
                    "record_id": q.record_id,
                    "version": q.version,
                    "reason": q.reason[:1000],
                    "at": now,
                }
                for q in chunk
            ],
        )
        outbox.add_events(
            session,
            [
                {
                    "type": EventType.RECORD_QUARANTINED.value,
                    "at": now,
                    "station": station,
                    "record_id": q.record_id,
                    "version": q.version,
                    "reason": q.reason,
                    "detail": {"bundle_id": bundle_id, "line": q.line},
                }
                for q in chunk
            ],
        )


def _new_versions(session: Session, records: list[_Key], outcome: ImportOutcome) -> _Plan:
    """Per spooled record: None if that version is stored already, else its state and why."""
    ids = sorted({r.record_id for r in records})
    stored: dict[str, dict[int, str]] = defaultdict(dict)
    busy: set[str] = set()  # record ids with a card in a printer or under inspection
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        for record_id, version, state in session.exec(
            select(Record.record_id, Record.version, Record.state).where(
                col(Record.record_id).in_(chunk)
            )
        ):
            stored[record_id][version] = state
        busy.update(
            session.exec(
                select(Record.record_id)
                .join(Job, col(Job.record_pk) == col(Record.id))
                .where(
                    col(Record.record_id).in_(chunk),
                    # A card is (or may be) in a printer: processing, stopped with the card
                    # inside, or in doubt.
                    col(Job.state).in_(
                        [s.value for s in (*ACTIVE_JOB_STATES, JobState.NEEDS_INSPECTION)]
                    ),
                )
            ).all()
        )
    newest_in_bundle: dict[str, int] = {}
    for record in records:
        newest_in_bundle[record.record_id] = max(
            record.version, newest_in_bundle.get(record.record_id, 0)
        )
    out: _Plan = []
    for record in records:
        versions = stored.get(record.record_id, {})
        if record.version in versions:
            outcome.warnings.append(
                f"{record.record_id} v{record.version} is already stored; kept the stored copy"
            )
            out.append(None)
            continue
        newest = max([newest_in_bundle[record.record_id], *versions.keys()])
        lower_states = {state for version, state in versions.items() if version < record.version}
        if record.version < newest:
            state, why = RecordState.SUPERSEDED, "a higher version was already imported"
        elif lower_states & _CARD_EXISTS or record.record_id in busy:
            # The person may already hold (or be about to hold) a card from a lower version:
            # printing this one is a reprint, and a person decides.
            state = RecordState.AWAITING_APPROVAL
            why = "a card of a lower version exists or may exist: reprint decision needed"
        elif record.reprint:
            state, why = RecordState.AWAITING_APPROVAL, ""
        else:
            state, why = RecordState.READY, ""
        out.append((record, state, why))
    return out


def _supersede(
    session: Session,
    newest: dict[str, tuple[int, str]],
    outcome: ImportOutcome,
    actor: str,
    station: str,
    clock: Clock,
) -> None:
    """Lower stored versions of incoming records: replace or report them (spec §3).

    ``newest`` maps a record id to its highest incoming version and a note (a quarantined
    higher version supersedes too: the center has replaced the data, even if badly).
    """
    if not newest:
        return
    ids = sorted(newest)
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        older = session.exec(select(Record).where(col(Record.record_id).in_(chunk))).all()
        for row in older:
            version, note = newest[row.record_id]
            if row.version >= version:
                continue
            label = f"{row.record_id} v{row.version}"
            if row.state in _REPLACEABLE:
                reason = f"superseded by version {version}{note}"
                if not _cancel_pending_jobs(session, row, reason, actor, station, clock):
                    # A printer took the job meanwhile: its card will exist; report it.
                    outcome.warnings.append(f"{label} is being printed; {reason}")
                    continue
                new_state = RecordState.SUPERSEDED.value
                outcome.superseded.append(label)
            elif row.state == RecordState.PRINTED.value:
                reason = (
                    f"printed, then version {version} arrived{note}: "
                    "the card carries outdated data and needs a reprint decision"
                )
                new_state = RecordState.PRINTED_OUTDATED.value
                outcome.printed_outdated.append(label)
                outcome.warnings.append(f"{label} was already printed; {reason}")
            else:
                # Superseded already, or a card in a printer / under inspection: a person
                # decides once its outcome is known.
                if row.state not in (RecordState.SUPERSEDED.value, RecordState.REFUSED.value):
                    outcome.warnings.append(
                        f"{label} is {row.state}; version {version} waits for a decision"
                    )
                continue
            retired = {"retired_at": clock()} if new_state == RecordState.SUPERSEDED.value else {}
            session.execute(
                update(Record)
                .where(col(Record.id) == row.id)
                .values(state=new_state, state_reason=reason, **retired)
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
) -> bool:
    """Cancel the record's pending jobs; False if one was claimed by a printer meanwhile."""
    jobs = session.exec(
        select(Job.id).where(
            col(Job.record_pk) == row.id,
            col(Job.state).in_([JobState.PENDING.value, JobState.PROCESSING.value]),
        )
    ).all()
    for job_id in jobs:
        assert job_id is not None
        try:
            transition_job(
                session,
                job_id,
                from_state=JobState.PENDING,
                to_state=JobState.CANCELED,
                reason=reason,
                actor=actor,
                station=station,
                clock=clock,
                columns={"error": reason[:1000]},
            )
        except TransitionConflict:
            return False
    return True
