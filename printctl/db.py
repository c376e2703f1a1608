"""Database engines, sessions and migrations.

SQLite is the embedded default: WAL journal (readers never block the writer), foreign keys on,
a busy timeout so that concurrent workers wait for the lock instead of failing, and every
transaction opened with ``BEGIN IMMEDIATE`` so that a read-then-write (a job claim, the audit
chain's last hash) cannot interleave with another writer. PostgreSQL serves several stations;
there the same code serialises those spots with row locks and advisory locks.

No engine lives at module level: callers make one from their settings and pass it on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class DatabaseError(Exception):
    """The database cannot be opened or is not at a usable schema version."""


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with printctl's connection settings applied."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "isolation_level": None, "timeout": 60},
            )
            _configure_sqlite(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise DatabaseError(f"invalid database URL {url!r}: {exc}") from None
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # The driver is in autocommit mode (isolation_level=None), so we own BEGIN; IMMEDIATE
        # takes the write lock up front, which makes read-then-write sequences atomic. Pure
        # readers (see read_session) begin DEFERRED so that they never block a writer.
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


_BEGIN_OPTION = "printctl_sqlite_begin"


def read_session(engine: Engine) -> Session:
    """A session for reading only: on SQLite it does not take the write lock."""
    return Session(engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"}), expire_on_commit=False)


def is_sqlite(engine: Engine) -> bool:
    """True for the embedded engine."""
    return engine.dialect.name == "sqlite"


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (creates it on an empty database)."""
    try:
        command.upgrade(_alembic_config(engine), "head")
    except OperationalError as exc:
        raise DatabaseError(f"cannot open the database: {exc.orig}") from None


def schema_is_current(engine: Engine) -> bool:
    """True when the database is at the newest migration."""
    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current == head
