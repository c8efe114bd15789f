"""The HTTP server's connection-level defences: a per-address cap, JSON protocol errors.

aiohttp's defaults suit a server behind a proxy, not one facing a LAN directly: an idle
connection was kept about an hour and nothing limited how many one address holds, so 250
idle or trickling connections from one machine exhausted a 256-descriptor limit (macOS's
default) and real clients got resets. The gateway therefore

* closes a connection idle (or with an unfinished request head) for `keepalive_timeout_s`:
  after a response aiohttp's keep-alive timer does it (`_process_keepalive` in
  aiohttp/web_protocol.py closes a connection still waiting for a complete head); before the
  first request `GatewayRequestHandler` does, as aiohttp only arms that timer there from 3.14;
* refuses a connection beyond `max_connections_per_client` from one address with a 429 (the
  effective cap is also at most a quarter of the process's descriptor limit);
* raises its soft descriptor limit at start (`raise_fd_limit`);
* answers aiohttp's own protocol errors (bad request line, oversized header, ...) in the
  documented JSON shape, without echoing the request back.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, BadStatusLine, InvalidHeader, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from pbpm_desktop.core.http.errors import error_body

log = logging.getLogger(__name__)

#: the descriptor limit asked for at start (macOS caps a process at OPEN_MAX, 10240)
FD_LIMIT_WANTED = 65536 if sys.platform != "darwin" else 10240


def raise_fd_limit(wanted: int = FD_LIMIT_WANTED) -> int:
    """Raise the soft RLIMIT_NOFILE towards `wanted` (never above the hard limit); the result.

    Each client connection and each upstream connection is a descriptor; the defaults (256
    on macOS, 1024 on many Linux systems) are far below what the hard limit allows.
    """
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
    return soft


class ConnectionCap:
    """Counts open connections per client address; memory is one entry per address in use."""

    def __init__(self, per_address: int) -> None:
        self.per_address = per_address
        self.refused = 0  # connections refused so far
        self._open: dict[str, int] = {}

    def admit(self, address: str) -> bool:
        count = self._open.get(address, 0)
        if self.per_address > 0 and count >= self.per_address:
            self.refused += 1
            return False
        self._open[address] = count + 1
        return True

    def release(self, address: str) -> None:
        count = self._open.get(address, 0) - 1
        if count > 0:
            self._open[address] = count
        else:
            self._open.pop(address, None)

    def open_from(self, address: str) -> int:
        return self._open.get(address, 0)


def _refusal(cap: int) -> bytes:
    body = error_body(
        "/",
        429,
        f"too many connections from your address (the limit is {cap}); close idle "
        "connections or raise MAX_CONNECTIONS_PER_CLIENT on the gateway",
    )
    head = (
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
    )
    return head.encode() + body


def _protocol_message(status: int, exc: BaseException | None) -> str:
    """What went wrong, without the client's bytes (aiohttp's messages quote them)."""
    if status >= 500:
        if status == 504:
            return "the gateway timed out handling the request; try again"
        return "internal gateway error; the gateway log has the details"
    if isinstance(exc, LineTooLong):
        return (
            "the request line or a header is too long (at most 8190 bytes per line and "
            "16 KiB per header); send the data in the body instead"
        )
    if isinstance(exc, BadHttpMethod):
        return "this is not an HTTP request this server understands; send HTTP/1.1"
    if isinstance(exc, BadStatusLine):
        return "malformed HTTP request line; send `METHOD /path HTTP/1.1`"
    if isinstance(exc, InvalidHeader):
        return "malformed HTTP header; check the request's header names and values"
    return "malformed HTTP request; check the request line, headers and body framing"


class GatewayRequestHandler(RequestHandler):
    """aiohttp's connection protocol with the per-address cap and JSON error responses."""

    __slots__ = ("_address", "_cap", "_first_head", "_head_timeout")

    def __init__(self, manager: GatewayServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._cap = manager.cap
        self._head_timeout = manager.head_timeout
        self._address: str | None = None  # set once admitted
        self._first_head: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self._cap.admit(address):
            refused = self._cap.refused
            if refused & (refused - 1) == 0:  # the 1st, 2nd, 4th, 8th...: no log flood
                log.warning(
                    "refused a connection from %s: it has %d open (%d refused so far)",
                    address,
                    self._cap.per_address,
                    refused,
                )
            transport.write(_refusal(self._cap.per_address))  # type: ignore[attr-defined]
            transport.close()
            return
        self._address = address
        super().connection_made(transport)
        if self._head_timeout > 0:
            self._first_head = self._loop.call_later(self._head_timeout, self._first_head_due)

    def _first_head_due(self) -> None:
        """No complete request head since the connection opened: close it."""
        self._first_head = None
        if self._request_count == 0 and self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._address is None:
            return  # refused: aiohttp never saw this connection
        self._cap.release(self._address)
        self._address = None
        if self._first_head is not None:
            self._first_head.cancel()
            self._first_head = None
        super().connection_lost(exc)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's error answer (protocol errors, a failure outside the middlewares) as JSON."""
        if status >= 500:
            self.log_exception("error handling request from %s", request.remote, exc_info=exc)
        else:
            log.debug("bad request from %s: %s", request.remote, exc)
        if request.writer.output_size > 0:
            raise ConnectionError("the response had started; no room for an error message")
        resp = web.Response(
            status=status,
            body=error_body(request.path, status, _protocol_message(status, exc)),
            content_type="application/json",
        )
        resp.force_close()
        return resp


class GatewayServer(web.Server):
    """aiohttp's `Server`, making `GatewayRequestHandler`s."""

    def __init__(self, *args: Any, cap: ConnectionCap, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cap = cap
        self.head_timeout = head_timeout

    def __call__(self) -> GatewayRequestHandler:
        return GatewayRequestHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """`AppRunner` serving through a `GatewayServer` (same app start-up and clean-up)."""

    __slots__ = ("_cap", "_head_timeout")

    def __init__(
        self, app: web.Application, *, cap: ConnectionCap, head_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(app, **kwargs)
        self._cap = cap
        self._head_timeout = head_timeout

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return GatewayServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            cap=self._cap,
            head_timeout=self._head_timeout,
            **plain._kwargs,
        )


def effective_cap(per_address: int, fd_limit: int) -> int:
    """The per-address cap, at most a quarter of the descriptors (0: no cap)."""
    if per_address <= 0:
        return 0
    return max(8, min(per_address, fd_limit // 4))
