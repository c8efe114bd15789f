"""The batched audit writer: off the response path, nothing lost on busy DB or shutdown."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from pbpm_desktop.core.audit import AuditEntry, AuditWriter
from pbpm_desktop.core.store import Database
from pbpm_desktop.core.store.models import UsageRecord


def entry(i: int = 0) -> AuditEntry:
    return AuditEntry(1, "pbpm-abc", "me", "m", "chat", prompt_tokens=i, completion_tokens=2)


async def count(db: Database) -> int:
    with db.bound():
        return await UsageRecord.all().count()


async def test_record_never_waits_and_stop_flushes(tmp_path: Path) -> None:
    db = Database(f"sqlite://{tmp_path}/a.db")
    await db.open()
    writer = AuditWriter(db, interval=60)  # the timer never fires during this test
    await writer.start()
    for i in range(1234):
        writer.record(entry(i))
    assert writer.pending <= 1234
    await writer.stop()
    assert await count(db) == 1234 and writer.pending == 0
    await db.close()


async def test_busy_database_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    db = Database(f"sqlite://{path}")
    await db.open()
    with db.bound():
        await db._ctx.db().execute_script("PRAGMA busy_timeout=50;")
    writer = AuditWriter(db, interval=0.05)
    await writer.start()
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    for i in range(10):
        writer.record(entry(i))
    await asyncio.sleep(0.4)
    assert writer.failed_flushes >= 1 and writer.pending == 10
    blocker.rollback()
    blocker.close()
    for _ in range(100):
        if writer.pending == 0:
            break
        await asyncio.sleep(0.05)
    await writer.stop()
    assert await count(db) == 10
    await db.close()


async def test_tokens_today_counter(tmp_path: Path) -> None:
    db = Database(f"sqlite://{tmp_path}/t.db")
    await db.open()
    writer = AuditWriter(db)
    assert writer.tokens_today(1) is None
    writer.seed_tokens_today(1, 100)
    writer.record(entry(5))
    assert writer.tokens_today(1) == 107
    await writer.stop()
    await db.close()


async def test_schema_upgrade_keeps_data_and_adds_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE usage_records (
            id INTEGER PRIMARY KEY AUTOINCREMENT, key_id INT, model VARCHAR(200) NOT NULL,
            route VARCHAR(64) NOT NULL, prompt_tokens INT NOT NULL, completion_tokens INT NOT NULL,
            status VARCHAR(32) NOT NULL, created_at TIMESTAMP NOT NULL);
        INSERT INTO usage_records (key_id, model, route, prompt_tokens, completion_tokens, status,
            created_at) VALUES (1, 'old-model', 'chat', 3, 4, 'ok', '2025-01-01 00:00:00+00:00');
        """
    )
    con.close()
    db = Database(f"sqlite://{path}")
    await db.open()
    with db.bound():
        rows = await UsageRecord.all()
    assert len(rows) == 1 and rows[0].model == "old-model" and rows[0].ttft_ms is None
    assert rows[0].owner == ""
    await db.close()
    journal = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"
