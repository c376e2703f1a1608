"""NIK (Nomor Induk Kependudukan) checks, spec ``prr-bundle-v1`` §3.

A NIK is 16 digits: province (2), regency/city (2), district (2), birth day (2; +40 for women),
birth month (2), two-digit birth year (2), serial (4). There is no check digit, so the hard
checks are about the date part and its agreement with the record's other fields. An unknown
province/regency prefix is only a warning: old prefixes stay valid after a region split.

Messages never contain the full NIK, because they end up in logs and on screens.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date

from printctl.domain import Sex
from printctl.intake.regions import DEFAULT_REGIONS, RegionTable

NIK_LENGTH = 16
WOMAN_DAY_OFFSET = 40


@dataclass
class NikCheck:
    """The outcome of :func:`check_nik`: hard errors (quarantine) and soft warnings."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings do not count)."""
        return not self.errors


@dataclass(frozen=True)
class NikParts:
    """The fields of a syntactically valid NIK (16 ASCII digits), not yet checked for meaning."""

    province: str
    regency: str
    district: str
    day: int  # as written, i.e. with +40 for women
    month: int
    year2: int
    serial: str

    @property
    def prefix(self) -> str:
        """``PP.RR``: the province/regency prefix in Kemendagri notation."""
        return f"{self.province}.{self.regency}"


def split_nik(nik: str) -> NikParts | None:
    """Split a NIK into its parts, or None if it is not exactly 16 ASCII digits."""
    # str.isdigit() accepts non-ASCII digits (e.g. Arabic-Indic) that a card cannot carry.
    if len(nik) != NIK_LENGTH or not nik.isascii() or not nik.isdigit():
        return None
    return NikParts(
        province=nik[0:2],
        regency=nik[2:4],
        district=nik[4:6],
        day=int(nik[6:8]),
        month=int(nik[8:10]),
        year2=int(nik[10:12]),
        serial=nik[12:16],
    )


def _real_day_month(day: int, month: int, year2: int, full_year: int | None) -> bool:
    """True when day/month exist in some year ending in ``year2`` (or in ``full_year``)."""
    if not 1 <= month <= 12 or day < 1:
        return False
    # Without the full birth date the century is unknown; 29 Feb is real if either candidate
    # century makes a leap year (1900 is not one, 2000 is).
    years = [full_year] if full_year is not None else [1900 + year2, 2000 + year2]
    return any(day <= calendar.monthrange(y, month)[1] for y in years)


def check_nik(
    nik: object,
    *,
    sex: Sex | str | None = None,
    birth_date: date | None = None,
    regions: RegionTable | None = DEFAULT_REGIONS,
) -> NikCheck:
    """Check a NIK against spec §3, and against ``sex``/``birth_date`` when they are given.

    Errors: not 16 digits; day/month not a real date once 40 is taken off for women; serial
    ``0000``; day above 40 but sex not PEREMPUAN or the reverse; date part differing from
    ``birth_date`` (day, month, two-digit year). Warning: the province/regency prefix is not in
    ``regions`` (pass ``regions=None`` to skip that check).
    """
    result = NikCheck()
    if not isinstance(nik, str):
        result.errors.append("NIK is not a string")
        return result
    parts = split_nik(nik)
    if parts is None:
        if len(nik) != NIK_LENGTH:
            result.errors.append(f"NIK must have {NIK_LENGTH} digits, it has {len(nik)} characters")
        else:
            result.errors.append("NIK must contain only digits 0-9")
        return result

    is_woman_day = parts.day > WOMAN_DAY_OFFSET
    real_day = parts.day - WOMAN_DAY_OFFSET if is_woman_day else parts.day
    full_year = (
        birth_date.year if birth_date is not None and birth_date.year % 100 == parts.year2 else None
    )
    date_ok = _real_day_month(real_day, parts.month, parts.year2, full_year)
    if not date_ok:
        if not 1 <= parts.month <= 12:
            result.errors.append("NIK birth month is not 01-12")
        else:
            result.errors.append(
                "NIK birth day is not a real day of its month"
                + (" once 40 is taken off for a woman" if is_woman_day else "")
            )
    if parts.serial == "0000":
        result.errors.append("NIK serial number is 0000")

    if sex is not None:
        woman = str(sex) == Sex.PEREMPUAN.value
        if is_woman_day and not woman:
            result.errors.append(f"NIK birth day is above 40 (a woman's NIK) but sex is {sex}")
        elif woman and not is_woman_day:
            result.errors.append("NIK birth day is not above 40 but sex is PEREMPUAN")

    if birth_date is not None and date_ok:
        # Name the differing parts, not their values: reasons are stored and reported.
        differs = [
            label
            for label, ours, theirs in (
                ("day", real_day, birth_date.day),
                ("month", parts.month, birth_date.month),
                ("year", parts.year2, birth_date.year % 100),
            )
            if ours != theirs
        ]
        if differs:
            result.errors.append(f"NIK birth {'/'.join(differs)} does not match birth_date")

    if regions is not None and not regions.knows_prefix(parts.province, parts.regency):
        result.warnings.append(f"NIK prefix {parts.prefix} is not in the office's region table")
    return result


def make_nik(
    province: str,
    regency: str,
    district: str,
    birth_date: date,
    sex: Sex | str,
    serial: int,
) -> str:
    """Build a NIK that passes :func:`check_nik` for this sex and birth date.

    ``province``, ``regency`` and ``district`` are 2-digit codes; ``serial`` is 1..9999.
    """
    for label, code in (("province", province), ("regency", regency), ("district", district)):
        if len(code) != 2 or not code.isascii() or not code.isdigit():
            raise ValueError(f"{label} code must be 2 digits, got {code!r}")
    if not 1 <= serial <= 9999:
        raise ValueError(f"serial must be 1..9999, got {serial}")
    day = birth_date.day + (WOMAN_DAY_OFFSET if str(sex) == Sex.PEREMPUAN.value else 0)
    return (
        f"{province}{regency}{district}{day:02d}{birth_date.month:02d}"
        f"{birth_date.year % 100:02d}{serial:04d}"
    )
