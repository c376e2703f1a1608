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
    with try_station_lock(engine, station) as got:
        if not got:
            raise StationBusy(
                f"another printctl run is active for station {station!r}; wait for it to finish"
            )
        yield


@contextmanager
def try_station_lock(engine: Engine, station: str) -> Iterator[bool]:
    """Try to take the station's run lock without waiting; yields whether it was taken.

    Held, it is released when the block ends. A live run holds its station's lock for its
    whole life, so taking another station's lock proves that no run of it is alive (the
    server, or the kernel for the lock file, releases the lock of a process that died).
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            got = bool(
                connection.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(station)}
                ).scalar()
            )
            connection.commit()
            try:
                yield got
            finally:
                if got:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(station)})
                    connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield True  # a private in-memory database cannot be shared with another process
        return
    path = Path(f"{database}.{station}.run.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            got = False
        else:
            got = True
        yield got
    finally:
        os.close(fd)  # closing releases the lock; the kernel does it too if we die
