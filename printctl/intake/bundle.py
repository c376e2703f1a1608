"""Reading a print-ready record (PRR) bundle, spec ``prr-bundle-v1`` §2–§3.

:func:`read_bundle` applies the bundle-level rules in the spec's order and raises
:class:`BundleRejected` (one clear reason) at the first failure:

1. the ZIP opens and is safe (no absolute or ``..`` paths, no links, within the size limits);
2. ``manifest.sig`` verifies under a trusted center key with the manifest's ``key_id``, and the
   manifest is valid JSON of the spec's shape;
3. every listed member is present with its size and SHA-256, nothing unlisted exists, and
   ``count`` equals the number of lines of ``records.jsonl``;
4. ``regency_code`` is the office's own.

Then every record line is validated on its own (see :mod:`printctl.intake.records`): valid ones
are returned as :class:`~printctl.domain.RecordData`, the others as :class:`Quarantined` with a
reason. Nothing is stored here; storage and idempotency (by ``manifest_sha256``) belong to the
caller.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from printctl.domain import RecordData
from printctl.intake.media import MediaChecks
from printctl.intake.records import RecordContext, validate_record
from printctl.intake.regions import DEFAULT_REGIONS, RegionTable
from printctl.intake.zipsafe import (
    ZIP_READ_ERRORS,
    BundleLimits,
    MemberReader,
    UnsafeZipError,
    check_archive,
    member_path_problem,
    read_member,
)

__all__ = [
    "FORMAT",
    "BundleLimits",
    "BundleRejected",
    "ParsedBundle",
    "Quarantined",
    "load_public_key",
    "read_bundle",
]

FORMAT = "prr-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
RECORDS = "records.jsonl"
#: The two members the manifest cannot list (it cannot hash itself or its signature).
UNLISTED_MEMBERS = frozenset({MANIFEST, SIGNATURE})
MANIFEST_FIELDS = frozenset(
    {"format", "bundle_id", "issuer", "key_id", "regency_code", "created_at", "sequence", "members"}
)
BUNDLE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
REGENCY_CODE_RE = re.compile(r"\d{2}\.\d{2}")
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
#: How many record ids a warning lists before it says "…".
WARNING_EXAMPLES = 5
_NOT_JSON = object()  # marks a line that did not parse


class BundleRejected(Exception):
    """The whole bundle fails a bundle-level rule (spec §2 rules 1–4); nothing may be stored.

    ``reason`` is one human sentence. ``bundle_id`` is set only once the manifest's signature
    has verified, so it is never an attacker's claim. ``rule`` is the spec rule (1–4) that failed.
    """

    def __init__(self, reason: str, *, bundle_id: str | None = None, rule: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.bundle_id = bundle_id
        self.rule = rule


@dataclass(frozen=True)
class Quarantined:
    """A record line that failed record-level validation (spec §3), with its reason.

    ``record_id`` and ``version`` are None when the line does not carry valid ones; ``line``
    is the 1-based line number in ``records.jsonl``.
    """

    record_id: str | None
    version: int | None
    reason: str
    line: int


@dataclass
class ParsedBundle:
    """A bundle that passed rules 1–4, split into valid records and quarantined lines."""

    bundle_id: str
    sequence: int
    issuer: str
    key_id: str
    regency_code: str
    created_at: datetime
    manifest_sha256: str
    records: list[RecordData] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    line_count: int = 0


@dataclass(frozen=True)
class _MemberSpec:
    sha256: str
    size: int
    count: int | None


@dataclass(frozen=True)
class _Manifest:
    bundle_id: str
    issuer: str
    key_id: str
    regency_code: str
    created_at: datetime
    sequence: int
    members: Mapping[str, _MemberSpec]


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load a center's Ed25519 public key: PEM (SubjectPublicKeyInfo) or one line of base64 raw.

    Raises ValueError with a readable message when the file holds neither.
    """
    data = Path(path).read_bytes()
    if b"-----BEGIN" in data:
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{path}: the PEM key is not an Ed25519 public key")
        return key
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{path}: neither a PEM key nor base64") from exc
    if len(raw) != 32:
        raise ValueError(f"{path}: a raw Ed25519 public key has 32 bytes, this one has {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def _reject1(reason: str) -> BundleRejected:
    return BundleRejected(reason, rule=1)


def _parse_manifest_shape(obj: dict[str, Any], warnings: list[str]) -> _Manifest:
    """Check the manifest's shape (rule 2); raise BundleRejected(rule=2) on the first problem."""

    def bad(why: str) -> BundleRejected:
        return BundleRejected(f"manifest.json {why}", rule=2)

    if obj.get("format") != FORMAT:
        raise bad(f"format is {str(obj.get('format'))[:40]!r}, expected {FORMAT!r}")
    bundle_id = obj.get("bundle_id")
    if not isinstance(bundle_id, str) or not BUNDLE_ID_RE.fullmatch(bundle_id):
        raise bad("bundle_id is missing or not an identifier")
    issuer = obj.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise bad("issuer is missing")
    regency_code = obj.get("regency_code")
    if not isinstance(regency_code, str) or not REGENCY_CODE_RE.fullmatch(regency_code):
        raise bad("regency_code is missing or not of the form PP.RR")
    created_raw = obj.get("created_at")
    try:
        if not isinstance(created_raw, str):
            raise ValueError
        created_at = datetime.fromisoformat(created_raw)
        if created_at.tzinfo is None:
            raise ValueError
    except ValueError:
        raise bad("created_at is not an ISO-8601 timestamp with a time zone") from None
    sequence = obj.get("sequence")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
        raise bad("sequence is not a whole number")
    members_raw = obj.get("members")
    if not isinstance(members_raw, dict):
        raise bad("members is not an object")
    members: dict[str, _MemberSpec] = {}
    for name, spec in members_raw.items():
        if name in UNLISTED_MEMBERS:
            raise bad(f"members lists {name}, which cannot be listed")
        problem = member_path_problem(name)
        if problem:
            raise bad(f"members: {problem}")
        if not isinstance(spec, dict):
            raise bad(f"members entry {name!r} is not an object")
        sha = spec.get("sha256")
        size = spec.get("bytes")
        count = spec.get("count")
        if not isinstance(sha, str) or not SHA256_RE.fullmatch(sha):
            raise bad(f"members entry {name!r} has no valid sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad(f"members entry {name!r} has no valid bytes")
        if name == RECORDS and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
            raise bad(f"members entry {RECORDS!r} has no valid count")
        members[name] = _MemberSpec(sha.lower(), size, count if name == RECORDS else None)
    if RECORDS not in members:
        raise bad(f"members does not list {RECORDS}")
    unknown = sorted(set(obj) - MANIFEST_FIELDS)
    if unknown:
        warnings.append("manifest.json: unknown field(s) ignored: " + ", ".join(unknown))
    key_id = obj["key_id"]  # checked by the caller before the signature
    return _Manifest(
        bundle_id=bundle_id,
        issuer=issuer,
        key_id=key_id,
        regency_code=regency_code,
        created_at=created_at.astimezone(UTC),
        sequence=sequence,
        members=members,
    )


def _count_lines(data: bytes) -> int:
    """Lines of a ``\\n``-separated file; a final line without ``\\n`` still counts."""
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def read_bundle(
    path: Path,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    regency_code: str,
    limits: BundleLimits = BundleLimits(),
    regions: RegionTable | None = DEFAULT_REGIONS,
) -> ParsedBundle:
    """Read and validate the PRR bundle at ``path`` for the office ``regency_code`` (``"14.09"``).

    ``trusted_keys`` maps center ``key_id`` to its public key. Raises :class:`BundleRejected`
    for rules 1–4 (including a missing or non-ZIP file) and nothing else for bad input; record
    problems are returned in ``quarantined``. ``regions`` drives the NIK prefix warnings.
    """
    path = Path(path)
    warnings: list[str] = []
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise _reject1(f"the bundle file {path.name!r} does not exist") from None
    except IsADirectoryError:
        raise _reject1(f"{path.name!r} is a directory, not a bundle file") from None
    except zipfile.BadZipFile:
        raise _reject1("the bundle file is not a ZIP archive") from None
    except ZIP_READ_ERRORS as exc:
        raise _reject1(f"the bundle file cannot be opened as a ZIP archive ({exc})") from None

    with zf, contextlib.ExitStack() as stack:
        # --- rule 1: a safe archive -------------------------------------------------------
        try:
            files = check_archive(zf, limits)
        except UnsafeZipError as exc:
            raise _reject1(str(exc)) from None
        by_name = {info.filename: info for info in files}

        # --- rule 2: signed manifest of the right shape ------------------------------------
        manifest_info = by_name.get(MANIFEST)
        sig_info = by_name.get(SIGNATURE)
        if manifest_info is None:
            raise BundleRejected("the bundle has no manifest.json", rule=2)
        if sig_info is None:
            raise BundleRejected("the bundle has no manifest.sig", rule=2)
        if manifest_info.file_size > limits.max_manifest_bytes:
            raise BundleRejected("manifest.json is larger than the configured limit", rule=2)
        if sig_info.file_size > 1024:
            raise BundleRejected("manifest.sig is not a single base64 signature", rule=2)
        try:
            manifest_bytes = read_member(zf, manifest_info)
            sig_text = read_member(zf, sig_info)
        except ZIP_READ_ERRORS:
            raise BundleRejected("manifest.json or manifest.sig is corrupt", rule=2) from None
        try:
            manifest_obj = json.loads(manifest_bytes.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BundleRejected("manifest.json is not valid UTF-8 JSON", rule=2) from None
        if not isinstance(manifest_obj, dict):
            raise BundleRejected("manifest.json is not a JSON object", rule=2)
        key_id = manifest_obj.get("key_id")
        if not isinstance(key_id, str) or not key_id:
            raise BundleRejected("manifest.json has no key_id", rule=2)
        public_key = trusted_keys.get(key_id)
        if public_key is None:
            raise BundleRejected(
                f"the manifest is signed with key {key_id[:64]!r}, which is not a trusted "
                "center key",
                rule=2,
            )
        try:
            signature = base64.b64decode(sig_text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise BundleRejected(
                "the manifest signature (manifest.sig) is not valid base64", rule=2
            ) from None
        try:
            public_key.verify(signature, manifest_bytes)
        except InvalidSignature:
            raise BundleRejected(
                f"the manifest signature (manifest.sig) does not verify under the center key {key_id!r}",
                rule=2,
            ) from None
        manifest = _parse_manifest_shape(manifest_obj, warnings)
        bundle_id = manifest.bundle_id

        def reject(reason: str, rule: int) -> BundleRejected:
            return BundleRejected(reason, bundle_id=bundle_id, rule=rule)

        # --- rule 3: members exactly as listed ---------------------------------------------
        for name in manifest.members:
            if name not in by_name:
                raise reject(f"member {name!r} is listed in the manifest but missing", 3)
        for name in by_name:
            if name not in manifest.members and name not in UNLISTED_MEMBERS:
                raise reject(f"member {name!r} is not listed in the manifest", 3)
        for name, spec in manifest.members.items():
            if by_name[name].file_size != spec.size:
                raise reject(
                    f"member {name!r} has {by_name[name].file_size} bytes, the manifest says "
                    f"{spec.size}",
                    3,
                )
        record_count = manifest.members[RECORDS].count
        assert record_count is not None  # _parse_manifest_shape requires it
        if record_count > limits.max_records:
            raise reject(
                f"the bundle has {record_count} records, more than the limit {limits.max_records}",
                3,
            )
        contents: dict[str, bytes] = {}
        # Media checks start on worker threads as soon as a member is read and its hash matches
        # the signed manifest (so only center-signed bytes ever reach the image decoders). When
        # rule 4 is bound to fail anyway, nothing is decoded ahead.
        workers = limits.media_workers if manifest.regency_code == regency_code else 1
        media = stack.enter_context(MediaChecks(limits.max_image_pixels, workers))
        # Read in archive order: sequential on disk, and each member is hashed right after its
        # single read.
        with MemberReader(zf, path) as reader:
            for info in files:
                if info.filename in UNLISTED_MEMBERS:
                    continue
                spec = manifest.members[info.filename]
                try:
                    # The SHA-256 below is the integrity check; CRC-32 would repeat it.
                    data = reader.read(info, verify_crc=False)
                except ZIP_READ_ERRORS:
                    raise reject(f"member {info.filename!r} is corrupt", 3) from None
                if hashlib.sha256(data).hexdigest() != spec.sha256:
                    raise reject(f"member {info.filename!r} does not match its SHA-256", 3)
                contents[info.filename] = data
                media.submit(info.filename, data)
        media.flush()
        records_data = contents[RECORDS]
        line_count = _count_lines(records_data)
        if line_count != record_count:
            raise reject(
                f"{RECORDS} has {line_count} lines, the manifest count says {record_count}", 3
            )

        # --- rule 4: this office's bundle ---------------------------------------------------
        if manifest.regency_code != regency_code:
            raise reject(
                f"the bundle is for regency {manifest.regency_code}, this office is {regency_code}",
                4,
            )

        parsed = ParsedBundle(
            bundle_id=bundle_id,
            sequence=manifest.sequence,
            issuer=manifest.issuer,
            key_id=manifest.key_id,
            regency_code=manifest.regency_code,
            created_at=manifest.created_at,
            manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
            warnings=warnings,
            line_count=line_count,
        )
        _validate_records(records_data, RecordContext(contents, regions, media), parsed)
    return parsed


def _validate_records(data: bytes, ctx: RecordContext, parsed: ParsedBundle) -> None:
    """Validate every line into ``parsed.records`` / ``parsed.quarantined`` / warnings."""
    lines = data.split(b"\n") if data else []
    if data.endswith(b"\n"):
        lines.pop()
    objs: list[Any] = []
    for raw in lines:
        try:
            objs.append(json.loads(raw))
        except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
            objs.append(_NOT_JSON)

    first_line: dict[tuple[str, int], int] = {}
    unknown_fields: dict[str, list[int]] = {}
    prefix_records: dict[str, list[str]] = {}
    for number, obj in enumerate(objs, start=1):
        if obj is _NOT_JSON:
            parsed.quarantined.append(
                Quarantined(None, None, "line is not valid UTF-8 JSON", number)
            )
            continue
        if isinstance(obj, dict):
            rid, ver = obj.get("record_id"), obj.get("version")
            if isinstance(rid, str) and isinstance(ver, int) and not isinstance(ver, bool):
                key = (rid, ver)
                if key in first_line:
                    reason = f"duplicate of record {rid} version {ver} on line {first_line[key]}"
                    parsed.quarantined.append(Quarantined(rid, ver, reason, number))
                    continue
                first_line[key] = number
        outcome = validate_record(obj, ctx)
        for name in outcome.unknown_fields:
            unknown_fields.setdefault(name, []).append(number)
        if outcome.record is not None:
            parsed.records.append(outcome.record)
            if outcome.nik_warning_prefix is not None:
                prefix_records.setdefault(outcome.nik_warning_prefix, []).append(
                    outcome.record.record_id
                )
        else:
            assert outcome.reason is not None
            parsed.quarantined.append(
                Quarantined(outcome.record_id, outcome.version, outcome.reason, number)
            )
    # One warning per distinct problem, not per record: a 10,000-line bundle with one extra
    # field must not bury the operator.
    for name, where in unknown_fields.items():
        plural = "s" if len(where) > 1 else ""
        parsed.warnings.append(
            f"unknown record field {name[:40]!r} ignored in {len(where)} record{plural} "
            f"(first on line {where[0]})"
        )
    for prefix, ids in prefix_records.items():
        shown = ", ".join(ids[:WARNING_EXAMPLES]) + (", …" if len(ids) > WARNING_EXAMPLES else "")
        parsed.warnings.append(
            f"NIK prefix {prefix} is not in the office's region table "
            f"({len(ids)} record{'s' if len(ids) > 1 else ''}: {shown})"
        )
