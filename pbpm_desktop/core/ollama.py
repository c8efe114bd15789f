"""Client for the upstream Ollama server: pooled keep-alive connections, explicit timeouts.

No total timeout: a long generation must never be cut. Instead a connect timeout, a
first-byte deadline (which covers model loading) and an idle timeout between chunks.

Why not aiohttp's ClientSession: it is built for arbitrary servers (cookies, redirects, auth,
tracing, proxies, compression), and that generality cost about as much CPU per request as
everything else the gateway does. Upstream is one known HTTP/1.1 server, so this module
speaks just what it needs: it writes each request with one `write`, parses the response head
and its framing (Content-Length, chunked, or until close), and hands body bytes to the proxy
as they arrive, with no copy beyond slicing off chunk framing. Connections are reused
(LIFO, closed after `KEEPALIVE_S` idle); a reused connection that the server had closed
meanwhile is retried once on a fresh one. Unread body data above `MAX_BUFFERED` pauses
reading, so a slow client slows Ollama down instead of filling the gateway's memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlsplit

log = logging.getLogger(__name__)

KEEPALIVE_S = 60.0  # idle upstream connections are closed after this long
MAX_BUFFERED = 256 * 1024  # unread body bytes above which reading from Ollama pauses
MAX_HEAD = 64 * 1024  # a response head larger than this is not Ollama's


class OllamaError(Exception):
    """Ollama answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class OllamaUnreachable(OllamaError):
    """No connection to Ollama (not running, wrong URL)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            502,
            f"Ollama is unreachable at {url} ({reason}). Start Ollama (`ollama serve`) "
            "or set OLLAMA_URL to where it runs.",
        )


class OllamaTimeout(OllamaError):
    def __init__(self, what: str) -> None:
        super().__init__(504, f"Ollama did not answer in time ({what}); try again later.")


class _Disconnected(Exception):
    """The connection closed before any byte of the response arrived."""


_CUT_MESSAGE = "Ollama closed the response before it was complete"
_LOST_MESSAGE = "Ollama closed the connection mid-response"

_STATUS_LINE = re.compile(r"HTTP/1\.([01]) (\d{3})(?: ([^\r\n]*))?\r\n")
_HEADER_LINE = re.compile(r"([^:\r\n]+):[ \t]*([^\r\n]*?)[ \t]*\r\n")

# connection phases
_HEAD, _LENGTH, _CHUNKED, _UNTIL_CLOSE, _DONE = range(5)
# chunked-decoder states
_SIZE, _DATA, _DATA_END, _TRAILER = range(4)


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection to Ollama, one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buf = bytearray()  # unparsed head, or a split chunk-size line / CRLF
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._idle_handle: asyncio.TimerHandle | None = None
        self._head_handle: asyncio.TimerHandle | None = None
        self._head_armed_at = 0.0
        self._head_deadline = 0.0
        self._head_limit = 0.0
        self.reset(head_request=False)

    def reset(self, *, head_request: bool) -> None:
        """Prepare for the next request on this connection."""
        self._head_request = head_request
        self.phase = _HEAD
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        self.keep_alive = False
        self.error: BaseException | None = None
        self.got_bytes = False
        self.in_flight = False
        self._pieces: list[bytes] = []
        self._queued = 0
        self._remaining = 0
        self._chunk_state = _SIZE
        self._last_data = 0.0
        self._wait_since = 0.0
        self._idle_timeout = 0.0
        self._buf.clear()

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        aborted_here = self.closed  # abort() marks it first: our own close ends no body
        self.closed = True
        self._cancel_timers()
        if self.phase == _UNTIL_CLOSE and exc is None and not aborted_here:
            self.phase = _DONE  # the body ended the only way it could
        elif self.in_flight and self.phase != _DONE and self.error is None:
            if self.phase == _HEAD and not self.got_bytes:
                self.error = _Disconnected()
            else:
                self.error = OllamaError(
                    502, _CUT_MESSAGE if self.phase != _HEAD else _LOST_MESSAGE
                )
        self._wake()

    def data_received(self, data: bytes) -> None:
        if not self.in_flight:  # bytes nobody asked for: the framing is off, drop the link
            self.keep_alive = False
            self.abort()
            return
        self.got_bytes = True
        self._last_data = self.loop.time()
        if self.phase == _HEAD:
            self._buf += data
            if not self._parse_head():
                return
            data = bytes(self._buf)
            self._buf.clear()
            if not data or self.phase == _DONE:
                if data:
                    self.keep_alive = False  # more than the response: do not reuse
                self._wake()
                return
        phase = self.phase
        if phase == _CHUNKED:
            self._feed_chunked(data)
        elif phase == _LENGTH:
            take = self._remaining
            if len(data) > take:
                data = data[:take]
                self.keep_alive = False
            self._push(data)
            self._remaining -= len(data)
            if self._remaining == 0:
                self.phase = _DONE
        elif phase == _UNTIL_CLOSE:
            self._push(data)
        elif data:
            self.keep_alive = False
        if self._queued > MAX_BUFFERED and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    # -- parsing ----------------------------------------------------------------------------

    def _parse_head(self) -> bool:
        """Status line and headers; True once complete (1xx interim responses are skipped)."""
        while True:
            buf = self._buf
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    self._protocol_error("response head too large")
                return False
            head = buf[: end + 2].decode("latin-1")
            del buf[: end + 4]
            status_line = _STATUS_LINE.match(head)
            if status_line is None:
                self._protocol_error(f"bad status line {head.partition(chr(13))[0][:60]!r}")
                return False
            minor, code, reason = status_line.groups()
            status = int(code)
            if 100 <= status < 200:
                continue  # e.g. 100 Continue: the real response follows
            headers = {
                name.lower(): value for name, value in _HEADER_LINE.findall(head, status_line.end())
            }
            self.status, self.reason, self.headers = status, reason or "", headers
            self.keep_alive = minor == "1" and "close" not in headers.get("connection", "").lower()
            if self._head_request or status in (204, 304):
                self.phase = _DONE
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                self.phase, self._chunk_state = _CHUNKED, _SIZE
            elif "content-length" in headers:
                try:
                    self._remaining = int(headers["content-length"])
                except ValueError:
                    self._protocol_error("bad Content-Length")
                    return False
                self.phase = _LENGTH if self._remaining > 0 else _DONE
            else:
                self.phase, self.keep_alive = _UNTIL_CLOSE, False
            return True

    def _feed_chunked(self, data: bytes) -> None:
        if self._buf:
            data = bytes(self._buf) + data
            self._buf.clear()
        pos, end = 0, len(data)
        while pos < end:
            state = self._chunk_state
            if state == _DATA:
                take = min(self._remaining, end - pos)
                self._push(data if take == end and pos == 0 else data[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._chunk_state = _DATA_END
            elif state in (_SIZE, _TRAILER):
                nl = data.find(b"\r\n", pos)
                if nl < 0:
                    if end - pos > 4096:
                        self._protocol_error("bad chunk header")
                        return
                    self._buf += data[pos:]
                    return
                line = data[pos:nl]
                pos = nl + 2
                if state == _TRAILER:
                    if not line:  # the blank line after the last chunk: body complete
                        self.phase = _DONE
                        if pos < end:
                            self.keep_alive = False
                        return
                    continue
                try:
                    size = int(line.split(b";", 1)[0], 16)
                except ValueError:
                    self._protocol_error("bad chunk size")
                    return
                if size == 0:
                    self._chunk_state = _TRAILER
                else:
                    self._remaining, self._chunk_state = size, _DATA
            else:  # _DATA_END: the CRLF after a chunk's data
                if end - pos < 2:
                    self._buf += data[pos:]
                    return
                if data[pos : pos + 2] != b"\r\n":
                    self._protocol_error("bad chunk framing")
                    return
                pos += 2
                self._chunk_state = _SIZE

    def _push(self, piece: bytes) -> None:
        if piece:
            self._pieces.append(piece)
            self._queued += len(piece)

    def _protocol_error(self, what: str) -> None:
        log.warning("malformed response from Ollama: %s", what)
        self.error = OllamaError(502, f"Ollama sent a malformed response ({what})")
        self.keep_alive = False
        self.abort()
        self._wake()

    # -- waiting ----------------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        waiter = self._waiter = self.loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    async def wait_head(self, deadline: float, limit: float) -> None:
        """Until the response head is in; OllamaTimeout at loop time `deadline`.

        The deadline timer is lazy, like the idle one: a connection keeps one handle that is
        re-armed only when it fires early or a request needs an earlier deadline, instead of
        a new timer (or an `asyncio.timeout()`) for every request.
        """
        self._head_deadline, self._head_limit = deadline, limit
        handle = self._head_handle
        if handle is None or deadline < self._head_armed_at:
            if handle is not None:
                handle.cancel()
            self._head_handle = self.loop.call_at(deadline, self._on_head_timer)
            self._head_armed_at = deadline
        while self.phase == _HEAD:
            if self.error is not None:
                raise self.error
            await self._wait()

    def _on_head_timer(self) -> None:
        self._head_handle = None
        if not self.in_flight or self.phase != _HEAD or self.error is not None:
            return  # answered in time: the next request arms a new timer
        if self.loop.time() >= self._head_deadline:
            self.error = OllamaTimeout(f"no response within {self._head_limit:g}s")
            self.keep_alive = False
            self._wake()
        else:
            self._head_handle = self.loop.call_at(self._head_deadline, self._on_head_timer)
            self._head_armed_at = self._head_deadline

    async def read_chunk(self, idle_timeout: float) -> bytes:
        """Whatever body bytes have arrived (waiting for some), b"" once the body is complete."""
        while True:
            pieces = self._pieces
            if pieces:
                out = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                self._pieces = []
                self._queued = 0
                if self._paused and self.transport is not None and not self.closed:
                    self._paused = False
                    self.transport.resume_reading()
                return out
            if self.phase == _DONE:
                return b""
            if self.error is not None:
                raise self.error
            self._wait_since = self.loop.time()
            if self._idle_handle is None:
                self._idle_timeout = idle_timeout
                self._idle_handle = self.loop.call_at(
                    self._wait_since + idle_timeout, self._on_idle
                )
            await self._wait()

    def _on_idle(self) -> None:
        """Lazy idle timer: one handle per response, re-armed only when it fires early."""
        self._idle_handle = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # not waiting now; the next wait arms a new timer
        deadline = max(self._last_data, self._wait_since) + self._idle_timeout
        if self.loop.time() >= deadline:
            self.error = OllamaTimeout(f"no data for {self._idle_timeout:g}s mid-response")
            self.keep_alive = False
            waiter.set_exception(self.error)
        else:
            self._idle_handle = self.loop.call_at(deadline, self._on_idle)

    # -- life cycle -------------------------------------------------------------------------

    @property
    def reusable(self) -> bool:
        return (
            self.phase == _DONE
            and self.keep_alive
            and self.error is None
            and not self.closed
            and not self._paused
        )

    def finish(self) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        self.in_flight = False

    def abort(self) -> None:
        self.closed = True
        self._cancel_timers()
        if self.transport is not None:
            self.transport.abort()

    def _cancel_timers(self) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        if self._head_handle is not None:
            self._head_handle.cancel()
            self._head_handle = None


class UpstreamResponse:
    """An Ollama response whose head has arrived; the body is read with `read_chunk`."""

    __slots__ = ("_client", "_conn", "_released", "headers", "reason", "status")

    def __init__(self, client: OllamaClient, conn: _Connection) -> None:
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
        self._idle: list[_Connection] = []
        self._active: set[_Connection] = set()
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
                    raise _Disconnected  # closed by the server while idle
                transport.write(payload)
                await conn.wait_head(deadline, limit)
            except _Disconnected:
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
    ) -> tuple[_Connection, bool]:
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
    ) -> _Connection:
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

    async def _open_connection(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        try:
            _, conn = await loop.create_connection(
                lambda: _Connection(loop),
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

    def _release(self, conn: _Connection) -> None:
        self._active.discard(conn)
        conn.finish()
        if conn.reusable and self._started:
            conn.idle_since = conn.loop.time()
            self._idle.append(conn)
            if self._sweeper is None:
                self._sweeper = conn.loop.call_at(conn.idle_since + KEEPALIVE_S, self._sweep)
        else:
            conn.abort()

    def _drop(self, conn: _Connection) -> None:
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
