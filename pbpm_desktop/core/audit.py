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
from typing import Any

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
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.failed_flushes = 0
        self._tokens_today: dict[int, int] = {}
        self._day = datetime.now(UTC).date()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, entry: AuditEntry) -> None:
        """Queue a record (never blocks, never raises)."""
        self._pending.append(entry)
        if entry.key_id is not None:
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
        log.error("audit: %d records could not be written at shutdown", len(self._pending))

    async def flush(self) -> bool:
        """Write pending records in one transaction; True if nothing is left pending."""
        while self._pending:
            batch = self._pending[: self.batch_size]
            started = time.perf_counter()
            try:
                with self.db.bound():
                    await UsageRecord.bulk_create([UsageRecord(**asdict(e)) for e in batch])
            except Exception as exc:  # busy/locked/down: keep the batch, retry later
                self.failed_flushes += 1
                log.warning("audit: write failed (%s); will retry", type(exc).__name__)
                return False
            del self._pending[: len(batch)]
            self.written += len(batch)
            log.debug(
                "audit: wrote %d in %.1f ms", len(batch), (time.perf_counter() - started) * 1e3
            )
        return True

    async def _run(self) -> None:
        backoff = self.interval
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            except TimeoutError:
                pass
            self._wake.clear()
            ok = await self.flush()
            backoff = self.interval if ok else min(backoff * 2, 5.0)
