"""One print run per station at a time.

Start-up recovery treats every job of this station left in ``processing`` as abandoned. That
is only true when no other run of the same station is alive, so a run holds an exclusive
station lock for its whole life: a lock file beside the SQLite database, or a session-level
advisory lock on PostgreSQL (released by the server if the process dies).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text


class StationBusy(Exception):
    """Another run of this station holds the lock."""


def _key(station: str) -> int:
    # A stable signed 64-bit key for pg_advisory_lock.
    return int.from_bytes(
        hashlib.sha256(f"printctl-station:{station}".encode()).digest()[:8], "big", signed=True
    )


@contextmanager
def station_lock(engine: Engine, station: str) -> Iterator[None]:
    """Hold the station's run lock, or raise :class:`StationBusy` at once."""
    busy = StationBusy(
        f"another printctl run is active for station {station!r}; wait for it to finish"
    )
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(station)}
            ).scalar()
            connection.commit()
            if not got:
                raise busy
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(station)})
                connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # a private in-memory database cannot be shared with another process
        return
    path = Path(f"{database}.{station}.run.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        yield
    finally:
        os.close(fd)  # closing releases the lock; the kernel does it too if we die
