"""Reading a print-ready record (PRR) bundle, spec ``prr-bundle-v1`` §2–§3.

:func:`open_bundle` applies the bundle-level rules in the spec's order and raises
:class:`BundleRejected` (one clear reason) at the first failure:

1. the ZIP opens and is safe (no absolute or ``..`` paths, no links, within the size limits);
2. ``manifest.sig`` verifies under a trusted center key with the manifest's ``key_id``, and the
   manifest is valid JSON of the spec's shape;
3. every listed member is present with its size and SHA-256, nothing unlisted exists, and
   ``count`` equals the number of lines of ``records.jsonl``;
4. ``regency_code`` is the office's own.

Rule 3 streams every member through SHA-256 in bounded chunks and keeps none of them, so a
bundle of 100,000 records (over a gigabyte) is checked in bounded memory. Then
:meth:`VerifiedBundle.records` streams ``records.jsonl`` line by line: each record is validated
on its own (see :mod:`printctl.intake.records`), reading only its own photo and signature
(hashed again, so bytes changed on the medium since rule 3 reject the bundle), a bounded
number of records ahead so the media checks run on worker threads meanwhile. Valid lines come
out as :class:`~printctl.domain.RecordData`, the others as :class:`Quarantined` with a reason.
:func:`read_bundle` collects all of it, for small bundles. Nothing is stored here; storage and
idempotency (by ``manifest_sha256``) belong to the caller.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from printctl.domain import RecordData
from printctl.intake.media import PHOTO, MediaChecks
from printctl.intake.media import SIGNATURE as SIGNATURE_ROLE
from printctl.intake.records import RecordContext, validate_record
from printctl.intake.regions import DEFAULT_REGIONS, RegionTable
from printctl.intake.zipdir import NotAZipFile, ZipDirectory, ZipFormatError
from printctl.intake.zipsafe import (
    ZIP_READ_ERRORS,
    BundleLimits,
    UnsafeZipError,
    check_directory,
    member_path_problem,
    open_directory,
)

__all__ = [
    "FORMAT",
    "BundleLimits",
    "BundleRejected",
    "ParsedBundle",
    "Quarantined",
    "VerifiedBundle",
    "load_public_key",
    "open_bundle",
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
_SPEC_KEYS = frozenset({"sha256", "bytes", "count"})
#: Bytes read at a time when hashing or splitting a member.
_CHUNK = 1 << 20


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


class _Spec:
    """One ``members`` entry of the manifest, compact: a bundle lists ~200,000 of them."""

    __slots__ = ("count", "sha256", "size")

    def __init__(self, sha256: bytes, size: int, count: int | None) -> None:
        self.sha256 = sha256  # the digest itself, half the memory of its hex
        self.size = size
        self.count = count

    def as_dict(self) -> dict[str, Any]:
        """The JSON object this entry was parsed from (for objects that only looked like one)."""
        out: dict[str, Any] = {"sha256": self.sha256.hex(), "bytes": self.size}
        if self.count is not None:
            out["count"] = self.count
        return out


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _as_spec(pairs: list[tuple[str, Any]]) -> _Spec | None:
    """The :class:`_Spec` of a well-formed ``members`` entry, or None for anything else."""
    obj = dict(pairs)
    if not set(obj) <= _SPEC_KEYS:
        return None
    sha, size, count = obj.get("sha256"), obj.get("bytes"), obj.get("count")
    if not isinstance(sha, str) or not SHA256_RE.fullmatch(sha) or not isinstance(size, int):
        return None
    if not _whole(size):
        return None
    if "count" in obj and not _whole(count):
        return None
    return _Spec(bytes.fromhex(sha), size, count)


class _Members:
    """The manifest's ``members`` map, compact: indexed like the archive's central directory.

    A bundle lists ~200,000 members; a dict of name → entry would hold a second copy of every
    name plus an object per entry. Here the SHA-256 of member ``i`` of the archive is 32 bytes
    of one buffer, and the listed sizes are only compared with the directory's (rule 3), not
    kept: once they match, the directory's vetted sizes are the signed ones. Names the
    manifest lists but the archive lacks, and the first size that differs, are kept for the
    rule 3 reasons, to be given only after the signature verifies.
    """

    def __init__(self, by_name: Mapping[str, int], sizes: array[int]) -> None:
        self._by_name = by_name
        self._listed = bytearray(len(sizes))
        self._digests = bytearray(32 * len(sizes))
        self._sizes = sizes
        self.first_missing: str | None = None
        self.first_wrong_size: tuple[str, int, int] | None = None  # name, archive, manifest
        self.records_count: int | None = None

    def add(self, name: str, spec: _Spec) -> bool:
        """Record one entry (in manifest order); False if ``name`` was listed already."""
        index = self._by_name.get(name)
        if index is None:
            if self.first_missing is None:
                self.first_missing = name
            return True
        if self._listed[index]:
            return False
        self._listed[index] = 1
        self._digests[32 * index : 32 * index + 32] = spec.sha256
        if spec.size != self._sizes[index] and self.first_wrong_size is None:
            self.first_wrong_size = (name, self._sizes[index], spec.size)
        if name == RECORDS:
            self.records_count = spec.count
        return True

    def __contains__(self, name: object) -> bool:
        index = self._by_name.get(name) if isinstance(name, str) else None
        return index is not None and bool(self._listed[index])

    def sha256(self, name: str) -> bytes:
        """The listed digest of member ``name`` (which must be listed)."""
        index = self._by_name[name]
        return bytes(self._digests[32 * index : 32 * index + 32])

    def size(self, name: str) -> int:
        """The vetted size of member ``name``: the manifest's, once rule 3 has compared them."""
        return self._sizes[self._by_name[name]]


class _ManifestReader:
    """``json`` object hook for the manifest, and the compact :class:`_Members` it builds.

    Parsing 200,000 entries into dicts would cost several times the memory: a well-formed
    ``members`` entry becomes a :class:`_Spec`, and the first object made only of such entries
    whose names are all acceptable (that is the ``members`` map) goes straight into a
    :class:`_Members`. Anything else stays a dict and gets the full checks (and their
    messages) of :func:`_parse_manifest_shape`. Only one :class:`_Members` is ever built, so a
    manifest of many small look-alike maps cannot make it allocate one buffer each.
    """

    def __init__(self, by_name: Mapping[str, int], sizes: array[int]) -> None:
        self._by_name = by_name
        self._sizes = sizes
        self.members: _Members | None = None

    def hook(self, pairs: list[tuple[str, Any]]) -> Any:
        """Turn one parsed JSON object (its key/value pairs) into what the manifest keeps."""
        spec = _as_spec(pairs)
        if spec is not None:
            return spec
        if self.members is None and pairs and all(isinstance(v, _Spec) for _k, v in pairs):
            members = self.compact(pairs)
            if members is not None:
                self.members = members
                return members
        return dict(pairs)

    def compact(self, pairs: Iterable[tuple[str, _Spec]]) -> _Members | None:
        """The :class:`_Members` of these entries, or None if they need the full checks."""
        members = _Members(self._by_name, self._sizes)
        for name, spec in pairs:
            if name in UNLISTED_MEMBERS or member_path_problem(name) is not None:
                return None
            if name == RECORDS and spec.count is None:
                return None
            if not members.add(name, spec):
                return None  # a name listed twice: the dict path keeps the last, as JSON does
        if RECORDS not in members:
            return None
        return members


@dataclass(frozen=True)
class _Manifest:
    bundle_id: str
    issuer: str
    key_id: str
    regency_code: str
    created_at: datetime
    sequence: int
    members: _Members


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


def _parse_manifest_shape(
    obj: dict[str, Any], reader: _ManifestReader, warnings: list[str]
) -> _Manifest:
    """Check the manifest's shape (rule 2); raise BundleRejected(rule=2) on the first problem.

    ``obj`` was parsed with ``reader``'s hook.
    """

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
    if isinstance(members_raw, _Members):  # its entries passed the checks below already
        return _manifest(obj, members_raw, warnings)
    if isinstance(members_raw, _Spec):
        members_raw = members_raw.as_dict()
    if not isinstance(members_raw, dict):
        raise bad("members is not an object")
    members: dict[str, _Spec] = {}
    for name, spec in members_raw.items():
        if name in UNLISTED_MEMBERS:
            raise bad(f"members lists {name}, which cannot be listed")
        problem = member_path_problem(name)
        if problem:
            raise bad(f"members: {problem}")
        if isinstance(spec, _Spec):  # checked by _compact_member_spec
            if name != RECORDS:
                spec.count = None
            elif spec.count is None:
                raise bad(f"members entry {RECORDS!r} has no valid count")
            members[name] = spec
            continue
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
        members[name] = _Spec(bytes.fromhex(sha), size, count if name == RECORDS else None)
    if RECORDS not in members:
        raise bad(f"members does not list {RECORDS}")
    compact = reader.compact(members.items())
    assert compact is not None  # the names were checked above, and a dict has no duplicates
    return _manifest(obj, compact, warnings)


def _manifest(obj: dict[str, Any], members: _Members, warnings: list[str]) -> _Manifest:
    """The :class:`_Manifest` of ``obj``, whose fields :func:`_parse_manifest_shape` checked."""
    unknown = sorted(set(obj) - MANIFEST_FIELDS)
    if unknown:
        warnings.append("manifest.json: unknown field(s) ignored: " + ", ".join(unknown))
    return _Manifest(
        bundle_id=obj["bundle_id"],
        issuer=obj["issuer"],
        key_id=obj["key_id"],  # checked by the caller before the signature
        regency_code=obj["regency_code"],
        created_at=datetime.fromisoformat(obj["created_at"]).astimezone(UTC),
        sequence=obj["sequence"],
        members=members,
    )


def _open_zip(path: Path, limits: BundleLimits) -> ZipDirectory:
    """Open the archive's central directory or raise BundleRejected(rule=1) with the reason."""
    try:
        return open_directory(path, limits)
    except FileNotFoundError:
        raise _reject1(f"the bundle file {path.name!r} does not exist") from None
    except IsADirectoryError:
        raise _reject1(f"{path.name!r} is a directory, not a bundle file") from None
    except UnsafeZipError as exc:
        raise _reject1(str(exc)) from None
    except NotAZipFile:
        raise _reject1("the bundle file is not a ZIP archive") from None
    except ZipFormatError as exc:
        raise _reject1(f"the bundle file is a corrupt ZIP archive ({exc})") from None
    except OSError as exc:
        raise _reject1(f"the bundle file cannot be opened as a ZIP archive ({exc})") from None


def _read_small(zd: ZipDirectory, index: int) -> bytearray:
    """A vetted member read in chunks into one buffer (no intermediate copies).

    The buffer is sized up front: growing it chunk by chunk over-allocates, and the manifest
    of a large bundle is tens of MB read at the import's peak.
    """
    out = bytearray(zd.size[index])
    view = memoryview(out)
    at = 0
    for chunk in zd.chunks(index):  # never more than the vetted size in total
        view[at : at + len(chunk)] = chunk
        at += len(chunk)
    view.release()
    return out


def _member_digest(zd: ZipDirectory, index: int, lines: list[int] | None) -> bytes:
    """SHA-256 of a vetted member, read in bounded chunks; counts lines into ``lines``."""
    if lines is None and zd.size[index] <= _CHUNK:
        # The SHA-256 is the integrity check; CRC-32 would repeat it.
        return hashlib.sha256(zd.read(index, verify_crc=False)).digest()
    digest = hashlib.sha256()
    newlines, last = 0, b""
    for chunk in zd.chunks(index, _CHUNK):
        digest.update(chunk)
        newlines += chunk.count(b"\n")
        last = chunk[-1:]
    if lines is not None:
        # A final line without "\n" still counts.
        lines.append(newlines + (1 if last not in (b"", b"\n") else 0))
    return digest.digest()


def _iter_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The ``\\n``-separated lines of the bytes in ``chunks``, without their ``\\n``."""
    rest = b""
    for chunk in chunks:
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _hashing(chunks: Iterator[bytes], digest: Any) -> Iterator[bytes]:
    """``chunks`` unchanged, each fed through ``digest`` on its way."""
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


@contextlib.contextmanager
def open_bundle(
    path: Path,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    regency_code: str,
    limits: BundleLimits = BundleLimits(),
    regions: RegionTable | None = DEFAULT_REGIONS,
) -> Iterator[VerifiedBundle]:
    """Check rules 1–4 on the bundle at ``path`` and yield it, open, to stream its records.

    Raises :class:`BundleRejected` (from the ``with``) at the first failing rule, including a
    missing or non-ZIP file, and nothing else for bad input. Every member is read once through
    SHA-256 in bounded chunks before the ``with`` body runs, so a bundle with any bad member is
    rejected before a single record is looked at. Record problems come out of
    :meth:`VerifiedBundle.records` as :class:`Quarantined`.
    """
    path = Path(path)
    warnings: list[str] = []
    zd = _open_zip(path, limits)
    with zd, contextlib.ExitStack() as stack:
        # --- rule 1: a safe archive -------------------------------------------------------
        try:
            by_name = check_directory(zd, limits)
        except UnsafeZipError as exc:
            raise _reject1(str(exc)) from None

        # --- rule 2: signed manifest of the right shape ------------------------------------
        manifest_index = by_name.get(MANIFEST)
        sig_index = by_name.get(SIGNATURE)
        if manifest_index is None:
            raise BundleRejected("the bundle has no manifest.json", rule=2)
        if sig_index is None:
            raise BundleRejected("the bundle has no manifest.sig", rule=2)
        if zd.size[manifest_index] > limits.max_manifest_bytes:
            raise BundleRejected("manifest.json is larger than the configured limit", rule=2)
        if zd.size[sig_index] > 1024:
            raise BundleRejected("manifest.sig is not a single base64 signature", rule=2)
        try:
            manifest_bytes = _read_small(zd, manifest_index)
            sig_text = zd.read(sig_index)
        except ZIP_READ_ERRORS:
            raise BundleRejected("manifest.json or manifest.sig is corrupt", rule=2) from None
        # The hook files the members map straight into compact columns while parsing: the
        # raw bytes and a dict of 200,000 entries are never held at once.
        manifest_reader = _ManifestReader(by_name, zd.size)
        try:
            manifest_obj = json.loads(manifest_bytes, object_pairs_hook=manifest_reader.hook)
        except (UnicodeDecodeError, ValueError):
            raise BundleRejected("manifest.json is not valid UTF-8 JSON", rule=2) from None
        if isinstance(manifest_obj, _Spec):
            manifest_obj = manifest_obj.as_dict()
        if not isinstance(manifest_obj, dict):
            # A top-level object made only of member entries has no key_id either.
            if isinstance(manifest_obj, _Members):
                raise BundleRejected("manifest.json has no key_id", rule=2)
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
        manifest_sha256 = hashlib.sha256(manifest_bytes).hexdigest()
        del manifest_bytes  # tens of MB for a large bundle; only its hash is needed from here
        manifest = _parse_manifest_shape(manifest_obj, manifest_reader, warnings)
        del manifest_obj, manifest_reader
        bundle_id = manifest.bundle_id
        members = manifest.members

        def reject(reason: str, rule: int) -> BundleRejected:
            return BundleRejected(reason, bundle_id=bundle_id, rule=rule)

        # --- rule 3: members exactly as listed ---------------------------------------------
        if members.first_missing is not None:
            raise reject(
                f"member {members.first_missing!r} is listed in the manifest but missing", 3
            )
        for name in by_name:
            if name not in members and name not in UNLISTED_MEMBERS:
                raise reject(f"member {name!r} is not listed in the manifest", 3)
        if members.first_wrong_size is not None:
            name, actual, listed = members.first_wrong_size
            raise reject(f"member {name!r} has {actual} bytes, the manifest says {listed}", 3)
        record_count = members.records_count
        assert record_count is not None  # _parse_manifest_shape requires it
        if record_count > limits.max_records:
            raise reject(
                f"the bundle has {record_count} records, more than the limit {limits.max_records}",
                3,
            )
        # Every member through SHA-256 in archive order (sequential on disk), nothing kept:
        # only once all of them match the signed manifest may any record be looked at.
        lines: list[int] = []
        for name, index in by_name.items():
            if name in UNLISTED_MEMBERS:
                continue
            try:
                digest = _member_digest(zd, index, lines if name == RECORDS else None)
            except ZIP_READ_ERRORS:
                raise reject(f"member {name!r} is corrupt", 3) from None
            if digest != members.sha256(name):
                raise reject(f"member {name!r} does not match its SHA-256", 3)
        (line_count,) = lines
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

        media = stack.enter_context(MediaChecks(limits.max_image_pixels, limits.media_workers))
        yield VerifiedBundle(
            bundle_id=bundle_id,
            sequence=manifest.sequence,
            issuer=manifest.issuer,
            key_id=manifest.key_id,
            regency_code=manifest.regency_code,
            created_at=manifest.created_at,
            manifest_sha256=manifest_sha256,
            line_count=line_count,
            warnings=warnings,
            _source=_Source(zd, by_name, members, media, regions),
            _read_ahead=max(1, limits.read_ahead),
        )


@dataclass
class _Source:
    """What streaming the records needs from the open, verified archive."""

    zd: ZipDirectory
    by_name: Mapping[str, int]
    members: _Members
    media: MediaChecks
    regions: RegionTable | None

    def verified(self, name: str) -> bytes:
        """Member ``name`` read again, checked against the manifest once more.

        The file may be on a flash drive that changes between the hash pass and this read;
        the bytes handed to the image decoders and stored must be the signed ones.
        """
        try:
            data = self.zd.read(self.by_name[name], verify_crc=False)
        except ZIP_READ_ERRORS:
            data = b""
        if len(data) != self.members.size(name) or (
            hashlib.sha256(data).digest() != self.members.sha256(name)
        ):
            raise BundleRejected(f"member {name!r} changed while the bundle was being read", rule=3)
        return data


@dataclass
class VerifiedBundle:
    """A bundle that passed rules 1–4, open: its manifest's facts and a stream of its records.

    Only valid while :func:`open_bundle`'s ``with`` is open. :meth:`records` can be iterated
    once; when it is exhausted, ``warnings`` also holds the aggregated record warnings.
    ``peak_media_held`` is the most photo/signature members held in memory at once (it stays
    near twice the configured ``read_ahead``, whatever the bundle's size).
    """

    bundle_id: str
    sequence: int
    issuer: str
    key_id: str
    regency_code: str
    created_at: datetime
    manifest_sha256: str
    line_count: int
    warnings: list[str]
    _source: _Source = field(repr=False)
    _read_ahead: int = 256
    peak_media_held: int = 0
    _started: bool = False

    def records(self) -> Iterator[RecordData | Quarantined]:
        """Each line of ``records.jsonl`` in order: a valid record or its quarantine reason.

        Raises :class:`BundleRejected` (rule 3) if the file changes while it is being read.
        """
        if self._started:
            raise RuntimeError("the records of a bundle can be read only once")
        self._started = True
        src = self._source
        # Media of the records between the one being validated and the newest read line:
        # their checks run on the worker threads meanwhile.
        held: dict[str, bytes] = {}
        refs: dict[str, int] = {}
        window: deque[tuple[int, Any, list[tuple[str, str]]]] = deque()
        state = _LineState()
        ctx = RecordContext(held, src.regions, src.media)
        digest = hashlib.sha256()
        number = 0
        for raw in _iter_lines(_hashing(self._record_chunks(), digest)):
            number += 1
            try:
                obj: Any = json.loads(raw)
            except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
                obj = _NOT_JSON
            names = self._prefetch(obj, held, refs)
            self.peak_media_held = max(self.peak_media_held, len(held))
            window.append((number, obj, names))
            if len(window) >= self._read_ahead:
                yield self._validate(window.popleft(), ctx, state, held, refs)
        if number != self.line_count or digest.digest() != src.members.sha256(RECORDS):
            raise BundleRejected(
                f"member {RECORDS!r} changed while the bundle was being read",
                bundle_id=self.bundle_id,
                rule=3,
            )
        while window:
            yield self._validate(window.popleft(), ctx, state, held, refs)
        self.warnings.extend(state.warnings())

    def _record_chunks(self) -> Iterator[bytes]:
        """The bytes of ``records.jsonl``; a read error means the file changed (rule 3)."""
        src = self._source
        try:
            yield from src.zd.chunks(src.by_name[RECORDS])
        except ZIP_READ_ERRORS:
            # It was read whole and intact in the hash pass: the file changed since.
            raise BundleRejected(
                f"member {RECORDS!r} changed while the bundle was being read",
                bundle_id=self.bundle_id,
                rule=3,
            ) from None

    def _prefetch(
        self, obj: Any, held: dict[str, bytes], refs: dict[str, int]
    ) -> list[tuple[str, str]]:
        """Read the record's photo and signature, queue their checks; the (role, name) held."""
        names: list[tuple[str, str]] = []
        if not isinstance(obj, dict):
            return names
        src = self._source
        for field_name, role in (("photo", PHOTO), ("signature", SIGNATURE_ROLE)):
            name = obj.get(field_name)
            if not isinstance(name, str) or name not in src.members:
                continue
            if name not in held:
                try:
                    held[name] = src.verified(name)
                except BundleRejected as exc:
                    exc.bundle_id = self.bundle_id
                    raise
            refs[name] = refs.get(name, 0) + 1
            names.append((role, name))
            src.media.submit(role, name, held[name])
        return names

    def _validate(
        self,
        item: tuple[int, Any, list[tuple[str, str]]],
        ctx: RecordContext,
        state: _LineState,
        held: dict[str, bytes],
        refs: dict[str, int],
    ) -> RecordData | Quarantined:
        number, obj, names = item
        try:
            return state.validate(number, obj, ctx)
        finally:
            for role, name in names:
                self._source.media.forget(role, name)
                refs[name] -= 1
                if not refs[name]:
                    del refs[name], held[name]


class _LineState:
    """What validating lines in order remembers: first lines of keys, warning tallies."""

    def __init__(self) -> None:
        self.first_line: dict[tuple[str, int], int] = {}
        # name → [records, first line]; prefix → [records, first ids]: counts, not lists, so
        # a 100,000-line bundle with one odd field or prefix costs nothing to tally.
        self.unknown_fields: dict[str, list[int]] = {}
        self.prefixes: dict[str, tuple[list[int], list[str]]] = {}

    def validate(self, number: int, obj: Any, ctx: RecordContext) -> RecordData | Quarantined:
        """One line's outcome; duplicates of an earlier (record_id, version) are quarantined."""
        if obj is _NOT_JSON:
            return Quarantined(None, None, "line is not valid UTF-8 JSON", number)
        if isinstance(obj, dict):
            rid, ver = obj.get("record_id"), obj.get("version")
            if isinstance(rid, str) and isinstance(ver, int) and not isinstance(ver, bool):
                key = (rid, ver)
                if key in self.first_line:
                    reason = (
                        f"duplicate of record {rid} version {ver} on line {self.first_line[key]}"
                    )
                    return Quarantined(rid, ver, reason, number)
                self.first_line[key] = number
        outcome = validate_record(obj, ctx)
        for name in outcome.unknown_fields:
            self.unknown_fields.setdefault(name, [0, number])[0] += 1
        if outcome.record is not None:
            if outcome.nik_warning_prefix is not None:
                count, ids = self.prefixes.setdefault(outcome.nik_warning_prefix, ([0], []))
                count[0] += 1
                if len(ids) < WARNING_EXAMPLES:
                    ids.append(outcome.record.record_id)
            return outcome.record
        assert outcome.reason is not None
        return Quarantined(outcome.record_id, outcome.version, outcome.reason, number)

    def warnings(self) -> list[str]:
        """One warning per distinct problem, not per record.

        A 10,000-line bundle with one extra field must not bury the operator.
        """
        out = []
        for name, (count, first) in self.unknown_fields.items():
            plural = "s" if count > 1 else ""
            out.append(
                f"unknown record field {name[:40]!r} ignored in {count} record{plural} "
                f"(first on line {first})"
            )
        for prefix, ([count], ids) in self.prefixes.items():
            shown = ", ".join(ids) + (", …" if count > WARNING_EXAMPLES else "")
            out.append(
                f"NIK prefix {prefix} is not in the office's region table "
                f"({count} record{'s' if count > 1 else ''}: {shown})"
            )
        return out


def read_bundle(
    path: Path,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    regency_code: str,
    limits: BundleLimits = BundleLimits(),
    regions: RegionTable | None = DEFAULT_REGIONS,
) -> ParsedBundle:
    """Read and validate the PRR bundle at ``path`` for the office ``regency_code`` (``"14.09"``).

    All valid records, media included, are collected in memory: this is for small bundles
    (tests, tools); the importer streams with :func:`open_bundle` instead. ``trusted_keys``
    maps center ``key_id`` to its public key. Raises :class:`BundleRejected` for rules 1–4
    (including a missing or non-ZIP file) and nothing else for bad input; record problems are
    returned in ``quarantined``. ``regions`` drives the NIK prefix warnings.
    """
    with open_bundle(
        path, trusted_keys=trusted_keys, regency_code=regency_code, limits=limits, regions=regions
    ) as bundle:
        parsed = ParsedBundle(
            bundle_id=bundle.bundle_id,
            sequence=bundle.sequence,
            issuer=bundle.issuer,
            key_id=bundle.key_id,
            regency_code=bundle.regency_code,
            created_at=bundle.created_at,
            manifest_sha256=bundle.manifest_sha256,
            warnings=bundle.warnings,
            line_count=bundle.line_count,
        )
        for item in bundle.records():
            if isinstance(item, Quarantined):
                parsed.quarantined.append(item)
            else:
                parsed.records.append(item)
    return parsed
