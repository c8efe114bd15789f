"""A minimal HTTP/1.1 keep-alive client for the load generator.

Why not aiohttp's ClientSession: on a 2-core machine the load generator shares the CPUs with
the simulator and the gateway, so every microsecond it spends per request is stolen from them
(and, at concurrency 32, can make the client the bottleneck). This client sends pre-encoded
request bytes and parses only what it needs (status, Content-Length or chunked framing, line
arrival times), a few microseconds per request. Direct and through-gateway requests use the
very same code path, so whatever it costs cancels out of every difference and ratio.

Timing uses `time.perf_counter_ns` taken in `data_received`, i.e. when the event loop hands
the bytes over, which is as close to the socket as Python gets.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from typing import cast

_now = time.perf_counter_ns


class HttpError(Exception):
    """The connection broke or the response could not be parsed."""


@dataclass(slots=True)
class Response:
    """One response: status, body (unless streamed) and when things arrived (ns)."""

    sent_ns: int = 0
    #: when the status line and headers were complete
    head_ns: int = 0
    status: int = 0
    body: bytes = b""
    done_ns: int = 0
    #: arrival time of every complete body line ("\n"), kept only for streamed requests
    line_ns: list[int] = field(default_factory=list)
    #: the last bytes of a streamed body (enough to check the final `"done":true` line)
    tail: bytes = b""
    body_bytes: int = 0

    @property
    def elapsed_ns(self) -> int:
        return self.done_ns - self.sent_ns


def build_request(
    method: str,
    path: str,
    host: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> bytes:
    """Pre-encode a whole request once; the load loops then only call `transport.write`."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        # looked up once: on Python 3.11 every get_running_loop() is also a getpid() syscall
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiter: asyncio.Future[Response] | None = None
        self._res: Response | None = None
        self._track_lines = False
        self._headers_done = False
        self._chunked = False
        self._length = 0
        self._lost: BaseException | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or HttpError("connection closed by the server")
        self._fail(self._lost)

    def data_received(self, data: bytes) -> None:
        now = _now()
        res = self._res
        if res is None:  # nothing asked: a stray byte means the framing went wrong
            self._fail(HttpError(f"unexpected data: {data[:80]!r}"))
            return
        buf = self._buf
        buf += data
        if not self._headers_done:
            if not self._parse_head(res):
                return
            res.head_ns = now
        if self._chunked:
            self._parse_chunks(res, now)
        elif len(buf) >= self._length:
            res.body = bytes(buf[: self._length])
            res.body_bytes = self._length
            del buf[: self._length]
            self._finish(res, now)

    # -- requests -----------------------------------------------------------------------------

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    def request(
        self, data: bytes, *, stream: bool = False, timeout: float = 60.0
    ) -> asyncio.Future[Response]:
        """Send pre-encoded `data`; the future resolves when the whole response is in.

        With `stream=True` the body is not kept; instead the arrival time of each line is.
        After `timeout` seconds the future fails with TimeoutError and the connection is
        closed (a timer handle, cheaper than wrapping every request in `asyncio.wait_for`).
        """
        if self._lost is not None or self._transport is None:
            raise HttpError(f"connection is closed ({self._lost})")
        if self._waiter is not None:
            raise HttpError("a request is already in flight on this connection")
        self._waiter = waiter = self._loop.create_future()
        self._timer = self._loop.call_later(timeout, self._on_timeout, timeout)
        self._res = Response()
        self._track_lines = stream
        self._headers_done = False
        self._chunked = False
        self._length = 0
        self._res.sent_ns = _now()
        self._transport.write(data)
        return waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # -- parsing --------------------------------------------------------------------------------

    def _parse_head(self, res: Response) -> bool:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(buf[:end]).lower()
        del buf[: end + 4]
        try:
            res.status = int(head[9:12])
        except ValueError:
            self._fail(HttpError(f"bad status line: {head[:40]!r}"))
            return False
        if b"\r\ntransfer-encoding: chunked" in head:
            self._chunked = True
        else:
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                self._fail(HttpError("response has neither Content-Length nor chunked framing"))
                return False
            stop = head.find(b"\r\n", at + 2)
            self._length = int(head[at + 17 : stop if stop >= 0 else None])
        self._headers_done = True
        return True

    def _parse_chunks(self, res: Response, now: int) -> None:
        buf = self._buf
        while True:
            nl = buf.find(b"\r\n")
            if nl < 0:
                return
            size = int(bytes(buf[:nl]).split(b";", 1)[0], 16)
            if size == 0:
                if len(buf) < nl + 4:  # the empty trailer's CRLF
                    return
                del buf[: nl + 4]
                self._finish(res, now)
                return
            end = nl + 2 + size
            if len(buf) < end + 2:
                return
            payload = bytes(buf[nl + 2 : end])
            del buf[: end + 2]
            res.body_bytes += size
            if self._track_lines:
                res.line_ns.extend([now] * payload.count(b"\n"))
                res.tail = (res.tail + payload)[-512:]
            else:
                res.body += payload

    def _finish(self, res: Response, now: int) -> None:
        res.done_ns = now
        waiter, self._waiter, self._res = self._waiter, None, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if waiter is not None and not waiter.done():
            waiter.set_result(res)

    def _fail(self, exc: BaseException) -> None:
        waiter, self._waiter, self._res = self._waiter, None, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _on_timeout(self, timeout: float) -> None:
        self._timer = None
        self._fail(TimeoutError(f"no complete response within {timeout:g}s"))
        self.close()  # the response may still arrive: this connection's framing is lost
