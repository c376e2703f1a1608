"""The office's region table: provinces, regencies, districts (kecamatan) and some villages.

Codes follow the Ministry of Home Affairs (Kemendagri) numbering that NIKs are built from:
``PP`` province, ``PP.RR`` regency or city, ``PP.RR.DD`` district. The table is deliberately
small: it serves NIK prefix *warnings* (spec §3: an unknown prefix is never a rejection, since
old prefixes stay valid after a region split) and realistic addresses for the fake center.
It is not an authority on Indonesian administrative geography.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class District:
    """A kecamatan: its 2-digit code inside its regency, its name and a few villages."""

    code: str
    name: str
    villages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Regency:
    """A kabupaten or kota: 2-digit code inside its province, name, seat, known districts."""

    code: str
    name: str
    seat: str = ""
    districts: Mapping[str, District] = field(default_factory=dict)


@dataclass(frozen=True)
class Province:
    """A province: 2-digit code, name and its regencies keyed by regency code."""

    code: str
    name: str
    regencies: Mapping[str, Regency] = field(default_factory=dict)


class RegionTable:
    """Lookup over provinces → regencies → districts by their numeric codes."""

    def __init__(self, provinces: Mapping[str, Province]) -> None:
        self._provinces = MappingProxyType(dict(provinces))

    @property
    def provinces(self) -> Mapping[str, Province]:
        """Provinces keyed by 2-digit code."""
        return self._provinces

    def province(self, code: str) -> Province | None:
        """The province with this 2-digit code, or None."""
        return self._provinces.get(code)

    def regency(self, province_code: str, regency_code: str) -> Regency | None:
        """The regency ``province_code.regency_code``, or None if either is unknown."""
        province = self._provinces.get(province_code)
        return None if province is None else province.regencies.get(regency_code)

    def district(
        self, province_code: str, regency_code: str, district_code: str
    ) -> District | None:
        """The district ``PP.RR.DD``, or None."""
        regency = self.regency(province_code, regency_code)
        return None if regency is None else regency.districts.get(district_code)

    def knows_prefix(self, province_code: str, regency_code: str) -> bool:
        """True when the NIK prefix ``PP.RR`` names a regency in this table."""
        return self.regency(province_code, regency_code) is not None


def _districts(*rows: tuple[str, str, tuple[str, ...]]) -> Mapping[str, District]:
    return MappingProxyType({code: District(code, name, villages) for code, name, villages in rows})


#: Kabupaten Kuantan Singingi (14.09), seat Teluk Kuantan. District codes as in Kemendagri data.
KUANTAN_SINGINGI = Regency(
    code="09",
    name="KUANTAN SINGINGI",
    seat="TELUK KUANTAN",
    districts=_districts(
        (
            "01",
            "KUANTAN MUDIK",
            ("LUBUK JAMBI", "KOTO LUBUK JAMBI", "AIR BULUH", "PANTAI", "KINALI"),
        ),
        (
            "02",
            "KUANTAN TENGAH",
            ("SUNGAI JERING", "PASAR TALUK", "SAWAH", "KOTO TALUK", "SIMPANG TIGA", "JAKE"),
        ),
        (
            "03",
            "SINGINGI",
            ("MUARA LEMBU", "LOGAS", "PANGKALAN INDARUNG", "AIR MAS", "SUNGAI SIRIH"),
        ),
        (
            "04",
            "KUANTAN HILIR",
            ("BANUARAN", "DUSUN TUO", "KAMPUNG MEDAN", "KOTO TUO", "PASAR USANG"),
        ),
        (
            "05",
            "CERENTI",
            ("PASAR CERENTI", "KOTO CERENTI", "PULAU JAMBU", "TELUK PAUH", "SIKAKAK"),
        ),
        ("06", "BENAI", ("BENAI", "KOTO BENAI", "SIMANDOLAK", "PULAU INGU", "SIBERAKUN")),
        ("07", "GUNUNG TOAR", ("KOTO GUNUNG", "TOAR", "PISANG BEREBUS", "PETAPAHAN", "SIBEROBAH")),
        ("08", "SINGINGI HILIR", ("KOTO BARU", "SUNGAI BULUH", "MUARA BAHAN", "SUKAMAJU", "PETAI")),
        (
            "09",
            "PANGEAN",
            ("PASAR BARU PANGEAN", "KOTO PANGEAN", "PULAU KUMPAI", "SUKAPING", "SAKO"),
        ),
        ("10", "LOGAS TANAH DARAT", ("LUBUK KEBUN", "SIDODADI", "PERHENTIAN LUAS", "SUKARAJA")),
        ("11", "INUMAN", ("PASAR INUMAN", "KOTO INUMAN", "PULAU SIPAN", "BANJAR NANTIGO")),
        ("12", "HULU KUANTAN", ("LUBUK AMBACANG", "SUNGAI PINANG", "SUMPU", "KOTO KOMBU")),
        ("13", "KUANTAN HILIR SEBERANG", ("KOTO RAJO", "DANAU", "LUMBOK", "TERATAK JERING")),
        ("14", "SENTAJO RAYA", ("KOTO SENTAJO", "MUARO SENTAJO", "GERINGGING JAYA", "MARSAWA")),
        ("15", "PUCUK RANTAU", ("MUARA PETAI", "PANGKALAN", "IBUL", "SETIANG")),
    ),
)

RIAU = Province(
    code="14",
    name="RIAU",
    regencies=MappingProxyType(
        {
            "01": Regency("01", "KAMPAR", "BANGKINANG"),
            "02": Regency("02", "INDRAGIRI HULU", "RENGAT"),
            "03": Regency("03", "BENGKALIS", "BENGKALIS"),
            "04": Regency("04", "INDRAGIRI HILIR", "TEMBILAHAN"),
            "05": Regency("05", "PELALAWAN", "PANGKALAN KERINCI"),
            "06": Regency("06", "ROKAN HULU", "PASIR PENGARAIAN"),
            "07": Regency("07", "ROKAN HILIR", "BAGAN SIAPIAPI"),
            "08": Regency("08", "SIAK", "SIAK SRI INDRAPURA"),
            "09": KUANTAN_SINGINGI,
            "10": Regency("10", "KEPULAUAN MERANTI", "SELATPANJANG"),
            "71": Regency("71", "KOTA PEKANBARU", "PEKANBARU"),
            "73": Regency("73", "KOTA DUMAI", "DUMAI"),
        }
    ),
)

#: Neighbouring provinces people move in from; regencies listed only where useful.
SUMATERA_BARAT = Province(
    code="13",
    name="SUMATERA BARAT",
    regencies=MappingProxyType(
        {
            "04": Regency("04", "SIJUNJUNG", "MUARO SIJUNJUNG"),
            "71": Regency("71", "KOTA PADANG", "PADANG"),
        }
    ),
)
JAMBI = Province(
    code="15",
    name="JAMBI",
    regencies=MappingProxyType({"71": Regency("71", "KOTA JAMBI", "JAMBI")}),
)

DEFAULT_REGIONS = RegionTable({"13": SUMATERA_BARAT, "14": RIAU, "15": JAMBI})
"""The region table an office uses unless configured otherwise."""
