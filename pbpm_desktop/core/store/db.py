"""Opening, migrating and closing the database; the Tortoise context our queries run in.

Tortoise 1.x keeps its state in a `TortoiseContext`, made current through a context variable.
The gateway's tasks are created by aiohttp and by other threads (`run_coroutine_threadsafe`),
which do not inherit it, so every query goes through `Database.bound()`, which makes this
database's context current for the duration of the call with Tortoise's public API
(`with ctx:`). That API keeps the variable's reset token on the context object itself, so two
tasks binding one context at once would reset each other's token (ValueError: "created in a
different Context") and a nested binding would leave the context set: each binding therefore
enters a shallow copy of the context (same connections, same app registry, a token of its
own). tests/core/store/test_db.py holds this to concurrent and nested use.

Every connection the store opens is closed by `close()`, and by an `open()` that fails (a
database from a newer version, a migration that fails): aiosqlite runs each connection on a
worker thread that is not a daemon, so one left open kept the process from exiting, and a
PostgreSQL pool left open keeps its server sessions. A `Database` serves the event loop that
opened it: on another loop Tortoise would silently open a second connection in place of the
first (its "loop switch") and leave the first one open, so `bound()` refuses that with a clear
error instead (tests/core/store/test_db_close.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.context import TortoiseContext

from pbpm_desktop.core.store import migrations, schema
from pbpm_desktop.core.store import models as store_models
from pbpm_desktop.core.store.schema_lock import schema_lock
from pbpm_desktop.core.store.usage import UsageRepository

log = logging.getLogger(__name__)


class DatabaseBusy(RuntimeError):
    """The database stayed locked past its busy timeout."""


class WrongLoop(RuntimeError):
    """A query on an event loop other than the one that opened the database."""


class Database:
    """One database: its own Tortoise context, the schema migrations, the binding for queries."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ctx = TortoiseContext()
        #: the client open() made, and the loop it serves; closed by close() whatever
        #: context or loop that runs in
        self._client: BaseDBAsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: the audit's read side, binding its own context (store/usage.py)
        self.usage = UsageRepository(self)

    @contextlib.contextmanager
    def bound(self) -> Iterator[None]:
        """Run the ORM queries inside the `with` block against this database."""
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            raise WrongLoop(
                "this database was opened on another event loop: query it from that loop "
                "(for another thread, asyncio.run_coroutine_threadsafe onto it)"
            )
        with copy.copy(self._ctx):
            yield

    def client(self) -> BaseDBAsyncClient:
        """Tortoise's client for raw SQL (doctor's schema check, the copy tool); after open()."""
        return self._ctx.db()

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite://")

    @property
    def _sqlite_path(self) -> Path | None:
        """The database file (None for PostgreSQL and `sqlite://:memory:`)."""
        if not self.is_sqlite or self.url == "sqlite://:memory:":
            return None
        return Path(self.url.removeprefix("sqlite://"))

    async def open(self, *, migrate: bool = True) -> None:
        """Connect; with `migrate` (every start) also create and migrate the schema.

        `migrate=False` only connects: `pbpm-desktop doctor` inspects a database without
        changing it. If anything fails (or the open is cancelled), the connection is closed
        before the error propagates.
        """
        try:
            await self._open(migrate)
        except BaseException:
            await self.close()
            raise

    async def _open(self, migrate: bool) -> None:
        path = self._sqlite_path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            make_private(path)
        # open() runs in one task, before any query: the context itself, not a copy (its
        # connections are only made here)
        with self._ctx:
            if self.is_sqlite:
                # The whole start under the lock on SQLite: the first switch of an old file to
                # WAL needs it alone, and a connection starting meanwhile gets "database is
                # locked" at once (SQLite skips its busy wait there). Starts take milliseconds.
                async with schema_lock(self.url, None):
                    conn = await self._connect()
                    await conn.execute_script(
                        "PRAGMA busy_timeout=5000; PRAGMA synchronous=NORMAL;"
                    )
                    if migrate:  # (doctor changes nothing, not even the journal mode)
                        # WAL lets the CLI and dashboards read while the gateway writes.
                        await conn.execute_script("PRAGMA journal_mode=WAL;")
                        await self._migrate()
                if path is not None:
                    make_private(path)
                return
            conn = await self._connect()
            if migrate:
                # one process at a time, so gateways starting together on one database all
                # succeed
                async with schema_lock(self.url, conn):
                    await self._migrate()

    async def _connect(self) -> BaseDBAsyncClient:
        """Initialise the context; its one client, kept so close() can always reach it."""
        self._loop = asyncio.get_running_loop()
        await self._ctx.init(db_url=self.url, modules=self._modules())
        self._client = self._ctx.db()
        return self._client

    @staticmethod
    def _modules() -> dict[str, Iterable[str | ModuleType]]:
        return {"models": [store_models.__name__]}

    async def _migrate(self) -> None:
        """Apply the pending migrations (under the schema lock); a SQLite file that holds
        data is copied first."""
        conn = self._ctx.db()
        version = await migrations.current_version(conn)
        await migrations.check_known(conn, version)
        todo = migrations.pending(version)
        if not todo:
            return
        path = self._sqlite_path
        if path is not None and version > 0:  # an empty database has nothing to keep
            await schema.backup_sqlite(conn, path)
        await migrations.apply(conn, todo)

    async def schema_version(self) -> int:
        """The schema version of the open database (`pbpm-desktop doctor`)."""
        return await migrations.current_version(self._ctx.db())

    async def close(self) -> None:
        """Close the connection (a no-op when none is open; safe to call twice)."""
        client, self._client = self._client, None
        if client is not None:
            # the client itself, not only what Tortoise's storage holds in this task's
            # context: a close from another context or loop reaches it too
            await client.close()
        if self._loop is None or self._loop is asyncio.get_running_loop():
            # Tortoise's bookkeeping (on another loop it would make a fresh client to close)
            with self._ctx:
                await self._ctx.close_connections()


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
