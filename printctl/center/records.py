"""Synthetic print-ready records for the fake center (spec ``prr-bundle-v1`` §3).

People live in the districts of Kabupaten Kuantan Singingi (14.09) by default; their NIKs are
valid for their district, birth date and sex (+40 on the day for women). Everything derives from
``(seed, index)``, so the same person comes back unchanged in a later bundle, which is what a
superseding version (``version`` + 1, corrected address) needs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from printctl.center.media import portrait_jpeg, signature_png
from printctl.center.names import make_name, pick_group
from printctl.domain import ChipCommand, RequestType, Sex
from printctl.intake.nik import make_nik
from printctl.intake.regions import DEFAULT_REGIONS, RegionTable

#: The personalization applet's AID, selected first by every chip script.
SELECT_AID = "00A4040C07A000000077010800"
STATUS_OK = "9000"
UPDATE_CHUNK = 200  # bytes of data per UPDATE BINARY, under the short-APDU limit of 255

_STREETS = (
    "JL. PERJUANGAN",
    "JL. JEND. SUDIRMAN",
    "JL. IMAM BONJOL",
    "JL. AHMAD YANI",
    "JL. PROKLAMASI",
    "JL. LINTAS TIMUR",
    "JL. DIPONEGORO",
    "JL. KH. AHMAD DAHLAN",
    "JL. TUANKU TAMBUSAI",
    "JL. PATTIMURA",
    "JL. PRAMUKA",
    "JL. PEMUDA",
    "JL. RAJA ALI HAJI",
    "JL. BUNGA RAYA",
    "JL. PELAJAR",
    "JL. KESEHATAN",
)
_OCCUPATIONS = (
    ("PETANI/PEKEBUN", 25),
    ("WIRASWASTA", 14),
    ("MENGURUS RUMAH TANGGA", 14),
    ("PELAJAR/MAHASISWA", 8),
    ("KARYAWAN SWASTA", 8),
    ("BURUH HARIAN LEPAS", 6),
    ("PEDAGANG", 5),
    ("PEGAWAI NEGERI SIPIL", 4),
    ("GURU", 3),
    ("BELUM/TIDAK BEKERJA", 5),
    ("NELAYAN/PERIKANAN", 2),
    ("PERANGKAT DESA", 1),
    ("SOPIR", 2),
    ("TENTARA NASIONAL INDONESIA", 1),
    ("KEPOLISIAN RI", 1),
    ("PENSIUNAN", 1),
)
_BLOOD = (("O", 30), ("A", 22), ("B", 22), ("AB", 5), ("O+", 3), ("A+", 2), ("B-", 1), ("-", 15))
_OTHER_BIRTH_PLACES = (
    "PEKANBARU",
    "PADANG",
    "BUKITTINGGI",
    "SIJUNJUNG",
    "MEDAN",
    "TEMBILAHAN",
    "RENGAT",
    "JAKARTA",
    "SURABAYA",
    "DENPASAR",
    "JAMBI",
    "TARUTUNG",
    "SOLOK",
)


@dataclass(frozen=True)
class SyntheticRecord:
    """One record line's JSON object plus the media members it references."""

    fields: dict[str, Any]
    media: dict[str, bytes]


def _religion(rng: random.Random, group: str) -> str:
    if group == "bali":
        return "HINDU"
    if group == "batak":
        return rng.choice(("KRISTEN", "KRISTEN", "KATHOLIK", "ISLAM"))
    if group == "chinese":
        return rng.choice(("BUDDHA", "KRISTEN", "KATHOLIK", "KHONGHUCU"))
    return "ISLAM"


def _marital(rng: random.Random, age: int) -> str:
    if age < 20:
        return "BELUM KAWIN" if rng.random() < 0.85 else "KAWIN"
    if age < 30:
        return rng.choice(("BELUM KAWIN", "KAWIN", "KAWIN"))
    roll = rng.random()
    if age > 60 and roll < 0.3:
        return "CERAI MATI"
    return "CERAI HIDUP" if roll > 0.93 else "KAWIN"


def chip_script(rng: random.Random, personal_bytes: int = 600) -> list[dict[str, str]]:
    """A plausible personalization script: SELECT applet, SELECT EF, UPDATE BINARY chunks.

    The data is opaque random bytes, as the real (encrypted) data is to the office.
    """
    commands = [
        ChipCommand(bytes.fromhex(SELECT_AID), bytes.fromhex(STATUS_OK)),
        ChipCommand(bytes.fromhex("00A4020C020101"), bytes.fromhex(STATUS_OK)),
    ]
    data = rng.randbytes(personal_bytes)
    for offset in range(0, len(data), UPDATE_CHUNK):
        chunk = data[offset : offset + UPDATE_CHUNK]
        header = bytes((0x00, 0xD6, offset >> 8, offset & 0xFF, len(chunk)))
        commands.append(ChipCommand(header + chunk, bytes.fromhex(STATUS_OK)))
    return [c.to_json() for c in commands]


def make_record(
    *,
    seed: int,
    index: int,
    record_id: str,
    version: int = 1,
    request_type: RequestType = RequestType.NEW,
    province_code: str = "14",
    regency_code: str = "09",
    regions: RegionTable = DEFAULT_REGIONS,
    citizenship: str = "WNI",
    today: date = date(2026, 11, 27),
) -> SyntheticRecord:
    """A valid record for person ``index`` of ``seed``; later versions change the address."""
    province = regions.province(province_code)
    regency = regions.regency(province_code, regency_code)
    if province is None or regency is None or not regency.districts:
        raise ValueError(f"no districts known for regency {province_code}.{regency_code}")
    rng = random.Random(f"person:{seed}:{index}")
    sex = Sex.PEREMPUAN if rng.random() < 0.5 else Sex.LAKI_LAKI
    woman = sex is Sex.PEREMPUAN
    # Adults: 17 (the age for a first e-KTP) to about 85.
    age_days = rng.randint(17 * 365 + 5, 85 * 365)
    birth_date = today - timedelta(days=age_days)
    age = age_days // 365
    districts = list(regency.districts.values())
    district = rng.choice(districts)
    village = rng.choice(district.villages) if district.villages else district.name
    group = pick_group(rng)
    name = make_name(rng, sex, group=group)
    serial = index % 9999 + 1  # distinct NIKs within a bundle, whatever the birth dates
    nik = make_nik(province_code, regency_code, district.code, birth_date, sex, serial)
    if rng.random() < 0.7:
        birth_place = regency.seat or regency.name
    elif rng.random() < 0.6:
        birth_place = rng.choice(rng.choice(districts).villages or (district.name,))
    else:
        birth_place = rng.choice(_OTHER_BIRTH_PLACES)
    occupations, weights = zip(*_OCCUPATIONS, strict=True)
    occupation = rng.choices(occupations, weights=weights)[0]
    if age < 23 and rng.random() < 0.6:
        occupation = "PELAJAR/MAHASISWA"
    blood_types, blood_weights = zip(*_BLOOD, strict=True)

    # The address has its own stream so that a later version changes only the address.
    addr_rng = random.Random(f"person:{seed}:{index}:v{version}")
    if addr_rng.random() < 0.75:
        address = f"{addr_rng.choice(_STREETS)} NO. {addr_rng.randint(1, 180)}"
    else:
        address = f"DUSUN {addr_rng.choice(('I', 'II', 'III', 'IV', 'SUKA MAJU', 'TANJUNG'))}"
    rt = f"{addr_rng.randint(1, 15):03d}"
    rw = f"{addr_rng.randint(1, 8):03d}"
    valid_until = "SEUMUR HIDUP"
    if citizenship == "WNA":
        valid_until = (today + timedelta(days=5 * 365)).isoformat()

    photo_name = f"photos/{record_id}.jpg"
    signature_name = f"signatures/{record_id}.png"
    fields: dict[str, Any] = {
        "record_id": record_id,
        "version": version,
        "status": "PRINT_READY_RECORD",
        "request_type": request_type.value,
        "nik": nik,
        "name": name,
        "birth_place": birth_place,
        "birth_date": birth_date.isoformat(),
        "sex": sex.value,
        "blood_type": rng.choices(blood_types, weights=blood_weights)[0],
        "address": address,
        "rt": rt,
        "rw": rw,
        "village": village,
        "district": district.name,
        "regency": regency.name,
        "province": province.name,
        "religion": _religion(rng, group),
        "marital_status": _marital(rng, age),
        "occupation": occupation,
        "citizenship": citizenship,
        "valid_until": valid_until,
        "issue_place": regency.name,
        "photo": photo_name,
        "signature": signature_name,
        "chip_script": chip_script(rng),
        "dedup_ref": f"PNG-{province_code}-{today.year}-{seed % 1000:03d}{index:06d}",
    }
    media = {
        photo_name: portrait_jpeg(rng, birth_year=birth_date.year, woman=woman, stamp=record_id),
        signature_name: signature_png(rng, stamp=record_id),
    }
    return SyntheticRecord(fields, media)
