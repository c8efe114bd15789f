"""Daily token quotas that hold under concurrency: reservations, caps and a cut-off.

`tokens_per_day` used to be checked only when a request started, against what finished
requests had used: 15 concurrent requests on a 30-token quota used 160, and one request with
`num_predict: 300` used 302 (issue 9). Now each admitted request holds a *grant*:

* its prompt, estimated from the request (`estimate_prompt_tokens`), plus the completion it
  may produce are reserved until it ends, so concurrent requests see each other;
* a request that names a cap (`num_predict` on native routes, `max_tokens` on `/v1`, which
  Ollama maps to `num_predict`: openai/openai.go:656, :805) reserves that cap, lowered to
  what is left;
* a request that names no cap reserves a bounded step (`QUOTA_RESERVE_TOKENS`, 1024) instead
  of everything left, so a key's uncapped requests run side by side (reserving all that was
  left refused 2 of 3 concurrent uncapped requests on a roomy quota). A stream's reservation
  grows by a step each time its chunks reach it, while the day's remainder allows; when
  nothing more can be reserved the stream is cut (`QuotaCut`), as is a capped stream that goes
  past its cap (an upstream that ignores it). Streams therefore never pass the quota;
* a non-streamed uncapped request cannot be cut mid-answer: its `num_predict` is capped to
  what was left when it started (so alone it never passes the quota), and it reserves one
  step. Its answer beyond the step is unreserved: the day total can pass the quota by at most
  the sum, over such requests running at the same time, of (their cap - the step). README's
  Security section states this; `QUOTA_RESERVE_TOKENS=0` reserves everything left for them
  (the strict, one-at-a-time behaviour).

The key's day total is loaded from the database once per key (concurrent first requests
after a restart share one load, `AuditWriter.load_tokens_today`).
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pbpm_desktop.core.accounting.audit import AuditWriter
from pbpm_desktop.core.upstream.client import OllamaError

#: template tokens around each message or prompt (role markers, BOS...); Ollama's templates
#: add a few per message, so does the simulator (`MESSAGE_OVERHEAD_TOKENS`)
MESSAGE_OVERHEAD = 4
#: request fields whose text reaches the model as prompt
_TEXT_FIELDS = ("prompt", "system", "suffix", "input", "instructions")


class QuotaRefusal(Exception):
    """Raised by `QuotaBook.reserve`; turned into PolicyRefusal(429) by the caller."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class QuotaCut(OllamaError):
    """A stream passed its share of the quota. An OllamaError, so the relay ends it in-stream."""

    def __init__(self, cap: int) -> None:
        super().__init__(429, f"stopped after {cap} tokens: the key's daily token quota is used up")


def text_tokens(text: str) -> int:
    """A deliberately generous token estimate: the larger of words and UTF-8 bytes / 4."""
    if not text:
        return 0
    by_bytes = math.ceil(len(text.encode("utf-8", "replace")) / 4)
    words = text.count(" ") + text.count("\n") + 1  # no list of words for a 28 MB prompt
    return max(by_bytes, words)


def _texts(value: Any) -> int:
    """Tokens of a string, a list of strings or OpenAI content parts."""
    if isinstance(value, str):
        return text_tokens(value)
    if isinstance(value, list):
        total = 0
        for item in value:
            if isinstance(item, dict):
                total += _texts(item.get("text") or item.get("content"))
            else:
                total += _texts(item)
        return total
    return 0


def estimate_prompt_tokens(payload: dict[str, Any]) -> int:
    """Prompt tokens of a request as Ollama would count them, estimated without a tokenizer.

    Used to reserve quota before a request runs and to record a request whose final counts
    never arrived (a client gone early, `/api/embeddings`, which reports none).
    """
    total = 0
    messages = payload.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                total += _texts(message.get("content")) + MESSAGE_OVERHEAD
    for name in _TEXT_FIELDS:
        value = payload.get(name)
        if value:
            total += _texts(value) + (MESSAGE_OVERHEAD if name in ("prompt", "system") else 0)
    return max(total, 1)


def requested_completion(payload: dict[str, Any], openai: bool) -> int | None:
    """The completion cap the client asked for (None: unlimited, as Ollama's default -1)."""
    if openai:
        value = payload.get("max_tokens")
    else:
        options = payload.get("options")
        value = options.get("num_predict") if isinstance(options, dict) else None
    if type(value) is not int or value <= 0:  # -1 / -2: until the context is full
        return None
    return value


#: what `QUOTA_RESERVE_TOKENS` defaults to: a step of an uncapped request's reservation
DEFAULT_STEP = 1024


@dataclass(slots=True)
class Grant:
    """One running request's share of its key's daily quota."""

    key_id: int
    limit: int  # the key's tokens_per_day
    reserved: int  # prompt estimate + completion reserved, held until the request ends
    cap: int | None  # completion tokens reserved so far (None: no completion)
    sent_cap: int | None  # num_predict / max_tokens to write into the request (None: as sent)
    book: QuotaBook | None = None  # set for a stream that may grow its reservation

    def fields(self, payload: dict[str, Any], openai: bool) -> dict[str, Any]:
        """Request fields that carry the cap upstream (merged with the client's options)."""
        if self.sent_cap is None:
            return {}
        if openai:
            return {"max_tokens": self.sent_cap}
        options = payload.get("options")
        merged = dict(options) if isinstance(options, dict) else {}
        merged["num_predict"] = self.sent_cap
        return {"options": merged}

    def grow(self) -> bool:
        """Reserve one more step for a stream that reached its reservation; False if none left."""
        if self.book is None or self.cap is None:
            return False
        added = self.book.extend(self)
        self.cap += added
        return added > 0


#: the chunk cap of a stream without a quota: never reached
NO_CAP = sys.maxsize


class StreamBudget:
    """A stream's quota cut-off: `cap` is the chunk count it may reach before `reached` must
    grow its grant (an uncapped stream, a step at a time) or cut it (QuotaCut).

    One chunk is one token in Ollama's streams (NDJSON `"done":false` lines, SSE deltas).
    Not a wrapper around the tracker: the relay compares the tracker's count with `cap` after
    each chunk (one comparison, NO_CAP without a quota), so a stream pays a call only when it
    reaches its reservation; a wrapper cost a call and two attribute look-ups per chunk.
    """

    __slots__ = ("_grant", "cap", "cut")

    def __init__(self, grant: Grant) -> None:
        self._grant = grant
        self.cap = grant.cap or 0
        self.cut = False

    def reached(self, chunks: int) -> int:
        """The stream has `chunks` chunks, past `cap`: the new cap, or raise QuotaCut."""
        grant = self._grant
        while chunks > self.cap:
            if not grant.grow():
                self.cut = True
                raise QuotaCut(self.cap)
            self.cap = grant.cap or 0
        return self.cap


class QuotaBook:
    """Reservations per key, on the gateway loop (no locks: nothing here awaits mid-update).

    `step` is `QUOTA_RESERVE_TOKENS`: what a request that names no completion cap reserves at
    a time (0: everything left, the strict one-at-a-time rule).
    """

    def __init__(
        self,
        audit: AuditWriter,
        tokens_since: Callable[[int, datetime], Awaitable[int]],
        step: int = DEFAULT_STEP,
    ) -> None:
        self.audit = audit
        self.step = step
        self._tokens_since = tokens_since
        self._reserved: dict[int, int] = {}
        self._loading: dict[int, asyncio.Future[int]] = {}

    def reserved(self, key_id: int) -> int:
        return self._reserved.get(key_id, 0)

    async def used_today(self, key_id: int) -> int:
        """The key's tokens since 00:00 UTC, loaded from the database once per key."""
        used = self.audit.tokens_today(key_id)
        if used is not None:
            return used
        loading = self._loading.get(key_id)
        if loading is None:
            loading = asyncio.ensure_future(
                self.audit.load_tokens_today(key_id, self._tokens_since)
            )
            self._loading[key_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(key_id, None))
        await asyncio.shield(loading)
        return self.audit.tokens_today(key_id) or 0

    async def reserve(
        self,
        key_id: int,
        limit: int,
        prompt: int,
        completion: int | None,
        generates: bool,
        streaming: bool = False,
    ) -> Grant:
        """Reserve `prompt` plus the completion (see the module docstring), or QuotaRefusal."""
        await self.used_today(key_id)
        used = self.audit.tokens_today(key_id) or 0  # read after the await: current
        if used >= limit:
            raise QuotaRefusal(
                f"daily token quota of {limit} used up; it resets at 00:00 UTC", _to_midnight()
            )
        left = limit - used - self.reserved(key_id)
        room = left - prompt
        if room < (1 if generates else 0):
            if self.reserved(key_id):
                raise QuotaRefusal(
                    f"this key's running requests hold the {max(left, 0) + self.reserved(key_id)}"
                    f" tokens left of its daily quota of {limit}; retry when they finish, or ask "
                    "for fewer tokens (num_predict / max_tokens)",
                    1,
                )
            raise QuotaRefusal(
                f"this request needs about {prompt} tokens but {left} are left of the daily "
                f"quota of {limit}; it resets at 00:00 UTC",
                _to_midnight(),
            )
        grant = Grant(key_id, limit, prompt, None, None)
        if generates:
            if completion is not None:  # the client's cap, lowered to what is left
                grant.cap = min(completion, room)
                grant.sent_cap = grant.cap if completion > room else None
            elif not self.step:  # strict: all that is left, written into the request
                grant.cap = grant.sent_cap = room
            elif streaming:  # a step now, more as it flows; the budget cuts it at the end
                grant.cap = min(room, self.step)
                grant.book = self
            else:  # cannot be cut mid-answer: capped at what is left, one step reserved
                grant.cap = min(room, self.step)
                grant.sent_cap = room
            grant.reserved += grant.cap
        self._reserved[key_id] = self.reserved(key_id) + grant.reserved
        return grant

    def extend(self, grant: Grant) -> int:
        """Add up to one step to a running grant's reservation, as far as the day allows."""
        used = self.audit.tokens_today(grant.key_id) or 0
        added = min(self.step, grant.limit - used - self.reserved(grant.key_id))
        if added <= 0:
            return 0
        grant.reserved += added
        self._reserved[grant.key_id] = self.reserved(grant.key_id) + added
        return added

    def release(self, grant: Grant) -> None:
        left = self._reserved.get(grant.key_id, 0) - grant.reserved
        if left > 0:
            self._reserved[grant.key_id] = left
        else:
            self._reserved.pop(grant.key_id, None)


def _to_midnight() -> int:
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() + 86400
    return max(1, int(midnight - now.timestamp()))
