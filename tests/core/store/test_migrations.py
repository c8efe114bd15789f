"""The versioned migrations: an old database keeps its data and gets a backup; the migrated
schema is the one the models describe; versions are applied once, in order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import pytest
from tortoise.context import TortoiseContext

from pbpm_desktop.core.store import Database
from pbpm_desktop.core.store import models as store_models
from pbpm_desktop.core.store.migrations import LATEST, SchemaTooNew, UnknownSchema
from pbpm_desktop.core.store.models import ApiKey, UsageRecord
from pbpm_desktop.core.store.schema import missing_columns

from .old_schema import NEW_COLUMNS, make_old_postgres, make_old_sqlite, sqlite_columns
from .test_schema_lock import backups_in


async def opened(url: str) -> Database:
    db = Database(url)
    await db.open()
    return db


async def test_old_sqlite_database_is_migrated_with_its_data_and_a_backup(tmp_path: Path):
    path = tmp_path / "guard.db"
    make_old_sqlite(path)
    db = await opened(f"sqlite://{path}")
    try:
        assert await db.schema_version() == LATEST
        with db.bound():
            key = await ApiKey.get(name="alice")
            record = await UsageRecord.get(model="llama3")
        assert (key.email, key.models, key.rpm, key.cloud) == ("a@example.org", "llama3", 30, False)
        assert (record.prompt_tokens, record.completion_tokens, record.estimated) == (11, 22, False)
        assert record.key_id == key.id
    finally:
        await db.close()
    backups = backups_in(tmp_path)
    assert len(backups) == 1
    for table, added in NEW_COLUMNS.items():  # the backup is the old database, data included
        assert sqlite_columns(backups[0], table).isdisjoint(added)
    with sqlite3.connect(backups[0]) as old:
        assert old.execute("SELECT name, rpm FROM api_keys").fetchall() == [("alice", 30)]
        assert old.execute("SELECT prompt_tokens FROM usage_records").fetchall() == [(11,)]
    db = await opened(f"sqlite://{path}")  # the next start finds nothing to do
    await db.close()
    assert len(backups_in(tmp_path)) == 1


async def test_old_postgres_database_is_migrated_with_its_data(pg_url: str):
    await make_old_postgres(pg_url)
    db = await opened(pg_url)
    try:
        assert await db.schema_version() == LATEST
        assert await missing_columns(db.client()) == {}
        with db.bound():
            key = await ApiKey.get(name="alice")
            record = await UsageRecord.get(model="llama3")
        assert (key.rpm, key.cloud, record.prompt_tokens, record.estimated) == (
            30,
            False,
            11,
            False,
        )
    finally:
        await db.close()
    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT version FROM schema_version") == LATEST
        assert await conn.fetchval("SELECT count(*) FROM schema_version") == 1
        # the added column has its default for rows written without it (an older gateway
        # still running during an upgrade)
        await conn.execute(
            "INSERT INTO api_keys (key_hash, prefix, name, email, created_at, models) "
            "VALUES ('h2', 'p', 'bob', '', now(), '')"
        )
        assert await conn.fetchval("SELECT cloud FROM api_keys WHERE name = 'bob'") is False
    finally:
        await conn.close()


async def test_a_new_database_gets_the_schema_tortoise_would_generate(tmp_path: Path):
    """The migrations and the models agree column by column (type, NOT NULL, key), so a
    change to models.py without a migration fails here."""
    migrated, generated = tmp_path / "migrated.db", tmp_path / "generated.db"
    db = await opened(f"sqlite://{migrated}")
    await db.close()
    assert backups_in(tmp_path) == []  # nothing to keep in a new database
    async with TortoiseContext() as ctx:
        await ctx.init(db_url=f"sqlite://{generated}", modules={"models": [store_models.__name__]})
        await ctx.generate_schemas()

    def shape(path: Path, table: str) -> list[tuple]:
        with sqlite3.connect(path) as con:
            return sorted(r[1:4] + r[5:] for r in con.execute(f"PRAGMA table_info({table})"))

    def indexes(path: Path) -> set[str]:
        with sqlite3.connect(path) as con:
            return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}

    for model in (ApiKey, UsageRecord):
        table = model._meta.db_table
        assert shape(migrated, table) == shape(generated, table), table
    assert indexes(migrated) == indexes(generated)


async def test_a_database_from_before_versioning_resumes_where_it_stopped(tmp_path: Path):
    path = tmp_path / "guard.db"
    make_old_sqlite(path)
    with sqlite3.connect(path) as con:  # as a build between the two column additions left it
        con.execute("ALTER TABLE api_keys ADD COLUMN cloud INT NOT NULL DEFAULT 0")
        con.execute("UPDATE api_keys SET cloud = 1")
    db = await opened(f"sqlite://{path}")
    try:
        assert await db.schema_version() == LATEST
        with db.bound():
            assert (await ApiKey.get(name="alice")).cloud is True
    finally:
        await db.close()


async def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path: Path):
    path = tmp_path / "guard.db"
    db = await opened(f"sqlite://{path}")
    await db.close()
    with sqlite3.connect(path) as con:
        con.execute("UPDATE schema_version SET version = ?", (LATEST + 1,))
    with pytest.raises(SchemaTooNew, match="upgrade pbpm-desktop"):
        await opened(f"sqlite://{path}")
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT version FROM schema_version").fetchall() == [(LATEST + 1,)]
    assert backups_in(tmp_path) == []


async def test_tables_of_no_known_version_are_refused(tmp_path: Path):
    path = tmp_path / "guard.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE api_keys (id INTEGER PRIMARY KEY, key_hash VARCHAR(64))")
    with pytest.raises(UnknownSchema, match="PBPM_DB_URL"):
        await opened(f"sqlite://{path}")
    assert sqlite_columns(path, "api_keys") == {"id", "key_hash"}


async def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path):
    path = tmp_path / "guard.db"
    make_old_sqlite(path)
    with sqlite3.connect(path) as con:  # recorded as version 1, yet "estimated" (v3) is there
        con.execute("ALTER TABLE usage_records ADD COLUMN estimated INT")
        con.execute("CREATE TABLE schema_version (version INT NOT NULL)")
        con.execute("INSERT INTO schema_version VALUES (1)")
    with pytest.raises(Exception, match="duplicate column"):
        await opened(f"sqlite://{path}")
    with sqlite3.connect(path) as con:
        # v2 (cloud) went through and stays; v3 failed whole, its version bump too
        assert con.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    assert "cloud" in sqlite_columns(path, "api_keys")
    assert len(backups_in(tmp_path)) == 1
