"""One proxied request's bookkeeping: its audit record, its quota grant, its trackers.

`Exchange.audited` makes sure every request is recorded exactly once however it ends (done,
refused, cut, client gone); when no final counts arrived it records estimated ones.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from pbpm_desktop.core.access.quota import (
    NO_CAP,
    Grant,
    StreamBudget,
    estimate_prompt_tokens,
)
from pbpm_desktop.core.accounting.audit import AuditEntry
from pbpm_desktop.core.http.auth import client_key
from pbpm_desktop.core.http.context import GatewayContext

_Tracker = TypeVar("_Tracker")


@dataclass(slots=True)
class Exchange:
    """Book-keeping of one proxied request, turned into its audit record at the end.

    When a request reached Ollama but no final counts came back (the client left, the
    upstream was cut, `/api/embeddings` reports none), the record's tokens are estimated
    from the request (`payload`) and the chunks seen, and marked `estimated` (DESIGN.md §5).
    """

    request: web.Request
    route: str
    model: str = ""
    started: float = field(default_factory=time.perf_counter)
    first_byte: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    status: str = "ok"
    payload: dict[str, Any] | None = None  # the parsed request, for estimates
    sent: bool = False  # the request went to Ollama
    counted: bool = False  # Ollama's own token counts arrived
    grant: Grant | None = None  # the request's share of a daily quota
    tracker: Any = None  # the stream tracker, which knows whether final counts came
    budget: StreamBudget | None = None  # the tracker's quota cut-off, if any

    def watch(self, tracker: _Tracker) -> int:
        """Keep the stream tracker; the chunk count at which the relay must call
        `budget.reached` (NO_CAP without a quota)."""
        self.tracker = tracker
        if self.grant is not None and self.grant.cap is not None:
            self.budget = StreamBudget(self.grant)
            return self.budget.cap
        return NO_CAP

    @property
    def cut(self) -> bool:
        """The stream was stopped because it passed the key's daily quota."""
        return self.budget is not None and self.budget.cut

    def audited(self, ctx: GatewayContext) -> _Audited:
        """Write this exchange's audit record however the request ends.

        A client that leaves (cancellation, reset) is `client_closed`; an error carries its
        HTTP status; the record is written in every case. A plain context manager class, not
        `@contextmanager`: this runs on every request, and a generator costs more.
        """
        return _Audited(self, ctx)

    def finish(self, ctx: GatewayContext) -> None:
        key = client_key(self.request)
        now = time.perf_counter()
        estimated = self._estimate()
        ctx.audit.record(
            AuditEntry(
                key_id=key.id,
                key_prefix=key.prefix,
                owner=key.owner,
                model=self.model,
                route=self.route,
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                status=self.status,
                duration_ms=(now - self.started) * 1e3,
                ttft_ms=None if self.first_byte is None else (self.first_byte - self.started) * 1e3,
                client=self.request.remote or "",
                estimated=estimated,
            )
        )

    def _estimate(self) -> bool:
        """Fill in estimated counts if Ollama ran the request but reported none; True if so."""
        tracker = self.tracker
        if tracker is not None:
            self.counted = (
                getattr(tracker, "final", None) is not None
                or getattr(tracker, "usage", None) is not None
            )
        # refused by Ollama, or never reached it (unreachable, no room): nothing ran
        refused = (self.status[:1] == "4" and not self.cut) or self.status in ("502", "503")
        if not self.sent or self.counted or self.payload is None or refused:
            return False
        self.prompt_tokens = max(self.prompt_tokens, estimate_prompt_tokens(self.payload))
        return True


class _Audited:
    """`Exchange.audited`'s context manager."""

    __slots__ = ("_ctx", "_exchange")

    def __init__(self, exchange: Exchange, ctx: GatewayContext) -> None:
        self._exchange = exchange
        self._ctx = ctx

    def __enter__(self) -> Exchange:
        return self._exchange

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        exchange = self._exchange
        try:
            if exc is None:
                pass
            elif isinstance(exc, asyncio.CancelledError | ConnectionResetError):
                exchange.status = "client_closed"
            elif isinstance(exc, web.RequestPayloadError):  # a body its encoding can't decode
                exchange.status = "400"
            elif isinstance(exc, Exception):
                exchange.status = str(getattr(exc, "status", 500))
        finally:
            exchange.finish(self._ctx)
