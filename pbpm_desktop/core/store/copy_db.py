"""Copy keys and the audit from one database to another: moving from SQLite to PostgreSQL.

    python -m pbpm_desktop.core.store.copy_db sqlite:///path/guard.db postgres://u:p@host/db

Both databases are opened the normal way (so the target gets the current schema and the source
is migrated to it first, backup included), then every row is copied with its id, so key ids in
scripts and usage records stay the same; PostgreSQL's id sequences are moved past the copied
ids afterwards. The target must hold no keys or usage yet (a copy never merges). Stop the
gateways on the source first: rows written during the copy would be left behind.

Raw SQL, not the ORM: Tortoise binds each model's query builder to one dialect when a context
is initialised, so one model class cannot query SQLite and PostgreSQL side by side.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from pbpm_desktop.core.store.db import Database
from pbpm_desktop.core.store.schema import MODELS, dialect, model_columns

#: rows per INSERT batch: bounded memory for a big audit, few round trips
BATCH = 1000


class CopyError(RuntimeError):
    """The copy cannot start (the target is not empty); the message says what to do."""


async def copy_database(source_url: str, target_url: str) -> dict[str, int]:
    """Copy every row of every table; returns {table: rows copied}."""
    source, target = Database(source_url), Database(target_url)
    await source.open()
    try:
        await target.open()
        try:
            return await _copy(source.client(), target.client())
        finally:
            await target.close()
    finally:
        await source.close()


def _param(conn: Any, n: int) -> str:
    """The n-th (1-based) query parameter in this client's dialect."""
    return f"${n}" if dialect(conn) == "postgres" else "?"


async def _copy(src: Any, dst: Any) -> dict[str, int]:
    for model in MODELS:
        table = model._meta.db_table
        _, rows = await dst.execute_query(f"SELECT 1 FROM {table} LIMIT 1")
        if rows:
            raise CopyError(
                f"the target already has rows in {table}: copy into an empty database "
                "(drop and recreate it, or choose another PBPM_DB_URL)"
            )
    copied: dict[str, int] = {}
    for model in MODELS:
        table = model._meta.db_table
        fields = model_columns(model)
        columns = list(fields)
        select = (
            f"SELECT {', '.join(columns)} FROM {table} WHERE id > {_param(src, 1)} "
            f"ORDER BY id LIMIT {_param(src, 2)}"
        )
        marks = ", ".join(_param(dst, i + 1) for i in range(len(columns)))
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        count, last_id = 0, 0
        while True:  # keyset pagination: stable and bounded however big the audit is
            _, rows = await src.execute_query(select, [last_id, BATCH])
            if not rows:
                break
            values = [[_to_db(fields[c], row[c]) for c in columns] for row in rows]
            await dst.execute_many(insert, values)
            count += len(rows)
            last_id = rows[-1]["id"]
        copied[table] = count
        await _advance_sequence(dst, table)
    return copied


def _to_db(field: Any, value: Any) -> Any:
    """A raw value read from the source as the target's driver takes it.

    SQLite hands back datetimes as text and booleans as 0/1; asyncpg wants real types.
    """
    if value is None:
        return None
    kind = type(field).__name__
    if kind == "DatetimeField" and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if kind == "BooleanField":
        return bool(value)
    return value


async def _advance_sequence(conn: Any, table: str) -> None:
    """After inserting explicit ids, PostgreSQL's SERIAL would hand out 1 again: move it on."""
    if dialect(conn) != "postgres":
        return  # SQLite's INTEGER PRIMARY KEY continues after the largest id by itself
    await conn.execute_query(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
        f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(
            "usage: python -m pbpm_desktop.core.store.copy_db SOURCE_URL TARGET_URL",
            file=sys.stderr,
        )
        return 2
    try:
        copied = asyncio.run(copy_database(argv[0], argv[1]))
    except CopyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for table, count in copied.items():
        print(f"{table}: {count} rows copied")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
