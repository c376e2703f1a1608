"""read_bundle against spec prr-bundle-v1 §2–§3, with bundles written by hand in the tests."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import warnings
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from printctl.domain import RequestType, Sex
from printctl.intake.bundle import (
    BundleLimits,
    BundleRejected,
    ParsedBundle,
    load_public_key,
    read_bundle,
)
from tests.unit.bundle_helpers import (
    PHOTO,
    PUBLIC_KEY,
    REGENCY,
    SIGNATURE,
    TRUSTED,
    Bundle,
    jpeg,
    png,
    record,
)


def read(path: Path, **kwargs: Any) -> ParsedBundle:
    """read_bundle with the test key trusted, for the test office 14.09."""
    return read_bundle(path, trusted_keys=TRUSTED, regency_code=REGENCY, **kwargs)


def rejected(path: Path, **kwargs: Any) -> BundleRejected:
    """The BundleRejected that reading ``path`` raises."""
    with pytest.raises(BundleRejected) as info:
        read(path, **kwargs)
    return info.value


def zip_info(name: str, *, mode: int = 0o100644) -> zipfile.ZipInfo:
    """A ZipInfo with a Unix mode, as an attacker would craft it."""
    info = zipfile.ZipInfo(name, date_time=(2026, 11, 27, 3, 0, 0))
    info.create_system = 3
    info.external_attr = mode << 16
    return info


# --- a valid bundle ------------------------------------------------------------------------


def test_valid_bundle_is_read_whole(tmp_path: Path) -> None:
    """A bundle that follows the spec yields every record, typed, and the manifest's metadata."""
    bundle = Bundle()
    path = bundle.write(tmp_path / "b.prr.zip")
    parsed = read(path)
    assert parsed.bundle_id == bundle.bundle_id
    assert parsed.sequence == 118
    assert parsed.issuer == "DUKCAPIL-PUSAT"
    assert parsed.key_id == "pusat-test-01"
    assert parsed.regency_code == "14.09"
    assert parsed.created_at == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    with zipfile.ZipFile(path) as zf:
        assert parsed.manifest_sha256 == hashlib.sha256(zf.read("manifest.json")).hexdigest()
    assert parsed.quarantined == [] and parsed.warnings == []
    assert [r.record_id for r in parsed.records] == ["PRR-2026-000001", "PRR-2026-000002"]
    first = parsed.records[0]
    assert first.birth_date == date(1990, 8, 17)
    assert first.sex is Sex.PEREMPUAN
    assert first.request_type is RequestType.NEW
    assert first.photo == PHOTO and first.signature == SIGNATURE
    assert first.chip_script[0].apdu == bytes.fromhex("00A4040C07A000000077010800")
    assert first.chip_script[0].expect == b"\x90\x00"
    assert first.dedup_ref == "PNG-14-2026-000001"
    assert first.status == "PRINT_READY_RECORD"


def test_sequence_and_created_at_with_offset_are_parsed(tmp_path: Path) -> None:
    """created_at with a +07:00 offset is normalised to UTC; sequence is kept as given."""
    path = Bundle(sequence=7, created_at="2026-11-27T10:00:00+07:00").write(tmp_path / "b.zip")
    parsed = read(path)
    assert parsed.sequence == 7
    assert parsed.created_at == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def test_stored_members_and_no_trailing_newline_are_fine(tmp_path: Path) -> None:
    """Uncompressed members and a last line without '\\n' are both valid."""
    bundle = Bundle(compression=zipfile.ZIP_STORED, trailing_newline=False)
    assert len(read(bundle.write(tmp_path / "b.zip")).records) == 2


def test_empty_bundle_is_valid(tmp_path: Path) -> None:
    """A bundle with zero records (count 0, empty records.jsonl) is accepted."""
    parsed = read(Bundle(records=[]).write(tmp_path / "b.zip"))
    assert parsed.records == [] and parsed.quarantined == []


def test_unknown_fields_are_ignored_with_warnings(tmp_path: Path) -> None:
    """Unknown record and manifest fields are ignored, each reported once as a warning."""
    bundle = Bundle(
        records=[record(1, hobby="X"), record(2, hobby="Y", shoe_size=42)],
        manifest_changes={"comment": "hello"},
    )
    parsed = read(bundle.write(tmp_path / "b.zip"))
    assert len(parsed.records) == 2 and parsed.quarantined == []
    text = "\n".join(parsed.warnings)
    assert "'hobby'" in text and "2 records" in text
    assert "'shoe_size'" in text and "comment" in text
    assert len(parsed.warnings) == 3


def test_unknown_nik_prefix_is_a_warning_without_the_nik(tmp_path: Path) -> None:
    """A NIK prefix outside the region table imports the record and warns without the NIK."""
    nik = "9901025708900001"
    parsed = read(Bundle(records=[record(1, nik=nik)]).write(tmp_path / "b.zip"))
    assert len(parsed.records) == 1
    assert len(parsed.warnings) == 1
    assert "99.01" in parsed.warnings[0] and "PRR-2026-000001" in parsed.warnings[0]
    assert nik not in parsed.warnings[0]


def test_text_is_upper_cased_and_keeps_apostrophes_hyphens_and_letters(tmp_path: Path) -> None:
    """Names with apostrophes, hyphens, dots and non-ASCII letters import, upper-cased."""
    names = ["ni kadek ayu putri'ani", "MUH. ALI-AKBAR", "JOSÉ MARÍA, SH", "Ñ" * 60]
    recs = [record(i + 1, name=n) for i, n in enumerate(names)]
    parsed = read(Bundle(records=recs).write(tmp_path / "b.zip"))
    assert parsed.quarantined == []
    assert [r.name for r in parsed.records] == [n.upper() for n in names]


@pytest.mark.parametrize("request_type", list(RequestType))
def test_every_request_type_is_accepted(tmp_path: Path, request_type: RequestType) -> None:
    """NEW, REPLACE_LOST, REPLACE_DAMAGED and DATA_CHANGE are all valid request types."""
    parsed = read(
        Bundle(records=[record(1, request_type=request_type.value)]).write(tmp_path / "b")
    )
    assert parsed.records[0].request_type is request_type


@pytest.mark.parametrize("blood", ["A", "B", "AB", "O", "A+", "AB-", "O+", "-"])
def test_valid_blood_types(tmp_path: Path, blood: str) -> None:
    """Every blood type form the spec allows is accepted."""
    assert read(Bundle(records=[record(1, blood_type=blood)]).write(tmp_path / "b")).records


def test_wna_with_date_and_empty_chip_script_are_valid(tmp_path: Path) -> None:
    """A WNA with an ISO valid_until, and an empty chip script (UID only), are valid."""
    rec = record(1, citizenship="WNA", valid_until="2031-11-27", chip_script=[])
    parsed = read(Bundle(records=[rec]).write(tmp_path / "b"))
    assert parsed.records[0].valid_until == "2031-11-27"
    assert parsed.records[0].chip_script == ()


def test_dedup_ref_is_optional(tmp_path: Path) -> None:
    """A record without dedup_ref imports with an empty dedup_ref."""
    rec = record(1)
    del rec["dedup_ref"]
    assert read(Bundle(records=[rec]).write(tmp_path / "b")).records[0].dedup_ref == ""


def test_photo_of_exactly_300_by_400_is_accepted(tmp_path: Path) -> None:
    """The minimum photo size is inclusive."""
    rec = record(1)
    bundle = Bundle(records=[rec], media={rec["photo"]: jpeg((300, 400)), rec["signature"]: png()})
    assert read(bundle.write(tmp_path / "b")).records


def test_two_versions_of_one_record_are_both_read(tmp_path: Path) -> None:
    """Different versions of a record_id are distinct records (supersession is decided later)."""
    recs = [record(1), record(1, version=2, address="JL. BARU NO. 1")]
    parsed = read(Bundle(records=recs).write(tmp_path / "b"))
    assert [(r.record_id, r.version) for r in parsed.records] == [
        ("PRR-2026-000001", 1),
        ("PRR-2026-000001", 2),
    ]


# --- bundle-level rules (rejections) --------------------------------------------------------


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    """A path that does not exist is a rejection with a clear reason, not an OSError."""
    error = rejected(tmp_path / "nope.prr.zip")
    assert error.rule == 1 and "does not exist" in error.reason and error.bundle_id is None


def test_directory_is_rejected(tmp_path: Path) -> None:
    """A directory given as the bundle path is rejected."""
    assert "directory" in rejected(tmp_path).reason


@pytest.mark.parametrize("content", [b"", b"hello, not a zip", b"PK\x03\x04" + b"\x00" * 40])
def test_non_zip_is_rejected(tmp_path: Path, content: bytes) -> None:
    """Empty files, text and a truncated ZIP header are rejected under rule 1."""
    path = tmp_path / "b.prr.zip"
    path.write_bytes(content)
    error = rejected(path)
    assert error.rule == 1 and "ZIP" in error.reason


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("../evil.jpg", "'..'"),
        ("photos/../../evil.jpg", "'..'"),
        ("/etc/evil.jpg", "absolute"),
        ("C:/evil.jpg", "absolute"),
        ("photos\\..\\evil.jpg", "backslash"),
        ("photos//x.jpg", "empty"),
        ("./photos/x.jpg", "'.'"),
    ],
)
def test_unsafe_member_paths_are_rejected(tmp_path: Path, name: str, fragment: str) -> None:
    """Absolute paths, '..', backslashes and empty or '.' components reject the bundle."""
    path = Bundle(extra=[(zip_info(name), b"x")]).write(tmp_path / "b.zip")
    error = rejected(path)
    assert error.rule == 1 and fragment in error.reason


def test_symlink_member_is_rejected(tmp_path: Path) -> None:
    """A member whose Unix mode is a symbolic link rejects the bundle."""
    link = zip_info("photos/link.jpg", mode=stat.S_IFLNK | 0o777)
    error = rejected(Bundle(extra=[(link, b"/etc/passwd")]).write(tmp_path / "b.zip"))
    assert error.rule == 1 and "symbolic link" in error.reason


def test_duplicate_member_names_are_rejected(tmp_path: Path) -> None:
    """Two members with one name are ambiguous and reject the bundle."""
    bundle = Bundle(extra=[(zip_info("photos/PRR-2026-000001.jpg"), jpeg())])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate
        path = bundle.write(tmp_path / "b.zip")
    error = rejected(path)
    assert error.rule == 1 and "more than once" in error.reason


def test_high_compression_ratio_is_rejected(tmp_path: Path) -> None:
    """A member that inflates more than max_ratio times its compressed size is a zip bomb."""
    bomb = zip_info("photos/bomb.bin")
    bomb.compress_type = zipfile.ZIP_DEFLATED
    error = rejected(Bundle(extra=[(bomb, bytes(2_000_000))]).write(tmp_path / "b.zip"))
    assert error.rule == 1 and "compression ratio" in error.reason


def test_total_uncompressed_size_limit(tmp_path: Path) -> None:
    """Members summing to more than max_total_uncompressed reject the bundle."""
    path = Bundle().write(tmp_path / "b.zip")
    error = rejected(path, limits=BundleLimits(max_total_uncompressed=1000))
    assert error.rule == 1 and "in total" in error.reason


def test_member_count_limit(tmp_path: Path) -> None:
    """More members than max_members reject the bundle."""
    error = rejected(Bundle().write(tmp_path / "b.zip"), limits=BundleLimits(max_members=3))
    assert error.rule == 1 and "members" in error.reason


def test_missing_manifest_is_rejected(tmp_path: Path) -> None:
    """A bundle without manifest.json is rejected under rule 2."""
    error = rejected(Bundle(omit={"manifest.json"}).write(tmp_path / "b.zip"))
    assert error.rule == 2 and "manifest.json" in error.reason


def test_missing_signature_is_rejected(tmp_path: Path) -> None:
    """A bundle without manifest.sig is rejected under rule 2."""
    error = rejected(Bundle(omit={"manifest.sig"}).write(tmp_path / "b.zip"))
    assert error.rule == 2 and "manifest.sig" in error.reason


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    """A manifest naming a key_id the office does not trust is rejected."""
    error = rejected(Bundle(key_id="pusat-2020-99").write(tmp_path / "b.zip"))
    assert error.rule == 2 and "not a trusted" in error.reason and error.bundle_id is None


def test_right_key_id_wrong_key_is_a_bad_signature(tmp_path: Path) -> None:
    """Signed by another key under the trusted key_id: the signature does not verify."""
    other = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    error = rejected(Bundle(key=other).write(tmp_path / "b.zip"))
    assert error.rule == 2 and "does not verify" in error.reason


def test_manifest_changed_after_signing_is_rejected(tmp_path: Path) -> None:
    """One byte of manifest.json changed after signing breaks the signature."""
    path = Bundle().write(tmp_path / "b.zip")
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    files["manifest.json"] = files["manifest.json"].replace(b'"sequence": 118', b'"sequence": 119')
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    assert "does not verify" in rejected(path).reason


def test_signature_not_base64_is_rejected(tmp_path: Path) -> None:
    """manifest.sig that is not base64 is rejected under rule 2."""
    bundle = Bundle(replace={"manifest.sig": b"not base64!!"})
    error = rejected(bundle.write(tmp_path / "b.zip"))
    assert error.rule == 2 and "base64" in error.reason


def test_manifest_not_json_is_rejected(tmp_path: Path) -> None:
    """A manifest.json that is not JSON is rejected, even when correctly signed."""
    bundle = Bundle(edit_manifest_bytes=lambda b: b[: len(b) // 2])
    error = rejected(bundle.write(tmp_path / "b.zip"))
    assert error.rule == 2 and "not valid UTF-8 JSON" in error.reason


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"format": "prr-bundle/2"}, "format"),
        ({"sequence": "118"}, "sequence"),
        ({"sequence": -1}, "sequence"),
        ({"created_at": "2026-11-27 03:00"}, "created_at"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"regency_code": 1409}, "regency_code"),
        ({"bundle_id": "../../etc"}, "bundle_id"),
        ({"issuer": ""}, "issuer"),
        ({"members": []}, "members"),
        ({"members": {"photos/x.jpg": {"sha256": "00" * 32, "bytes": 1}}}, "records.jsonl"),
        ({"members": {"records.jsonl": {"sha256": "00" * 32, "bytes": 1}}}, "count"),
        ({"members": {"records.jsonl": {"sha256": "xyz", "bytes": 1, "count": 0}}}, "sha256"),
    ],
)
def test_manifest_of_the_wrong_shape_is_rejected(
    tmp_path: Path, changes: dict[str, Any], fragment: str
) -> None:
    """A signed manifest missing a field or with a wrongly typed one is rejected under rule 2."""
    error = rejected(Bundle(manifest_changes=changes).write(tmp_path / "b.zip"))
    assert error.rule == 2 and fragment in error.reason


def test_listed_member_missing_is_rejected(tmp_path: Path) -> None:
    """A member the manifest lists but the ZIP lacks rejects the bundle under rule 3."""
    error = rejected(Bundle(omit={"photos/PRR-2026-000002.jpg"}).write(tmp_path / "b.zip"))
    assert error.rule == 3 and "missing" in error.reason
    assert error.bundle_id == "2f1c9a0e-6d0b-4b8e-9a57-0d2d7f1f3c11"


def test_unlisted_member_is_rejected(tmp_path: Path) -> None:
    """A member the manifest does not list rejects the bundle under rule 3."""
    error = rejected(Bundle(extra=[(zip_info("photos/extra.jpg"), jpeg())]).write(tmp_path / "b"))
    assert error.rule == 3 and "not listed" in error.reason


def test_member_with_wrong_hash_is_rejected(tmp_path: Path) -> None:
    """Member bytes that differ from the manifest's SHA-256 (same size) reject the bundle."""
    tampered = bytearray(PHOTO)
    tampered[-10] ^= 0xFF
    bundle = Bundle(replace={"photos/PRR-2026-000001.jpg": bytes(tampered)})
    error = rejected(bundle.write(tmp_path / "b.zip"))
    assert error.rule == 3 and "SHA-256" in error.reason


def test_member_with_wrong_size_is_rejected(tmp_path: Path) -> None:
    """A member whose size differs from the manifest's bytes rejects the bundle."""

    def grow(members: dict[str, dict[str, Any]]) -> None:
        members["signatures/PRR-2026-000001.png"]["bytes"] += 1

    error = rejected(Bundle(edit_members=grow).write(tmp_path / "b.zip"))
    assert error.rule == 3 and "bytes" in error.reason


@pytest.mark.parametrize("count", [1, 3])
def test_count_must_equal_lines(tmp_path: Path, count: int) -> None:
    """records.jsonl's count in the manifest must equal its number of lines."""

    def set_count(members: dict[str, dict[str, Any]]) -> None:
        members["records.jsonl"]["count"] = count

    error = rejected(Bundle(edit_members=set_count).write(tmp_path / "b.zip"))
    assert error.rule == 3 and "2 lines" in error.reason


def test_record_limit(tmp_path: Path) -> None:
    """A count above max_records rejects the bundle before the records are read."""
    error = rejected(Bundle().write(tmp_path / "b.zip"), limits=BundleLimits(max_records=1))
    assert error.rule == 3 and "limit" in error.reason


def test_corrupt_member_data_is_rejected(tmp_path: Path) -> None:
    """Member bytes damaged inside the ZIP reject the bundle (their SHA-256 no longer matches)."""
    path = Bundle(compression=zipfile.ZIP_STORED).write(tmp_path / "b.zip")
    data = bytearray(path.read_bytes())
    at = data.find(PHOTO[200:240])
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    error = rejected(path)
    assert error.rule == 3 and "SHA-256" in error.reason


def test_wrong_regency_is_rejected(tmp_path: Path) -> None:
    """A bundle for another regency is rejected under rule 4, naming both codes."""
    error = rejected(Bundle(regency_code="14.01").write(tmp_path / "b.zip"))
    assert error.rule == 4 and "14.01" in error.reason and "14.09" in error.reason
    assert error.bundle_id is not None


# --- rule order: when two rules fail, the earlier one is reported --------------------------


def test_unsafe_path_beats_bad_signature(tmp_path: Path) -> None:
    """Rule 1 (unsafe path) is reported before rule 2 (bad signature)."""
    bundle = Bundle(extra=[(zip_info("../x"), b"x")], edit_signature=lambda s: bytes(64))
    assert rejected(bundle.write(tmp_path / "b.zip")).rule == 1


def test_bad_signature_beats_missing_member_and_wrong_regency(tmp_path: Path) -> None:
    """Rule 2 (bad signature) is reported before rules 3 and 4."""
    bundle = Bundle(
        regency_code="14.01",
        omit={"photos/PRR-2026-000001.jpg"},
        edit_signature=lambda s: bytes([s[0] ^ 1]) + s[1:],
    )
    error = rejected(bundle.write(tmp_path / "b.zip"))
    assert error.rule == 2 and "does not verify" in error.reason


def test_tampered_member_beats_wrong_regency(tmp_path: Path) -> None:
    """Rule 3 (hash mismatch) is reported before rule 4 (wrong regency)."""
    bundle = Bundle(regency_code="14.01", replace={"signatures/PRR-2026-000002.png": png((9, 9))})
    error = rejected(bundle.write(tmp_path / "b.zip"))
    assert error.rule == 3


def test_wrong_count_beats_wrong_regency(tmp_path: Path) -> None:
    """A count mismatch (rule 3) is reported before a wrong regency (rule 4)."""

    def bump(members: dict[str, dict[str, Any]]) -> None:
        members["records.jsonl"]["count"] = 5

    error = rejected(Bundle(regency_code="14.01", edit_members=bump).write(tmp_path / "b"))
    assert error.rule == 3


def test_wrong_shape_beats_missing_member(tmp_path: Path) -> None:
    """A wrong format (rule 2) is reported before a missing member (rule 3)."""
    bundle = Bundle(manifest_changes={"format": "x"}, omit={"photos/PRR-2026-000001.jpg"})
    assert rejected(bundle.write(tmp_path / "b.zip")).rule == 2


# --- record-level rules (quarantine one record, import the rest) ---------------------------


def _without(field: str) -> dict[str, Any]:
    rec = record(2)
    del rec[field]
    return rec


BROKEN_JPEG = PHOTO[: len(PHOTO) // 2]
BROKEN_PNG = SIGNATURE[:40] + bytes(b ^ 0x55 for b in SIGNATURE[40:])

RECORD_CASES: list[tuple[str, dict[str, Any] | bytes, dict[str, bytes], str]] = [
    ("status duplicate", record(2, status="DUPLICATE_RECORD"), {}, "=DUPLICATE_RECORD"),
    (
        "status enroll failure",
        record(2, status="ENROLL_FAILURE_AT_CENTRAL"),
        {},
        "=ENROLL_FAILURE_AT_CENTRAL",
    ),
    (
        "status search failure",
        record(2, status="SEARCH_FAILURE_AT_CENTRAL"),
        {},
        "=SEARCH_FAILURE_AT_CENTRAL",
    ),
    ("status not a string", record(2, status=1), {}, "status"),
    ("not JSON", b'{"record_id": "PRR-2026-000002", ', {}, "not valid UTF-8 JSON"),
    ("not UTF-8", b'{"name": "\xff"}', {}, "not valid UTF-8 JSON"),
    ("JSON but not an object", b"[1, 2]", {}, "not a JSON object"),
    ("missing field", _without("religion"), {}, "missing required field: religion"),
    ("missing chip_script", _without("chip_script"), {}, "chip_script"),
    ("null field", record(2, address=None), {}, "missing required field: address"),
    ("record_id lower case", record(2, record_id="prr-2026-000002"), {}, "record_id"),
    ("record_id too long", record(2, record_id="P" * 41), {}, "record_id"),
    ("record_id with space", record(2, record_id="PRR 2"), {}, "record_id"),
    ("version 0", record(2, version=0), {}, "version"),
    ("version string", record(2, version="1"), {}, "version"),
    ("version bool", record(2, version=True), {}, "version"),
    ("request_type unknown", record(2, request_type="REPRINT"), {}, "request_type"),
    ("nik 15 digits", record(2, nik="140902570890000"), {}, "16 digits"),
    ("nik not digits", record(2, nik="14090257089O0002"), {}, "only digits"),
    ("nik bad date", record(2, nik="1409027213900002"), {}, "NIK birth"),
    ("nik serial zero", record(2, nik="1409025708900000"), {}, "serial"),
    ("nik sex mismatch", record(2, sex="LAKI-LAKI"), {}, "above 40"),
    ("nik birth date mismatch", record(2, birth_date="1991-08-17"), {}, "year does not match"),
    ("sex unknown", record(2, sex="P"), {}, "sex must be"),
    ("birth_date not real", record(2, birth_date="1990-02-30"), {}, "birth_date"),
    ("birth_date compact", record(2, birth_date="19900817"), {}, "birth_date"),
    ("blood type C", record(2, blood_type="C"), {}, "blood_type"),
    ("blood type lower", record(2, blood_type="ab"), {}, "blood_type"),
    ("citizenship", record(2, citizenship="WN"), {}, "citizenship"),
    ("WNI with date", record(2, valid_until="2030-01-01"), {}, "SEUMUR HIDUP for a WNI"),
    ("WNA lifelong", record(2, citizenship="WNA"), {}, "date for a WNA"),
    ("name 61 chars", record(2, name="A" * 61), {}, "at most 60"),
    ("name with digit", record(2, name="SITI AMINAH 2"), {}, "name contains"),
    ("name with control char", record(2, name="SITI\tAMINAH"), {}, "name contains"),
    ("name empty", record(2, name="  "), {}, "name is empty"),
    ("text not a string", record(2, village=7), {}, "village is not a string"),
    ("rt not digits", record(2, rt="RT2"), {}, "rt must"),
    ("photo not in bundle", record(2, photo="photos/none.jpg"), {}, "photo is not a member"),
    (
        "photo broken",
        record(2),
        {"photos/PRR-2026-000002.jpg": BROKEN_JPEG},
        "photo does not decode",
    ),
    ("photo is a PNG", record(2), {"photos/PRR-2026-000002.jpg": png((300, 400))}, "JPEG"),
    (
        "photo landscape",
        record(2),
        {"photos/PRR-2026-000002.jpg": jpeg((480, 360))},
        "not portrait",
    ),
    ("photo square", record(2), {"photos/PRR-2026-000002.jpg": jpeg((400, 400))}, "portrait"),
    ("photo small", record(2), {"photos/PRR-2026-000002.jpg": jpeg((299, 400))}, "too small"),
    ("photo short", record(2), {"photos/PRR-2026-000002.jpg": jpeg((300, 399))}, "too small"),
    (
        "signature not in bundle",
        record(2, signature="signatures/none.png"),
        {},
        "signature is not a member",
    ),
    (
        "signature broken",
        record(2),
        {"signatures/PRR-2026-000002.png": BROKEN_PNG},
        "signature does not decode",
    ),
    ("signature is a JPEG", record(2), {"signatures/PRR-2026-000002.png": PHOTO}, "PNG"),
    ("chip_script not a list", record(2, chip_script="00A4"), {}, "chip_script"),
    ("apdu not hex", record(2, chip_script=[{"apdu": "00A4ZZ00", "expect": "9000"}]), {}, "apdu"),
    (
        "apdu with spaces",
        record(2, chip_script=[{"apdu": "00 A4 04 0C", "expect": "9000"}]),
        {},
        "apdu",
    ),
    (
        "apdu too short",
        record(2, chip_script=[{"apdu": "00A404", "expect": "9000"}]),
        {},
        "4 bytes",
    ),
    (
        "expect 3 digits",
        record(2, chip_script=[{"apdu": "00A4040C", "expect": "900"}]),
        {},
        "expect",
    ),
    ("command not an object", record(2, chip_script=["00A4040C"]), {}, "not an object"),
]


@pytest.mark.parametrize(
    ("bad", "media", "expected"),
    [case[1:] for case in RECORD_CASES],
    ids=[case[0] for case in RECORD_CASES],
)
def test_record_rule_quarantines_only_that_record(
    tmp_path: Path, bad: dict[str, Any] | bytes, media: dict[str, bytes], expected: str
) -> None:
    """A record breaking one §3 rule is quarantined with a reason; its neighbours import."""
    bundle = Bundle(records=[record(1), bad, record(3)])
    bundle.media.update(media)
    for name in ("photos/none.jpg", "signatures/none.png"):
        bundle.media.pop(name, None)  # referenced, but deliberately not in the bundle
    parsed = read(bundle.write(tmp_path / "b.zip"))
    assert [r.record_id for r in parsed.records] == ["PRR-2026-000001", "PRR-2026-000003"]
    assert len(parsed.quarantined) == 1
    quarantined = parsed.quarantined[0]
    assert quarantined.line == 2
    if expected.startswith("="):
        assert quarantined.reason == expected[1:]
    else:
        assert expected in quarantined.reason
    if isinstance(bad, dict) and bad.get("record_id") == "PRR-2026-000002":
        assert quarantined.record_id == "PRR-2026-000002"
        valid_version = type(bad["version"]) is int and bad["version"] >= 1
        assert quarantined.version == (bad["version"] if valid_version else None)
    assert "1409025708900002" not in quarantined.reason


def test_non_print_ready_status_wins_over_other_problems(tmp_path: Path) -> None:
    """A DUPLICATE_RECORD lacking its photo is quarantined for its status alone."""
    rec = record(1, status="DUPLICATE_RECORD", photo="photos/none.jpg")
    del rec["signature"]
    parsed = read(Bundle(records=[rec]).write(tmp_path / "b.zip"))
    assert parsed.quarantined[0].reason == "DUPLICATE_RECORD"


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    """All field problems of one record appear in its single reason."""
    rec = record(1, blood_type="C", rt="X", citizenship="WN")
    reason = read(Bundle(records=[rec]).write(tmp_path / "b")).quarantined[0].reason
    assert "blood_type" in reason and "rt must" in reason and "citizenship" in reason


def test_duplicate_record_id_and_version_quarantines_the_later_one(tmp_path: Path) -> None:
    """The second line with an already seen (record_id, version) is quarantined."""
    recs = [record(1), record(2), record(1, name="OTHER NAME")]
    parsed = read(Bundle(records=recs).write(tmp_path / "b.zip"))
    assert [r.name for r in parsed.records] == ["SITI AMINAH", "SITI AMINAH"]
    assert len(parsed.quarantined) == 1
    q = parsed.quarantined[0]
    assert (q.record_id, q.version, q.line) == ("PRR-2026-000001", 1, 3)
    assert "line 1" in q.reason


def test_media_checks_run_the_same_on_one_or_many_threads(tmp_path: Path) -> None:
    """Results do not depend on media_workers (threaded checks are an optimisation only)."""
    recs: list[dict[str, Any] | bytes] = [record(i) for i in range(1, 300)]
    bundle = Bundle(records=recs)
    bundle.media["photos/PRR-2026-000007.jpg"] = BROKEN_JPEG
    bundle.media["signatures/PRR-2026-000200.png"] = PHOTO
    path = bundle.write(tmp_path / "b.zip")
    one = read(path, limits=BundleLimits(media_workers=1))
    many = read(path, limits=BundleLimits(media_workers=4))
    assert one.quarantined == many.quarantined
    assert [q.line for q in one.quarantined] == [7, 200]
    assert len(one.records) == len(many.records) == 297


# --- keys -----------------------------------------------------------------------------------


def test_load_public_key_accepts_pem_and_raw_base64(tmp_path: Path) -> None:
    """load_public_key reads SubjectPublicKeyInfo PEM and one line of base64 raw bytes."""
    pem = tmp_path / "k.pem"
    pem.write_bytes(
        PUBLIC_KEY.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    raw = tmp_path / "k.b64"
    raw_bytes = PUBLIC_KEY.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raw.write_text(base64.b64encode(raw_bytes).decode() + "\n")
    for path in (pem, raw):
        key = load_public_key(path)
        assert (
            key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            == raw_bytes
        )


def test_load_public_key_rejects_garbage(tmp_path: Path) -> None:
    """Files that hold no Ed25519 public key raise ValueError."""
    short = tmp_path / "short"
    short.write_text(base64.b64encode(b"x" * 31).decode())
    junk = tmp_path / "junk"
    junk.write_text("hello world")
    for path in (short, junk):
        with pytest.raises(ValueError):
            load_public_key(path)


def test_manifest_sha256_identifies_the_exact_manifest(tmp_path: Path) -> None:
    """Rewriting the same bundle gives the same manifest_sha256; another sequence changes it."""
    a = read(Bundle().write(tmp_path / "a.zip")).manifest_sha256
    b = read(Bundle().write(tmp_path / "b.zip")).manifest_sha256
    c = read(Bundle(sequence=119).write(tmp_path / "c.zip")).manifest_sha256
    assert a == b != c
    assert json.loads(json.dumps({"x": a}))["x"] == a
