"""What the forward-only migration needs to know about a live database, on SQLite and PostgreSQL.

`Database._add_missing_columns` adds the columns newer models have and an older database lacks;
this module answers "which columns does this table have" for either dialect, writes the SQLite
backup taken before the first change, and reports the schema for `pbpm-desktop doctor`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tortoise.models import Model

from pbpm_desktop.core.store import models as store_models

log = logging.getLogger(__name__)

#: the tables the gateway owns, in the order the migration visits them
MODELS: tuple[type[Model], ...] = (store_models.ApiKey, store_models.UsageRecord)


def dialect(conn: Any) -> str:
    """ "sqlite" or "postgres" (Tortoise's name for the dialect of this client)."""
    return str(conn.capabilities.dialect)


async def existing_columns(conn: Any, table: str) -> set[str]:
    """Column names of `table` as the database has them (empty when the table is missing)."""
    if dialect(conn) == "sqlite":
        _, rows = await conn.execute_query(f"PRAGMA table_info({table})")
        return {row["name"] for row in rows}
    _, rows = await conn.execute_query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1",
        [table],
    )
    return {row["column_name"] for row in rows}


def model_columns(model: type[Model]) -> dict[str, Any]:
    """{column name: field} for every field of `model` stored in a column of its table."""
    return {
        getattr(field, "source_field", None) or name: field
        for name, field in model._meta.fields_map.items()
        if field.has_db_field
    }


async def missing_columns(conn: Any) -> dict[str, list[str]]:
    """{table: columns the models have and the database lacks}; a missing table lists all."""
    out: dict[str, list[str]] = {}
    for model in MODELS:
        table = model._meta.db_table
        have = await existing_columns(conn, table)
        lacking = [c for c in model_columns(model) if c not in have]
        if lacking:
            out[table] = lacking
    return out


async def backup_sqlite(conn: Any, db_path: Path) -> Path:
    """A consistent copy of the database file before a migration changes it (`VACUUM INTO`).

    Named after the time it was taken, next to the database: `guard.db.backup-<UTC time>`.
    Restoring is copying it back over `guard.db` with the gateway stopped.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = db_path.with_name(f"{db_path.name}.backup-{stamp}")
    n = 1
    while target.exists():  # two migrations in one second (tests): never overwrite a backup
        target = db_path.with_name(f"{db_path.name}.backup-{stamp}-{n}")
        n += 1
    quoted = str(target).replace("'", "''")
    await conn.execute_script(f"VACUUM INTO '{quoted}'")
    log.info("migrating: backed up %s to %s", db_path, target)
    return target
