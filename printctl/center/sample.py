"""The spec's sample record (prr-bundle-v1 §3), for tests, benches and examples.

One definition of "a plausible record" instead of a copy in every test: callers override the
fields they care about (``sample_record(name="…", photo=jpeg)``). Its media are empty unless
given: code that decodes them must pass real bytes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from printctl.domain import ChipCommand, RecordData, RequestType, Sex

#: The spec's example chip script: SELECT of the e-KTP application, then one UPDATE BINARY.
SAMPLE_SCRIPT = (
    ChipCommand(bytes.fromhex("00A4040C07A000000077010800"), b"\x90\x00"),
    ChipCommand(bytes.fromhex("00D6000004DEADBEEF"), b"\x90\x00"),
)

_SAMPLE = RecordData(
    record_id="PRR-2026-000001",
    version=1,
    request_type=RequestType.NEW,
    nik="1409015708900001",
    name="SITI AMINAH",
    birth_place="TELUK KUANTAN",
    birth_date=date(1990, 8, 17),
    sex=Sex.PEREMPUAN,
    blood_type="O",
    address="JL. PERJUANGAN NO. 12",
    rt="002",
    rw="003",
    village="SUNGAI JERING",
    district="KUANTAN TENGAH",
    regency="KUANTAN SINGINGI",
    province="RIAU",
    religion="ISLAM",
    marital_status="KAWIN",
    occupation="PEDAGANG",
    citizenship="WNI",
    valid_until="SEUMUR HIDUP",
    issue_place="KUANTAN SINGINGI",
    photo=b"",
    signature=b"",
    chip_script=SAMPLE_SCRIPT,
)


def sample_record(**overrides: Any) -> RecordData:
    """The spec's sample record (SITI AMINAH, Kuantan Tengah) with ``overrides`` applied."""
    return replace(_SAMPLE, **overrides)
