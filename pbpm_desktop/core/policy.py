"""Per-key limits: allowed models, expiry, requests per minute, concurrent streams, tokens/day.

All state is in memory on the gateway loop (no database round trip on the hot path). The
tokens-per-day counter is seeded from the audit on a key's first limited request after start.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pbpm_desktop.core.audit import AuditWriter
from pbpm_desktop.core.keys import KeyInfo


class PolicyRefusal(Exception):
    """The key may not make this request now. `retry_after` (seconds) for 429s."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class PolicyEnforcer:
    def __init__(
        self, audit: AuditWriter, tokens_since: Callable[[int, datetime], Awaitable[int]]
    ) -> None:
        self.audit = audit
        self._tokens_since = tokens_since
        self._hits: dict[int, deque[float]] = {}
        self._streams: dict[int, int] = {}

    def check_model(self, key: KeyInfo, model: str, cloud: bool = False) -> None:
        """Raise PolicyRefusal(403) if `key` may not use `model` at all."""
        if not key.allows_model(model):
            allowed = ", ".join(sorted(key.models))
            raise PolicyRefusal(
                403, f"this key may not use model '{model}' (allowed: {allowed}); ask the admin"
            )
        if cloud and not key.cloud:
            raise PolicyRefusal(
                403,
                f"model '{model}' is an Ollama cloud model: it runs on ollama.com under the "
                "workstation owner's account, and this key may not use cloud models; ask the "
                "admin to allow cloud for this key",
            )

    async def admit(self, key: KeyInfo, model: str, cloud: bool = False) -> None:
        """Raise PolicyRefusal if `key` may not start a request for `model` now."""
        self.check_model(key, model, cloud)
        if key.rpm:
            now = time.monotonic()
            hits = self._hits.setdefault(key.id, deque())
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= key.rpm:
                wait = math.ceil(60 - (now - hits[0]))
                raise PolicyRefusal(
                    429, f"rate limit: {key.rpm} requests per minute for this key", max(wait, 1)
                )
            hits.append(now)
        if key.max_streams and self._streams.get(key.id, 0) >= key.max_streams:
            raise PolicyRefusal(
                429, f"this key already has {key.max_streams} requests running; wait for one", 1
            )
        if key.tokens_per_day:
            used = self.audit.tokens_today(key.id)
            if used is None:
                midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                self.audit.seed_tokens_today(key.id, await self._tokens_since(key.id, midnight))
                used = self.audit.tokens_today(key.id) or 0
            if used >= key.tokens_per_day:
                now = datetime.now(UTC)
                tomorrow = (
                    now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() + 86400
                )
                raise PolicyRefusal(
                    429,
                    f"daily token quota of {key.tokens_per_day} used up; it resets at 00:00 UTC",
                    max(1, int(tomorrow - now.timestamp())),
                )

    def stream_started(self, key_id: int) -> None:
        self._streams[key_id] = self._streams.get(key_id, 0) + 1

    def stream_ended(self, key_id: int) -> None:
        left = self._streams.get(key_id, 1) - 1
        if left > 0:
            self._streams[key_id] = left
        else:
            self._streams.pop(key_id, None)
