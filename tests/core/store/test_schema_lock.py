"""Schema creation and migration under concurrent starts, and migrations on both databases."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from pbpm_desktop.core.store import Database
from pbpm_desktop.core.store.schema import missing_columns

from .old_schema import NEW_COLUMNS, make_old_postgres, make_old_sqlite, sqlite_columns


async def open_all(dbs: list[Database]) -> list[BaseException | None]:
    try:
        return await asyncio.gather(*(db.open() for db in dbs), return_exceptions=True)
    finally:
        for db in dbs:
            try:
                await db.close()
            except Exception:
                pass


async def test_gateways_starting_together_on_an_empty_postgres_all_succeed(pg_url: str):
    # before the lock: IntegrityError on pg_type / "relation api_keys already exists"
    results = await open_all([Database(pg_url) for _ in range(4)])
    assert results == [None] * 4
    conn = await asyncpg.connect(pg_url)
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
    finally:
        await conn.close()
    assert {"api_keys", "usage_records"} <= tables


async def test_postgres_migration_adds_columns_and_keeps_rows(pg_url: str):
    await make_old_postgres(pg_url)
    dbs = [Database(pg_url) for _ in range(3)]  # three upgraded gateways start at once
    assert await open_all(dbs) == [None] * 3
    db = Database(pg_url)
    await db.open()
    try:
        with db.bound():
            assert await missing_columns(db.client()) == {}
            from pbpm_desktop.core.store.models import ApiKey

            row = await ApiKey.get(name="alice")
            assert (row.email, row.models, row.rpm, row.cloud) == (
                "a@example.org",
                "llama3",
                30,
                False,
            )
        assert await db.schema_version() == 3
    finally:
        await db.close()


def backups_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("guard.db.backup-*"))


async def test_sqlite_upgrade_by_two_processes_at_once_backs_up_once(tmp_path: Path):
    path = tmp_path / "guard.db"
    make_old_sqlite(path)
    # before the lock the second ALTER TABLE failed with "duplicate column name"
    results = await open_all([Database(f"sqlite://{path}") for _ in range(3)])
    assert results == [None] * 3
    check_upgraded(tmp_path, path)


async def test_sqlite_starts_racing_for_wal_mode_all_succeed(tmp_path: Path):
    # Switching an old (rollback-journal) file to WAL needs it alone; two connections racing
    # for that got "database is locked" at once (SQLite skips its busy wait there) in about
    # one round in six before SQLite starts moved under the schema lock. 40 rounds: a lost race
    # shows up all but surely.
    for round_ in range(40):
        folder = tmp_path / str(round_)
        folder.mkdir()
        make_old_sqlite(folder / "guard.db")
        results = await open_all([Database(f"sqlite://{folder / 'guard.db'}") for _ in range(3)])
        assert results == [None] * 3, f"round {round_}: {results}"
        check_upgraded(folder, folder / "guard.db")


def check_upgraded(tmp_path: Path, path: Path) -> None:
    for table, added in NEW_COLUMNS.items():
        assert sqlite_columns(path, table) >= added
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name, cloud FROM api_keys").fetchall() == [("alice", 0)]
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(3,)]
    backups = backups_in(tmp_path)
    assert len(backups) == 1  # the first migrating process made it; the others found no work
    for table, added in NEW_COLUMNS.items():  # the data as it was, in the old schema
        assert sqlite_columns(backups[0], table).isdisjoint(added)
    with sqlite3.connect(backups[0]) as old:
        assert old.execute("SELECT name FROM api_keys").fetchall() == [("alice",)]


async def test_a_current_sqlite_database_is_not_backed_up_again(tmp_path: Path):
    path = tmp_path / "guard.db"
    for _ in range(2):
        db = Database(f"sqlite://{path}")
        await db.open()
        await db.close()
    assert backups_in(tmp_path) == []


@pytest.mark.parametrize("memory", ["sqlite://:memory:"])
async def test_in_memory_database_needs_no_lock(memory: str):
    db = Database(memory)
    await db.open()
    await db.close()
