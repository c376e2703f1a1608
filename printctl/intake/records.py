"""Record-level validation of one ``records.jsonl`` line, spec ``prr-bundle-v1`` §3.

A record that fails here is quarantined on its own; the rest of the bundle is imported.
:func:`validate_record` returns either a :class:`~printctl.domain.RecordData` or a reason.
Reasons are short human sentences and never carry a full NIK (they are stored, shown and
reported to the center).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from printctl.domain import ChipCommand, RecordData, RequestType, Sex
from printctl.intake.media import PHOTO, SIGNATURE, MediaChecks
from printctl.intake.nik import check_nik
from printctl.intake.regions import RegionTable

PRINT_READY = "PRINT_READY_RECORD"
NAME_MAX_CHARS = 60
SEUMUR_HIDUP = "SEUMUR HIDUP"

#: Text fields printed on the card (upper-cased on intake, as the card shows them).
TEXT_FIELDS: tuple[str, ...] = (
    "name",
    "birth_place",
    "address",
    "village",
    "district",
    "regency",
    "province",
    "religion",
    "marital_status",
    "occupation",
    "issue_place",
)

#: Every field of spec §3. All are required except ``dedup_ref`` (see :data:`OPTIONAL_FIELDS`).
REQUIRED_FIELDS: tuple[str, ...] = (
    "record_id",
    "version",
    "status",
    "request_type",
    "nik",
    "name",
    "birth_place",
    "birth_date",
    "sex",
    "blood_type",
    "address",
    "rt",
    "rw",
    "village",
    "district",
    "regency",
    "province",
    "religion",
    "marital_status",
    "occupation",
    "citizenship",
    "valid_until",
    "issue_place",
    "photo",
    "signature",
    "chip_script",
)
# dedup_ref is optional because RecordData gives it a default and it is not printed or sent to
# the chip: a record without it can still make a correct card.
OPTIONAL_FIELDS: tuple[str, ...] = ("dedup_ref",)
KNOWN_FIELDS = frozenset(REQUIRED_FIELDS) | frozenset(OPTIONAL_FIELDS)

RECORD_ID_RE = re.compile(r"[A-Z0-9-]{1,40}")
ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
BLOOD_TYPE_RE = re.compile(r"(?:A|B|AB|O)[+-]?|-")
RT_RW_RE = re.compile(r"\d{1,3}")
# Fast paths for the common all-ASCII case; the slow path checks Unicode categories.
ASCII_NAME_RE = re.compile(r"[A-Z .,'\-]+")
ASCII_TEXT_RE = re.compile(r"[A-Z0-9 .,'\-/()]+")
NAME_PUNCTUATION = frozenset(" .,'-\u2019")
# Non-name fields also need digits (house numbers), "/" and parentheses: real values such as
# the occupation "PETANI/PEKEBUN" or "JL. SUDIRMAN NO. 12/A" carry them.
TEXT_PUNCTUATION = NAME_PUNCTUATION | frozenset("/()")
MIN_APDU_BYTES = 4  # CLA INS P1 P2


@dataclass
class RecordContext:
    """What record validation needs from the bundle: its members and the media checks."""

    members: Mapping[str, bytes]
    regions: RegionTable | None
    media: MediaChecks = field(default_factory=MediaChecks)

    def photo_problem(self, name: str) -> str | None:
        """Why the photo member ``name`` is unusable, or None."""
        return self.media.problem(PHOTO, name, self.members.get(name))

    def signature_problem(self, name: str) -> str | None:
        """Why the signature member ``name`` is unusable, or None."""
        return self.media.problem(SIGNATURE, name, self.members.get(name))


@dataclass
class RecordOutcome:
    """The result of validating one line: a record or a reason, plus soft warnings."""

    record_id: str | None
    version: int | None
    record: RecordData | None = None
    reason: str | None = None
    unknown_fields: list[str] = field(default_factory=list)
    nik_warning_prefix: str | None = None


def _valid_record_id(value: object) -> str | None:
    if isinstance(value, str) and RECORD_ID_RE.fullmatch(value):
        return value
    return None


def _valid_version(value: object) -> int | None:
    # bool is an int subclass; "version": true must not pass as 1.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return None


def _text_problem(name: str, value: str) -> str | None:
    """Why ``value`` (already upper-cased, NFC) is not acceptable text for field ``name``."""
    is_name = name == "name"
    if (ASCII_NAME_RE if is_name else ASCII_TEXT_RE).fullmatch(value):
        return None
    allowed = NAME_PUNCTUATION if is_name else TEXT_PUNCTUATION
    for ch in value:
        if ch in allowed:
            continue
        category = unicodedata.category(ch)
        if category[0] in "LM" or (not is_name and category == "Nd"):
            continue
        return f"{name} contains a character that cannot be printed here (U+{ord(ch):04X})"
    return None


def _parse_iso_date(value: object) -> date | None:
    # date.fromisoformat alone accepts forms like "19900817" since 3.11; the spec says ISO
    # YYYY-MM-DD, so the shape is pinned first.
    if not isinstance(value, str) or not ISO_DATE_RE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _hex_bytes(value: object) -> bytes | None:
    """Bytes from a plain hex string, or None. Faster than a regex on long APDUs."""
    if not isinstance(value, str) or not value.isascii():
        return None
    try:
        data = bytes.fromhex(value)
    except ValueError:
        return None
    # fromhex skips whitespace between bytes; the spec's hex has none.
    return data if len(data) * 2 == len(value) else None


def _parse_chip_script(value: object) -> tuple[tuple[ChipCommand, ...] | None, str | None]:
    if not isinstance(value, list):
        return None, "chip_script is not a list"
    commands: list[ChipCommand] = []
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            return None, f"chip_script command {index} is not an object"
        apdu = _hex_bytes(item.get("apdu"))
        expect = _hex_bytes(item.get("expect"))
        if apdu is None:
            return None, f"chip_script command {index}: apdu is not hex bytes"
        if len(apdu) < MIN_APDU_BYTES:
            return None, f"chip_script command {index}: apdu is shorter than 4 bytes"
        if expect is None or len(expect) != 2:
            return None, f"chip_script command {index}: expect is not 4 hex digits"
        commands.append(ChipCommand(apdu, expect))
    return tuple(commands), None


def validate_record(obj: Any, ctx: RecordContext) -> RecordOutcome:
    """Validate one parsed ``records.jsonl`` line against spec §3.

    Status is checked first (a non-print-ready record is quarantined with its status as the
    reason, whatever else it lacks); then required fields; then every field rule. All field
    problems are reported together in one reason, joined by ``"; "``.
    """
    if not isinstance(obj, dict):
        return RecordOutcome(None, None, reason="line is not a JSON object")
    record_id = _valid_record_id(obj.get("record_id"))
    version = _valid_version(obj.get("version"))
    out = RecordOutcome(record_id, version)
    out.unknown_fields = [k for k in obj if k not in KNOWN_FIELDS]

    status = obj.get("status")
    if isinstance(status, str) and status and status != PRINT_READY:
        out.reason = status
        return out

    missing = [name for name in REQUIRED_FIELDS if obj.get(name) is None]
    if missing:
        out.reason = "missing required field" + ("s" if len(missing) > 1 else "") + ": "
        out.reason += ", ".join(missing)
        return out

    errors: list[str] = []
    if status != PRINT_READY:
        errors.append("status is not a non-empty string")
    if record_id is None:
        errors.append("record_id must be 1-40 characters of A-Z, 0-9 and '-'")
    if version is None:
        errors.append("version must be a whole number of at least 1")

    request_type: RequestType | None = None
    raw_type = obj["request_type"]
    try:
        request_type = RequestType(raw_type)
    except ValueError:
        errors.append(
            f"request_type {str(raw_type)[:40]!r} is not one of NEW, REPLACE_LOST, "
            "REPLACE_DAMAGED, DATA_CHANGE"
        )

    sex: Sex | None = None
    try:
        sex = Sex(obj["sex"])
    except ValueError:
        errors.append("sex must be LAKI-LAKI or PEREMPUAN")

    birth_date = _parse_iso_date(obj["birth_date"])
    if birth_date is None:
        errors.append("birth_date is not a real YYYY-MM-DD date")

    nik = obj["nik"]
    nik_check = check_nik(nik, sex=sex, birth_date=birth_date, regions=ctx.regions)
    errors.extend(nik_check.errors)
    if nik_check.warnings and isinstance(nik, str):
        out.nik_warning_prefix = f"{nik[0:2]}.{nik[2:4]}"

    texts: dict[str, str] = {}
    for name in TEXT_FIELDS:
        raw = obj[name]
        if not isinstance(raw, str):
            errors.append(f"{name} is not a string")
            continue
        value = raw.strip()
        if not value.isascii():
            value = unicodedata.normalize("NFC", value)
        value = value.upper()
        if not value:
            errors.append(f"{name} is empty")
            continue
        problem = _text_problem(name, value)
        if problem:
            errors.append(problem)
        texts[name] = value
    name_value = texts.get("name")
    if name_value is not None and len(name_value) > NAME_MAX_CHARS:
        errors.append(f"name has {len(name_value)} characters, at most {NAME_MAX_CHARS} allowed")

    blood_type = obj["blood_type"]
    if not isinstance(blood_type, str) or not BLOOD_TYPE_RE.fullmatch(blood_type):
        errors.append("blood_type must be A, B, AB or O, optionally with + or -, or - if unknown")
    for name in ("rt", "rw"):
        if not isinstance(obj[name], str) or not RT_RW_RE.fullmatch(obj[name]):
            errors.append(f"{name} must be 1-3 digits")

    citizenship = obj["citizenship"]
    valid_until = obj["valid_until"]
    if citizenship == "WNI":
        if valid_until != SEUMUR_HIDUP:
            errors.append("valid_until must be SEUMUR HIDUP for a WNI")
    elif citizenship == "WNA":
        if _parse_iso_date(valid_until) is None:
            errors.append("valid_until must be a YYYY-MM-DD date for a WNA")
    else:
        errors.append("citizenship must be WNI or WNA")

    photo = obj["photo"]
    signature = obj["signature"]
    if not isinstance(photo, str):
        errors.append("photo is not a member name")
    else:
        problem = ctx.photo_problem(photo)
        if problem:
            errors.append(f"photo {problem}")
    if not isinstance(signature, str):
        errors.append("signature is not a member name")
    else:
        problem = ctx.signature_problem(signature)
        if problem:
            errors.append(f"signature {problem}")

    chip_script, chip_problem = _parse_chip_script(obj["chip_script"])
    if chip_problem:
        errors.append(chip_problem)

    dedup_ref = obj.get("dedup_ref", "")
    if dedup_ref is None:
        dedup_ref = ""
    if not isinstance(dedup_ref, str):
        errors.append("dedup_ref is not a string")

    if errors:
        out.reason = "; ".join(errors)
        return out

    # Every narrowing below holds because errors is empty; asserts document it for mypy.
    assert record_id is not None and version is not None and request_type is not None
    assert sex is not None and birth_date is not None and chip_script is not None
    assert isinstance(photo, str) and isinstance(signature, str) and isinstance(dedup_ref, str)
    out.record = RecordData(
        record_id=record_id,
        version=version,
        request_type=request_type,
        nik=nik,
        name=texts["name"],
        birth_place=texts["birth_place"],
        birth_date=birth_date,
        sex=sex,
        blood_type=blood_type,
        address=texts["address"],
        rt=obj["rt"],
        rw=obj["rw"],
        village=texts["village"],
        district=texts["district"],
        regency=texts["regency"],
        province=texts["province"],
        religion=texts["religion"],
        marital_status=texts["marital_status"],
        occupation=texts["occupation"],
        citizenship=citizenship,
        valid_until=valid_until,
        issue_place=texts["issue_place"],
        photo=ctx.members[photo],
        signature=ctx.members[signature],
        chip_script=chip_script,
        dedup_ref=dedup_ref,
        status=PRINT_READY,
    )
    return out
