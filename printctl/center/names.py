"""Realistic Indonesian names for synthetic records.

Names follow the naming customs of the people an office in Kuantan Singingi actually serves:
Minang and Riau Malay majority, Javanese transmigrants, Batak, Balinese, Chinese-Indonesian and
Arabic-derived names. They include what breaks naive code: apostrophes (``NUR'AINI``),
hyphens (``ALI-AKBAR``), abbreviations with dots (``MUH.``), one-word names, and names close to
the card's 60-character limit.
"""

from __future__ import annotations

import random

from printctl.domain import Sex

NAME_MAX_CHARS = 60

_MALE: dict[str, tuple[str, ...]] = {
    "malay": (
        "MUHAMMAD",
        "MUH.",
        "AHMAD",
        "SYAMSUL",
        "ZULKIFLI",
        "RAHMAT",
        "HENDRI",
        "IRWAN",
        "FIRDAUS",
        "AZHAR",
        "SYAHRIL",
        "DEDI",
        "ALI-AKBAR",
        "ABDUL",
        "HIDAYAT",
        "SAPUTRA",
    ),
    "minang": (
        "AFRIZAL",
        "YUSRIZAL",
        "SYAFRIZAL",
        "DONI",
        "ERMANTO",
        "JASRIL",
        "ZULHENDRI",
        "ROSMAN",
        "DATUAK",
        "NOFRIANTO",
        "BUYUNG",
        "MARAH",
    ),
    "javanese": (
        "BAMBANG",
        "AGUS",
        "SUPARMAN",
        "SLAMET",
        "BUDI",
        "EKO",
        "DWI",
        "JOKO",
        "SUTRISNO",
        "WAHYU",
        "HARTONO",
        "SETYO",
        "PRASETYO",
        "PURNOMO",
        "SUGENG",
    ),
    "batak": ("JOSUA", "MARULI", "TUA", "BONAR", "HOTMAN", "PARLINDUNGAN", "RAJA", "SAHAT"),
    "chinese": ("HENDRA", "SUSANTO", "FELIX", "WILLIAM", "KEVIN", "LIM", "TAN", "ANTON"),
    "arabic": ("ABDUL", "MA'RUF", "HASAN", "HUSEIN", "FAUZI", "NUR", "SYARIF", "UMAR"),
}
_FEMALE: dict[str, tuple[str, ...]] = {
    "malay": (
        "SITI",
        "NUR'AINI",
        "NURHAYATI",
        "FATIMAH",
        "AISYAH",
        "SYARIFAH",
        "ROSMANIAR",
        "MASITAH",
        "ZUBAIDAH",
        "NURUL",
        "SRI",
        "ERNAWATI",
        "HASANAH",
        "WAHYUNI",
    ),
    "minang": (
        "YUSNIMAR",
        "FITRI",
        "YANTI",
        "DESI",
        "ROSNI",
        "ELVI",
        "NOVI",
        "RAHMAWATI",
        "YULIDAR",
        "NILAWATI",
        "PUTRI",
    ),
    "javanese": (
        "SRI",
        "ENDANG",
        "WAHYUNI",
        "SUMARNI",
        "TRI",
        "DWI",
        "MULYANI",
        "SURYANI",
        "LESTARI",
        "RAHAYU",
        "KARTINI",
        "NINGSIH",
    ),
    "batak": ("RUTH", "DAMERIA", "MARIANI", "ROSDIANA", "TIURMA", "LASMAULI", "DUMARIA"),
    "chinese": ("MEI", "LING", "LIANA", "SUSANTI", "WENNY", "JESSICA", "LILY", "MELINDA"),
    "arabic": ("KHADIJAH", "ZAINAB", "MAIMUNAH", "HALIMAH", "SALMA", "NUR'AZIZAH", "UMMI"),
}
_BATAK_CLANS = (
    "SIMANJUNTAK",
    "SIHOMBING",
    "PANJAITAN",
    "SITUMORANG",
    "NAINGGOLAN",
    "HUTAPEA",
    "SIREGAR",
    "NASUTION",
    "LUBIS",
    "HARAHAP",
    "SINAGA",
    "SILALAHI",
)
_CHINESE_SURNAMES = (
    "WIJAYA",
    "GUNAWAN",
    "TANJAYA",
    "TJANDRA",
    "HALIM",
    "SANTOSO",
    "LIEM",
    "KUSUMA",
)
_ARABIC_FAMILIES = ("AL-HABSYI", "ASSEGAF", "AL-ATTAS", "BAFADAL", "SYAHAB", "AL-KAFF")
_BALI_ORDER = ("WAYAN", "PUTU", "GEDE", "MADE", "KADEK", "NENGAH", "NYOMAN", "KOMANG", "KETUT")
_BALI_GIVEN = (
    "SUDARMA",
    "ARTAWAN",
    "SUARDANA",
    "PUTRI'ANI",
    "AYU",
    "SUKARINI",
    "ADNYANA",
    "DEWI",
    "WIDIASTUTI",
    "ARYA",
    "ASTAWA",
    "MAS-AYU",
)
_LONG_PARTS_MALE = (
    "RADEN",
    "MAS",
    "MUHAMMAD",
    "ALI-AKBAR",
    "RIZKY",
    "ADITYA",
    "ABDURRAHMAN",
    "SYAHPUTRA",
    "PRATAMA",
    "KURNIAWAN",
    "NUGROHO",
    "SETIABUDI",
    "WIJAYAKUSUMA",
    "HADININGRAT",
)
_LONG_PARTS_FEMALE = (
    "RADEN",
    "AYU",
    "SITI",
    "NUR'AINI",
    "KHAIRUNNISA",
    "PUTRI",
    "DEWI",
    "RAHMADHANI",
    "WULANDARI",
    "ANGGRAINI",
    "MAHARANI",
    "SEKARNINGRUM",
    "KUSUMAWARDHANI",
)
_GROUP_WEIGHTS = (
    ("malay", 30),
    ("minang", 25),
    ("javanese", 20),
    ("batak", 10),
    ("chinese", 5),
    ("arabic", 5),
    ("bali", 3),
    ("long", 2),
)


def _pick(rng: random.Random, options: tuple[str, ...], n: int) -> list[str]:
    return rng.sample(options, k=min(n, len(options)))


def _malay(rng: random.Random, woman: bool) -> str:
    pool = _FEMALE["malay"] if woman else _MALE["malay"]
    parts = _pick(rng, pool, rng.choice((1, 2, 2, 3)))
    # Riau Malay nobility titles come first and are part of the registered name.
    if rng.random() < 0.08:
        parts.insert(0, rng.choice(("TENGKU", "RAJA", "WAN")))
    return " ".join(parts)


def _minang(rng: random.Random, woman: bool) -> str:
    pool = _FEMALE["minang"] if woman else _MALE["minang"]
    return " ".join(_pick(rng, pool, rng.choice((1, 1, 2))))


def _javanese(rng: random.Random, woman: bool) -> str:
    pool = _FEMALE["javanese"] if woman else _MALE["javanese"]
    return " ".join(_pick(rng, pool, rng.choice((1, 2, 2, 3))))


def _batak(rng: random.Random, woman: bool) -> str:
    pool = _FEMALE["batak"] if woman else _MALE["batak"]
    given = " ".join(_pick(rng, pool, rng.choice((1, 2))))
    clan = rng.choice(_BATAK_CLANS)
    if woman:
        return f"{given} {rng.choice(('BR.', 'BORU'))} {clan}"
    return f"{given} {clan}"


def _chinese(rng: random.Random, woman: bool) -> str:
    pool = _FEMALE["chinese"] if woman else _MALE["chinese"]
    return f"{' '.join(_pick(rng, pool, rng.choice((1, 2))))} {rng.choice(_CHINESE_SURNAMES)}"


def _arabic(rng: random.Random, woman: bool) -> str:
    pool = _FEMALE["arabic"] if woman else _MALE["arabic"]
    given = " ".join(_pick(rng, pool, rng.choice((1, 2))))
    return f"{given} {rng.choice(_ARABIC_FAMILIES)}" if rng.random() < 0.6 else given


def _bali(rng: random.Random, woman: bool) -> str:
    prefix = rng.choice(("NI", "NI LUH")) if woman else rng.choice(("I", "I GUSTI NGURAH", "I"))
    return f"{prefix} {rng.choice(_BALI_ORDER)} {' '.join(_pick(rng, _BALI_GIVEN, 2))}"


def _long(rng: random.Random, woman: bool) -> str:
    pool = _LONG_PARTS_FEMALE if woman else _LONG_PARTS_MALE
    target = rng.randint(52, NAME_MAX_CHARS)
    parts: list[str] = ["RADEN"]
    # Keep the pool's order (title, given names, family name) so the result reads naturally.
    for part in pool[1:]:
        candidate = " ".join([*parts, part])
        if len(candidate) <= target and rng.random() < 0.7:
            parts.append(part)
    return " ".join(parts)


_MAKERS = {
    "malay": _malay,
    "minang": _minang,
    "javanese": _javanese,
    "batak": _batak,
    "chinese": _chinese,
    "arabic": _arabic,
    "bali": _bali,
    "long": _long,
}


NAME_GROUPS: tuple[str, ...] = tuple(g for g, _ in _GROUP_WEIGHTS)


def pick_group(rng: random.Random) -> str:
    """A naming tradition, weighted roughly as in Kuantan Singingi's population."""
    names = [g for g, _ in _GROUP_WEIGHTS]
    weights = [w for _, w in _GROUP_WEIGHTS]
    return rng.choices(names, weights=weights)[0]


def make_name(rng: random.Random, sex: Sex, *, group: str | None = None) -> str:
    """A plausible upper-case name for ``sex``, at most 60 characters.

    ``group`` forces a naming tradition (``malay``, ``minang``, ``javanese``, ``batak``,
    ``chinese``, ``arabic``, ``bali`` or ``long`` for names of 52–60 characters).
    """
    if group is None:
        group = pick_group(rng)
    name = _MAKERS[group](rng, sex is Sex.PEREMPUAN)
    return name[:NAME_MAX_CHARS].rstrip()


#: Fixed examples that tests and demos can rely on (all valid, all ≤ 60 characters).
SAMPLE_NAMES: tuple[str, ...] = (
    "NI KADEK AYU PUTRI'ANI",
    "MUH. ALI-AKBAR",
    "SITI AMINAH",
    "I GUSTI NGURAH MADE ARTAWAN",
    "DAMERIA BR. SITUMORANG",
    "TENGKU SYARIFAH NUR'AINI",
    "MA'RUF AL-HABSYI",
    "LIM SWIE LIANG",
    "SUPARMAN",
    "RADEN AYU SITI KHAIRUNNISA PUTRI RAHMADHANI KUSUMAWARDHANI",
)
