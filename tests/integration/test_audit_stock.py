"""The audit chain and the blank ledger on a real (SQLite) database."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session

from printctl.audit import record_event, verify_chain
from printctl.config import Settings
from printctl.db import make_engine, migrate, schema_is_current
from printctl.logs import configure_logging, get_logger
from printctl.models import AuditEvent, SpoilReason
from printctl.stock import StockError, balance, receive, record_spoiled, spoiled_by_reason


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    yield engine
    engine.dispose()


def test_migrations_create_the_current_schema(engine: Engine) -> None:
    """A new database is migrated to the newest revision."""
    assert schema_is_current(engine)


def test_migrations_match_the_models(engine: Engine) -> None:
    """The Alembic migrations and the SQLModel tables describe the same schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []


def test_audit_chain_detects_an_edited_event(engine: Engine, clock: object) -> None:
    """Editing any past event breaks the chain at that event."""
    with Session(engine) as session:
        for i in range(3):
            record_event(
                session, actor="a", station="s", action="x", entity="e", entity_id=i, clock=clock
            )  # type: ignore[arg-type]
        session.commit()
        assert verify_chain(session) is None
        session.execute(update(AuditEvent).where(AuditEvent.id == 2).values(outcome="forged"))
        session.commit()
        assert verify_chain(session) == 2


def test_balance_is_derived_from_the_ledger(engine: Engine, clock: object) -> None:
    """Received minus spoiled is on hand, and spoiled blanks are counted by reason."""
    with Session(engine) as session:
        receive(session, 10, lot="L1", actor="a", station="s", clock=clock)  # type: ignore[arg-type]
        receive(session, 5, lot="L2", actor="a", station="s", clock=clock)  # type: ignore[arg-type]
        record_spoiled(
            session,
            quantity=2,
            reason=SpoilReason.DAMAGED,
            job_id=None,
            printer=None,
            note="dropped",
            actor="a",
            station="s",
            clock=clock,  # type: ignore[arg-type]
        )
        session.commit()
        totals = balance(session)
        assert (totals.received, totals.spoiled, totals.on_hand) == (15, 2, 13)
        assert spoiled_by_reason(session) == {"damaged": 2}


@pytest.mark.parametrize(("count", "lot"), [(0, "L"), (-3, "L"), (5, " ")])
def test_bad_deliveries_are_refused(engine: Engine, count: int, lot: str) -> None:
    """A delivery of no blanks or without a lot number is refused and writes nothing."""
    with Session(engine) as session:
        with pytest.raises(StockError):
            receive(session, count, lot=lot, actor="a", station="s")
        session.rollback()
        assert balance(session).received == 0


def test_log_lines_mask_niks(tmp_path: Path) -> None:
    """A NIK in a log message or field appears in the log file only as its last 4 digits."""
    log_file = tmp_path / "log.jsonl"
    configure_logging(log_file, console=None)
    get_logger("t").info(
        "printing 1409015708900001", nik="1409015708900001", nested={"n": "3204110101900002"}
    )
    logging.shutdown()
    text = log_file.read_text()
    assert "1409015708900001" not in text and "3204110101900002" not in text
    line = json.loads(text.splitlines()[-1])
    assert line["nik"] == "************0001"
    assert line["event"] == "printing ************0001"


def test_foreign_log_lines_and_tracebacks_are_masked(tmp_path: Path) -> None:
    """A NIK in another library's log line or in an exception's text is masked too."""
    log_file = tmp_path / "log.jsonl"
    configure_logging(log_file, console=None)
    logging.getLogger("sqlalchemy.engine").warning("params (1409015708900001,)")
    try:
        raise ValueError("bad NIK 1409015708900001")
    except ValueError:
        get_logger("t").exception("failed")
    logging.shutdown()
    text = log_file.read_text()
    assert "1409015708900001" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["event"] == "params (************0001,)"
    assert "bad NIK ************0001" in lines[1]["exception"]


def test_record_repr_carries_no_personal_data() -> None:
    """A record printed in a traceback shows its id and the NIK's last four digits only."""
    from printctl.center.sample import sample_record

    record = sample_record(record_id="PRR-1")
    assert repr(record) == "RecordData(PRR-1 v1, nik=************0001)"
    assert "SITI" not in repr(record)
