"""Token audit: one record per proxied request, written in batches off the response path.

`record()` only appends to an in-memory list, so a response never waits on the database.
A background task flushes every `interval` seconds (or sooner when a batch fills); a flush
that fails (database busy or down) keeps the records and retries, so nothing is lost;
`stop()` flushes what is left. Counters per key and day feed the `tokens_per_day` policy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from tortoise.fields import CharField, FloatField, IntField

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.events import EventBus
from pbpm_desktop.core.store import Database
from pbpm_desktop.core.store.models import UsageRecord

log = logging.getLogger(__name__)


@dataclass(slots=True)
class AuditEntry:
    key_id: int | None
    key_prefix: str
    owner: str
    model: str
    route: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    status: str = "ok"  # "ok", an HTTP code, "client_closed", "upstream_error"
    duration_ms: float = 0.0
    ttft_ms: float | None = None
    client: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


class AuditWriter:
    def __init__(
        self,
        db: Database,
        events: EventBus | None = None,
        *,
        interval: float = 0.25,
        batch_size: int = 500,
    ) -> None:
        self.db = db
        self.events = events
        self.interval = interval
        self.batch_size = batch_size
        self._pending: list[AuditEntry] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one flush at a time (see flush)
        self._inflight: asyncio.Future[bool] | None = None  # the write running (see _write_batch)
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.failed_flushes = 0
        self.dropped = 0  # records given up on (only at shutdown, see stop)
        self._tokens_today: dict[int, int] = {}
        self._day = datetime.now(UTC).date()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, entry: AuditEntry) -> None:
        """Queue a record (never blocks, never raises)."""
        self._pending.append(entry)
        if entry.key_id is not None:
            if entry.created_at.date() != self._day:  # cheaper than asking the clock each time
                self._roll_day()
            used = entry.prompt_tokens + entry.completion_tokens
            self._tokens_today[entry.key_id] = self._tokens_today.get(entry.key_id, 0) + used
        if len(self._pending) >= self.batch_size:
            self._wake.set()
        if self.events is not None:
            self.events.publish(ev.REQUEST_DONE, entry)

    def tokens_today(self, key_id: int) -> int | None:
        """Tokens the key used today, or None if not yet known (seeded on first use)."""
        self._roll_day()
        return self._tokens_today.get(key_id)

    def seed_tokens_today(self, key_id: int, tokens: int) -> None:
        self._roll_day()
        self._tokens_today[key_id] = self._tokens_today.get(key_id, 0) + tokens

    def _roll_day(self) -> None:
        today = datetime.now(UTC).date()
        if today != self._day:
            self._day = today
            self._tokens_today.clear()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        """Stop the background task and flush everything still pending."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for attempt in range(20):
            if await self.flush():
                return
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        self.dropped += len(self._pending)
        log.error("audit: %d records could not be written at shutdown", len(self._pending))

    async def flush(self) -> bool:
        """Write everything pending, including what arrives meanwhile; True if none is left.

        Flushes are serialized: the API's flush-before-read and the background writer used
        to run at once, both writing the same head of the queue, then both deleting it, so
        records were written twice and as many others were dropped.
        """
        async with self._lock:
            while self._pending:
                if not await self._write_batch():
                    return False
            return True

    async def _tick(self) -> bool:
        """The background write: what is pending now, in batches of `batch_size`.

        Records that arrive during the write wait for the next tick instead of being chased
        with one small transaction after another: under load that chase turned one write per
        interval into dozens of tiny ones, each a round trip to the database thread.
        """
        async with self._lock:
            todo = len(self._pending)
            while todo > 0:
                size = min(todo, self.batch_size)
                if not await self._write_batch():
                    return False
                todo -= size
            return True

    async def _write_batch(self) -> bool:
        """Write the oldest pending records (the caller holds the lock).

        The write runs as its own task, shielded from the caller: a flush cancelled mid-write
        (`stop()` cancelling the background task, an admin client leaving during
        flush-before-read) must neither leave Tortoise's transaction open on the shared
        connection nor leave committed records pending, to be written twice. A later flush
        first waits for a write still running.
        """
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._commit_batch())
        return await asyncio.shield(self._inflight)

    async def _commit_batch(self) -> bool:
        batch = self._pending[: self.batch_size]
        started = time.perf_counter()
        try:
            with self.db.bound():
                await _insert_many(batch)
        except Exception as exc:  # busy/locked/down: keep the batch, retry later
            self.failed_flushes += 1
            log.warning("audit: write failed (%s); will retry", type(exc).__name__)
            return False
        del self._pending[: len(batch)]
        self.written += len(batch)
        log.debug("audit: wrote %d in %.1f ms", len(batch), (time.perf_counter() - started) * 1e3)
        return True

    async def _run(self) -> None:
        backoff = self.interval
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            except TimeoutError:
                pass
            self._wake.clear()
            ok = await self._tick()
            backoff = self.interval if ok else min(backoff * 2, 5.0)


async def _insert_many(batch: list[AuditEntry]) -> None:
    """One multi-row INSERT of `batch`, with the SQL and value conversion Tortoise would use.

    Strings longer than their column (a client may send any model name) are cut to fit:
    otherwise one record the ORM or the database refuses would fail every flush of its batch
    forever, and with it every later record.

    Why not `UsageRecord.bulk_create`: building a Model instance per record (field validation,
    deep copies of defaults) cost more than the database write itself; under load that was a
    tenth of the gateway's CPU, on the same loop that serves requests. Tortoise's executor
    still supplies the dialect's INSERT statement and, for every column that is not a plain
    string or number (the timestamp), the field's own `to_db_value`, so any database the
    gateway supports (SQLite, Postgres) gets the values bulk_create would send.
    """
    conn = UsageRecord._choose_db(True)
    executor = conn.executor_class(model=UsageRecord, db=conn)
    names = executor.regular_columns
    if any(name not in AuditEntry.__slots__ for name in names):
        # a column the entry does not carry: let the ORM apply its defaults
        await UsageRecord.bulk_create(
            [UsageRecord(**{n: getattr(e, n) for n in AuditEntry.__slots__}) for e in batch]
        )
        return
    fields_map = UsageRecord._meta.fields_map
    clips: list[tuple[int, int]] = []  # (column, max length) of string columns
    conversions: list[tuple[int, Any]] = []  # (column, to_db_value) of everything else
    for i, name in enumerate(names):
        field_obj = fields_map[name]
        kind = type(field_obj)
        if kind is CharField:
            clips.append((i, field_obj.max_length))
        elif kind not in (IntField, FloatField):
            conversions.append((i, field_obj.to_db_value))
    values_of = attrgetter(*names)
    rows = []
    for entry in batch:
        row = list(values_of(entry))
        for i, limit in clips:  # over-long strings are cut to the column (see _clip)
            value = row[i]
            if isinstance(value, str) and len(value) > limit:
                row[i] = value[:limit]
        for i, to_db in conversions:
            row[i] = to_db(row[i], UsageRecord)
        rows.append(row)
    await conn.execute_many(executor.insert_query, rows)
