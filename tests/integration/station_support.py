"""Helpers for the station tests: printable records seeded fast, and a clock tests move by hand."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import Engine, insert
from sqlmodel import Session

from printctl.center.media import portrait_jpeg, signature_png
from printctl.center.sample import sample_record
from printctl.crypto import DataCipher
from printctl.domain import Sex
from printctl.models import Record, RecordState
from printctl.records import seal_record


class ManualClock:
    """A clock that stands still until the test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(seconds=seconds)


@lru_cache(maxsize=1)
def _media() -> tuple[bytes, bytes]:
    rng = random.Random(5)
    return portrait_jpeg(rng, birth_year=1990, woman=False), signature_png(rng)


def seed_printable_records(
    engine: Engine,
    cipher: DataCipher,
    count: int,
    *,
    bundle_id: str = "B-STATIONS",
    first: int = 0,
) -> None:
    """Insert ``count`` sealed ready records that render (one shared photo and signature).

    Faster than importing a bundle: no signature check, no per-record media generation.
    """
    photo, signature = _media()
    rows = [
        seal_record(
            sample_record(
                record_id=f"PRR-S-{i:06d}",
                nik=f"1409021708{i + 1:06d}",
                name=f"WARGA STASIUN {i}",
                sex=Sex.LAKI_LAKI,
                photo=photo,
                signature=signature,
            ),
            cipher,
            bundle_id=bundle_id,
            state=RecordState.READY,
        )
        for i in range(first, first + count)
    ]
    with Session(engine) as session:
        for chunk in range(0, len(rows), 1000):
            session.execute(insert(Record), rows[chunk : chunk + 1000])
        session.commit()
