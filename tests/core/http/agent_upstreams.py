"""Helpers for the Anthropic / Responses / CORS tests: audit polling and purpose-built upstreams.

`ScriptedSimulator` is the real simulator with chosen routes answered by a script instead:
an Ollama too old to know a route (Go's text/plain `404 page not found`), or a stream that
stops halfway until the test lets it go on (to see events arrive before the end).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.simulator import OllamaSimulator
from tests.conftest import GB, Gateway, make_settings, small_models

Script = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def records(gateway: Gateway, count: int = 1) -> list[dict[str, Any]]:
    """The newest audit records once `count` exist (a stream's record follows its last byte)."""
    for _ in range(200):
        await gateway.service.context.audit.flush()
        found = await gateway.service.usage_records()
        if len(found) >= count:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} audit records, found {len(found)}")


async def go_not_found(request: web.Request) -> web.Response:
    """What an Ollama without the route answers (Go's mux)."""
    return web.Response(status=404, text="404 page not found", content_type="text/plain")


class ScriptedSimulator(OllamaSimulator):
    """The simulator, with `scripts[path]` answering that path instead."""

    def __init__(self, scripts: dict[str, Script]) -> None:
        super().__init__(small_models(), vram_capacity=30 * GB, response_tokens=8)
        self.scripts = scripts

    def make_app(self) -> web.Application:
        app = super().make_app()

        @web.middleware
        async def scripted(request: web.Request, handler: Any) -> web.StreamResponse:
            script = self.scripts.get(request.path)
            return await (script(request) if script else handler(request))

        app.middlewares.append(scripted)
        return app


class HeldStream:
    """An SSE script that sends `head`, waits for `release`, then sends `tail`."""

    def __init__(self, head: bytes, tail: bytes) -> None:
        self.head, self.tail = head, tail
        self.release = asyncio.Event()

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(self.head)
        await self.release.wait()
        await response.write(self.tail)
        await response.write_eof()
        return response


@contextlib.asynccontextmanager
async def scripted_gateway(
    tmp_path: Path, scripts: dict[str, Script], **settings: Any
) -> AsyncIterator[Gateway]:
    """A real gateway in front of a `ScriptedSimulator`."""
    sim = ScriptedSimulator(scripts)
    await sim.start()
    service = GatewayService(make_settings(tmp_path, sim.url, **settings))
    try:
        await service.start()
        created = await service.create_key("tester", "tester@example.com")
        yield Gateway(service, service.url or "", sim, created["api_key"], created["id"])
    finally:
        await service.stop()
        await sim.stop()
