"""The audit's read side as a repository: bound to one database, it binds its own context.

Callers (the admin API, the service behind the desktop pages and the CLI, the quota's day
totals) ask `db.usage` and never enter `Database.bound()` themselves; the SQL lives in
queries.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pbpm_desktop.core.store import queries

if TYPE_CHECKING:
    from pbpm_desktop.core.store.db import Database


class UsageRepository:
    """Records, totals, time series and per-key token sums of one database's audit."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def records(self, limit: int = 100, **filters: Any) -> list[dict[str, Any]]:
        """Records newest first (at most queries.MAX_LIMIT)."""
        with self.db.bound():
            return await queries.usage_records(limit=limit, **filters)

    async def totals(self, group_by: str, **filters: Any) -> list[dict[str, Any]]:
        """Totals grouped by "key", "model" or "key_model"."""
        with self.db.bound():
            return await queries.usage_totals(group_by, **filters)

    async def series(
        self, since: datetime, bucket: str = "hour", until: datetime | None = None, **filters: Any
    ) -> list[dict[str, Any]]:
        """Token totals per "hour" or "day" bucket, every bucket present."""
        with self.db.bound():
            return await queries.usage_series(since, bucket, until, **filters)

    async def tokens_since(self, key_id: int, since: datetime) -> int:
        """Prompt + completion tokens a key used since `since` (the quota's day total)."""
        with self.db.bound():
            return await queries.tokens_since(key_id, since)
