"""Hand-built PRR bundles for tests, written straight from spec prr-bundle-v1 §2–§3.

Deliberately independent of :mod:`printctl.center`: the reader is tested against the spec,
not against the fake center (which is tested against the reader separately).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from PIL import Image

KEY_ID = "pusat-test-01"
REGENCY = "14.09"
# A fixed private key keeps the tests deterministic.
PRIVATE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC_KEY = PRIVATE_KEY.public_key()
TRUSTED: dict[str, Ed25519PublicKey] = {KEY_ID: PUBLIC_KEY}


def jpeg(size: tuple[int, int] = (300, 400), colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A plain JPEG of ``size``."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=80)
    return out.getvalue()


def png(size: tuple[int, int] = (200, 80)) -> bytes:
    """A plain greyscale PNG of ``size``."""
    out = io.BytesIO()
    Image.new("L", size, 255).save(out, "PNG")
    return out.getvalue()


PHOTO = jpeg()
SIGNATURE = png()


def record(n: int = 1, **changes: Any) -> dict[str, Any]:
    """A valid record (spec §3 example shape) for a woman born 1990-08-17; ``changes`` override."""
    rid = f"PRR-2026-{n:06d}"
    base: dict[str, Any] = {
        "record_id": rid,
        "version": 1,
        "status": "PRINT_READY_RECORD",
        "request_type": "NEW",
        "nik": f"14090257089{n:05d}",  # district 02, day 17+40, Aug 1990, serial n
        "name": "SITI AMINAH",
        "birth_place": "TELUK KUANTAN",
        "birth_date": "1990-08-17",
        "sex": "PEREMPUAN",
        "blood_type": "O",
        "address": "JL. PERJUANGAN NO. 12",
        "rt": "002",
        "rw": "003",
        "village": "SUNGAI JERING",
        "district": "KUANTAN TENGAH",
        "regency": "KUANTAN SINGINGI",
        "province": "RIAU",
        "religion": "ISLAM",
        "marital_status": "KAWIN",
        "occupation": "PEDAGANG",
        "citizenship": "WNI",
        "valid_until": "SEUMUR HIDUP",
        "issue_place": "KUANTAN SINGINGI",
        "photo": f"photos/{rid}.jpg",
        "signature": f"signatures/{rid}.png",
        "chip_script": [
            {"apdu": "00A4040C07A000000077010800", "expect": "9000"},
            {"apdu": "00D6000004DEADBEEF", "expect": "9000"},
        ],
        "dedup_ref": f"PNG-14-2026-{n:06d}",
    }
    base.update(changes)
    return base


@dataclass
class Bundle:
    """The parts of a bundle before writing; tests tweak any of them to break one rule."""

    records: Sequence[dict[str, Any] | bytes] = field(
        default_factory=lambda: [record(1), record(2)]
    )
    media: dict[str, bytes] = field(default_factory=dict)
    manifest_changes: dict[str, Any] = field(default_factory=dict)
    regency_code: str = REGENCY
    key_id: str = KEY_ID
    key: Ed25519PrivateKey = PRIVATE_KEY
    bundle_id: str = "2f1c9a0e-6d0b-4b8e-9a57-0d2d7f1f3c11"
    sequence: int = 118
    created_at: str = "2026-11-27T03:00:00Z"
    trailing_newline: bool = True
    # Hooks run in this order; each may change what gets written.
    edit_members: Callable[[dict[str, dict[str, Any]]], None] | None = None
    edit_manifest_bytes: Callable[[bytes], bytes] | None = None
    edit_signature: Callable[[bytes], bytes] | None = None
    omit: set[str] = field(default_factory=set)  # member names left out of the ZIP
    replace: dict[str, bytes] = field(default_factory=dict)  # ZIP content after hashing
    extra: list[tuple[zipfile.ZipInfo, bytes]] = field(default_factory=list)  # raw additions
    compression: int = zipfile.ZIP_DEFLATED

    def __post_init__(self) -> None:
        if not self.media:
            for rec in self.records:
                if isinstance(rec, dict):
                    self.media.setdefault(str(rec.get("photo")), PHOTO)
                    self.media.setdefault(str(rec.get("signature")), SIGNATURE)

    def records_bytes(self) -> bytes:
        """The records.jsonl content."""
        lines = [r if isinstance(r, bytes) else json.dumps(r).encode() for r in self.records]
        text = b"\n".join(lines)
        return text + b"\n" if self.trailing_newline and lines else text

    def write(self, path: Path) -> Path:
        """Write the ZIP to ``path`` and return it."""
        records = self.records_bytes()
        contents = {"records.jsonl": records, **self.media}
        members: dict[str, dict[str, Any]] = {}
        for name, data in contents.items():
            members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        members["records.jsonl"]["count"] = len(self.records)
        if self.edit_members:
            self.edit_members(members)
        manifest: dict[str, Any] = {
            "format": "prr-bundle/1",
            "bundle_id": self.bundle_id,
            "issuer": "DUKCAPIL-PUSAT",
            "key_id": self.key_id,
            "regency_code": self.regency_code,
            "created_at": self.created_at,
            "sequence": self.sequence,
            "members": members,
        }
        manifest.update(self.manifest_changes)
        manifest_bytes = json.dumps(manifest, indent=2).encode()
        if self.edit_manifest_bytes:
            manifest_bytes = self.edit_manifest_bytes(manifest_bytes)
        signature = self.key.sign(manifest_bytes)
        if self.edit_signature:
            signature = self.edit_signature(signature)
        files = {
            "manifest.json": manifest_bytes,
            "manifest.sig": base64.b64encode(signature),
            **contents,
            **self.replace,
        }
        with zipfile.ZipFile(path, "w", compression=self.compression) as zf:
            for name, data in files.items():
                if name not in self.omit:
                    zf.writestr(name, data)
            for info, data in self.extra:
                zf.writestr(info, data)
        return path
