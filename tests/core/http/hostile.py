"""A hostile Ollama for gateway tests: the simulator behind it, chosen routes played by hand.

Every request is read off a raw loopback socket. A path with a script in `scripts` gets the
script (which writes whatever bytes it likes, well-formed or not); any other path is forwarded
to the real simulator and its answer written back with a Content-Length, so the gateway's
start-up, model resolution, loading and `ps` polling all work as against a real Ollama.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.simulator import OllamaSimulator
from tests.conftest import Gateway, make_settings, small_models

GB = 1024**3


@dataclass
class Conn:
    """One upstream connection as the hostile server sees it."""

    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    state: dict[str, Any] = field(default_factory=dict)


#: script(conn, head, body) -> False to close the connection afterwards
Script = Callable[[Conn, str, bytes], Awaitable[bool | None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    """One request (head, body); IncompleteReadError when the client closed."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    length = 0
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return head, (await reader.readexactly(length) if length else b"")


def respond(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    """A keep-alive response with a Content-Length body."""
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class HostileUpstream:
    def __init__(self, sim: OllamaSimulator) -> None:
        self.sim = sim
        self.scripts: dict[str, Script] = {}
        self.accepted = 0
        self.errors: list[BaseException] = []
        self.url = ""
        self._server: asyncio.Server | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        assert self._server is not None and self._session is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._session.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Conn(self.accepted, reader, writer)
        self.accepted += 1
        try:
            while True:
                head, body = await read_request(reader)
                path = head.split(" ", 2)[1]
                script = self.scripts.get(path)
                if script is None:
                    writer.write(await self._forward(head, path, body))
                elif await script(conn, head, body) is False:
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except Exception as exc:  # an assert in a script: reported by the fixture
            self.errors.append(exc)
        finally:
            writer.transport.abort()
            self._tasks.discard(task)

    async def _forward(self, head: str, path: str, body: bytes) -> bytes:
        assert self._session is not None
        method = head.split(" ", 1)[0]
        async with self._session.request(method, self.sim.url + path, data=body or None) as r:
            data = await r.read()
            ctype = r.headers.get("Content-Type", "application/json")
            return (
                f"HTTP/1.1 {r.status} {r.reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(data)}\r\n\r\n"
            ).encode() + data


@contextlib.asynccontextmanager
async def hostile_gateway(
    tmp_path: Path, **overrides: object
) -> AsyncIterator[tuple[HostileUpstream, Gateway]]:
    """The real gateway in front of a `HostileUpstream` (itself in front of the simulator)."""
    sim = OllamaSimulator(small_models(), vram_capacity=30 * GB, response_tokens=8)
    await sim.start()
    upstream = HostileUpstream(sim)
    await upstream.start()
    settings = {"first_byte_timeout_s": 5.0, "idle_timeout_s": 5.0, **overrides}
    service = GatewayService(make_settings(tmp_path, upstream.url, **settings))
    try:
        await service.start()
        created = await service.create_key("tester", "tester@example.com")
        yield upstream, Gateway(service, service.url or "", sim, created["api_key"], created["id"])
    finally:
        await service.stop()
        await upstream.stop()
        await sim.stop()
    assert not upstream.errors, upstream.errors
