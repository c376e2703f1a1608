"""Value types of the e-KTP domain shared by intake, rendering, storage and the queue.

A :class:`RecordData` is one validated print-ready record (spec ``prr-bundle-v1`` §3) with its
media loaded from the bundle. It holds personal data: it lives in memory only for as long as
importing, rendering or encoding needs it, and is stored encrypted (see :mod:`printctl.crypto`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date


class RequestType(enum.StrEnum):
    """Why a card is printed. Every type but ``NEW`` is a reprint and needs dual control."""

    NEW = "NEW"
    REPLACE_LOST = "REPLACE_LOST"
    REPLACE_DAMAGED = "REPLACE_DAMAGED"
    DATA_CHANGE = "DATA_CHANGE"

    @property
    def is_reprint(self) -> bool:
        """True for the types that need a supervisor's approval before they are queued."""
        return self is not RequestType.NEW


class Sex(enum.StrEnum):
    """The two values of the ``sex`` field, as printed on the card."""

    LAKI_LAKI = "LAKI-LAKI"
    PEREMPUAN = "PEREMPUAN"


@dataclass(frozen=True)
class ChipCommand:
    """One personalization command from the center: a command APDU and its expected status word."""

    apdu: bytes
    expect: bytes  # two bytes, e.g. b"\x90\x00"

    def to_json(self) -> dict[str, str]:
        """The spec's JSON form: upper-case hex strings."""
        return {"apdu": self.apdu.hex().upper(), "expect": self.expect.hex().upper()}


@dataclass(frozen=True, repr=False)
class RecordData:
    """A validated print-ready record, with its photo (JPEG) and signature (PNG) bytes.

    Its ``repr`` names the record only (id, version, masked NIK): a record that ends up in a
    traceback or a debug line must not carry a person's data with it.
    """

    record_id: str
    version: int
    request_type: RequestType
    nik: str
    name: str
    birth_place: str
    birth_date: date
    sex: Sex
    blood_type: str
    address: str
    rt: str
    rw: str
    village: str
    district: str
    regency: str
    province: str
    religion: str
    marital_status: str
    occupation: str
    citizenship: str
    valid_until: str
    issue_place: str
    photo: bytes
    signature: bytes
    chip_script: tuple[ChipCommand, ...] = ()
    dedup_ref: str = ""
    status: str = "PRINT_READY_RECORD"
    extra: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"RecordData({self.record_id} v{self.version}, nik={self.nik_masked})"

    @property
    def nik_masked(self) -> str:
        """The NIK as it may appear on screens and in logs: only its last 4 digits."""
        return mask_nik(self.nik)


def mask_nik(nik: str) -> str:
    """Mask a NIK to its last four digits (``************0001``)."""
    if len(nik) <= 4:
        return "*" * len(nik)
    return "*" * (len(nik) - 4) + nik[-4:]


def mask_last4(last4: str) -> str:
    """The masked form of a NIK of which only the last four digits are kept."""
    return "*" * 12 + last4
