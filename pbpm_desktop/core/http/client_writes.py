"""Writes to a client with a deadline: one that stops reading is cut, not waited on for ever.

aiohttp's `StreamResponse.write` waits (drain) while the socket's send buffer is full, with no
timeout; a client that stopped reading kept its request, and so its model, in use for as long
as it held the connection, and every swap waited on it, for every key. `GuardedWriter` aborts
the client's connection when one write has waited `limit` seconds; aiohttp then cancels the
handler, the audit records `client_closed` and the VRAM gate lets the model go.

The timer is lazy (one handle re-armed only when it fires early), so a stream of quick writes
costs two attribute stores per chunk, not a timer each.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

log = logging.getLogger(__name__)


class GuardedWriter:
    __slots__ = ("_handle", "_limit", "_loop", "_request", "_response", "_since", "tripped")

    def __init__(self, request: web.Request, response: web.StreamResponse, limit: float) -> None:
        self._request = request
        self._response = response
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        self._since = 0.0  # loop time the pending write started; 0 when none is pending
        self._handle: asyncio.TimerHandle | None = None
        self.tripped = False

    async def write(self, data: bytes) -> None:
        since = self._since = self._loop.time()
        if self._handle is None and self._limit > 0:  # 0: no deadline
            self._handle = self._loop.call_at(since + self._limit, self._check)
        await self._response.write(data)
        self._since = 0.0

    def _check(self) -> None:
        self._handle = None
        since = self._since
        if not since:
            return  # no write waiting: the next one arms the timer again
        due = since + self._limit
        if self._loop.time() < due:
            self._handle = self._loop.call_at(due, self._check)
            return
        self.tripped = True
        log.info("cut %s: it took no response bytes for %gs", self._request.remote, self._limit)
        transport = self._request.transport
        if transport is not None:
            transport.abort()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
