"""The SQL of the audit's read side: records, totals, time series (used via store/usage.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.functions import Count, Max, Sum

from pbpm_desktop.core.store.models import UsageRecord

MAX_LIMIT = 10_000


def _filtered(
    key_id: int | None = None,
    model: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
):  # type: ignore[no-untyped-def]
    qs = UsageRecord.all()
    if key_id is not None:
        qs = qs.filter(key_id=key_id)
    if model:
        qs = qs.filter(model=model)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return qs


def record_to_dict(row: UsageRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "key_id": row.key_id,
        "key_prefix": row.key_prefix,
        "owner": row.owner,
        "model": row.model,
        "route": row.route,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "status": row.status,
        "duration_ms": round(row.duration_ms, 2),
        "ttft_ms": None if row.ttft_ms is None else round(row.ttft_ms, 2),
        "client": row.client,
        "created_at": row.created_at.isoformat(),
        "estimated": row.estimated,
    }


async def usage_records(limit: int = 100, **filters: Any) -> list[dict[str, Any]]:
    """Records newest first."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    rows = await _filtered(**filters).order_by("-created_at", "-id").limit(limit)
    return [record_to_dict(r) for r in rows]


async def usage_totals(group_by: str, **filters: Any) -> list[dict[str, Any]]:
    """Totals grouped by "key", "model" or "key_model" (requests, tokens, last use)."""
    columns = {
        "key": ["key_id", "key_prefix", "owner"],
        "model": ["model"],
        "key_model": ["key_id", "key_prefix", "owner", "model"],
    }[group_by]
    rows = (
        await _filtered(**filters)
        .annotate(
            requests=Count("id"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            last=Max("created_at"),
        )
        .group_by(*columns)
        .values(*columns, "requests", "prompt", "completion", "last")
    )
    out = []
    for r in rows:
        prompt, completion = int(r["prompt"] or 0), int(r["completion"] or 0)
        last = r["last"]
        out.append(
            {
                **{c: r[c] for c in columns},
                "requests": r["requests"],
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "last_used": last.isoformat() if isinstance(last, datetime) else last,
            }
        )
    out.sort(key=lambda r: r["total_tokens"], reverse=True)
    return out


async def usage_series(
    since: datetime, bucket: str = "hour", until: datetime | None = None, **filters: Any
) -> list[dict[str, Any]]:
    """Token totals per time bucket ("hour" or "day"), every bucket present (zeros included).

    On SQLite the database does the grouping (one row per bucket comes back), so a 30-day
    chart of a busy gateway costs the gateway loop a few hundred rows, not every request.
    Other databases get the portable path: bucketing (created_at, tokens) tuples in Python.
    """
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    until = until or datetime.now(UTC)
    start = _floor(since, bucket)
    count = int((until - start) / step) + 1
    prompt = [0] * count
    completion = [0] * count
    requests = [0] * count
    for created, p, c, n in await _bucket_rows(since, until, bucket, filters):
        i = int((created - start) / step)
        if 0 <= i < count:
            prompt[i] += p
            completion[i] += c
            requests[i] += n
    return [
        {
            "start": (start + i * step).isoformat(),
            "prompt_tokens": prompt[i],
            "completion_tokens": completion[i],
            "requests": requests[i],
        }
        for i in range(count)
    ]


async def _bucket_rows(
    since: datetime, until: datetime, bucket: str, filters: dict[str, Any]
) -> list[tuple[datetime, int, int, int]]:
    """(bucket start or created_at, prompt, completion, requests) rows for usage_series."""
    conn = UsageRecord._meta.db
    if conn.capabilities.dialect != "sqlite":
        rows = await _filtered(since=since, until=until, **filters).values_list(
            "created_at", "prompt_tokens", "completion_tokens"
        )
        return [(_aware(created), p, c, 1) for created, p, c in rows]
    # Tortoise stores aware datetimes as "YYYY-MM-DD HH:MM:SS.ffffff+00:00" text in UTC.
    fmt = "%Y-%m-%d %H:00:00" if bucket == "hour" else "%Y-%m-%d 00:00:00"
    where = ["created_at >= ?", "created_at < ?"]
    params: list[Any] = [_sqlite_time(since), _sqlite_time(until)]
    if filters.get("key_id") is not None:
        where.append("key_id = ?")
        params.append(filters["key_id"])
    if filters.get("model"):
        where.append("model = ?")
        params.append(filters["model"])
    sql = (
        f"SELECT strftime('{fmt}', created_at) AS b, SUM(prompt_tokens) AS p, "
        f"SUM(completion_tokens) AS c, COUNT(*) AS n FROM {UsageRecord._meta.db_table} "
        f"WHERE {' AND '.join(where)} GROUP BY b"
    )
    _, rows = await conn.execute_query(sql, params)
    return [
        (datetime.fromisoformat(r["b"]).replace(tzinfo=UTC), int(r["p"]), int(r["c"]), r["n"])
        for r in rows
        if r["b"]
    ]


def _sqlite_time(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def tokens_since(key_id: int, since: datetime) -> int:
    row = (
        await _filtered(key_id=key_id, since=since)
        .annotate(p=Sum("prompt_tokens"), c=Sum("completion_tokens"))
        .values("p", "c")
    )
    if not row:
        return 0
    return int(row[0]["p"] or 0) + int(row[0]["c"] or 0)


def _floor(when: datetime, bucket: str) -> datetime:
    when = when.astimezone(UTC)
    if bucket == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    return when.replace(hour=0, minute=0, second=0, microsecond=0)
