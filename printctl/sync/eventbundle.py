"""Event bundles (spec ``prr-bundle-v1`` §5) and the center's receipts for them.

An event bundle is the office → center twin of a PRR bundle: ``<bundle_id>.events.zip`` holding
``manifest.json``, ``manifest.sig`` (Ed25519 over the manifest's exact bytes, signed by the
station's own key) and ``events.jsonl``. The same bytes go over HTTP (``POST /v1/events``) or on a
flash drive; for the flash drive the center answers with a signed receipt
(``<events_bundle_id>.receipt.zip``) that the office imports to clear its outbox.

:func:`read_event_bundle` applies the PRR bundle rules in the same order (safe archive, signature
under a trusted key, members exactly as listed) and then checks every event's shape; the first
problem rejects the whole bundle with one human sentence (:class:`EventBundleRejected`).

Writers are deterministic: the same events, key, id and time give the same bytes, so an outbox
that re-sends a bundle after a crash sends exactly what it sent before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from printctl.intake.zipsafe import (
    MIB,
    ZIP_READ_ERRORS,
    BundleLimits,
    UnsafeZipError,
    check_archive,
    member_path_problem,
    read_member,
)

__all__ = [
    "EVENTS_FORMAT",
    "EVENT_LIMITS",
    "EVENT_TYPES",
    "RECEIPT_FORMAT",
    "EventBundleRejected",
    "ParsedEventBundle",
    "Receipt",
    "SigningKey",
    "create_signing_key",
    "event_bundle_bytes",
    "load_signing_key",
    "public_pem",
    "read_event_bundle",
    "read_receipt",
    "receipt_bytes",
    "write_event_bundle",
    "write_receipt",
]

EVENTS_FORMAT = "events-bundle/1"
RECEIPT_FORMAT = "events-receipt/1"
EVENT_TYPES = frozenset({"CARD_PRINTED", "CARD_HANDED_OVER", "BLANK_SPOILED", "RECORD_QUARANTINED"})
#: Event types that must say why (spec §5).
TYPES_WITH_REASON = frozenset({"BLANK_SPOILED", "RECORD_QUARANTINED"})
#: Types whose event may name no record (record_id and version both null): a blank spoiled
#: outside any job (damaged in the vault), a quarantined line that carries no valid id.
TYPES_WITHOUT_RECORD = TYPES_WITH_REASON

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
EVENTS = "events.jsonl"
UNLISTED_MEMBERS = frozenset({MANIFEST, SIGNATURE})
#: Same shape as a PRR bundle id: it becomes part of a file name on both sides.
BUNDLE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
MAX_EVENT_ID = 128

#: Event bundles carry text only, so the ceilings are far below a PRR bundle's (no photos).
EVENT_LIMITS = BundleLimits(
    max_total_uncompressed=256 * MIB,
    max_members=8,
    max_records=1_000_000,
    max_manifest_bytes=1 * MIB,
)
#: A receipt lists event ids; a million of them stay well under this.
_MAX_RECEIPT_MANIFEST = 128 * MIB
_MAX_SIGNATURE_BYTES = 1024


class EventBundleRejected(Exception):
    """An event bundle or receipt breaks a rule; nothing from it may be stored.

    ``reason`` is one human sentence.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class SigningKey:
    """A station's (or the center's) Ed25519 key, with the ``key_id`` and ``issuer`` it signs as."""

    key_id: str
    issuer: str
    private_key: Ed25519PrivateKey

    def public_key(self) -> Ed25519PublicKey:
        """The public half, as the other side trusts it."""
        return self.private_key.public_key()


def load_signing_key(path: Path, *, key_id: str, issuer: str) -> SigningKey:
    """Load an unencrypted PKCS#8 PEM Ed25519 private key from ``path``.

    Raises ``ValueError`` with a readable message when the file holds something else.
    """
    data = Path(path).read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return SigningKey(key_id=key_id, issuer=issuer, private_key=key)


def create_signing_key(path: Path, *, key_id: str, issuer: str) -> SigningKey:
    """Generate a new key and write it to ``path`` as PKCS#8 PEM, mode 0600.

    Refuses to overwrite an existing file (``FileExistsError``): a station's key is its
    identity at the center, and losing it silently would orphan every unsent event.
    """
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = Path(path)
    # O_EXCL makes "does it exist?" and "create it" one step, and the mode applies at creation,
    # so the key is never readable by others, not even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    return SigningKey(key_id=key_id, issuer=issuer, private_key=private)


def public_pem(key: Ed25519PublicKey) -> bytes:
    """``key`` as PEM SubjectPublicKeyInfo (what the other side is given to trust)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# ---------------------------------------------------------------------------- shared helpers


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("a bundle time must carry a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_timestamp(value: object) -> datetime | None:
    """An ISO-8601 time with a zone, or None when ``value`` is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _zip_bytes(members: Sequence[tuple[str, bytes]], moment: datetime) -> bytes:
    # Fixed member timestamps (the bundle's own time, not "now") make the bytes reproducible.
    stamp = moment.astimezone(UTC).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3  # Unix, so external_attr carries the file mode
            zf.writestr(info, data)
    return buffer.getvalue()


def _signed_zip(
    manifest: Mapping[str, Any], key: SigningKey, extra: Sequence[tuple[str, bytes]], at: datetime
) -> bytes:
    manifest_bytes = json.dumps(manifest, indent=1, ensure_ascii=False, sort_keys=True).encode()
    # Ed25519 signatures are deterministic, so signing does not break reproducibility.
    signature = base64.b64encode(key.private_key.sign(manifest_bytes)) + b"\n"
    return _zip_bytes([(MANIFEST, manifest_bytes), (SIGNATURE, signature), *extra], at)


def _write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that the name only ever holds the complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A hidden temp name in the same folder: os.replace is atomic only within one file system,
    # and folder imports skip hidden partial copies.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a bundle is not secret
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the data itself is synced
    finally:
        os.close(fd)


def _check_bundle_id(bundle_id: str) -> None:
    if not BUNDLE_ID_RE.fullmatch(bundle_id):
        raise ValueError(f"bundle id {bundle_id!r} is not 1–64 letters, digits and hyphens")


# ---------------------------------------------------------------------------- event bundles


def _event_problem(obj: object) -> str | None:
    """Why one decoded events.jsonl line is not a valid event, or None."""
    if not isinstance(obj, dict):
        return "is not a JSON object"
    event_id = obj.get("event_id")
    if not isinstance(event_id, str) or not event_id or len(event_id) > MAX_EVENT_ID:
        return f"has no event_id (a string of 1–{MAX_EVENT_ID} characters)"
    kind = obj.get("type")
    if kind not in EVENT_TYPES:
        return f"event {event_id[:40]!r} has type {str(kind)[:40]!r}, which is not an event type"
    record_id = obj.get("record_id")
    version = obj.get("version")
    # A blank spoiled outside any job, or a quarantined line without a valid id or
    # version, may leave either out (null).
    optional = kind in TYPES_WITHOUT_RECORD
    if not (record_id is None and optional) and (not isinstance(record_id, str) or not record_id):
        return f"event {event_id[:40]!r} has no record_id"
    if not (version is None and optional) and (
        not isinstance(version, int) or isinstance(version, bool)
    ):
        return f"event {event_id[:40]!r} has no whole-number version"
    if _parse_timestamp(obj.get("at")) is None:
        return f"event {event_id[:40]!r}: at is not an ISO-8601 time with a time zone"
    if kind in TYPES_WITH_REASON:
        reason = obj.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            return f"event {event_id[:40]!r} is {kind} but gives no reason"
    return None


def _events_jsonl(events: Sequence[Mapping[str, Any]]) -> bytes:
    lines: list[bytes] = []
    seen: set[str] = set()
    for number, event in enumerate(events, start=1):
        problem = _event_problem(dict(event))
        if problem:
            raise ValueError(f"event {number} {problem}")
        event_id = event["event_id"]
        if event_id in seen:
            raise ValueError(f"event {event_id!r} appears twice")
        seen.add(event_id)
        lines.append(
            json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
        )
    return b"".join(line + b"\n" for line in lines)


def event_bundle_bytes(
    events: Sequence[Mapping[str, Any]],
    *,
    key: SigningKey,
    bundle_id: str,
    created_at: datetime,
) -> bytes:
    """The bytes of a signed event bundle (§5) holding ``events`` in order.

    Raises ``ValueError`` if an event would not pass :func:`read_event_bundle` (a bug in the
    caller is caught here, not at the center), an event id repeats, or ``created_at`` is naive.
    """
    _check_bundle_id(bundle_id)
    events_data = _events_jsonl(events)
    manifest = {
        "format": EVENTS_FORMAT,
        "bundle_id": bundle_id,
        "issuer": key.issuer,
        "key_id": key.key_id,
        "created_at": _timestamp(created_at),
        "members": {
            EVENTS: {
                "sha256": hashlib.sha256(events_data).hexdigest(),
                "bytes": len(events_data),
                "count": len(events),
            }
        },
    }
    return _signed_zip(manifest, key, [(EVENTS, events_data)], created_at)


def write_event_bundle(
    out_dir: Path,
    events: Sequence[Mapping[str, Any]],
    *,
    key: SigningKey,
    bundle_id: str,
    created_at: datetime,
) -> Path:
    """Write :func:`event_bundle_bytes` atomically to ``<out_dir>/<bundle_id>.events.zip``."""
    data = event_bundle_bytes(events, key=key, bundle_id=bundle_id, created_at=created_at)
    return _write_atomic(Path(out_dir) / f"{bundle_id}.events.zip", data)


@dataclass(frozen=True)
class ParsedEventBundle:
    """An event bundle that passed every rule."""

    bundle_id: str
    issuer: str
    key_id: str
    created_at: datetime
    events: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class _Verified:
    """A signed manifest whose signature verified, and the archive's file members."""

    manifest: dict[str, Any]
    key_id: str
    zf: zipfile.ZipFile
    by_name: dict[str, zipfile.ZipInfo]


def _open_verified(
    data: bytes,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    *,
    what: str,
    limits: BundleLimits,
    max_manifest: int,
) -> _Verified:
    """Rules 1 and 2: a safe archive whose manifest.sig verifies under a trusted key."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise EventBundleRejected(f"the {what} is not a ZIP archive") from None
    except ZIP_READ_ERRORS as exc:
        raise EventBundleRejected(f"the {what} cannot be opened as a ZIP archive ({exc})") from None
    try:
        files = check_archive(zf, limits)
    except UnsafeZipError as exc:
        raise EventBundleRejected(str(exc)) from None
    by_name = {info.filename: info for info in files}
    manifest_info = by_name.get(MANIFEST)
    sig_info = by_name.get(SIGNATURE)
    if manifest_info is None:
        raise EventBundleRejected(f"the {what} has no manifest.json")
    if sig_info is None:
        raise EventBundleRejected(f"the {what} has no manifest.sig")
    if manifest_info.file_size > max_manifest:
        raise EventBundleRejected("manifest.json is larger than the configured limit")
    if sig_info.file_size > _MAX_SIGNATURE_BYTES:
        raise EventBundleRejected("manifest.sig is not a single base64 signature")
    try:
        manifest_bytes = read_member(zf, manifest_info)
        sig_text = read_member(zf, sig_info)
    except ZIP_READ_ERRORS:
        raise EventBundleRejected("manifest.json or manifest.sig is corrupt") from None
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EventBundleRejected("manifest.json is not valid UTF-8 JSON") from None
    if not isinstance(manifest, dict):
        raise EventBundleRejected("manifest.json is not a JSON object")
    key_id = manifest.get("key_id")
    if not isinstance(key_id, str) or not key_id:
        raise EventBundleRejected("manifest.json has no key_id")
    public_key = trusted_keys.get(key_id)
    if public_key is None:
        raise EventBundleRejected(
            f"the manifest is signed with key {key_id[:64]!r}, which is not a trusted key"
        )
    try:
        signature = base64.b64decode(sig_text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise EventBundleRejected(
            "the manifest signature (manifest.sig) is not valid base64"
        ) from None
    try:
        public_key.verify(signature, manifest_bytes)
    except InvalidSignature:
        raise EventBundleRejected(
            f"the manifest signature (manifest.sig) does not verify under the key {key_id!r}"
        ) from None
    return _Verified(manifest, key_id, zf, by_name)


def _manifest_str(manifest: Mapping[str, Any], name: str) -> str:
    value = manifest.get(name)
    if not isinstance(value, str) or not value:
        raise EventBundleRejected(f"manifest.json {name} is missing")
    return value


def _manifest_time(manifest: Mapping[str, Any], name: str) -> datetime:
    moment = _parse_timestamp(manifest.get(name))
    if moment is None:
        raise EventBundleRejected(
            f"manifest.json {name} is not an ISO-8601 timestamp with a time zone"
        )
    return moment.astimezone(UTC)


def _manifest_bundle_id(manifest: Mapping[str, Any], name: str) -> str:
    value = manifest.get(name)
    if not isinstance(value, str) or not BUNDLE_ID_RE.fullmatch(value):
        raise EventBundleRejected(f"manifest.json {name} is missing or not an identifier")
    return value


def _events_member_spec(manifest: Mapping[str, Any]) -> tuple[str, int, int]:
    """The manifest's (sha256, bytes, count) for events.jsonl; it may list nothing else."""
    members = manifest.get("members")
    if not isinstance(members, dict):
        raise EventBundleRejected("manifest.json members is not an object")
    for name in members:
        if not isinstance(name, str) or member_path_problem(name):
            raise EventBundleRejected(f"manifest.json members lists an unsafe name {name!r}")
        if name != EVENTS:
            raise EventBundleRejected(
                f"manifest.json members lists {name[:60]!r}; an event bundle holds only {EVENTS}"
            )
    spec = members.get(EVENTS)
    if not isinstance(spec, dict):
        raise EventBundleRejected(f"manifest.json members does not list {EVENTS}")
    sha, size, count = spec.get("sha256"), spec.get("bytes"), spec.get("count")
    if not isinstance(sha, str) or not SHA256_RE.fullmatch(sha):
        raise EventBundleRejected(f"manifest.json members entry {EVENTS!r} has no valid sha256")
    for field_name, value in (("bytes", size), ("count", count)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise EventBundleRejected(
                f"manifest.json members entry {EVENTS!r} has no valid {field_name}"
            )
    assert isinstance(size, int) and isinstance(count, int)
    return sha.lower(), size, count


def read_event_bundle(
    data: bytes,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    limits: BundleLimits = EVENT_LIMITS,
) -> ParsedEventBundle:
    """Verify and parse an event bundle; raise :class:`EventBundleRejected` on the first problem.

    ``trusted_keys`` maps a station's ``key_id`` to its public key. Order of the checks, as for
    PRR bundles: safe archive; manifest signed by a trusted key with the manifest's ``key_id``,
    of the right shape; members exactly as listed, with their SHA-256 and size; ``count`` equal
    to the lines of events.jsonl; then each event's shape (see spec §5). No event id may appear
    twice in one bundle.
    """
    verified = _open_verified(
        data,
        trusted_keys,
        what="event bundle",
        limits=limits,
        max_manifest=limits.max_manifest_bytes,
    )
    manifest, zf, by_name = verified.manifest, verified.zf, verified.by_name
    with zf:
        if manifest.get("format") != EVENTS_FORMAT:
            raise EventBundleRejected(
                f"manifest.json format is {str(manifest.get('format'))[:40]!r}, "
                f"expected {EVENTS_FORMAT!r}"
            )
        bundle_id = _manifest_bundle_id(manifest, "bundle_id")
        issuer = _manifest_str(manifest, "issuer")
        created_at = _manifest_time(manifest, "created_at")
        sha, size, count = _events_member_spec(manifest)

        # --- members exactly as listed ------------------------------------------------------
        info = by_name.get(EVENTS)
        if info is None:
            raise EventBundleRejected(f"member {EVENTS!r} is listed in the manifest but missing")
        for name in by_name:
            if name != EVENTS and name not in UNLISTED_MEMBERS:
                raise EventBundleRejected(f"member {name!r} is not listed in the manifest")
        if info.file_size != size:
            raise EventBundleRejected(
                f"member {EVENTS!r} has {info.file_size} bytes, the manifest says {size}"
            )
        if count > limits.max_records:
            raise EventBundleRejected(
                f"the bundle has {count} events, more than the limit {limits.max_records}"
            )
        try:
            events_data = read_member(zf, info)
        except ZIP_READ_ERRORS:
            raise EventBundleRejected(f"member {EVENTS!r} is corrupt") from None
    if hashlib.sha256(events_data).hexdigest() != sha:
        raise EventBundleRejected(f"member {EVENTS!r} does not match its SHA-256")
    lines = events_data.split(b"\n") if events_data else []
    if events_data.endswith(b"\n"):
        lines.pop()
    if len(lines) != count:
        raise EventBundleRejected(
            f"{EVENTS} has {len(lines)} lines, the manifest count says {count}"
        )

    # --- every event --------------------------------------------------------------------------
    events: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        try:
            obj = json.loads(raw)
        except ValueError:  # includes UnicodeDecodeError
            raise EventBundleRejected(f"{EVENTS} line {number} is not valid UTF-8 JSON") from None
        problem = _event_problem(obj)
        if problem:
            raise EventBundleRejected(f"{EVENTS} line {number} {problem}")
        event_id = obj["event_id"]
        if event_id in seen:
            raise EventBundleRejected(
                f"{EVENTS} line {number} repeats event {event_id[:40]!r} of line {seen[event_id]}"
            )
        seen[event_id] = number
        events.append(obj)
    return ParsedEventBundle(
        bundle_id=bundle_id,
        issuer=issuer,
        key_id=verified.key_id,
        created_at=created_at,
        events=tuple(events),
    )


# ---------------------------------------------------------------------------- receipts


@dataclass(frozen=True)
class Receipt:
    """The center's signed answer to an event bundle: which events were new, which it had."""

    events_bundle_id: str
    issuer: str
    key_id: str
    accepted: tuple[str, ...]
    duplicates: tuple[str, ...]
    at: datetime


def receipt_bytes(
    *,
    events_bundle_id: str,
    accepted: Sequence[str],
    duplicates: Sequence[str],
    key: SigningKey,
    at: datetime,
) -> bytes:
    """The bytes of a signed receipt: ``manifest.json`` and ``manifest.sig``, nothing else."""
    _check_bundle_id(events_bundle_id)
    manifest = {
        "format": RECEIPT_FORMAT,
        "events_bundle_id": events_bundle_id,
        "issuer": key.issuer,
        "key_id": key.key_id,
        "at": _timestamp(at),
        "accepted": list(accepted),
        "duplicates": list(duplicates),
    }
    return _signed_zip(manifest, key, [], at)


def write_receipt(
    out_dir: Path,
    *,
    events_bundle_id: str,
    accepted: Sequence[str],
    duplicates: Sequence[str],
    key: SigningKey,
    at: datetime,
) -> Path:
    """Write :func:`receipt_bytes` atomically to ``<out_dir>/<events_bundle_id>.receipt.zip``."""
    data = receipt_bytes(
        events_bundle_id=events_bundle_id,
        accepted=accepted,
        duplicates=duplicates,
        key=key,
        at=at,
    )
    return _write_atomic(Path(out_dir) / f"{events_bundle_id}.receipt.zip", data)


def _id_list(manifest: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = manifest.get(name)
    if not isinstance(value, list) or not all(
        isinstance(item, str) and item and len(item) <= MAX_EVENT_ID for item in value
    ):
        raise EventBundleRejected(f"receipt manifest.json {name} is not a list of event ids")
    return tuple(value)


def read_receipt(data: bytes, *, trusted_keys: Mapping[str, Ed25519PublicKey]) -> Receipt:
    """Verify and parse a receipt; raise :class:`EventBundleRejected` on the first problem.

    ``trusted_keys`` maps the center's receipt ``key_id`` to its public key.
    """
    limits = BundleLimits(
        max_total_uncompressed=_MAX_RECEIPT_MANIFEST + _MAX_SIGNATURE_BYTES,
        # A few spare members so that a wrong file gets the clearer "only a manifest" reason.
        max_members=8,
        max_manifest_bytes=_MAX_RECEIPT_MANIFEST,
    )
    verified = _open_verified(
        data, trusted_keys, what="receipt", limits=limits, max_manifest=_MAX_RECEIPT_MANIFEST
    )
    verified.zf.close()
    manifest = verified.manifest
    for name in verified.by_name:
        if name not in UNLISTED_MEMBERS:
            raise EventBundleRejected(f"the receipt holds {name!r}; a receipt has only a manifest")
    if manifest.get("format") != RECEIPT_FORMAT:
        raise EventBundleRejected(
            f"receipt manifest.json format is {str(manifest.get('format'))[:40]!r}, "
            f"expected {RECEIPT_FORMAT!r}"
        )
    accepted = _id_list(manifest, "accepted")
    duplicates = _id_list(manifest, "duplicates")
    if set(accepted) & set(duplicates):
        raise EventBundleRejected("the receipt lists an event as both accepted and duplicate")
    return Receipt(
        events_bundle_id=_manifest_bundle_id(manifest, "events_bundle_id"),
        issuer=_manifest_str(manifest, "issuer"),
        key_id=verified.key_id,
        accepted=accepted,
        duplicates=duplicates,
        at=_manifest_time(manifest, "at"),
    )
