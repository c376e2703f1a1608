"""The streamed import stores exactly what the bundle holds, whatever the chunk size.

Records, quarantined lines, duplicates and a superseding version are stored the same when
rows and journal events go in chunks of 7 as in one chunk, the journal's chain holds across
chunks, and the bundle's media are never all in memory.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from printctl.audit import verify_chain
from printctl.center.bundles import make_bundle, make_superseding_bundle
from printctl.center.keys import CenterKey, generate_center_key, write_key_pair
from printctl.db import make_engine, migrate
from printctl.intake import importer
from printctl.intake.bundle import VerifiedBundle, open_bundle
from printctl.models import AuditEvent, QuarantinedRecord, Record
from printctl.records import open_record
from printctl.service import Context, import_bundles, trust_key

BAD = {"duplicate-version": 2, "not-json": 1, "broken-photo": 1, "enroll-failure": 1}


@pytest.fixture
def center(ctx: Context, tmp_path: Path) -> CenterKey:
    key = generate_center_key(seed=12)
    trust_key(ctx, write_key_pair(key, tmp_path / "center").public_pem, key.key_id)
    return key


def snapshot(ctx: Context) -> dict[str, Any]:
    """What the database holds of the imports, without ids and timestamps."""
    with Session(ctx.engine) as session:
        records = [
            (r.record_id, r.version, r.state, r.state_reason, open_record(r, ctx.cipher).name)
            for r in session.exec(select(Record).order_by(col(Record.id)))
        ]
        quarantined = [
            (q.line, q.record_id, q.version, q.reason)
            for q in session.exec(select(QuarantinedRecord).order_by(col(QuarantinedRecord.id)))
        ]
        journal = [
            (e.action, e.entity_id, e.outcome)
            for e in session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))
        ]
        assert verify_chain(session) is None
    return {"records": records, "quarantined": quarantined, "journal": journal}


def import_all(ctx: Context, center: CenterKey, tmp_path: Path) -> list[dict[str, Any]]:
    """A bundle with bad lines, its re-import, then a superseding bundle for its first 20."""
    first = make_bundle(tmp_path / "a", key=center, count=40, seed=6, bad_records=BAD)
    second = make_superseding_bundle(tmp_path / "b", key=center, previous=first, count=20)
    outcomes = import_bundles(ctx, [first.path, first.path, second.path])
    stored_in_first_20 = sum(int(rid[-6:]) <= 20 for rid in first.record_ids)
    assert len(outcomes[2].superseded) == stored_in_first_20 > 0
    return [{k: v for k, v in o.as_dict().items() if k != "path"} for o in outcomes]


def test_chunked_import_stores_what_a_single_chunk_stores(
    ctx: Context, center: CenterKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 7 rows and events give the same records, quarantines, outcomes and journal
    (a valid chain) as one chunk for everything."""
    monkeypatch.setattr(importer, "CHUNK", 10_000)
    whole = import_all(ctx, center, tmp_path / "whole")
    whole_db = snapshot(ctx)

    # A second, empty database (same data key) for the chunked run.
    engine = make_engine(f"sqlite:///{tmp_path}/chunked.db")
    migrate(engine)
    # A fresh clock of the same kind: outcomes quote import times.
    fresh_clock = type(ctx.clock)()
    chunked_ctx = Context(
        settings=ctx.settings, engine=engine, actor=ctx.actor, clock=fresh_clock, _cipher=ctx.cipher
    )
    trust_key(chunked_ctx, write_key_pair(center, tmp_path / "c2").public_pem, center.key_id)
    monkeypatch.setattr(importer, "CHUNK", 7)
    chunked = import_all(chunked_ctx, center, tmp_path / "chunked")
    chunked_db = snapshot(chunked_ctx)
    engine.dispose()

    assert [o["outcome"] for o in whole] == ["imported", "already-imported", "imported"]
    assert whole[0]["imported"] == 40 - 5 and len(whole[0]["quarantined"]) == 5
    assert chunked == whole
    assert chunked_db["records"] == whole_db["records"]
    assert chunked_db["quarantined"] == whole_db["quarantined"]
    # Both journals start with trusting the key; the rest is the imports, event by event.
    assert chunked_db["journal"] == whole_db["journal"]


def test_the_importer_reads_ahead_a_bounded_number_of_records(
    ctx: Context, center: CenterKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many records, the import holds at most two media per record read ahead."""
    opened: list[VerifiedBundle] = []

    def spying_open(*args: Any, **kwargs: Any) -> AbstractContextManager[VerifiedBundle]:
        kwargs["limits"] = importer.BundleLimits(read_ahead=4)
        manager = open_bundle(*args, **kwargs)

        class Spy:
            def __enter__(self) -> VerifiedBundle:
                opened.append(manager.__enter__())
                return opened[-1]

            def __exit__(self, *exc: Any) -> bool | None:
                return manager.__exit__(*exc)

        return Spy()

    monkeypatch.setattr(importer, "open_bundle", spying_open)
    info = make_bundle(tmp_path, key=center, count=60, seed=7)
    (outcome,) = import_bundles(ctx, [info.path])
    assert outcome.outcome == "imported" and outcome.imported == 60
    assert len(opened) == 1 and 0 < opened[0].peak_media_held <= 8
