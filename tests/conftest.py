"""Shared fixtures: a fresh workspace (settings, SQLite database, data key) and a fixed clock."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from printctl.config import Settings
from printctl.crypto import DataCipher, generate_key_file


def services_required() -> bool:
    """CI sets PRINTCTL_REQUIRE_SERVICES=1: a missing service is then a failure, not a skip."""
    return os.environ.get("PRINTCTL_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip the test with ``reason``, or fail it when services are required."""
    if services_required():
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


class StepClock:
    """A deterministic clock: every call returns a time one second after the previous one."""

    def __init__(self, start: datetime | None = None) -> None:
        self._ticks = itertools.count()
        self.start = start or datetime(2026, 11, 27, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=next(self._ticks))


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A test that configures logging (to read a log file) leaves no trace in the next one:
    structlog's configuration and the root logger's handlers and level are put back."""
    import logging

    import structlog

    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
def clock() -> StepClock:
    """A clock that advances one second per reading."""
    return StepClock()


PG_URL = os.environ.get("PRINTCTL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_schema_url() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL database, dropped afterwards."""
    try:
        import psycopg
    except ImportError:
        skip_or_fail("psycopg is not installed (pip install 'printctl[postgres]')")
    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        conn = psycopg.connect(plain, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        skip_or_fail(
            f"PostgreSQL not reachable at {plain} ({exc}); start it or set PRINTCTL_TEST_PG_URL"
        )
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{PG_URL}?options=-csearch_path%3D{schema}"
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each database-backed test runs on the embedded SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield "sqlite:///printctl.db"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for a workspace in a temporary folder, with a fresh data key."""
    generate_key_file(tmp_path / "data.key")
    return replace(Settings(base_dir=tmp_path), database_url=database_url, log_file=None)


@pytest.fixture
def cipher(settings: Settings) -> DataCipher:
    """The workspace's data cipher."""
    return DataCipher.from_file(settings.resolve(settings.data_key_file))


@pytest.fixture
def ctx(settings: Settings, clock: StepClock) -> Iterator[object]:
    """An open service context on the workspace's database."""
    from printctl.service import Context

    context = Context.open(settings, actor="tester", clock=clock)
    yield context
    context.close()
