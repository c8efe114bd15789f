"""Per-key limits: allowed models, expiry, requests per minute, concurrent streams, tokens/day.

All state is in memory on the gateway loop (no database round trip on the hot path). The
tokens-per-day bookkeeping (reservations, caps, the day total loaded once per key) is in
core/access/quota.py.

Order matters (issue 9): `charge` counts the request against `rpm` before anything can
refuse it, so refused requests (403/404) are rate limited too; `check_model` runs before the
model is resolved, so a scoped key gets the same 403 for a model it may not use whether that
model is installed or not; `admit_request` takes the `max_streams` slot before its first await,
so a burst cannot pass the check while an earlier request awaits its quota.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime

from pbpm_desktop.core.access.keys import KeyInfo
from pbpm_desktop.core.access.quota import DEFAULT_STEP, Grant, QuotaBook, QuotaRefusal
from pbpm_desktop.core.accounting.audit import AuditWriter
from pbpm_desktop.core.errors import GatewayError


class PolicyRefusal(GatewayError):
    """The key may not make this request now. `retry_after` (seconds) for 429s."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message, status, retry_after=retry_after)


class PolicyEnforcer:
    def __init__(
        self,
        audit: AuditWriter,
        tokens_since: Callable[[int, datetime], Awaitable[int]],
        quota_step: int = DEFAULT_STEP,
    ) -> None:
        self.audit = audit
        self.quota = QuotaBook(audit, tokens_since, quota_step)
        self._hits: dict[int, deque[float]] = {}
        self._streams: dict[int, int] = {}

    def charge(self, key: KeyInfo) -> None:
        """Count one request against the key's `rpm`; raise PolicyRefusal(429) past it."""
        if not key.rpm:
            return
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

    def check_model(self, key: KeyInfo, model: str, cloud: bool = False) -> None:
        """Raise PolicyRefusal(403) unless the key may use `model` (as named or resolved).

        A cloud model also needs the key's `cloud` policy: it runs on ollama.com under the
        workstation owner's account.
        """
        allowed_name = key.allows_model(model) or (
            ":" not in model and key.allows_model(model + ":latest")
        )
        if not allowed_name:
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
        """For model actions (preload/unload): the model, the rate and a quota not used up."""
        self.check_model(key, model, cloud)
        self.charge(key)
        if key.tokens_per_day:
            try:
                grant = await self.quota.reserve(key.id, key.tokens_per_day, 0, None, False)
            except QuotaRefusal as exc:
                raise PolicyRefusal(429, exc.message, exc.retry_after) from exc
            self.quota.release(grant)

    async def admit_request(
        self,
        key: KeyInfo,
        prompt: int,
        completion: int | None,
        generates: bool,
        streaming: bool = False,
    ) -> Grant | None:
        """Take a stream slot and, for keys with a daily quota, a reservation (the Grant).

        `prompt` is the request's estimated prompt tokens, `completion` the cap it asked for,
        `streaming` whether its answer streams (a stream's reservation can grow as it flows).
        The caller must call `release(key, grant)` when the request ends (a plain pair of
        calls, not a context manager: this runs on every request).
        """
        if key.max_streams:
            if self._streams.get(key.id, 0) >= key.max_streams:
                raise PolicyRefusal(
                    429,
                    f"this key already has {key.max_streams} requests running; wait for one",
                    1,
                )
            self._streams[key.id] = self._streams.get(key.id, 0) + 1  # before any await
        if not key.tokens_per_day:
            return None
        try:
            return await self.quota.reserve(
                key.id, key.tokens_per_day, prompt, completion, generates, streaming
            )
        except QuotaRefusal as exc:
            self._stream_ended(key)
            raise PolicyRefusal(429, exc.message, exc.retry_after) from exc
        except BaseException:
            self._stream_ended(key)
            raise

    def release(self, key: KeyInfo, grant: Grant | None) -> None:
        """The request admitted by `admit_request` ended."""
        if grant is not None:
            self.quota.release(grant)
        self._stream_ended(key)

    def streams(self, key_id: int) -> int:
        return self._streams.get(key_id, 0)

    def _stream_ended(self, key: KeyInfo) -> None:
        if not key.max_streams:
            return
        left = self._streams.get(key.id, 1) - 1
        if left > 0:
            self._streams[key.id] = left
        else:
            self._streams.pop(key.id, None)
