"""Client for the upstream Ollama server: pooled keep-alive connections, explicit timeouts.

No total timeout: a long generation must never be cut. Instead a connect timeout, a
first-byte deadline (which covers model loading) and an idle timeout between chunks.

Why not aiohttp's ClientSession: it is built for arbitrary servers (cookies, redirects, auth,
tracing, proxies, compression), and that generality cost about as much CPU per request as
everything else the gateway does. Upstream is one known HTTP/1.1 server, so this module
speaks just what it needs: it writes each request with one `write`, has llhttp (`httptools`,
see `ollama_http`) parse the response head and its framing, and hands body bytes to the proxy
as they arrive. A malformed response is a 502 and its connection is never reused.
Connections are reused
(LIFO, closed after `KEEPALIVE_S` idle); a reused connection that the server had closed
meanwhile is retried once on a fresh one. Unread body data above `MAX_BUFFERED` pauses
reading, so a slow client slows Ollama down instead of filling the gateway's memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlsplit

from pbpm_desktop.core.upstream.connection import MAX_BUFFERED, MAX_HEAD, Connection, Disconnected
from pbpm_desktop.core.upstream.errors import OllamaError, OllamaTimeout, OllamaUnreachable

log = logging.getLogger(__name__)

KEEPALIVE_S = 60.0  # idle upstream connections are closed after this long

__all__ = [
    "MAX_BUFFERED",
    "MAX_HEAD",
    "OllamaClient",
    "OllamaError",
    "OllamaTimeout",
    "OllamaUnreachable",
    "UpstreamResponse",
]


class UpstreamResponse:
    """An Ollama response whose head has arrived; the body is read with `read_chunk`."""

    __slots__ = ("_client", "_conn", "_released", "headers", "reason", "status")

    def __init__(self, client: OllamaClient, conn: Connection) -> None:
        self._client = client
        self._conn = conn
        self._released = False
        self.status = conn.status
        self.reason = conn.reason
        self.headers = conn.headers

    @property
    def content_type(self) -> str:
        """The media type without parameters (aiohttp's convention), RFC 2616's default."""
        raw = self.headers.get("content-type")
        if raw is None:
            return "application/octet-stream"
        return raw.split(";", 1)[0].strip().lower()

    def read_chunk(self, idle_timeout: float) -> Awaitable[bytes]:
        return self._conn.read_chunk(idle_timeout)

    async def read(self) -> bytes:
        parts = []
        while chunk := await self._conn.read_chunk(self._client.idle_timeout):
            parts.append(chunk)
        return b"".join(parts)

    async def text(self, encoding: str = "utf-8") -> str:
        return (await self.read()).decode(encoding, "replace")

    def release(self) -> None:
        """Back to the pool if the body was read to its end, else the connection is closed."""
        if not self._released:
            self._released = True
            self._client._release(self._conn)


class OllamaClient:
    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 5.0,
        first_byte_timeout: float = 600.0,
        idle_timeout: float = 300.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.first_byte_timeout = first_byte_timeout
        self.idle_timeout = idle_timeout
        parts = urlsplit(self.base_url)
        try:
            port = parts.port
        except ValueError:  # a port that is not a number: reported on the first request
            port = None
        #: why the URL cannot work, reported as "unreachable" on every request (not at start:
        #: a wrong OLLAMA_URL must not stop the gateway, the dashboard or the settings dialog)
        self._bad_url: str | None = None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self._bad_url = "not an http:// or https:// URL"
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = port or (443 if self._tls else 80)
        default_port = (self._tls and self._port == 443) or (not self._tls and self._port == 80)
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._host_header = host if default_port else f"{host}:{self._port}"
        self._prefix = parts.path.rstrip("/")
        self._ssl: ssl.SSLContext | None = None
        self._idle: list[Connection] = []
        self._active: set[Connection] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heads: dict[tuple[Any, ...], bytes] = {}

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        self._started = True

    async def close(self) -> None:
        """Close every connection, idle or in use (in-flight reads then fail with 502)."""
        self._started = False
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in [*self._idle, *self._active]:
            conn.abort()
        self._idle.clear()
        self._active.clear()

    @asynccontextmanager
    async def open(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        first_byte_timeout: float | None = None,
    ) -> AsyncIterator[UpstreamResponse]:
        """Send a request and yield the response once its headers arrive (see `send`)."""
        resp = await self.send(
            method, path, data=data, headers=headers, first_byte_timeout=first_byte_timeout
        )
        try:
            yield resp
        finally:
            resp.release()

    async def send(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        first_byte_timeout: float | None = None,
    ) -> UpstreamResponse:
        """Send a request and return the response once its headers arrive; the caller must
        `release()` it (the hot path uses this rather than `open` to skip a context manager).

        Maps connection failures to OllamaUnreachable (502) and a missed first-byte deadline to
        OllamaTimeout (504). The body is left for the caller to stream.
        """
        if not self._started:
            raise RuntimeError("OllamaClient.start() was not awaited")
        loop = self._loop
        if loop is None or loop.is_closed():  # not started on this loop; Python 3.11's
            loop = self._loop = asyncio.get_running_loop()  # lookup costs a getpid() syscall
        limit = self.first_byte_timeout if first_byte_timeout is None else first_byte_timeout
        deadline = loop.time() + limit
        payload = self._request_bytes(method, path, data, headers)
        for attempt in (0, 1):
            conn, reused = await self._acquire(loop, deadline, limit)
            conn.reset(head_request=method == "HEAD")
            conn.in_flight = True
            self._active.add(conn)
            try:
                transport = conn.transport
                if transport is None or transport.is_closing():
                    raise Disconnected  # closed by the server while idle
                transport.write(payload)
                await conn.wait_head(deadline, limit)
            except Disconnected:
                self._drop(conn)
                if reused and attempt == 0:
                    continue  # the server had closed this idle connection: try a fresh one
                raise OllamaUnreachable(
                    self.base_url, "it closed the connection without answering"
                ) from None
            except BaseException:
                self._drop(conn)
                raise
            return UpstreamResponse(self, conn)
        raise AssertionError("unreachable")  # pragma: no cover

    def read_chunk(self, resp: UpstreamResponse) -> Awaitable[bytes]:
        """Next piece of a streamed body as it arrives (b"" at the end), within the idle timeout."""
        return resp._conn.read_chunk(self.idle_timeout)

    # -- connections ------------------------------------------------------------------------

    def _request_bytes(
        self, method: str, path: str, data: bytes | None, headers: Mapping[str, str] | None
    ) -> bytes:
        """The request as sent: a cached head for (method, path, headers) plus the body."""
        key = (method, path, tuple(headers.items()) if headers else ())
        head = self._heads.get(key)
        if head is None:
            head = self._build_head(method, path, headers)
            if len(self._heads) < 256:
                self._heads[key] = head
        if data is not None or method in ("POST", "PUT", "PATCH"):
            head += b"Content-Length: %d\r\n" % (len(data) if data else 0)
        head += b"\r\n"
        return head + data if data else head

    def _build_head(self, method: str, path: str, headers: Mapping[str, str] | None) -> bytes:
        target = self._prefix + path
        if not target.isascii() or not target.isprintable() or " " in target:
            target = quote(target, safe="/:@!$&'()*+,;=-._~%?")
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {self._host_header}\r\nAccept: */*\r\n"]
        if headers:
            for name, value in headers.items():
                if name.lower() not in ("host", "content-length", "transfer-encoding"):
                    lines.append(f"{name}: {value}\r\n")
        return "".join(lines).encode("latin-1")

    async def _acquire(
        self, loop: asyncio.AbstractEventLoop, deadline: float, limit: float
    ) -> tuple[Connection, bool]:
        now = loop.time()
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < KEEPALIVE_S:
                return conn, True
            conn.abort()
        return await self._connect(loop, deadline, limit), False

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, deadline: float, limit: float
    ) -> Connection:
        """A new connection within the connect timeout (or the first-byte deadline if sooner)."""
        if self._bad_url is not None:
            raise OllamaUnreachable(self.base_url, self._bad_url)
        remaining = deadline - loop.time()
        if remaining < self.connect_timeout:
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    return await self._open_connection(loop)
            except TimeoutError as exc:
                raise OllamaTimeout(f"no response within {limit:g}s") from exc
        try:
            async with asyncio.timeout(self.connect_timeout):
                return await self._open_connection(loop)
        except TimeoutError as exc:
            raise OllamaTimeout(f"no connection within {self.connect_timeout:g}s") from exc

    async def _open_connection(self, loop: asyncio.AbstractEventLoop) -> Connection:
        try:
            _, conn = await loop.create_connection(
                lambda: Connection(loop),
                self._host,
                self._port,
                ssl=self._ssl,
                server_hostname=self._host if self._ssl else None,
            )
        except TimeoutError as exc:  # the OS gave up (ETIMEDOUT)
            raise OllamaTimeout(f"no connection within {self.connect_timeout:g}s") from exc
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
            raise OllamaUnreachable(self.base_url, reason) from exc
        return conn

    def _release(self, conn: Connection) -> None:
        self._active.discard(conn)
        conn.finish()
        if conn.reusable and self._started:
            conn.idle_since = conn.loop.time()
            self._idle.append(conn)
            if self._sweeper is None:
                self._sweeper = conn.loop.call_at(conn.idle_since + KEEPALIVE_S, self._sweep)
        else:
            conn.abort()

    def _drop(self, conn: Connection) -> None:
        self._active.discard(conn)
        conn.finish()
        conn.abort()

    def _sweep(self) -> None:
        """Close connections idle for KEEPALIVE_S; runs at most once per KEEPALIVE_S."""
        self._sweeper = None
        if not self._idle:
            return
        loop = self._idle[0].loop
        cutoff = loop.time() - KEEPALIVE_S
        keep = []
        for conn in self._idle:
            if conn.closed or conn.idle_since <= cutoff:
                conn.abort()
            else:
                keep.append(conn)
        self._idle = keep
        if keep:
            oldest = min(c.idle_since for c in keep)
            self._sweeper = loop.call_at(oldest + KEEPALIVE_S, self._sweep)

    # -- JSON control calls -----------------------------------------------------------------

    async def call(
        self, method: str, path: str, payload: Any = None, *, timeout: float | None = None
    ) -> Any:
        """A JSON request/response round trip for control calls (tags, ps, load, unload)."""
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if data is not None else None
        async with self.open(
            method, path, data=data, headers=headers, first_byte_timeout=timeout
        ) as r:
            body = await r.read()
            if r.status >= 400:
                raise OllamaError(r.status, _error_message(body, r.status))
            return json.loads(body) if body else None

    async def tags(self) -> list[dict[str, Any]]:
        return (await self.call("GET", "/api/tags", timeout=30))["models"] or []

    async def ps(self) -> list[dict[str, Any]]:
        return (await self.call("GET", "/api/ps", timeout=30))["models"] or []

    async def version(self) -> str:
        return (await self.call("GET", "/api/version", timeout=10))["version"]

    async def load(self, model: str, keep_alive: int | str) -> dict[str, Any]:
        """Load a model with no prompt (Ollama's documented preload)."""
        return await self.call("POST", "/api/generate", {"model": model, "keep_alive": keep_alive})

    async def unload(self, model: str) -> dict[str, Any]:
        """Ask Ollama to unload; it does so asynchronously, so callers poll `ps()` after."""
        payload = {"model": model, "keep_alive": 0}
        return await self.call("POST", "/api/generate", payload, timeout=60)


def _error_message(body: bytes, status: int) -> str:
    try:
        data = json.loads(body)
        if isinstance(data, dict):
            err = data.get("error")
            if isinstance(err, dict):
                return str(err.get("message") or err)
            if err:
                return str(err)
    except ValueError:
        pass
    text = body.decode("utf-8", "replace").strip()
    return text[:300] or f"Ollama answered HTTP {status}"
