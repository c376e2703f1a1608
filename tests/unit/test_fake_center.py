"""The fake center: its bundles against the real reader, its people, media and keys."""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from printctl.center.bundles import (
    BAD_BUNDLE_KINDS,
    BAD_RECORD_KINDS,
    BundleInfo,
    make_bundle,
    make_superseding_bundle,
)
from printctl.center.keys import CenterKey, generate_center_key, load_center_key, write_key_pair
from printctl.center.media import BLUE_BACKDROP, RED_BACKDROP, portrait_jpeg, signature_png
from printctl.center.names import SAMPLE_NAMES, make_name
from printctl.domain import RequestType, Sex
from printctl.intake.bundle import BundleRejected, ParsedBundle, load_public_key, read_bundle
from printctl.intake.nik import check_nik

KEY = generate_center_key(seed=42)
TRUSTED = {KEY.key_id: KEY.public_key}

#: What the reader must say for each planted record defect (a fragment of the reason).
EXPECTED_REASON = {
    "duplicate-status": "DUPLICATE_RECORD",
    "enroll-failure": "ENROLL_FAILURE_AT_CENTRAL",
    "search-failure": "SEARCH_FAILURE_AT_CENTRAL",
    "not-json": "not valid UTF-8 JSON",
    "bad-record-id": "record_id",
    "bad-version": "version",
    "duplicate-version": "duplicate of record",
    "bad-request-type": "request_type",
    "bad-nik-length": "16 digits",
    "bad-nik-digits": "only digits",
    "bad-nik-date": "NIK birth month",
    "nik-sex-mismatch": "sex",
    "nik-serial-zero": "serial",
    "nik-birthdate-mismatch": "does not match birth_date",
    "bad-sex": "sex must be",
    "bad-birth-date": "birth_date",
    "bad-blood-type": "blood_type",
    "bad-citizenship": "citizenship",
    "wni-valid-until": "SEUMUR HIDUP for a WNI",
    "wna-valid-until": "date for a WNA",
    "name-too-long": "at most 60",
    "bad-name-chars": "name contains",
    "bad-rt": "rt must",
    "missing-field": "missing required field: religion",
    "missing-photo": "photo is not a member",
    "broken-photo": "photo does not decode",
    "photo-not-jpeg": "photo does not decode as a JPEG",
    "landscape-photo": "not portrait",
    "small-photo": "too small",
    "missing-signature": "signature is not a member",
    "broken-signature": "signature does not decode",
    "bad-chip-script": "apdu is not hex",
    "bad-chip-expect": "expect is not 4 hex digits",
}


def read(info: BundleInfo) -> ParsedBundle:
    """read_bundle for the office 14.09 trusting the test center key."""
    return read_bundle(info.path, trusted_keys=TRUSTED, regency_code="14.09")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the module's bundles (bundle ids never collide)."""
    return tmp_path_factory.mktemp("center")


@pytest.fixture(scope="module")
def valid(out_dir: Path) -> tuple[BundleInfo, ParsedBundle]:
    """A clean 120-record bundle with a mix of request types, and what the reader made of it."""
    types = {RequestType.NEW: 0.7, RequestType.REPLACE_LOST: 0.1, RequestType.DATA_CHANGE: 0.2}
    info = make_bundle(out_dir, key=KEY, count=120, seed=3, request_types=types)
    return info, read(info)


@pytest.fixture(scope="module")
def all_bad(out_dir: Path) -> tuple[BundleInfo, ParsedBundle]:
    """A bundle with one record of every bad kind among good ones."""
    info = make_bundle(
        out_dir, key=KEY, count=80, seed=5, bad_records={kind: 1 for kind in BAD_RECORD_KINDS}
    )
    return info, read(info)


def test_expected_reasons_cover_every_bad_kind() -> None:
    """Every bad-record kind the center can plant has an expectation in this test."""
    assert set(EXPECTED_REASON) == set(BAD_RECORD_KINDS)


def test_valid_bundle_passes_whole(valid: tuple[BundleInfo, ParsedBundle]) -> None:
    """A clean fake-center bundle imports every record, with no quarantine and no warning."""
    info, parsed = valid
    assert parsed.quarantined == [] and parsed.warnings == []
    assert [r.record_id for r in parsed.records] == list(info.record_ids)
    assert info.valid_count == info.count == 120
    assert parsed.bundle_id == info.bundle_id and parsed.sequence == info.sequence
    assert parsed.manifest_sha256 == info.manifest_sha256
    assert parsed.created_at == info.created_at


def test_request_types_follow_the_weights(valid: tuple[BundleInfo, ParsedBundle]) -> None:
    """With weights given, NEW dominates and reprint types appear; unlisted types do not."""
    counts = Counter(r.request_type for r in valid[1].records)
    assert counts[RequestType.NEW] > counts[RequestType.DATA_CHANGE] > 0
    assert counts[RequestType.REPLACE_LOST] > 0
    assert counts[RequestType.REPLACE_DAMAGED] == 0


def test_default_request_type_is_new(out_dir: Path) -> None:
    """Without request_types every record is a first card (NEW)."""
    parsed = read(make_bundle(out_dir, key=KEY, count=10, seed=11))
    assert {r.request_type for r in parsed.records} == {RequestType.NEW}


def test_people_are_plausible(valid: tuple[BundleInfo, ParsedBundle]) -> None:
    """NIKs are valid for 14.09 with the +40 rule; addresses are in Kuantan Singingi."""
    for rec in valid[1].records:
        check = check_nik(rec.nik, sex=rec.sex, birth_date=rec.birth_date)
        assert check.ok and check.warnings == [], check.errors
        assert rec.nik.startswith("1409")
        assert (int(rec.nik[6:8]) > 40) == (rec.sex is Sex.PEREMPUAN)
        assert rec.regency == "KUANTAN SINGINGI" and rec.province == "RIAU"
        assert 17 <= (date(2026, 11, 27) - rec.birth_date).days // 365 <= 86
        assert rec.chip_script[0].apdu.hex().upper() == "00A4040C07A000000077010800"
        assert all(c.expect == b"\x90\x00" for c in rec.chip_script)
        assert any(c.apdu[:2] == b"\x00\xd6" for c in rec.chip_script)
    niks = [r.nik for r in valid[1].records]
    assert len(set(niks)) == len(niks)
    assert len({r.district for r in valid[1].records}) >= 8
    assert {r.sex for r in valid[1].records} == set(Sex)


@pytest.mark.parametrize("kind", sorted(BAD_RECORD_KINDS))
def test_each_bad_record_kind_is_quarantined(
    all_bad: tuple[BundleInfo, ParsedBundle], kind: str
) -> None:
    """The planted defect quarantines exactly its line, with a matching reason."""
    info, parsed = all_bad
    (line,) = info.bad_records[kind]
    matches = [q for q in parsed.quarantined if q.line == line]
    assert len(matches) == 1, f"line {line} ({kind}) was not quarantined"
    assert EXPECTED_REASON[kind] in matches[0].reason


def test_bad_records_do_not_spill_over(all_bad: tuple[BundleInfo, ParsedBundle]) -> None:
    """Exactly the planted lines are quarantined; every other record imports."""
    info, parsed = all_bad
    planted = sorted(line for lines in info.bad_records.values() for line in lines)
    assert sorted(q.line for q in parsed.quarantined) == planted
    assert [r.record_id for r in parsed.records] == list(info.record_ids)
    assert len(parsed.records) == 80 - len(BAD_RECORD_KINDS)


def test_status_reasons_are_the_status(all_bad: tuple[BundleInfo, ParsedBundle]) -> None:
    """A non-print-ready status is quarantined with exactly that status as the reason."""
    info, parsed = all_bad
    by_line = {q.line: q.reason for q in parsed.quarantined}
    assert by_line[info.bad_records["duplicate-status"][0]] == "DUPLICATE_RECORD"


@pytest.mark.parametrize("kind", sorted(BAD_BUNDLE_KINDS))
def test_each_bad_bundle_kind_is_rejected(out_dir: Path, kind: str) -> None:
    """Every planted bundle defect rejects the whole bundle under the rule it breaks."""
    info = make_bundle(out_dir, key=KEY, count=4, seed=9, bad_bundle=kind)
    assert info.bad_bundle == kind
    with pytest.raises(BundleRejected) as error:
        read(info)
    assert error.value.rule == BAD_BUNDLE_KINDS[kind], error.value.reason


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    """make_bundle is deterministic: same arguments, byte-identical file and bundle id."""
    a = make_bundle(tmp_path / "a", key=KEY, count=15, seed=1, bad_records={"bad-rt": 2})
    b = make_bundle(tmp_path / "b", key=KEY, count=15, seed=1, bad_records={"bad-rt": 2})
    assert a.bundle_id == b.bundle_id and a.bad_records == b.bad_records
    assert (
        hashlib.sha256(a.path.read_bytes()).digest() == hashlib.sha256(b.path.read_bytes()).digest()
    )


def test_seed_names_the_people_and_sequence_the_bundle(tmp_path: Path) -> None:
    """Another seed gives other people and ids; another sequence only another bundle."""
    base = make_bundle(tmp_path, key=KEY, count=5, seed=1)
    other_seed = make_bundle(tmp_path, key=KEY, count=5, seed=2)
    other_seq = make_bundle(tmp_path, key=KEY, count=5, seed=1, sequence=2)
    assert len({base.bundle_id, other_seed.bundle_id, other_seq.bundle_id}) == 3
    assert {r.nik for r in read(base).records} != {r.nik for r in read(other_seed).records}
    assert set(base.record_ids).isdisjoint(other_seed.record_ids)
    assert base.record_ids == other_seq.record_ids
    assert other_seq.created_at > base.created_at


def test_version_two_with_the_same_seed_supersedes(tmp_path: Path) -> None:
    """make_bundle(seed=s, version=2) re-issues the ids of make_bundle(seed=s) (CLI path)."""
    first = make_bundle(tmp_path, key=KEY, count=3, seed=9)
    second = make_bundle(tmp_path, key=KEY, count=3, seed=9, version=2, sequence=2)
    assert second.record_ids == first.record_ids
    assert {r.version for r in read(second).records} == {2}


def test_superseding_bundle_reissues_the_same_records(tmp_path: Path) -> None:
    """A superseding bundle has the same ids and people at version + 1, with new addresses."""
    first = make_bundle(tmp_path, key=KEY, count=12, seed=4)
    second = make_superseding_bundle(tmp_path, key=KEY, previous=first)
    assert second.sequence == first.sequence + 1 and second.version == 2
    old, new = read(first).records, read(second).records
    assert [r.record_id for r in new] == [r.record_id for r in old]
    assert {r.version for r in new} == {2}
    assert [(r.nik, r.name, r.birth_date) for r in new] == [
        (r.nik, r.name, r.birth_date) for r in old
    ]
    assert sum(a.address != b.address or a.rt != b.rt for a, b in zip(old, new, strict=True)) >= 10


def test_unknown_field_option_produces_warning(tmp_path: Path) -> None:
    """unknown_field adds a field the spec does not know; the reader warns and imports."""
    info = make_bundle(tmp_path, key=KEY, count=5, seed=1, unknown_field="nama_ibu")
    parsed = read(info)
    assert len(parsed.records) == 5
    assert any("nama_ibu" in w for w in parsed.warnings)


def test_wna_records_are_valid(tmp_path: Path) -> None:
    """Foreign residents (WNA) get a dated valid_until and import."""
    parsed = read(make_bundle(tmp_path, key=KEY, count=20, seed=1, wna_fraction=1.0))
    assert {r.citizenship for r in parsed.records} == {"WNA"}
    assert all(date.fromisoformat(r.valid_until) > date(2026, 11, 27) for r in parsed.records)


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    """Unknown kinds and more bad records than records raise ValueError."""
    with pytest.raises(ValueError, match="unknown bad-record"):
        make_bundle(tmp_path, key=KEY, count=3, bad_records={"nope": 1})
    with pytest.raises(ValueError, match="unknown bad-bundle"):
        make_bundle(tmp_path, key=KEY, count=3, bad_bundle="nope")
    with pytest.raises(ValueError, match="only 3 records"):
        make_bundle(tmp_path, key=KEY, count=3, bad_records={"bad-rt": 4})


def test_members_are_laid_out_as_the_spec_says(valid: tuple[BundleInfo, ParsedBundle]) -> None:
    """manifest.json, manifest.sig, records.jsonl, photos/*.jpg and signatures/*.png only."""
    with zipfile.ZipFile(valid[0].path) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
    assert names[:3] == ["manifest.json", "manifest.sig", "records.jsonl"]
    assert {n.split("/")[0] for n in names[3:]} == {"photos", "signatures"}
    assert manifest["format"] == "prr-bundle/1" and manifest["regency_code"] == "14.09"
    assert manifest["members"]["records.jsonl"]["count"] == 120


# --- names ------------------------------------------------------------------------------------


def test_names_are_varied_and_fit_the_card() -> None:
    """Generated names are upper case, ≤ 60 characters, of varied length, with ' and -."""
    rng = random.Random(0)
    names = [make_name(rng, Sex.PEREMPUAN if i % 2 else Sex.LAKI_LAKI) for i in range(2000)]
    assert all(0 < len(n) <= 60 and n == n.upper() for n in names)
    assert any("'" in n for n in names) and any("-" in n for n in names)
    assert any("." in n for n in names)
    lengths = [len(n) for n in names]
    assert min(lengths) <= 6 and max(lengths) >= 52
    assert len(set(names)) > 1000
    assert any(n.startswith("NI ") for n in names) and any(" BR. " in n for n in names)


def test_long_names_are_near_the_limit() -> None:
    """The 'long' group yields names of 40–60 characters."""
    rng = random.Random(1)
    lengths = [len(make_name(rng, Sex.LAKI_LAKI, group="long")) for _ in range(50)]
    assert all(40 <= n <= 60 for n in lengths) and max(lengths) >= 55


def test_sample_names_include_the_spec_examples() -> None:
    """The spec's awkward examples are among the fixed sample names."""
    assert "NI KADEK AYU PUTRI'ANI" in SAMPLE_NAMES and "MUH. ALI-AKBAR" in SAMPLE_NAMES
    assert all(len(n) <= 60 for n in SAMPLE_NAMES)


# --- media ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("year", "backdrop"), [(1991, RED_BACKDROP), (1990, BLUE_BACKDROP)])
def test_portrait_is_a_valid_e_ktp_photo(year: int, backdrop: tuple[int, int, int]) -> None:
    """Portraits are 360×480 JPEGs of 5–25 KB, red backdrop for odd years, blue for even."""
    data = portrait_jpeg(random.Random(year), birth_year=year, woman=year % 2 == 0, stamp="X")
    assert 5_000 < len(data) < 25_000
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG" and img.size == (360, 480)
        corner = img.convert("RGB").getpixel((20, 20))
    assert isinstance(corner, tuple)
    assert all(abs(c - b) < 60 for c, b in zip(corner, backdrop, strict=True))


def test_stamps_make_distinct_bytes_of_the_same_picture() -> None:
    """Two records sharing a variant still get different bytes (and hashes)."""
    a = portrait_jpeg(random.Random(1), birth_year=1990, woman=True, stamp="PRR-1")
    b = portrait_jpeg(random.Random(1), birth_year=1990, woman=True, stamp="PRR-2")
    assert a != b
    with Image.open(io.BytesIO(a)) as ia, Image.open(io.BytesIO(b)) as ib:
        assert ia.tobytes() == ib.tobytes()
    s1 = signature_png(random.Random(1), stamp="PRR-1")
    s2 = signature_png(random.Random(1), stamp="PRR-2")
    assert s1 != s2
    with Image.open(io.BytesIO(s1)) as img:
        img.load()
        assert img.format == "PNG" and img.mode in ("L", "LA")


# --- keys -------------------------------------------------------------------------------------


def test_key_files_round_trip(tmp_path: Path) -> None:
    """Written key files load back: the public PEM via the office's loader, the private one too."""
    key = generate_center_key("pusat-demo", seed=7)
    files = write_key_pair(key, tmp_path / "keys")
    assert files.private_pem.stat().st_mode & 0o777 == 0o600
    public = load_public_key(files.public_pem)
    public.verify(key.sign(b"manifest"), b"manifest")
    loaded: CenterKey = load_center_key(files.private_pem, "pusat-demo")
    assert loaded.public_pem() == key.public_pem()


def test_seeded_keys_are_reproducible() -> None:
    """The same seed and key_id give the same key; without a seed keys are fresh."""
    assert generate_center_key(seed=1).public_pem() == generate_center_key(seed=1).public_pem()
    assert generate_center_key(seed=1).public_pem() != generate_center_key(seed=2).public_pem()
    assert generate_center_key().public_pem() != generate_center_key().public_pem()
