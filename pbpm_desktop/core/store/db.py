"""Opening, migrating and closing the database; binding Tortoise's context to our calls.

Tortoise 1.x keeps its state in a context variable. The gateway's tasks are created by aiohttp
and by other threads (`run_coroutine_threadsafe`), which do not inherit it, so every query
goes through `Database.bound()`, which activates our context for the duration of the call.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from tortoise.context import TortoiseContext, _current_context

from pbpm_desktop.core.store import models as store_models
from pbpm_desktop.core.store import schema
from pbpm_desktop.core.store.schema_lock import schema_lock

log = logging.getLogger(__name__)


class DatabaseBusy(RuntimeError):
    """The database stayed locked past its busy timeout."""


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self._ctx = TortoiseContext()

    @contextlib.contextmanager
    def bound(self) -> Iterator[None]:
        token = _current_context.set(self._ctx)
        try:
            yield
        finally:
            _current_context.reset(token)

    def client(self) -> Any:
        """Tortoise's client for raw SQL (doctor's schema check, the copy tool); after open()."""
        return self._ctx.db()

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite://")

    async def open(self, *, migrate: bool = True) -> None:
        """Connect; with `migrate` (every start) also create and migrate the schema.

        `migrate=False` only connects: `pbpm-desktop doctor` inspects a database without
        changing it.
        """
        if self.is_sqlite and self.url != "sqlite://:memory:":
            path = Path(self.url.removeprefix("sqlite://"))
            path.parent.mkdir(parents=True, exist_ok=True)
            make_private(path)
        with self.bound():
            if self.is_sqlite:
                # The whole start under the lock on SQLite: the first switch of an old file to
                # WAL needs it alone, and a connection starting meanwhile gets "database is
                # locked" at once (SQLite skips its busy wait there). Starts take milliseconds.
                async with schema_lock(self.url, None):
                    await self._ctx.init(db_url=self.url, modules=self._modules())
                    conn = self._ctx.db()
                    await conn.execute_script(
                        "PRAGMA busy_timeout=5000; PRAGMA synchronous=NORMAL;"
                    )
                    if migrate:  # (doctor changes nothing, not even the journal mode)
                        # WAL lets the CLI and dashboards read while the gateway writes.
                        await conn.execute_script("PRAGMA journal_mode=WAL;")
                        await self._migrate()
                if self.url != "sqlite://:memory:":
                    make_private(Path(self.url.removeprefix("sqlite://")))
                return
            await self._ctx.init(db_url=self.url, modules=self._modules())
            if migrate:
                # one process at a time, so gateways starting together on one database all
                # succeed
                async with schema_lock(self.url, self._ctx.db()):
                    await self._migrate()

    @staticmethod
    def _modules() -> dict[str, Iterable[str | ModuleType]]:
        return {"models": [store_models.__name__]}

    async def _migrate(self) -> None:
        """Create missing tables, add missing columns (under the schema lock)."""
        await self._ctx.generate_schemas(safe=True)
        await self._add_missing_columns()

    async def close(self) -> None:
        with self.bound():
            await self._ctx.close_connections()

    async def _add_missing_columns(self) -> None:
        """Forward-only migration: add columns that newer models have and an old DB lacks.

        `generate_schemas(safe=True)` creates missing tables but never alters existing ones;
        this keeps data from older versions usable without a migration framework.
        """
        conn = self._ctx.db()
        sql_dialect = schema.dialect(conn)
        backed_up = not self.is_sqlite or self.url == "sqlite://:memory:"
        for model in schema.MODELS:
            table = model._meta.db_table
            have = await schema.existing_columns(conn, table)
            for column, field in schema.model_columns(model).items():
                if column not in have:
                    if not backed_up:  # the first change of this start: keep a copy first
                        await schema.backup_sqlite(conn, Path(self.url.removeprefix("sqlite://")))
                        backed_up = True
                    sql_type = field.get_for_dialect(sql_dialect, "SQL_TYPE")
                    default = _sql_default(field, sql_dialect)
                    null = "" if field.null else f" NOT NULL DEFAULT {default}"
                    log.info("migrating: adding %s.%s", table, column)
                    await conn.execute_script(
                        f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}{null}"
                    )


def make_private(db_path: Path) -> None:
    """The database and its WAL/SHM files readable by the owner only (0600), also on old installs.

    They hold emails, key hashes and client addresses; they used to be 0644. SQLite creates
    the -wal and -shm files with the database file's mode, so creating the file 0600 before
    SQLite opens it covers them; existing ones are fixed here. No-op on Windows (ACLs).
    """
    if os.name == "nt":
        return
    if not db_path.exists():
        os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT, 0o600))
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = db_path.with_name(db_path.name + suffix)
        try:
            if candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)
        except FileNotFoundError:
            pass


def _sql_default(field, sql_dialect: str = "sqlite") -> str:  # type: ignore[no-untyped-def]
    default = field.default
    if isinstance(default, bool) and sql_dialect == "postgres":  # BOOL columns take TRUE/FALSE
        return "TRUE" if default else "FALSE"
    if default is None or callable(default):
        return "''" if "Char" in type(field).__name__ or "Text" in type(field).__name__ else "0"
    if isinstance(default, str):
        return "'" + default.replace("'", "''") + "'"
    return str(int(default) if isinstance(default, bool) else default)
