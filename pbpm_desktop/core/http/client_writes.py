"""Writes to a client with a deadline: one that stops reading is cut, not waited on for ever.

aiohttp's `StreamResponse.write` waits (drain) while the socket's send buffer is full, with no
timeout; a client that stopped reading kept its request, and so its model, in use for as long
as it held the connection, and every swap waited on it, for every key. `GuardedWriter` aborts
the client's connection when one write has waited `limit` seconds; aiohttp then cancels the
handler, the audit records `client_closed` and the VRAM gate lets the model go.

One timer per stream, not one per write: it wakes every `limit` seconds (and at the deadline
of a write in progress), so a stream of quick writes costs a clock reading and two attribute
stores per chunk. The relay's loops store `since` themselves around `response.write` (one
coroutine per chunk instead of two); `write` does the same for the other callers.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

log = logging.getLogger(__name__)


class GuardedWriter:
    __slots__ = ("_handle", "_limit", "_loop", "_request", "_response", "clock", "since", "tripped")

    def __init__(
        self,
        request: web.Request,
        response: web.StreamResponse,
        limit: float,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._request = request
        self._response = response
        self._limit = limit
        self._loop = loop or asyncio.get_running_loop()
        self.clock = self._loop.time
        self.since = 0.0  # loop time the pending write started; 0 when none is pending
        self.tripped = False
        self._handle: asyncio.TimerHandle | None = None
        if limit > 0:  # 0: no deadline
            self._handle = self._loop.call_at(self.clock() + limit, self._check)

    async def write(self, data: bytes) -> None:
        self.since = self.clock()
        await self._response.write(data)
        self.since = 0.0

    def _check(self) -> None:
        now = self.clock()
        since = self.since
        if not since:  # no write waiting: look again in `limit`
            self._handle = self._loop.call_at(now + self._limit, self._check)
            return
        due = since + self._limit
        if now < due:
            self._handle = self._loop.call_at(due, self._check)
            return
        self._handle = None
        self.tripped = True
        log.info("cut %s: it took no response bytes for %gs", self._request.remote, self._limit)
        transport = self._request.transport
        if transport is not None:
            transport.abort()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
