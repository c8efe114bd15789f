"""Token audit: one record per proxied request, written in batches off the response path.

`record()` only appends to an in-memory list, so a response never waits on the database.
A background task flushes every `interval` seconds (or sooner when a batch fills). With a
`journal` path each record is also appended to an append-only file as it is queued, and what
the database did not get is replayed at the next start, so a SIGKILL loses nothing that was
answered (core/accounting/journal.py and README "Token audit" have the measurements: writing
sooner instead does not help, a burst ends faster than one commit). A flush that
fails because the database is busy or down keeps the records and retries, so nothing is lost;
`stop()` flushes what is left. Counters per key and day feed the `tokens_per_day` policy.

The writer cannot be poisoned (issue 9): a batch the database refuses for another reason
than being busy is written again with every value made storable (strings valid UTF-8,
integers clamped to the column, floats finite: core/store/audit_rows.py), then, if it still
fails, row by row, and only the row that still fails is set aside (logged, counted in
`rejected`); the queue is bounded (`max_pending`): beyond it new records are dropped and
counted in `dropped`, both shown by `GET /admin/status`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tortoise.exceptions import IntegrityError, OperationalError

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.accounting.journal import AuditJournal
from pbpm_desktop.core.events import EventBus
from pbpm_desktop.core.store import Database
from pbpm_desktop.core.store.audit_rows import INT64_MAX
from pbpm_desktop.core.store.audit_rows import insert_many as _insert_many
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
    #: no final counts arrived (client gone, upstream cut, a route that reports none): the
    #: token counts were estimated from the request and what was streamed
    estimated: bool = False

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
        max_pending: int = 200_000,
        journal: Path | None = None,
    ) -> None:
        self.db = db
        self.events = events
        self.interval = interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        self._journal = AuditJournal(journal) if journal is not None else None
        self.replayed = 0  # records recovered from the journal at start
        self._pending: list[AuditEntry] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one flush at a time (see flush)
        self._inflight: asyncio.Future[bool] | None = None  # the write running (see _write_batch)
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.failed_flushes = 0
        self.dropped = 0  # records given up on: queue full, or unwritable at shutdown
        self.rejected = 0  # records the database refused even alone (set aside, logged)
        self._tokens_today: dict[int, int] = {}
        self._day = datetime.now(UTC).date()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def stats(self) -> dict[str, int]:
        """The writer's counters, for `GET /admin/status` and the logs."""
        return {
            "pending": len(self._pending),
            "written": self.written,
            "failed_flushes": self.failed_flushes,
            "dropped": self.dropped,
            "rejected": self.rejected,
        }

    def record(self, entry: AuditEntry) -> None:
        """Queue a record (never blocks, never raises)."""
        if entry.key_id is not None:
            if entry.created_at.date() != self._day:  # cheaper than asking the clock each time
                self._roll_day()
            used = self._tokens_today.get(entry.key_id)
            if used is not None:  # unseeded keys: counted when seeded (see seed_tokens_today)
                self._tokens_today[entry.key_id] = used + _tokens_of(entry)
        if len(self._pending) >= self.max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "audit: queue full (%d records, database down?); %d records dropped so far",
                    len(self._pending),
                    self.dropped,
                )
        else:
            self._pending.append(entry)
            if self._journal is not None:
                self._journal.append(entry)
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

    async def load_tokens_today(
        self, key_id: int, stored: Callable[[int, datetime], Awaitable[int]]
    ) -> int:
        """Seed the key's counter from the database: what is stored plus what is queued.

        The writer's lock is held during the query, so no record moves from the queue to the
        database meanwhile: each is counted exactly once. Records for an unseeded key are not
        counted by `record()` (they are in the queue or the database by now), which is what
        made a key's day total count twice after a restart. Callers make it one load per key
        (core/access/quota.py); a key already seeded is returned as it is.
        """
        async with self._lock:
            self._roll_day()
            if key_id in self._tokens_today:
                return self._tokens_today[key_id]
            midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            total = await stored(key_id, midnight)
            total += sum(
                _tokens_of(e)
                for e in self._pending
                if e.key_id == key_id and e.created_at >= midnight
            )
            self._roll_day()
            self._tokens_today[key_id] = total
            return total

    def _roll_day(self) -> None:
        today = datetime.now(UTC).date()
        if today != self._day:
            self._day = today
            self._tokens_today.clear()

    async def start(self) -> None:
        if self._journal is not None and self._task is None:
            await self._replay(self._journal.open(AuditEntry))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def _replay(self, left: list[AuditEntry]) -> None:
        """Queue the journal's records the database does not have yet, then write them."""
        if not left:
            return
        first = min(e.created_at for e in left)
        last = max(e.created_at for e in left)
        with self.db.bound():
            rows = await UsageRecord.filter(
                created_at__gte=first, created_at__lte=last
            ).values_list("created_at", "key_id", "route", "duration_ms")
        stored = {(c.timestamp(), k, r, d) for c, k, r, d in rows}
        missing = [
            e
            for e in left
            if (e.created_at.timestamp(), e.key_id, e.route, e.duration_ms) not in stored
        ]
        self.replayed = len(missing)
        if missing:
            log.warning("audit: %d records recovered from the journal", len(missing))
        self._pending[:0] = missing
        await self.flush()

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
                self._close_journal()
                return
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        if self._journal is not None:
            log.error(
                "audit: %d records could not be written at shutdown; "
                "the journal keeps them for the next start",
                len(self._pending),
            )
        else:
            self.dropped += len(self._pending)
            log.error("audit: %d records could not be written at shutdown", len(self._pending))
        self._close_journal()

    def _close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()

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
        except Exception as exc:
            if _transient(exc):  # busy/locked/down: keep the batch, retry later
                self.failed_flushes += 1
                log.warning("audit: write failed (%s); will retry", type(exc).__name__)
                return False
            try:  # a value the database refuses: once more with every value made storable
                with self.db.bound():
                    await _insert_many(batch, sanitize=True)
            except Exception as again:
                if _transient(again):
                    self.failed_flushes += 1
                    return False
                return await self._commit_rows(batch, again)
        del self._pending[: len(batch)]
        self.written += len(batch)
        if self._journal is not None:
            self._journal.reset(self._pending)
        log.debug("audit: wrote %d in %.1f ms", len(batch), (time.perf_counter() - started) * 1e3)
        return True

    async def _commit_rows(self, batch: list[AuditEntry], first: Exception) -> bool:
        """The batch was refused even sanitised: write it row by row, set aside what fails.

        Values are made storable (`insert_many(sanitize=True)`), so this is the last line of
        defence against a value no one foresaw. A transient error here stops the pass: the
        rows not yet written stay queued for the next flush, in order.
        """
        log.warning("audit: a batch was refused (%s); writing it row by row", type(first).__name__)
        done = 0
        try:
            for entry in batch:
                try:
                    with self.db.bound():
                        await _insert_many([entry], sanitize=True)
                except Exception as exc:
                    if _transient(exc):
                        self.failed_flushes += 1
                        return False
                    self.rejected += 1
                    log.error(
                        "audit: record set aside, the database refuses it (%s: %s): %r",
                        type(exc).__name__,
                        exc,
                        entry,
                    )
                else:
                    self.written += 1
                done += 1
            return True
        finally:
            del self._pending[:done]
            if self._journal is not None:
                self._journal.reset(self._pending)

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


def _tokens_of(entry: AuditEntry) -> int:
    total = 0
    for value in (entry.prompt_tokens, entry.completion_tokens):
        if isinstance(value, int) and value > 0:
            total += min(value, INT64_MAX)
    return total


def _transient(exc: Exception) -> bool:
    """Could the same write succeed later (locked, busy, connection lost)? Else the data is bad."""
    if isinstance(exc, IntegrityError):
        return False
    return isinstance(exc, (OperationalError, ConnectionError, OSError, TimeoutError))
