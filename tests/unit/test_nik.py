"""NIK checks of spec prr-bundle-v1 §3, table-driven."""

from __future__ import annotations

from datetime import date

import pytest

from printctl.domain import Sex
from printctl.intake.nik import check_nik, make_nik, split_nik
from printctl.intake.regions import DEFAULT_REGIONS

M, F = Sex.LAKI_LAKI, Sex.PEREMPUAN

# (case id, nik, sex, birth_date, expected error fragment or None when valid)
CASES: list[tuple[str, str, Sex, date, str | None]] = [
    ("valid man", "1409021708900001", M, date(1990, 8, 17), None),
    ("valid woman +40", "1409025708900001", F, date(1990, 8, 17), None),
    ("woman born on the 31st", "1409027101000002", F, date(2000, 1, 31), None),
    ("29 Feb in a leap year", "1409022902040003", M, date(2004, 2, 29), None),
    ("29 Feb 2000 (leap century)", "1409026902000004", F, date(2000, 2, 29), None),
    ("day 00", "1409020008900001", M, date(1990, 8, 17), "not a real day"),
    ("day 32", "1409023208900001", M, date(1990, 8, 17), "not a real day"),
    ("day 40", "1409024008900001", M, date(1990, 8, 17), "not a real day"),
    ("woman day 72 (32 after -40)", "1409027208900001", F, date(1990, 8, 17), "not a real day"),
    ("month 00", "1409021700900001", M, date(1990, 8, 17), "month"),
    ("month 13", "1409021713900001", M, date(1990, 8, 17), "month"),
    ("30 Feb", "1409023002900001", M, date(1990, 2, 28), "not a real day"),
    ("29 Feb 1990 (not leap)", "1409022902900001", M, date(1990, 2, 28), "not a real day"),
    ("serial 0000", "1409021708900000", M, date(1990, 8, 17), "serial"),
    ("woman with day below 40", "1409021708900001", F, date(1990, 8, 17), "sex is PEREMPUAN"),
    ("man with day above 40", "1409025708900001", M, date(1990, 8, 17), "above 40"),
    ("birth day differs", "1409021808900001", M, date(1990, 8, 17), "birth day does not match"),
    ("birth month differs", "1409021709900001", M, date(1990, 8, 17), "month does not match"),
    ("birth year differs", "1409021708910001", M, date(1990, 8, 17), "year does not match"),
    ("century is not checked", "1409021708900001", M, date(1890, 8, 17), None),
    ("non-digits", "14090217089O0001", M, date(1990, 8, 17), "only digits"),
    ("Arabic-Indic digits", "1409021708900٠٠1", M, date(1990, 8, 17), "only digits"),
    ("15 digits", "140902170890001", M, date(1990, 8, 17), "16 digits"),
    ("17 digits", "14090217089000011", M, date(1990, 8, 17), "16 digits"),
]


@pytest.mark.parametrize(
    ("nik", "sex", "birth_date", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_nik_rules(nik: str, sex: Sex, birth_date: date, expected: str | None) -> None:
    """Each hard NIK rule yields an error naming the broken part; valid NIKs yield none."""
    result = check_nik(nik, sex=sex, birth_date=birth_date)
    if expected is None:
        assert result.ok, result.errors
        assert result.errors == []
    else:
        assert not result.ok
        assert any(expected in error for error in result.errors), result.errors


def test_errors_never_contain_the_nik() -> None:
    """Error and warning texts never repeat the NIK, which ends up in logs and reports."""
    nik = "9901020013900000"
    result = check_nik(nik, sex=F, birth_date=date(1990, 8, 17))
    assert len(result.errors) >= 3
    for text in result.errors + result.warnings:
        assert nik not in text
        assert nik[6:12] not in text


def test_unknown_prefix_is_a_warning_only() -> None:
    """A province/regency prefix missing from the region table warns but does not fail."""
    result = check_nik("9901021708900001", sex=M, birth_date=date(1990, 8, 17))
    assert result.ok
    assert result.errors == []
    assert len(result.warnings) == 1
    assert "99.01" in result.warnings[0]


def test_known_prefix_has_no_warning() -> None:
    """Kab. Kuantan Singingi (14.09) and Kota Pekanbaru (14.71) are in the default table."""
    for nik in ("1409021708900001", "1471021708900001"):
        result = check_nik(nik, sex=M, birth_date=date(1990, 8, 17))
        assert result.ok and result.warnings == []


def test_prefix_check_can_be_disabled() -> None:
    """With regions=None no prefix warning is produced."""
    assert check_nik("9901021708900001", regions=None).warnings == []


def test_without_sex_or_birth_date_only_the_nik_itself_is_checked() -> None:
    """check_nik alone validates digits, date and serial, and tolerates either century."""
    assert check_nik("1409022902000001").ok  # 29 Feb 2000 exists
    assert not check_nik("1409023002000001").ok


def test_non_string_nik_is_an_error() -> None:
    """A NIK given as a JSON number is reported, not crashed on."""
    result = check_nik(1409021708900001)
    assert not result.ok


@pytest.mark.parametrize("sex", [M, F])
@pytest.mark.parametrize("born", [date(1945, 8, 17), date(2000, 2, 29), date(2008, 12, 31)])
def test_make_nik_round_trips(sex: Sex, born: date) -> None:
    """make_nik builds a NIK that check_nik accepts for the same sex and birth date."""
    nik = make_nik("14", "09", "02", born, sex, 17)
    parts = split_nik(nik)
    assert parts is not None
    assert parts.prefix == "14.09" and parts.district == "02" and parts.serial == "0017"
    assert (parts.day > 40) == (sex is F)
    result = check_nik(nik, sex=sex, birth_date=born, regions=DEFAULT_REGIONS)
    assert result.ok and result.warnings == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("1", "09", "02", date(1990, 1, 1), M, 1), "province"),
        (("14", "09", "02", date(1990, 1, 1), M, 0), "serial"),
        (("14", "09", "02", date(1990, 1, 1), M, 10000), "serial"),
    ],
)
def test_make_nik_rejects_bad_parts(args: tuple[object, ...], message: str) -> None:
    """make_nik refuses codes that are not 2 digits and serials outside 1..9999."""
    with pytest.raises(ValueError, match=message):
        make_nik(*args)  # type: ignore[arg-type]
