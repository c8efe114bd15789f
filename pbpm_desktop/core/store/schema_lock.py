"""One process at a time creates or migrates the schema, however many gateways start at once.

Without it, two gateways starting together on an empty PostgreSQL both run
`CREATE TABLE IF NOT EXISTS` and one fails with an IntegrityError on `pg_type` (PostgreSQL's
`IF NOT EXISTS` is not safe against a concurrent create), and two processes upgrading one
SQLite file both try `ALTER TABLE … ADD COLUMN` and the second fails ("duplicate column").

- PostgreSQL: a session-level advisory lock (`pg_advisory_lock`) taken on a connection of its
  own, not one of Tortoise's pool: the DDL runs on the pool, and holding a pool connection could
  starve a small pool (`?maxsize=1`). If the process dies, the server drops the connection and
  with it the lock, so a crash never leaves the database locked.
- SQLite: an OS file lock (`flock`, `msvcrt.locking` on Windows) on `<db>.migrate-lock` next to
  the database. SQLite's own `BEGIN EXCLUSIVE` cannot cover this: Python's `executescript`,
  which Tortoise uses for the DDL, commits any open transaction first. The OS drops the lock
  when the process exits.
- `sqlite://:memory:` is private to one connection: nothing to lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: the advisory lock's key: any fixed 64-bit number other applications are unlikely to use
#: (the first 8 bytes of sha256(b"pbpm-desktop schema"), as a signed bigint)
ADVISORY_LOCK_KEY = -8691612332597997037
#: next to `guard.db`: `guard.db.migrate-lock`
LOCK_SUFFIX = ".migrate-lock"


@contextlib.asynccontextmanager
async def schema_lock(url: str, client: Any) -> AsyncIterator[None]:
    """Hold the schema lock of the database at `url` (`client`: its Tortoise client; not
    needed, and may be None, for SQLite, whose lock is taken before connecting)."""
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        if path == ":memory:":
            yield
            return
        async with _file_lock(Path(path + LOCK_SUFFIX)):
            yield
    elif client.capabilities.dialect == "postgres":
        async with _advisory_lock(client):
            yield
    else:  # another Tortoise backend: no lock we know how to take; say so once per start
        log.warning("no schema lock for %s: start one gateway first", client.capabilities.dialect)
        yield


@contextlib.asynccontextmanager
async def _advisory_lock(client: Any) -> AsyncIterator[None]:
    import asyncpg

    conn = await asyncpg.connect(
        host=client.host,
        port=client.port,
        user=client.user,
        password=client.password,
        database=client.database,
        ssl=client.extra.get("ssl"),
        server_settings={"application_name": "pbpm-desktop schema lock"},
    )
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # blocking lock in a worker thread: the gateway loop keeps running while it waits
        await asyncio.to_thread(_lock_fd, fd)
        try:
            yield
        finally:
            _unlock_fd(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_fd(fd: int) -> None:
        while True:
            try:  # LK_LOCK retries for ~10 s, then raises; keep waiting like flock does
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:
                continue

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
