"""Streaming a bundle's records: bounded media in memory, same outcomes as reading it whole."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from printctl.center.bundles import make_bundle
from printctl.center.keys import generate_center_key
from printctl.intake.bundle import BundleLimits, BundleRejected, Quarantined, open_bundle

KEY = generate_center_key(seed=21)
TRUSTED = {KEY.key_id: KEY.public_key}
BAD = {"duplicate-version": 2, "not-json": 1, "broken-photo": 2, "missing-signature": 1}


def outcomes(path: Path, limits: BundleLimits) -> tuple[list[object], list[str], int]:
    """Every line's outcome (records compared by value), the warnings, the peak media held."""
    with open_bundle(path, trusted_keys=TRUSTED, regency_code="14.09", limits=limits) as bundle:
        items: list[object] = list(bundle.records())
        return items, list(bundle.warnings), bundle.peak_media_held


def test_read_ahead_bounds_the_media_in_memory_and_changes_no_outcome(tmp_path: Path) -> None:
    """With read-ahead 8, at most 16 media are held at once (two per record); the outcome of
    every line, quarantines and warnings included, is that of reading far ahead or inline."""
    info = make_bundle(tmp_path, key=KEY, count=150, seed=3, bad_records=BAD, unknown_field="x")
    small, small_warnings, small_peak = outcomes(info.path, BundleLimits(read_ahead=8))
    whole, whole_warnings, whole_peak = outcomes(info.path, BundleLimits(read_ahead=10_000))
    inline, _, _ = outcomes(info.path, BundleLimits(read_ahead=1, media_workers=1))
    assert small_peak <= 16 < whole_peak
    assert small == whole == inline
    assert small_warnings == whole_warnings and any("'x'" in w for w in small_warnings)
    quarantined = [q for q in small if isinstance(q, Quarantined)]
    assert sorted(q.line for q in quarantined) == sorted(
        line for lines in info.bad_records.values() for line in lines
    )
    assert [r.record_id for r in small if not isinstance(r, Quarantined)] == list(info.record_ids)


def _data_offset(path: Path, name: str) -> int:
    """Where a stored member's bytes start in the file."""
    with zipfile.ZipFile(path) as zf:
        offset = zf.getinfo(name).header_offset
    with path.open("rb") as f:
        f.seek(offset)
        name_len, extra_len = struct.unpack("<26xHH", f.read(30))
    return offset + 30 + name_len + extra_len


def test_a_member_changed_after_the_hash_pass_rejects_the_bundle(tmp_path: Path) -> None:
    """A flash drive rewritten between the hash pass and the record pass: rule 3 rejects it
    when the changed photo is read for its record, not a byte of it is handed on."""
    info = make_bundle(tmp_path, key=KEY, count=20, seed=4)
    name = f"photos/{info.record_ids[10]}.jpg"
    offset = _data_offset(info.path, name) + 100
    seen: list[str] = []
    with (
        pytest.raises(BundleRejected) as error,
        open_bundle(
            info.path,
            trusted_keys=TRUSTED,
            regency_code="14.09",
            limits=BundleLimits(read_ahead=2),
        ) as bundle,
    ):
        with info.path.open("r+b") as f:  # same size, other bytes: only SHA-256 can tell
            f.seek(offset)
            byte = f.read(1)
            f.seek(offset)
            f.write(bytes([byte[0] ^ 0xFF]))
        for item in bundle.records():
            assert not isinstance(item, Quarantined)
            seen.append(item.record_id)
    assert error.value.rule == 3 and "changed while" in error.value.reason
    assert error.value.bundle_id == info.bundle_id
    assert info.record_ids[10] not in seen
