"""Stored records: sealing a :class:`RecordData` into a row, opening it again, listing them.

The associated data of every ciphertext is ``record_id:version:part``, so a blob copied onto
another row (or into another part of the same row) fails to decrypt instead of printing the
wrong person's data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, func, select

from printctl.crypto import DataCipher
from printctl.domain import ChipCommand, RecordData, RequestType, Sex, mask_last4
from printctl.models import QuarantinedRecord, Record, RecordState

# Fields of RecordData kept as text inside the encrypted payload; the media are sealed apart
# and the typed fields are written out by seal_record.
_PAYLOAD_FIELDS = tuple(
    f.name
    for f in fields(RecordData)
    if f.name not in {"version", "birth_date", "photo", "signature", "chip_script", "extra"}
)


def _aad(record_id: str, version: int, part: str) -> bytes:
    return f"{record_id}:{version}:{part}".encode()


def seal_record(
    record: RecordData, cipher: DataCipher, *, bundle_id: str, state: RecordState
) -> dict[str, Any]:
    """The column values of a new :class:`Record` row for ``record`` (personal data sealed)."""
    payload: dict[str, Any] = {name: str(getattr(record, name)) for name in _PAYLOAD_FIELDS}
    payload["version"] = record.version
    payload["birth_date"] = record.birth_date.isoformat()
    payload["chip_script"] = [command.to_json() for command in record.chip_script]
    payload["extra"] = record.extra
    rid, ver = record.record_id, record.version
    return {
        "record_id": rid,
        "version": ver,
        "bundle_id": bundle_id,
        "request_type": record.request_type.value,
        "district": record.district,
        "nik_hash": cipher.nik_hash(record.nik),
        "nik_last4": record.nik[-4:],
        "state": state.value,
        "payload": cipher.encrypt(
            json.dumps(payload, ensure_ascii=False).encode("utf-8"), _aad(rid, ver, "payload")
        ),
        "photo": cipher.encrypt(record.photo, _aad(rid, ver, "photo")),
        "signature": cipher.encrypt(record.signature, _aad(rid, ver, "signature")),
    }


def open_record(row: Record, cipher: DataCipher) -> RecordData:
    """Decrypt a stored row back into a :class:`RecordData` (for rendering and encoding only)."""
    rid, ver = row.record_id, row.version
    data = json.loads(cipher.decrypt(row.payload, _aad(rid, ver, "payload")))
    return RecordData(
        record_id=rid,
        version=ver,
        request_type=RequestType(data["request_type"]),
        nik=data["nik"],
        name=data["name"],
        birth_place=data["birth_place"],
        birth_date=date.fromisoformat(data["birth_date"]),
        sex=Sex(data["sex"]),
        blood_type=data["blood_type"],
        address=data["address"],
        rt=data["rt"],
        rw=data["rw"],
        village=data["village"],
        district=data["district"],
        regency=data["regency"],
        province=data["province"],
        religion=data["religion"],
        marital_status=data["marital_status"],
        occupation=data["occupation"],
        citizenship=data["citizenship"],
        valid_until=data["valid_until"],
        issue_place=data["issue_place"],
        photo=cipher.decrypt(row.photo, _aad(rid, ver, "photo")),
        signature=cipher.decrypt(row.signature, _aad(rid, ver, "signature")),
        chip_script=tuple(
            ChipCommand(bytes.fromhex(c["apdu"]), bytes.fromhex(c["expect"]))
            for c in data["chip_script"]
        ),
        dedup_ref=data["dedup_ref"],
        status=data["status"],
        extra=dict(data.get("extra") or {}),
    )


def record_nik(row: Record, cipher: DataCipher) -> str | None:
    """The holder's NIK from the sealed payload; None once retention has erased it."""
    if row.erased_at is not None or not row.payload:
        return None
    data = json.loads(cipher.decrypt(row.payload, _aad(row.record_id, row.version, "payload")))
    nik = data.get("nik")
    return str(nik) if nik else None


def has_newer_version(session: Session, record_pk: int) -> bool:
    """True when a higher version of this record has been imported."""
    row = session.get(Record, record_pk)
    if row is None:
        return False
    newer = session.exec(
        select(func.count()).where(
            col(Record.record_id) == row.record_id, col(Record.version) > row.version
        )
    ).one()
    return bool(newer)


@dataclass(frozen=True)
class RecordSummary:
    """What ``printctl records list`` shows of a record: no personal data but the NIK's tail."""

    record_id: str | None
    version: int | None
    request_type: str | None
    state: str
    district: str | None
    nik: str | None  # masked
    reason: str
    bundle_id: str
    handed_over_at: datetime | None = None
    surrender: str = ""  #: to-surrender / surrendered (an older card a data change replaced)
    erased: bool = False  #: its personal data was erased after the retention period

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = dict(self.__dict__)
        out["handed_over_at"] = self.handed_over_at.isoformat() if self.handed_over_at else None
        return out

    @property
    def status(self) -> str:
        """The state with what else a person should see at a glance."""
        parts = [self.state]
        if self.handed_over_at is not None:
            parts.append(f"handed over {self.handed_over_at:%Y-%m-%d}")
        if self.surrender:
            parts.append(self.surrender)
        if self.erased:
            parts.append("data erased")
        return ", ".join(parts)


def list_records(session: Session, *, state: str | None = None) -> list[RecordSummary]:
    """Stored records and quarantined lines, oldest first, optionally of one state."""
    out: list[RecordSummary] = []
    if state != "quarantined":
        query = select(Record).order_by(col(Record.id))
        if state is not None:
            query = query.where(col(Record.state) == state)
        for row in session.exec(query):
            out.append(
                RecordSummary(
                    record_id=row.record_id,
                    version=row.version,
                    request_type=row.request_type,
                    state=row.state,
                    district=row.district,
                    nik=mask_last4(row.nik_last4),
                    reason=row.state_reason,
                    bundle_id=row.bundle_id,
                    handed_over_at=row.handed_over_at,
                    surrender=row.surrender,
                    erased=row.erased_at is not None,
                )
            )
    if state in (None, "quarantined"):
        for q in session.exec(select(QuarantinedRecord).order_by(col(QuarantinedRecord.id))):
            out.append(
                RecordSummary(
                    record_id=q.record_id,
                    version=q.version,
                    request_type=None,
                    state="quarantined",
                    district=None,
                    nik=None,
                    reason=q.reason,
                    bundle_id=q.bundle_id,
                )
            )
    return out
