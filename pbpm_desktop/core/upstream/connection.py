"""One keep-alive HTTP/1.1 connection to Ollama, its response framing parsed by llhttp.

The framing (status line, headers, Content-Length, chunked coding) is parsed by `httptools`,
the binding to llhttp (Node.js's parser, the one uvicorn uses), instead of by hand: a
hand-written parser took `int("-6", 16)` as a chunk size and froze the event loop, and took
`+6`, ` 6`, `0x6`, `6_0`, a negative or a second, different Content-Length, header lines
without a colon and `Transfer-Encoding: notchunked` as if they were valid. llhttp refuses all
of those (RFC 9112), so any such response is a 502 and its connection is closed, never put back
in the pool: a connection whose framing is in doubt could hand one client's bytes to another.

What stays ours: the pool's life cycle (`in_flight`, `reusable`), the lazy first-byte and idle
timers, and back-pressure (reading pauses while more than `MAX_BUFFERED` body bytes wait for
the proxy). llhttp keeps no buffer of its own beyond a header being parsed, so the memory one
response can take is bounded by `MAX_HEAD` plus one socket read plus `MAX_BUFFERED`.
"""

from __future__ import annotations

import asyncio
import logging

import httptools

from pbpm_desktop.core.upstream.errors import OllamaError, OllamaTimeout

log = logging.getLogger("pbpm_desktop.core.upstream.client")

MAX_BUFFERED = 256 * 1024  # unread body bytes above which reading from Ollama pauses
MAX_HEAD = 64 * 1024  # a response head larger than this is not Ollama's
MAX_HEADERS = 100  # Ollama sends about five

_CUT_MESSAGE = "Ollama closed the response before it was complete"
_LOST_MESSAGE = "Ollama closed the connection mid-response"

# connection phases
_HEAD, _BODY, _DONE = range(3)


class Disconnected(Exception):
    """The connection closed before any byte of the response arrived."""


class _Malformed(Exception):
    """Raised from a parser callback: the response is not one we can frame safely."""


class _Trailing(Exception):
    """Raised from a parser callback: bytes after the end of the response."""


_OURS = (_Malformed, _Trailing)


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection to Ollama, one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._idle_handle: asyncio.TimerHandle | None = None
        self._head_handle: asyncio.TimerHandle | None = None
        self._head_armed_at = 0.0
        self._head_deadline = 0.0
        self._head_limit = 0.0
        self.reset(head_request=False)

    def reset(self, *, head_request: bool) -> None:
        """Prepare for the next request on this connection.

        A fresh parser per response (0.25 us): no state of the previous one can leak into it,
        and a HEAD response (headers announcing a body that never comes) needs no special case.
        """
        self._parser = httptools.HttpResponseParser(self)
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
        self._head_bytes = 0
        self._interim = False
        self._until_close = False
        self._last_data = 0.0
        self._wait_since = 0.0
        self._idle_timeout = 0.0

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        aborted_here = self.closed  # abort() marks it first: our own close ends no body
        self.closed = True
        self._cancel_timers()
        if self._until_close and self.phase == _BODY and exc is None and not aborted_here:
            self.phase = _DONE  # the body ended the only way it could
        elif self.in_flight and self.phase != _DONE and self.error is None:
            if self.phase == _HEAD and not self.got_bytes:
                self.error = Disconnected()
            else:
                self.error = OllamaError(
                    502, _CUT_MESSAGE if self.phase != _HEAD else _LOST_MESSAGE
                )
        self._wake()

    def data_received(self, data: bytes) -> None:
        if not self.in_flight or self.phase == _DONE:
            # bytes nobody asked for: the framing is off, drop the link
            self.keep_alive = False
            self.abort()
            return
        self.got_bytes = True
        self._last_data = self.loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._protocol_error("an unexpected protocol upgrade")
            return
        except Exception as exc:  # HttpParserError, or one raised by a callback below
            cause = exc.__context__ if isinstance(exc.__context__, _OURS) else exc
            if isinstance(cause, _Trailing) or self.phase == _DONE:
                self.keep_alive = False  # more than the response: do not reuse
            else:
                self._protocol_error(str(cause) or type(cause).__name__)
                return
        if self.phase == _HEAD:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._protocol_error("response head too large")
                return
        elif self._queued > MAX_BUFFERED and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    # -- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.phase == _DONE:
            raise _Trailing

    def on_status(self, reason: bytes) -> None:
        self.reason = reason.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self.headers
        if len(headers) >= MAX_HEADERS:
            raise _Malformed("too many headers")
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        previous = headers.get(key)
        headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        if 100 <= status < 200:
            if status == 101:
                raise _Malformed("an unexpected protocol upgrade")
            self._interim = True  # e.g. 100 Continue: the real response follows
            self.headers = {}
            self.reason = ""
            return
        headers = self.headers
        coding = headers.get("transfer-encoding")
        if coding is not None and coding.strip().lower() != "chunked":
            # RFC 9112 6.3 would read such a body until close; Ollama never sends one
            raise _Malformed(f"unsupported Transfer-Encoding {coding[:40]!r}")
        self.status = status
        self.keep_alive = parser.should_keep_alive()
        if self._head_request or status in (204, 304):
            self.phase = _DONE
        else:
            self.phase = _BODY
            self._until_close = coding is None and "content-length" not in headers
            if self._until_close:
                self.keep_alive = False

    def on_body(self, body: bytes) -> None:
        self._pieces.append(body)
        self._queued += len(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.phase = _DONE

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
