"""Shared fixtures: a fresh workspace (settings, SQLite database, data key) and a fixed clock."""

from __future__ import annotations

import itertools
import os
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


@pytest.fixture
def clock() -> StepClock:
    """A clock that advances one second per reading."""
    return StepClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a workspace in a temporary folder, with a fresh data key."""
    generate_key_file(tmp_path / "data.key")
    return replace(
        Settings(base_dir=tmp_path),
        database_url="sqlite:///printctl.db",
        log_file=None,
    )


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
