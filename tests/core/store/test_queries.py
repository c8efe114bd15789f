"""Read-side audit queries on a real SQLite database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pbpm_desktop.core.store import Database, queries
from pbpm_desktop.core.store.models import UsageRecord

NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)


@pytest.fixture
async def db(tmp_path: Path):
    database = Database(f"sqlite://{tmp_path}/q.db")
    await database.open()
    rows = [
        # (hours ago, key, model, prompt, completion)
        (0, 1, "a", 10, 20),
        (0, 2, "b", 1, 2),
        (1, 1, "a", 100, 200),
        (30, 1, "b", 1000, 2000),
        (24 * 40, 1, "a", 5, 5),  # outside a 30-day range
    ]
    with database.bound():
        await UsageRecord.bulk_create(
            [
                UsageRecord(
                    key_id=k, key_prefix=f"p{k}", owner=f"o{k}", model=m, route="chat",
                    prompt_tokens=p, completion_tokens=c, status="ok",
                    created_at=NOW - timedelta(hours=h),
                )
                for h, k, m, p, c in rows
            ]
        )  # fmt: skip
    yield database
    await database.close()


async def test_hourly_series_has_every_bucket_and_the_right_sums(db: Database) -> None:
    with db.bound():
        series = await queries.usage_series(NOW - timedelta(hours=24), "hour", until=NOW)
    assert len(series) == 25
    assert series[-1] == {
        "start": NOW.replace(minute=0).isoformat(),
        "prompt_tokens": 11,
        "completion_tokens": 22,
        "requests": 2,
    }
    assert series[-2]["prompt_tokens"] == 100
    assert sum(b["requests"] for b in series) == 3


async def test_daily_series_and_filters(db: Database) -> None:
    with db.bound():
        series = await queries.usage_series(NOW - timedelta(days=30), "day", until=NOW)
        by_key = await queries.usage_series(NOW - timedelta(days=30), "day", until=NOW, key_id=2)
        by_model = await queries.usage_series(NOW - timedelta(days=30), "day", until=NOW, model="b")
    assert sum(b["prompt_tokens"] for b in series) == 1111
    assert sum(b["prompt_tokens"] for b in by_key) == 1
    assert sum(b["completion_tokens"] for b in by_model) == 2002


async def test_totals_and_records(db: Database) -> None:
    with db.bound():
        by_model = await queries.usage_totals("model")
        by_key = await queries.usage_totals("key", since=NOW - timedelta(days=2))
        records = await queries.usage_records(limit=2)
        used = await queries.tokens_since(1, NOW - timedelta(hours=2))
    assert [(r["model"], r["total_tokens"]) for r in by_model] == [("b", 3003), ("a", 340)]
    assert {r["key_id"]: r["requests"] for r in by_key} == {1: 3, 2: 1}
    assert len(records) == 2 and records[0]["created_at"] >= records[1]["created_at"]
    assert used == 330


async def test_the_usage_repository_binds_its_own_context(db: Database) -> None:
    """Callers ask `db.usage` with no `bound()` block: the repository enters the context."""
    with db.bound():
        expected = await queries.usage_totals("model")
        used = await queries.tokens_since(1, NOW - timedelta(hours=2))
    assert await db.usage.totals("model") == expected
    assert await db.usage.tokens_since(1, NOW - timedelta(hours=2)) == used
    assert len(await db.usage.records(limit=2)) == 2
    series = await db.usage.series(NOW - timedelta(hours=24), "hour", until=NOW)
    assert len(series) == 25
