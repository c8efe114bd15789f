"""Micro-benchmark: audit rows written per second by `core.store.audit_rows.insert_many`.

    python -m benchmarks.audit_insert [--rows 100000] [--batch 500] [--db URL]

Times only the batched INSERTs (the audit writer's hot path) into a fresh SQLite file, best
of three rounds, so before/after numbers of a change to the insert can be compared on one box.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pbpm_desktop.core.accounting.audit import AuditEntry
from pbpm_desktop.core.store import Database
from pbpm_desktop.core.store.audit_rows import insert_many


def _entries(n: int) -> list[AuditEntry]:
    now = datetime.now(UTC)
    return [
        AuditEntry(
            key_id=i % 7,
            key_prefix="pbpm_abcd",
            owner="alice@example.org",
            model="llama3.2:3b",
            route="/api/chat",
            prompt_tokens=120 + i % 50,
            completion_tokens=300 + i % 90,
            duration_ms=812.5,
            ttft_ms=41.25,
            client="127.0.0.1",
            created_at=now,
        )
        for i in range(n)
    ]


async def _round(url: str, entries: list[AuditEntry], batch: int) -> float:
    db = Database(url)
    await db.open()
    try:
        started = time.perf_counter()
        for i in range(0, len(entries), batch):
            with db.bound():
                await insert_many(entries[i : i + batch])
        return len(entries) / (time.perf_counter() - started)
    finally:
        await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--db", default=None, help="a database URL (default: a fresh SQLite)")
    args = parser.parse_args()
    entries = _entries(args.rows)
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(3):
            url = args.db or f"sqlite://{Path(tmp) / f'bench{n}.db'}"
            rates.append(await _round(url, entries, args.batch))
    rounds = ", ".join(f"{r:,.0f}" for r in rates)
    print(f"audit insert: best {max(rates):,.0f} rows/s (rounds: {rounds})")


if __name__ == "__main__":
    asyncio.run(main())
