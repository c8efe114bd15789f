"""What the store knows about a live database, on SQLite and PostgreSQL: its dialect, the
columns of our models, the schema version and what is missing (`pbpm-desktop doctor`), and the
SQLite backup taken before a migration changes anything.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tortoise.models import Model

from pbpm_desktop.core.store import migrations
from pbpm_desktop.core.store import models as store_models

log = logging.getLogger(__name__)

#: the tables the gateway owns
MODELS: tuple[type[Model], ...] = (store_models.ApiKey, store_models.UsageRecord)


def dialect(conn: Any) -> str:
    """ "sqlite" or "postgres" (Tortoise's name for the dialect of this client)."""
    return str(conn.capabilities.dialect)


def model_columns(model: type[Model]) -> dict[str, Any]:
    """{column name: field} for every field of `model` stored in a column of its table."""
    return {
        getattr(field, "source_field", None) or name: field
        for name, field in model._meta.fields_map.items()
        if field.has_db_field
    }


async def missing_columns(conn: Any) -> dict[str, list[str]]:
    """{table: columns the models have and the database lacks}; a missing table lists all.

    Empty once the migrations ran: a test holds the migrations and the models to each other.
    """
    out: dict[str, list[str]] = {}
    for model in MODELS:
        table = model._meta.db_table
        have = await migrations.columns(conn, table)
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
