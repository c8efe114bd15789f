"""No connection outlives `Database.close()`, nor an `open()` that failed.

aiosqlite runs each connection on a worker thread that is not a daemon: one connection left
open keeps the interpreter from exiting (the test process printed "passed" and hung). On
PostgreSQL a leaked pool keeps server sessions until the process ends.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from pbpm_desktop.core.store import Database
from pbpm_desktop.core.store.db import WrongLoop
from pbpm_desktop.core.store.migrations import LATEST, SchemaTooNew, UnknownSchema
from pbpm_desktop.core.store.models import ApiKey

from .old_schema import make_old_sqlite


def worker_threads() -> set[threading.Thread]:
    """aiosqlite's worker threads, one per open connection (named after their target)."""
    return {t for t in threading.enumerate() if t.name.endswith("(_connection_worker_thread)")}


def outliving(before: set[threading.Thread]) -> list[threading.Thread]:
    """The worker threads started since `before` that do not end: a closed connection's
    thread ends as soon as it has answered the close; an open one's waits for ever."""
    started = worker_threads() - before
    for thread in started:
        thread.join(timeout=10)
    return [t for t in started if t.is_alive()]


async def test_close_ends_every_connection_its_bindings_used(tmp_path: Path):
    before = worker_threads()
    db = Database(f"sqlite://{tmp_path / 'guard.db'}")
    await db.open()
    assert worker_threads() - before  # the check sees aiosqlite's threads at all

    async def use(i: int) -> int:  # tasks of their own, as aiohttp's handlers are
        with db.bound():
            async with in_transaction():
                await ApiKey.create(key_hash=f"h{i}", prefix="p", name=f"k{i}")
            return await ApiKey.all().count()

    await asyncio.gather(*(use(i) for i in range(6)))
    with db.bound():
        assert await ApiKey.all().count() == 6
    await db.close()
    assert outliving(before) == []


def test_a_database_serves_only_the_loop_that_opened_it(tmp_path: Path):
    # on another loop Tortoise opened a second connection in place of the first and left
    # the first open (a worker thread for ever); the store refuses that instead
    before = worker_threads()
    db = Database(f"sqlite://{tmp_path / 'guard.db'}")
    asyncio.run(db.open())

    async def count() -> int:
        with db.bound():
            return await ApiKey.all().count()

    with pytest.raises(WrongLoop, match="opened on another event loop"):
        asyncio.run(count())
    asyncio.run(db.close())  # a close from yet another loop still ends the connection
    assert outliving(before) == []


def newer_version(path: Path) -> None:
    with sqlite3.connect(path) as con:
        con.executescript(
            f"CREATE TABLE schema_version (version INT NOT NULL);"
            f"INSERT INTO schema_version VALUES ({LATEST + 1});"
        )


def unknown_tables(path: Path) -> None:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE api_keys (id INTEGER PRIMARY KEY, key_hash VARCHAR(64))")


def failing_migration(path: Path) -> None:
    make_old_sqlite(path)
    with sqlite3.connect(path) as con:  # recorded as version 1, yet v3's column is there
        con.executescript(
            "ALTER TABLE usage_records ADD COLUMN estimated INT;"
            "CREATE TABLE schema_version (version INT NOT NULL);"
            "INSERT INTO schema_version VALUES (1);"
        )


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (newer_version, SchemaTooNew),
        (unknown_tables, UnknownSchema),
        (failing_migration, OperationalError),
    ],
)
async def test_an_open_that_fails_leaves_no_connection_open(
    tmp_path: Path, make: Callable[[Path], None], error: type[Exception]
):
    # a start refused this way (`serve` on a database from a newer version) exits with the
    # error; with the connection left open the process hung instead
    path = tmp_path / "guard.db"
    make(path)
    before = worker_threads()
    db = Database(f"sqlite://{path}")
    with pytest.raises(error):
        await db.open()
    assert outliving(before) == []
    await db.close()  # still allowed, and a no-op (the service's stop() closes what it opened)


async def sessions(server_url: str, database: str) -> int:
    conn = await asyncpg.connect(server_url)
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database
        )
        return int(count)
    finally:
        await conn.close()


async def no_sessions_left(pg_url: str) -> bool:
    """Whether the server drops every session of the database: a client's close is only the
    start of the backend's exit, so ask until it is gone (or 10 s passed)."""
    server_url, database = pg_url.rsplit("/", 1)[0] + "/postgres", pg_url.rsplit("/", 1)[1]
    for _ in range(200):
        if await sessions(server_url, database) == 0:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_postgres_close_and_a_failed_open_leave_no_session(pg_url: str):
    db = Database(pg_url)
    await db.open()
    with db.bound():  # (reads only: Tortoise caches INSERTs per process, made for SQLite here)
        assert await ApiKey.all().count() == 0
    await db.close()
    assert await no_sessions_left(pg_url)
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("UPDATE schema_version SET version = $1", LATEST + 1)
    finally:
        await conn.close()
    db = Database(pg_url)
    with pytest.raises(SchemaTooNew):
        await db.open()
    assert await no_sessions_left(pg_url)
