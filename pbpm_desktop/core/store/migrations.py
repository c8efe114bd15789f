"""The schema's history as numbered migrations, plain SQL per dialect, each applied once in order.

Why our own list and not Tortoise's built-in migrations (`tortoise.migrations`, 1.1.9): that
tool applies migration modules written by `tortoise makemigrations` from model state and records
them in `tortoise_migrations`. Every database already in the field was made by
`generate_schemas` and has no such records, and the executor (migrations/executor.py) has no
"fake initial" step: its first `CreateModel` would fail on the existing tables, so each install
would need a hand-run `migrate --fake` first. Its atomic steps also use `in_transaction()`,
which resolves the connection through the current Tortoise context (`require_context()`), and
its schema editor issues SQLite DDL through `executescript`, which commits whatever is open.
Three migrations of two tables are easier to read, and to trust, as SQL; the version lives in
`schema_version` (one row), and `apply` runs under the schema lock (core/store/schema_lock.py).

Databases from before versioning (no `schema_version` table) get their version from the columns
they have: every column ever added is the marker of the migration that added it.
A migration is never edited once released: a change to the models gets a new migration at the
end (and a test in tests/core/store/test_migrations.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sqlite: str
    postgres: str
    #: (table, column) that exists once this migration ran: how a database from before
    #: versioning tells how far it got
    marker: tuple[str, str]

    def sql(self, dialect: str) -> str:
        return self.sqlite if dialect == "sqlite" else self.postgres


_INDEXES = """
CREATE INDEX IF NOT EXISTS "idx_usage_recor_key_id_30f9ae" ON "usage_records" ("key_id");
CREATE INDEX IF NOT EXISTS "idx_usage_recor_model_a62598" ON "usage_records" ("model");
CREATE INDEX IF NOT EXISTS "idx_usage_recor_created_abe4dd" ON "usage_records" ("created_at");
"""

# v1: the tables as pbpm-desktop made them before `cloud` and `estimated` (as of 96a3f6e),
# exactly what Tortoise's generate_schemas wrote, so old and new databases stay alike
_V1 = (
    """
CREATE TABLE IF NOT EXISTS "api_keys" (
    "id" {serial},
    "key_hash" VARCHAR(64) NOT NULL UNIQUE,
    "prefix" VARCHAR(16) NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "email" VARCHAR(200) NOT NULL,
    "created_at" {ts} NOT NULL,
    "revoked_at" {ts},
    "models" TEXT NOT NULL,
    "expires_at" {ts},
    "rpm" INT,
    "tokens_per_day" INT,
    "max_streams" INT
);
CREATE TABLE IF NOT EXISTS "usage_records" (
    "id" {serial},
    "key_id" INT,
    "key_prefix" VARCHAR(16) NOT NULL,
    "owner" VARCHAR(200) NOT NULL,
    "model" VARCHAR(200) NOT NULL,
    "route" VARCHAR(64) NOT NULL,
    "prompt_tokens" INT NOT NULL,
    "completion_tokens" INT NOT NULL,
    "status" VARCHAR(32) NOT NULL,
    "duration_ms" {real} NOT NULL,
    "ttft_ms" {real},
    "client" VARCHAR(64) NOT NULL,
    "created_at" {ts} NOT NULL
);
"""
    + _INDEXES
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "keys and the token audit",
        _V1.format(
            serial="INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL", ts="TIMESTAMP", real="REAL"
        ),
        _V1.format(serial="SERIAL NOT NULL PRIMARY KEY", ts="TIMESTAMPTZ", real="DOUBLE PRECISION"),
        ("usage_records", "created_at"),
    ),
    Migration(
        2,
        "keys: may use Ollama cloud models",
        'ALTER TABLE "api_keys" ADD COLUMN "cloud" INT NOT NULL DEFAULT 0;',
        'ALTER TABLE "api_keys" ADD COLUMN "cloud" BOOL NOT NULL DEFAULT FALSE;',
        ("api_keys", "cloud"),
    ),
    Migration(
        3,
        "audit: estimated token counts",
        'ALTER TABLE "usage_records" ADD COLUMN "estimated" INT NOT NULL DEFAULT 0;',
        'ALTER TABLE "usage_records" ADD COLUMN "estimated" BOOL NOT NULL DEFAULT FALSE;',
        ("usage_records", "estimated"),
    ),
)

#: the version this pbpm-desktop writes and expects
LATEST = MIGRATIONS[-1].version

_VERSION_TABLE = "schema_version"


class SchemaError(RuntimeError):
    """The database's schema is one this pbpm-desktop must not migrate; the message says what
    to do (the CLI prints it as one line)."""


class SchemaTooNew(SchemaError):
    """The database was migrated by a newer pbpm-desktop; this one must not touch it."""


async def current_version(conn: Any) -> int:
    """The database's schema version: 0 for an empty one; read from the columns of a
    database from before versioning."""
    tables = await _tables(conn)
    if _VERSION_TABLE in tables:
        _, rows = await conn.execute_query(f"SELECT version FROM {_VERSION_TABLE}")
        if rows:
            return int(rows[0]["version"])
    version = 0
    for migration in MIGRATIONS:
        table, column = migration.marker
        if table not in tables or column not in await columns(conn, table):
            break
        version = migration.version
    return version


class UnknownSchema(SchemaError):
    """Our tables exist but match no released schema: migrating could lose data."""

    fix = "point PBPM_DB_URL at another database, or move this one away"

    def __init__(self, tables: set[str]) -> None:
        #: what is wrong, without the fix (`pbpm-desktop doctor` shows the two apart)
        self.problem = (
            f"the database has table(s) {', '.join(sorted(tables))} but no schema version "
            "this pbpm-desktop can tell"
        )
        super().__init__(f"{self.problem}: {self.fix}")


async def check_known(conn: Any, version: int) -> None:
    """Refuse a database with our tables and no version we can tell (made by something
    else, or hand-edited): v1's `CREATE TABLE IF NOT EXISTS` would keep it as it is."""
    if version == 0 and (found := await _tables(conn) & {"api_keys", "usage_records"}):
        raise UnknownSchema(found)


def pending(version: int) -> list[Migration]:
    """The migrations a database at `version` still needs, in order (raises SchemaTooNew)."""
    if version > LATEST:
        raise SchemaTooNew(
            f"the database has schema version {version}, newer than this pbpm-desktop "
            f"understands ({LATEST}): upgrade pbpm-desktop, or restore a backup "
            "(guard.db.backup-*) made before the upgrade"
        )
    return [m for m in MIGRATIONS if m.version > version]


async def apply(conn: Any, todo: list[Migration]) -> None:
    """Run `todo` in order, each with its version bump in one transaction (under the lock)."""
    dialect = str(conn.capabilities.dialect)
    await conn.execute_script(f"CREATE TABLE IF NOT EXISTS {_VERSION_TABLE} (version INT NOT NULL)")
    for migration in todo:
        log.info("migrating: schema %d: %s", migration.version, migration.description)
        bump = (
            f"DELETE FROM {_VERSION_TABLE}; "
            f"INSERT INTO {_VERSION_TABLE} (version) VALUES ({migration.version});"
        )
        # PostgreSQL runs a multi-statement script as one implicit transaction; SQLite's
        # DDL is transactional too once wrapped (executescript only commits what was open)
        script = migration.sql(dialect) + bump
        if dialect == "sqlite":
            try:
                await conn.execute_script(f"BEGIN;\n{script}\nCOMMIT;")
            except Exception:
                await _rollback(conn)
                raise
        else:
            await conn.execute_script(script)


async def _rollback(conn: Any) -> None:
    try:
        await conn.execute_script("ROLLBACK;")
    except Exception:  # no transaction left open: nothing to undo
        pass


async def _tables(conn: Any) -> set[str]:
    if str(conn.capabilities.dialect) == "sqlite":
        _, rows = await conn.execute_query("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row["name"] for row in rows}
    _, rows = await conn.execute_query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    return {row["table_name"] for row in rows}


async def columns(conn: Any, table: str) -> set[str]:
    """Column names of `table` as the database has them (empty when the table is missing)."""
    if str(conn.capabilities.dialect) == "sqlite":
        _, rows = await conn.execute_query(f"PRAGMA table_info({table})")
        return {row["name"] for row in rows}
    _, rows = await conn.execute_query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1",
        [table],
    )
    return {row["column_name"] for row in rows}
