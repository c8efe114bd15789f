"""Relaying Ollama's answer to the client: streamed chunk by chunk, or held whole while small.

Each write goes through the client write deadline (client_writes.py); a large non-streamed
answer is passed on as it comes, keeping only its tail to read the token counts.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from aiohttp import web

from pbpm_desktop.core.http.client_writes import GuardedWriter
from pbpm_desktop.core.http.context import GatewayContext, context_of
from pbpm_desktop.core.http.errors import error_body
from pbpm_desktop.core.http.exchange import Exchange
from pbpm_desktop.core.http.trackers import NdjsonTracker, SseTracker, whole_body_counts
from pbpm_desktop.core.upstream.client import OllamaClient, OllamaError, UpstreamResponse

if TYPE_CHECKING:
    from pbpm_desktop.core.http.dialect import Dialect


STREAM_ABOVE = 1024 * 1024  # a non-streamed answer larger than this is passed on as it comes
MAX_ANSWER = 32 * 1024 * 1024  # the most of an answer the gateway holds whole (passthrough)
COUNTS_TAIL = 64 * 1024  # how much of a large answer's end is kept to read its token counts

JSON_HEADERS = {"Content-Type": "application/json"}


def _reshape_error(path: str, status: int, body: bytes) -> bytes:
    try:
        message = json.loads(body).get("error")
    except (ValueError, AttributeError):
        message = None
    return error_body(path, status, str(message or body.decode("utf-8", "replace")[:300]))


def _in_stream_error(path: str, message: str, openai: bool) -> bytes:
    if openai:
        return b"data: " + error_body(path, 502, message) + b"\n\n"
    return error_body(path, 502, message) + b"\n"


async def relay(
    request: web.Request,
    ctx: GatewayContext,
    exchange: Exchange,
    path: str,
    data: bytes,
    streaming: bool,
    openai: bool,
    keep_usage: bool,
    dialect: Dialect | None = None,
) -> web.StreamResponse:
    ollama = ctx.ollama
    upstream = await ollama.send("POST", path, data=data, headers=JSON_HEADERS)
    try:
        exchange.first_byte = time.perf_counter()
        if upstream.status >= 400:
            body = await read_all(ollama, upstream)
            return _finish_buffered(
                request, exchange, upstream.status, upstream.content_type, body, openai, dialect
            )
        if not streaming:
            head = await read_all(ollama, upstream, limit=STREAM_ABOVE)
            if len(head) <= STREAM_ABOVE:  # the whole answer, the usual case
                return _finish_buffered(
                    request, exchange, upstream.status, upstream.content_type, head, openai, dialect
                )
            return await _relay_large(request, ollama, upstream, exchange, head, openai, dialect)
        response = web.StreamResponse(status=upstream.status)
        response.content_type = upstream.content_type
        if openai:
            response.headers["Cache-Control"] = "no-cache"
        await response.prepare(request)
        if openai:
            await _relay_sse(request, ollama, upstream, response, exchange, keep_usage, dialect)
        else:
            await _relay_ndjson(request, ollama, upstream, response, exchange)
        await response.write_eof()
        return response
    finally:
        upstream.release()


async def _relay_ndjson(
    request: web.Request,
    ollama: OllamaClient,
    upstream: UpstreamResponse,
    response: web.StreamResponse,
    exchange: Exchange,
) -> None:
    """Each piece goes out as it came in: one byte search and one write per chunk.

    The loop is the gateway's hottest code (once per token): the write deadline's clock and
    the quota's chunk cap are inlined (see client_writes.py, quota.StreamBudget).
    """
    tracker = NdjsonTracker()
    cap = exchange.watch(tracker)
    guard = _guard(request, response)
    read, feed, write, clock = ollama.read_chunk, tracker.feed, response.write, guard.clock
    try:
        while chunk := await read(upstream):
            feed(chunk)
            if tracker.chunks > cap:
                cap = _reached(exchange, tracker.chunks)
            guard.since = clock()
            await write(chunk)
            guard.since = 0.0
    except OllamaError as exc:
        # Headers are gone: tell the client in-stream, the way Ollama reports late errors.
        exchange.status = "upstream_error"
        await guard.write(_in_stream_error(request.path, exc.message, False))
    finally:
        guard.close()
        if tracker.error is not None:  # Ollama's own in-stream {"error": ...} line
            exchange.status = "upstream_error"
        exchange.prompt_tokens, exchange.completion_tokens = tracker.counts()


async def _relay_sse(
    request: web.Request,
    ollama: OllamaClient,
    upstream: UpstreamResponse,
    response: web.StreamResponse,
    exchange: Exchange,
    keep_usage: bool,
    dialect: Dialect | None = None,
) -> None:
    tracker = dialect.tracker() if dialect is not None else SseTracker(keep_usage)
    cap = exchange.watch(tracker)
    guard = _guard(request, response)
    read, feed, write, clock = ollama.read_chunk, tracker.feed, response.write, guard.clock
    try:
        while chunk := await read(upstream):
            ready = feed(chunk)
            if tracker.chunks > cap:
                cap = _reached(exchange, tracker.chunks)
            if ready:
                guard.since = clock()
                await write(ready)
                guard.since = 0.0
        rest = tracker.flush()
        if rest:
            await guard.write(rest)
    except OllamaError as exc:
        exchange.status = "upstream_error"
        await guard.write(
            dialect.stream_error(request.path, exc.message)
            if dialect is not None
            else _in_stream_error(request.path, exc.message, True)
        )
    finally:
        guard.close()
        if tracker.error is not None:  # Ollama's own in-stream {"error": ...} line
            exchange.status = "upstream_error"
        exchange.prompt_tokens, exchange.completion_tokens = tracker.counts()


def _reached(exchange: Exchange, chunks: int) -> int:
    """The stream reached its quota reservation: grow it (the new cap) or raise QuotaCut."""
    budget = exchange.budget
    assert budget is not None  # the cap is NO_CAP without one
    return budget.reached(chunks)


def _guard(request: web.Request, response: web.StreamResponse) -> GuardedWriter:
    return GuardedWriter(request, response, context_of(request).settings.client_write_timeout_s)


async def _relay_large(
    request: web.Request,
    ollama: OllamaClient,
    upstream: UpstreamResponse,
    exchange: Exchange,
    head: bytes,
    openai: bool,
    dialect: Dialect | None = None,
) -> web.StreamResponse:
    """A non-streamed answer above STREAM_ABOVE, passed on as it arrives instead of held whole
    (a 79 MB answer cost 158 MB). Token counts come from its tail, where Ollama puts them."""
    response = web.StreamResponse(status=upstream.status)
    response.content_type = upstream.content_type or "application/json"
    length = upstream.headers.get("content-length", "")
    if length.isdigit():
        response.content_length = int(length)
    await response.prepare(request)
    guard = _guard(request, response)
    tail = head[-COUNTS_TAIL:]
    try:
        await guard.write(head)
        del head
        while chunk := await ollama.read_chunk(upstream):
            tail = (tail + chunk)[-COUNTS_TAIL:]
            await guard.write(chunk)
    except OllamaError:
        exchange.status = "upstream_error"  # headers are gone: the client sees a cut body
        if request.transport is not None:
            request.transport.abort()
        return response
    finally:
        guard.close()
    counts = dialect.whole_counts(tail) if dialect is not None else whole_body_counts(tail, openai)
    exchange.prompt_tokens, exchange.completion_tokens = counts
    exchange.counted = counts != (0, 0)
    await response.write_eof()
    return response


async def read_all(
    ollama: OllamaClient, upstream: UpstreamResponse, limit: int | None = None
) -> bytes:
    """The whole body, or (with `limit`) its first bytes once they pass `limit`.

    Without a limit a body above MAX_ANSWER is a 502: listings, errors and `show` answers are
    far smaller, and holding a hostile upstream's endless body would exhaust memory.
    """
    cap = MAX_ANSWER if limit is None else limit
    parts = []
    size = 0
    while chunk := await ollama.read_chunk(upstream):
        parts.append(chunk)
        size += len(chunk)
        if size > cap:
            if limit is not None:
                break
            raise OllamaError(502, f"Ollama's answer is larger than {MAX_ANSWER >> 20} MB")
    return b"".join(parts)


def _finish_buffered(
    request: web.Request,
    exchange: Exchange,
    status: int,
    content_type: str,
    body: bytes,
    openai: bool,
    dialect: Dialect | None = None,
) -> web.Response:
    if status >= 400:
        exchange.status = str(status)
        if dialect is not None:
            reshaped = dialect.reshape_error(request.path, status, body)
        elif openai and body and not body.lstrip().startswith(b'{"error":{'):
            reshaped = _reshape_error(request.path, status, body)
        else:
            reshaped = None
        if reshaped is not None:  # a rewritten error is JSON, whatever Ollama's type was
            body, content_type = reshaped, "application/json"
    else:
        counts = (
            dialect.whole_counts(body) if dialect is not None else whole_body_counts(body, openai)
        )
        exchange.prompt_tokens, exchange.completion_tokens = counts
        exchange.counted = counts != (0, 0)  # /api/embeddings reports none: estimated
    return web.Response(status=status, body=body, content_type=content_type or "application/json")
