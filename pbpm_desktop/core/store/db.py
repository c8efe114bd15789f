"""Opening, migrating and closing the database; binding Tortoise's context to our calls.

Tortoise 1.x keeps its state in a context variable. The gateway's tasks are created by aiohttp
and by other threads (`run_coroutine_threadsafe`), which do not inherit it, so every query
goes through `Database.bound()`, which activates our context for the duration of the call.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from tortoise.context import TortoiseContext, _current_context
from tortoise.models import Model

from pbpm_desktop.core.store import models as store_models

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

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite://")

    async def open(self) -> None:
        if self.is_sqlite and self.url != "sqlite://:memory:":
            path = Path(self.url.removeprefix("sqlite://"))
            path.parent.mkdir(parents=True, exist_ok=True)
            make_private(path)
        with self.bound():
            await self._ctx.init(db_url=self.url, modules={"models": [store_models.__name__]})
            if self.is_sqlite:
                conn = self._ctx.db()
                # WAL lets the CLI and dashboards read while the gateway writes.
                await conn.execute_script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
                await conn.execute_script("PRAGMA busy_timeout=5000;")
            await self._ctx.generate_schemas(safe=True)
            await self._add_missing_columns()
        if self.is_sqlite and self.url != "sqlite://:memory:":
            make_private(Path(self.url.removeprefix("sqlite://")))

    async def close(self) -> None:
        with self.bound():
            await self._ctx.close_connections()

    async def _add_missing_columns(self) -> None:
        """Forward-only migration: add columns that newer models have and an old DB lacks.

        `generate_schemas(safe=True)` creates missing tables but never alters existing ones;
        this keeps data from older versions usable without a migration framework.
        """
        if not self.is_sqlite:
            return
        conn = self._ctx.db()
        model: type[Model]
        for model in (store_models.ApiKey, store_models.UsageRecord):
            table = model._meta.db_table
            _, rows = await conn.execute_query(f"PRAGMA table_info({table})")
            have = {row["name"] for row in rows}
            for name, field in model._meta.fields_map.items():
                column = getattr(field, "source_field", None) or name
                if field.has_db_field and column not in have:
                    sql_type = field.get_for_dialect("sqlite", "SQL_TYPE")
                    null = "" if field.null else f" NOT NULL DEFAULT {_sql_default(field)}"
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


def _sql_default(field) -> str:  # type: ignore[no-untyped-def]
    default = field.default
    if default is None or callable(default):
        return "''" if "Char" in type(field).__name__ or "Text" in type(field).__name__ else "0"
    if isinstance(default, str):
        return "'" + default.replace("'", "''") + "'"
    return str(int(default) if isinstance(default, bool) else default)
