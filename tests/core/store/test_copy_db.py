"""Moving from SQLite to PostgreSQL: keys (same ids, same secrets) and the audit come along."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from pbpm_desktop.core.store import Database
from pbpm_desktop.core.store.copy_db import CopyError, copy_database, main
from pbpm_desktop.core.store.models import ApiKey, UsageRecord

WHEN = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


async def fill_sqlite(url: str, records: int) -> None:
    db = Database(url)
    await db.open()
    try:
        with db.bound():
            await ApiKey.create(key_hash="a" * 64, prefix="pbpm-aaa", name="ana", rpm=30)
            gone = await ApiKey.create(key_hash="b" * 64, prefix="pbpm-bbb", name="bob")
            await gone.delete()  # a gap in the ids: ids are copied, not renumbered
            await ApiKey.create(
                key_hash="c" * 64, prefix="pbpm-ccc", name="cy", revoked_at=WHEN, models="m1,m2"
            )
            await UsageRecord.bulk_create(
                [
                    UsageRecord(
                        key_id=1,
                        key_prefix="pbpm-aaa",
                        owner="ana",
                        model="llama3.2:3b",
                        route="chat",
                        prompt_tokens=i,
                        completion_tokens=2 * i,
                        status="ok",
                        duration_ms=1.5,
                        created_at=WHEN + timedelta(seconds=i),
                    )
                    for i in range(records)
                ]
            )
    finally:
        await db.close()


async def test_sqlite_to_postgres_keeps_ids_secrets_and_audit(tmp_path: Path, pg_url: str):
    source = f"sqlite://{tmp_path / 'guard.db'}"
    await fill_sqlite(source, records=2500)  # more than one batch
    copied = await copy_database(source, pg_url)
    assert copied == {"api_keys": 2, "usage_records": 2500}
    # checked with asyncpg itself: what a gateway on this database will read
    conn = await asyncpg.connect(pg_url)
    try:
        keys = {r["id"]: r for r in await conn.fetch("SELECT * FROM api_keys")}
        assert sorted(keys) == [1, 3]
        assert (keys[1]["key_hash"], keys[1]["rpm"]) == ("a" * 64, 30)
        assert (keys[3]["revoked_at"], keys[3]["models"]) == (WHEN, "m1,m2")
        assert await conn.fetchval("SELECT COUNT(*) FROM usage_records") == 2500
        last = await conn.fetchrow(
            "SELECT completion_tokens, created_at FROM usage_records WHERE prompt_tokens = 2499"
        )
        assert tuple(last) == (4998, WHEN + timedelta(seconds=2499))
        # the sequence moved past the copied ids: a new key does not collide
        new_id = await conn.fetchval(
            "INSERT INTO api_keys (key_hash, prefix, name, email, created_at, models, cloud) "
            "VALUES ('d', 'pbpm-ddd', 'dee', '', now(), '', FALSE) RETURNING id"
        )
        assert new_id == 4
    finally:
        await conn.close()


async def test_copy_refuses_a_target_that_has_data(tmp_path: Path):
    source = f"sqlite://{tmp_path / 'a.db'}"
    target = f"sqlite://{tmp_path / 'b.db'}"
    await fill_sqlite(source, records=1)
    await fill_sqlite(target, records=0)
    with pytest.raises(CopyError, match="already has rows in api_keys"):
        await copy_database(source, target)


def test_command_line_reports_counts(tmp_path: Path, capsys):
    source = f"sqlite://{tmp_path / 'a.db'}"
    import asyncio

    asyncio.run(fill_sqlite(source, records=3))
    assert main([source, f"sqlite://{tmp_path / 'copy.db'}"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "api_keys: 2 rows copied",
        "usage_records: 3 rows copied",
    ]
    assert main([source]) == 2
