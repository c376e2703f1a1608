"""Writing PRR bundles as the center would (spec ``prr-bundle-v1`` §2), good and bad.

:func:`make_bundle` writes ``<bundle_id>.prr.zip``: deterministic for its arguments (same
arguments, same bytes), signed with a :class:`~printctl.center.keys.CenterKey`. It can plant
record-level defects (:data:`BAD_RECORD_KINDS`, each breaking one §3 rule and so quarantining
just that record) and bundle-level defects (:data:`BAD_BUNDLE_KINDS`, each breaking one of
rules 1–4 and so rejecting the whole bundle). :func:`make_superseding_bundle` re-issues the
same records at ``version`` + 1.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import shutil
import stat
import tempfile
import uuid
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from printctl.center import media
from printctl.center.keys import CenterKey
from printctl.center.records import SyntheticRecord, make_record
from printctl.domain import RequestType

FORMAT = "prr-bundle/1"
BASE_CREATED_AT = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
_COPY_CHUNK = 1 << 20

#: Record-level defects: kind → what is wrong. Each breaks one rule of spec §3.
BAD_RECORD_KINDS: Mapping[str, str] = {
    "duplicate-status": "status DUPLICATE_RECORD",
    "enroll-failure": "status ENROLL_FAILURE_AT_CENTRAL",
    "search-failure": "status SEARCH_FAILURE_AT_CENTRAL",
    "not-json": "the line is not JSON",
    "bad-record-id": "record_id has lower-case letters",
    "bad-version": "version is 0",
    "duplicate-version": "repeats the (record_id, version) of the line before",
    "bad-request-type": "request_type REPRINT",
    "bad-nik-length": "NIK has 15 digits",
    "bad-nik-digits": "NIK contains a letter",
    "bad-nik-date": "NIK month is 13",
    "nik-sex-mismatch": "sex does not match the NIK's day (+40 rule)",
    "nik-serial-zero": "NIK serial is 0000",
    "nik-birthdate-mismatch": "birth_date year differs from the NIK",
    "bad-sex": "sex is L",
    "bad-birth-date": "birth_date is not a real date",
    "bad-blood-type": "blood_type C",
    "bad-citizenship": "citizenship WN",
    "wni-valid-until": "a WNI with a date as valid_until",
    "wna-valid-until": "a WNA with SEUMUR HIDUP as valid_until",
    "name-too-long": "name of 61+ characters",
    "bad-name-chars": "name with a digit and '@'",
    "bad-rt": "rt is not digits",
    "missing-field": "religion is missing",
    "missing-photo": "photo names a member not in the bundle",
    "broken-photo": "photo JPEG is truncated",
    "photo-not-jpeg": "photo is a PNG",
    "landscape-photo": "photo is 480x360",
    "small-photo": "photo is 240x320",
    "missing-signature": "signature names a member not in the bundle",
    "broken-signature": "signature PNG data is corrupt",
    "bad-chip-script": "an APDU is not hex",
    "bad-chip-expect": "a status word has 3 digits",
}

#: Bundle-level defects: kind → the spec rule (1–4) that rejects the bundle.
BAD_BUNDLE_KINDS: Mapping[str, int] = {
    "not-a-zip": 1,
    "path-traversal": 1,
    "absolute-path": 1,
    "backslash-path": 1,
    "symlink-member": 1,
    "duplicate-member": 1,
    "zip-bomb": 1,
    "missing-manifest-sig": 2,
    "bad-signature": 2,
    "unknown-key": 2,
    "bad-manifest-json": 2,
    "wrong-format": 2,
    "missing-member": 3,
    "extra-member": 3,
    "tampered-member": 3,
    "size-mismatch": 3,
    "wrong-count": 3,
    "wrong-regency": 4,
}


@dataclass(frozen=True)
class BundleInfo:
    """What :func:`make_bundle` wrote, for tests and demos to check against."""

    path: Path
    bundle_id: str
    sequence: int
    count: int  # lines in records.jsonl
    seed: int
    version: int
    regency_code: str
    record_id_prefix: str
    created_at: datetime
    record_ids: tuple[str, ...]  # ids of the records written valid, in line order
    bad_records: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # kind → lines
    bad_bundle: str | None = None
    manifest_sha256: str = ""

    @property
    def valid_count(self) -> int:
        """How many records a receiver should import."""
        return len(self.record_ids)


@dataclass
class _Entry:
    name: str
    data: bytes | None  # None: the bytes are in the spool files (see _Source)
    compress: int = zipfile.ZIP_STORED
    external_attr: int = 0o100644 << 16


def _stable_uuid(*parts: object) -> str:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _replace_nik_part(nik: str, start: int, text: str) -> str:
    return nik[:start] + text + nik[start + len(text) :]


def _break_record(kind: str, rec: SyntheticRecord, previous: dict[str, Any] | None) -> bytes | None:
    """Apply bad-record ``kind`` to ``rec`` in place; return a raw line to write instead, if any."""
    f = rec.fields
    photo, signature = f["photo"], f["signature"]
    if kind == "duplicate-status":
        f["status"] = "DUPLICATE_RECORD"
    elif kind == "enroll-failure":
        f["status"] = "ENROLL_FAILURE_AT_CENTRAL"
    elif kind == "search-failure":
        f["status"] = "SEARCH_FAILURE_AT_CENTRAL"
    elif kind == "not-json":
        return json.dumps(f)[:80].encode()
    elif kind == "bad-record-id":
        f["record_id"] = f["record_id"].lower()
    elif kind == "bad-version":
        f["version"] = 0
    elif kind == "duplicate-version":
        assert previous is not None
        f["record_id"], f["version"] = previous["record_id"], previous["version"]
    elif kind == "bad-request-type":
        f["request_type"] = "REPRINT"
    elif kind == "bad-nik-length":
        f["nik"] = f["nik"][:15]
    elif kind == "bad-nik-digits":
        f["nik"] = _replace_nik_part(f["nik"], 13, "O")
    elif kind == "bad-nik-date":
        f["nik"] = _replace_nik_part(f["nik"], 8, "13")
    elif kind == "nik-sex-mismatch":
        f["sex"] = "LAKI-LAKI" if f["sex"] == "PEREMPUAN" else "PEREMPUAN"
    elif kind == "nik-serial-zero":
        f["nik"] = _replace_nik_part(f["nik"], 12, "0000")
    elif kind == "nik-birthdate-mismatch":
        # Four years keeps 29 February a real date.
        year, rest = f["birth_date"].split("-", 1)
        f["birth_date"] = f"{int(year) - 4:04d}-{rest}"
    elif kind == "bad-sex":
        f["sex"] = "L"
    elif kind == "bad-birth-date":
        f["birth_date"] = f["birth_date"][:5] + "02-30"
    elif kind == "bad-blood-type":
        f["blood_type"] = "C"
    elif kind == "bad-citizenship":
        f["citizenship"] = "WN"
    elif kind == "wni-valid-until":
        f["valid_until"] = "2031-11-27"
    elif kind == "wna-valid-until":
        f["citizenship"] = "WNA"
        f["valid_until"] = "SEUMUR HIDUP"
    elif kind == "name-too-long":
        f["name"] = "RADEN AYU SITI NUR'AINI KHAIRUNNISA PUTRI RAHMADHANI KUSUMAWARDHANI"
    elif kind == "bad-name-chars":
        f["name"] = f["name"][:40] + " 2@"
    elif kind == "bad-rt":
        f["rt"] = "RT2"
    elif kind == "missing-field":
        del f["religion"]
    elif kind == "missing-photo":
        del rec.media[photo]
    elif kind == "broken-photo":
        rec.media[photo] = media.truncated_jpeg()
    elif kind == "photo-not-jpeg":
        rec.media[photo] = media.png_as_photo()
    elif kind == "landscape-photo":
        rec.media[photo] = media.landscape_jpeg()
    elif kind == "small-photo":
        rec.media[photo] = media.small_jpeg()
    elif kind == "missing-signature":
        del rec.media[signature]
    elif kind == "broken-signature":
        rec.media[signature] = media.broken_png()
    elif kind == "bad-chip-script":
        f["chip_script"][0]["apdu"] = "00A4040CZZ"
    elif kind == "bad-chip-expect":
        f["chip_script"][-1]["expect"] = "900"
    else:
        raise ValueError(f"unknown bad-record kind {kind!r}")
    return None


def _plan_bad_lines(
    bad_records: Mapping[str, int], count: int, rng: random.Random
) -> dict[int, str]:
    """Choose which 0-based line gets which defect, deterministically."""
    unknown = sorted(set(bad_records) - set(BAD_RECORD_KINDS))
    if unknown:
        raise ValueError(f"unknown bad-record kinds: {', '.join(unknown)}")
    total = sum(bad_records.values())
    if total > count:
        raise ValueError(f"{total} bad records asked for, but only {count} records")
    plan: dict[int, str] = {}
    # duplicate-version needs a clean record on the line before; place those first.
    free = list(range(count))
    rng.shuffle(free)
    for kind in sorted(bad_records, key=lambda k: (k != "duplicate-version", k)):
        for _ in range(bad_records[kind]):
            if kind == "duplicate-version":
                spot = next(
                    (i for i in free if i > 0 and i - 1 not in plan and i - 1 in free), None
                )
                if spot is None:
                    raise ValueError("not enough records to place duplicate-version")
                free.remove(spot - 1)  # keep the original clean
            else:
                spot = free[0]
            free.remove(spot)
            plan[spot] = kind
    return plan


def make_bundle(
    out_dir: Path,
    *,
    key: CenterKey,
    count: int,
    seed: int = 0,
    regency_code: str = "14.09",
    sequence: int = 1,
    bad_records: Mapping[str, int] | None = None,
    bad_bundle: str | None = None,
    request_types: Mapping[RequestType, float] | None = None,
    record_id_prefix: str | None = None,
    version: int = 1,
    created_at: datetime | None = None,
    unknown_field: str | None = None,
    wna_fraction: float = 0.0,
) -> BundleInfo:
    """Write a signed PRR bundle of ``count`` record lines into ``out_dir``.

    ``bad_records`` maps a kind of :data:`BAD_RECORD_KINDS` to how many lines get it;
    ``bad_bundle`` is one kind of :data:`BAD_BUNDLE_KINDS`. ``request_types`` weights the request
    types (default: all ``NEW``). Record ids are ``<prefix>-<n:06d>``; the default prefix
    ``PRR-2026-S<seed>`` depends on the seed only, so the seed names the people: the same seed
    with ``version=2`` supersedes, and bundles meant to hold different people need different
    seeds (or prefixes). ``created_at`` defaults to a fixed instant plus ``sequence`` hours.
    ``unknown_field`` adds a field the spec does not know to every record. The bundle id is
    derived from all arguments, so different bundles never collide on disk.
    """
    bad_records = dict(bad_records or {})
    if bad_bundle is not None and bad_bundle not in BAD_BUNDLE_KINDS:
        raise ValueError(f"unknown bad-bundle kind {bad_bundle!r}")
    if created_at is None:
        created_at = BASE_CREATED_AT + timedelta(hours=sequence)
    if record_id_prefix is None:
        # The seed alone names the people, so re-running with version=2 (and any sequence)
        # re-issues the same record ids: that is how a superseding bundle is made.
        record_id_prefix = f"PRR-{BASE_CREATED_AT.year}-S{seed}"
    province_code, regency_part = regency_code.split(".")
    types = dict(request_types or {RequestType.NEW: 1.0})
    bundle_id = _stable_uuid(
        "prr",
        seed,
        sequence,
        regency_code,
        count,
        version,
        record_id_prefix,
        sorted(bad_records.items()),
        bad_bundle,
        sorted(types.items()),
        unknown_field,
        wna_fraction,
        created_at.isoformat(),
    )

    rng = random.Random(f"bundle:{seed}:{sequence}:{version}")
    plan = _plan_bad_lines(bad_records, count, rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{bundle_id}.prr.zip"
    # A 100,000-record bundle holds over a gigabyte of media, so nothing is collected in memory:
    # records.jsonl and the media go to anonymous spool files next to the output while their
    # hashes are taken, and are copied into the bundle once the manifest (which must come
    # first in the archive) can be signed.
    with (
        tempfile.TemporaryFile(dir=out_dir) as records_file,
        tempfile.TemporaryFile(dir=out_dir) as media_file,
    ):
        records_hash = hashlib.sha256()
        records_size = 0
        line_count = 0
        members: dict[str, dict[str, Any]] = {"records.jsonl": {}}  # keeps it first
        entries = [_Entry("records.jsonl", None, zipfile.ZIP_DEFLATED)]
        record_ids: list[str] = []
        bad_lines: dict[str, list[int]] = {}
        previous: dict[str, Any] | None = None
        type_names, type_weights = zip(*types.items(), strict=True)
        with zipfile.ZipFile(media_file, "w") as media_zip:
            for index in range(count):
                record_id = f"{record_id_prefix}-{index + 1:06d}"
                rec = make_record(
                    seed=seed,
                    index=index,
                    record_id=record_id,
                    version=version,
                    request_type=rng.choices(type_names, weights=type_weights)[0],
                    province_code=province_code,
                    regency_code=regency_part,
                    citizenship="WNA" if rng.random() < wna_fraction else "WNI",
                )
                if unknown_field:
                    rec.fields[unknown_field] = "ignored by the receiver"
                kind = plan.get(index)
                raw: bytes | None = None
                if kind is not None:
                    raw = _break_record(kind, rec, previous)
                    bad_lines.setdefault(kind, []).append(index + 1)
                else:
                    record_ids.append(record_id)
                if raw is None:
                    raw = json.dumps(rec.fields, ensure_ascii=False, separators=(",", ":")).encode()
                line = raw + b"\n"
                records_file.write(line)
                records_hash.update(line)
                records_size += len(line)
                line_count += 1
                for name, data in rec.media.items():
                    # Media names carry the record id, which is unique per line.
                    assert name not in members, f"media member {name} written twice"
                    media_zip.writestr(name, data)
                    members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                    # JPEG and PNG are already compressed; storing them keeps reading cheap.
                    entries.append(_Entry(name, None))
                previous = rec.fields if kind is None else None
        members["records.jsonl"] = {
            "sha256": records_hash.hexdigest(),
            "bytes": records_size,
            "count": line_count,
        }

        if bad_bundle == "zip-bomb":
            padding = _Entry("photos/padding.bin", bytes(4 * 1024 * 1024), zipfile.ZIP_DEFLATED)
            entries.append(padding)
            assert padding.data is not None
            members[padding.name] = {
                "sha256": hashlib.sha256(padding.data).hexdigest(),
                "bytes": len(padding.data),
            }
        with zipfile.ZipFile(media_file) as media_zip:
            source = _Source(records_file, media_zip)
            _apply_bad_bundle_before_manifest(bad_bundle, entries, members)
            manifest: dict[str, Any] = {
                "format": FORMAT if bad_bundle != "wrong-format" else "prr-bundle/2",
                "bundle_id": bundle_id,
                "issuer": key.issuer,
                "key_id": key.key_id if bad_bundle != "unknown-key" else key.key_id + "-retired",
                "regency_code": regency_code if bad_bundle != "wrong-regency" else "14.01",
                "created_at": created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "sequence": sequence,
                "members": members,
            }
            manifest_bytes = json.dumps(manifest, indent=1, ensure_ascii=False).encode()
            del manifest, members  # large for large bundles; only the bytes are needed now
            if bad_bundle == "bad-manifest-json":
                manifest_bytes = manifest_bytes[: len(manifest_bytes) // 2]
            signature = key.sign(manifest_bytes)
            if bad_bundle == "bad-signature":
                signature = bytes([signature[0] ^ 0x01]) + signature[1:]
            head = [_Entry("manifest.json", manifest_bytes, zipfile.ZIP_DEFLATED)]
            if bad_bundle != "missing-manifest-sig":
                head.append(_Entry("manifest.sig", base64.b64encode(signature) + b"\n"))
            entries = head + entries
            _apply_bad_bundle_after_manifest(bad_bundle, entries, source)

            if bad_bundle == "not-a-zip":
                records_file.seek(0)
                path.write_bytes(b"%PDF-1.4\n% this is not a bundle\n" + records_file.read(200))
            else:
                _write_zip(path, entries, created_at, source)
    return BundleInfo(
        path=path,
        bundle_id=bundle_id,
        sequence=sequence,
        count=line_count,
        seed=seed,
        version=version,
        regency_code=regency_code,
        record_id_prefix=record_id_prefix,
        created_at=created_at,
        record_ids=tuple(record_ids),
        bad_records={k: tuple(v) for k, v in bad_lines.items()},
        bad_bundle=bad_bundle,
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
    )


@dataclass(frozen=True)
class _Source:
    """Where entries without in-memory data live while a bundle is written: the spools."""

    records: IO[bytes]
    media: zipfile.ZipFile

    def data(self, entry: _Entry) -> bytes:
        """An entry's bytes (for the few defects that need them: one member, small)."""
        if entry.data is not None:
            return entry.data
        if entry.name == "records.jsonl":
            self.records.seek(0)
            return self.records.read()
        return self.media.read(entry.name)

    def copy(self, entry: _Entry, dest: IO[bytes]) -> None:
        """Stream an entry's bytes into ``dest``."""
        if entry.data is not None:
            dest.write(entry.data)
            return
        if entry.name == "records.jsonl":
            self.records.seek(0)
            shutil.copyfileobj(self.records, dest, _COPY_CHUNK)
        else:
            dest.write(self.media.read(entry.name))

    def size(self, entry: _Entry) -> int:
        """An entry's uncompressed size."""
        if entry.data is not None:
            return len(entry.data)
        if entry.name == "records.jsonl":
            return self.records.seek(0, io.SEEK_END)
        return self.media.getinfo(entry.name).file_size


def _first_media(entries: list[_Entry]) -> _Entry:
    return next(e for e in entries if e.name != "records.jsonl")


def _apply_bad_bundle_before_manifest(
    kind: str | None, entries: list[_Entry], members: dict[str, dict[str, Any]]
) -> None:
    """Defects that change what the manifest lists (it is signed afterwards)."""
    if kind == "missing-member":
        victim = _first_media(entries)
        entries.remove(victim)
    elif kind == "wrong-count":
        members["records.jsonl"]["count"] += 1
    elif kind == "size-mismatch":
        members[_first_media(entries).name]["bytes"] += 1


def _apply_bad_bundle_after_manifest(
    kind: str | None, entries: list[_Entry], source: _Source
) -> None:
    """Defects in the archive itself, after the manifest is signed."""
    unlisted = b"not in the manifest\n"
    if kind == "path-traversal":
        entries.append(_Entry("photos/../../etc/cron.d/evil", unlisted))
    elif kind == "absolute-path":
        entries.append(_Entry("/tmp/evil.jpg", unlisted))
    elif kind == "backslash-path":
        entries.append(_Entry("photos\\..\\..\\evil.jpg", unlisted))
    elif kind == "symlink-member":
        entries.append(
            _Entry("photos/link.jpg", b"/etc/passwd", external_attr=(stat.S_IFLNK | 0o777) << 16)
        )
    elif kind == "duplicate-member":
        first = _first_media(entries[2:])
        entries.append(_Entry(first.name, source.data(first)))
    elif kind == "extra-member":
        entries.append(_Entry("photos/unlisted.jpg", media.small_jpeg()))
    elif kind == "tampered-member":
        victim = next(e for e in entries if e.name.startswith("photos/"))
        # Same size, different bytes: only the SHA-256 can tell.
        data = source.data(victim)
        victim.data = data[:-3] + bytes(b ^ 0xFF for b in data[-3:])


def _write_zip(path: Path, entries: list[_Entry], created_at: datetime, source: _Source) -> None:
    # Fixed timestamps (not "now") make the archive byte-for-byte reproducible.
    stamp = created_at.astimezone(UTC).timetuple()[:6]
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=stamp)
            info.compress_type = entry.compress
            info.external_attr = entry.external_attr
            info.create_system = 3  # Unix, so external_attr carries the file mode
            # The size known up front makes the headers what writestr would write.
            info.file_size = source.size(entry)
            with warnings.catch_warnings():
                # "duplicate-member" writes a name twice on purpose.
                warnings.simplefilter("ignore", UserWarning)
                with zf.open(info, "w") as dest:
                    source.copy(entry, dest)
    tmp.replace(path)


def make_superseding_bundle(
    out_dir: Path,
    *,
    key: CenterKey,
    previous: BundleInfo,
    sequence: int | None = None,
    count: int | None = None,
    **kwargs: Any,
) -> BundleInfo:
    """Re-issue ``previous``'s records at ``version`` + 1 (same ids and people, new addresses).

    ``count`` may be smaller than the previous bundle's to supersede only its first records.
    """
    return make_bundle(
        out_dir,
        key=key,
        count=previous.count if count is None else count,
        seed=previous.seed,
        regency_code=previous.regency_code,
        sequence=previous.sequence + 1 if sequence is None else sequence,
        record_id_prefix=previous.record_id_prefix,
        version=previous.version + 1,
        **kwargs,
    )
