"""Forwarding to Ollama: model-bearing requests (VRAM-gated, audited, streamed) and passthrough.

Streaming bodies are forwarded chunk by chunk as they arrive: no re-encoding, no buffering.
Token counts come from the final chunk, found by a byte search (`"done":true`) rather than by
decoding every chunk, which keeps the per-chunk cost to one `write`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from pbpm_desktop.core.access.quota import (
    Grant,
    StreamBudget,
    estimate_prompt_tokens,
    requested_completion,
)
from pbpm_desktop.core.accounting.audit import AuditEntry
from pbpm_desktop.core.http.auth import client_key
from pbpm_desktop.core.http.body import parse_json_body, read_json  # noqa: F401 (re-exported)
from pbpm_desktop.core.http.client_writes import GuardedWriter
from pbpm_desktop.core.http.context import GatewayContext, context_of
from pbpm_desktop.core.http.errors import ApiError, error_body
from pbpm_desktop.core.http.sse import MAX_EVENT, PassesOversizedEvents
from pbpm_desktop.core.rewrite import native_changes
from pbpm_desktop.core.upstream.client import OllamaClient, OllamaError, UpstreamResponse

if TYPE_CHECKING:
    from pbpm_desktop.core.http.dialect import Dialect

JSON_HEADERS = {"Content-Type": "application/json"}
STREAM_ABOVE = 1024 * 1024  # a non-streamed answer larger than this is passed on as it comes
MAX_ANSWER = 32 * 1024 * 1024  # the most of an answer the gateway holds whole (passthrough)
COUNTS_TAIL = 64 * 1024  # how much of a large answer's end is kept to read its token counts
MAX_LINE = 4 * 1024 * 1024  # an NDJSON line kept whole to find the final counts (else skipped)
_DONE = b'"done":true'
_NOT_DONE = b'"done":false'
#: one compact encoder: `json.dumps(..., separators=...)` would build a new one per call
_compact = json.JSONEncoder(separators=(",", ":")).encode
_Tracker = TypeVar("_Tracker")


@dataclass(slots=True)
class Exchange:
    """Book-keeping of one proxied request, turned into its audit record at the end.

    When a request reached Ollama but no final counts came back (the client left, the
    upstream was cut, `/api/embeddings` reports none), the record's tokens are estimated
    from the request (`payload`) and the chunks seen, and marked `estimated` (DESIGN.md §5).
    """

    request: web.Request
    route: str
    model: str = ""
    started: float = field(default_factory=time.perf_counter)
    first_byte: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    status: str = "ok"
    payload: dict[str, Any] | None = None  # the parsed request, for estimates
    sent: bool = False  # the request went to Ollama
    counted: bool = False  # Ollama's own token counts arrived
    grant: Grant | None = None  # the request's share of a daily quota
    tracker: Any = None  # the stream tracker, which knows whether final counts came
    budget: StreamBudget | None = None  # the tracker's quota cut-off, if any

    def watch(self, tracker: _Tracker) -> _Tracker:
        """Keep the stream tracker; under a quota, wrap it to cut the stream past its cap."""
        self.tracker = tracker
        if self.grant is not None and self.grant.cap is not None:
            self.budget = StreamBudget(tracker, self.grant.cap)
            return self.budget  # type: ignore[return-value]
        return tracker

    @property
    def cut(self) -> bool:
        """The stream was stopped because it passed the key's daily quota."""
        return self.budget is not None and self.budget.cut

    @contextmanager
    def audited(self, ctx: GatewayContext) -> Iterator[Exchange]:
        """Write this exchange's audit record however the request ends.

        A client that leaves (cancellation, reset) is `client_closed`; an error carries its
        HTTP status; the record is written in every case.
        """
        try:
            yield self
        except (asyncio.CancelledError, ConnectionResetError):
            self.status = "client_closed"
            raise
        except web.RequestPayloadError:  # a body its Content-Encoding can't decode: 400
            self.status = "400"
            raise
        except Exception as exc:
            self.status = str(getattr(exc, "status", 500))
            raise
        finally:
            self.finish(ctx)

    def finish(self, ctx: GatewayContext) -> None:
        key = client_key(self.request)
        now = time.perf_counter()
        estimated = self._estimate()
        ctx.audit.record(
            AuditEntry(
                key_id=key.id,
                key_prefix=key.prefix,
                owner=key.owner,
                model=self.model,
                route=self.route,
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                status=self.status,
                duration_ms=(now - self.started) * 1e3,
                ttft_ms=None if self.first_byte is None else (self.first_byte - self.started) * 1e3,
                client=self.request.remote or "",
                estimated=estimated,
            )
        )

    def _estimate(self) -> bool:
        """Fill in estimated counts if Ollama ran the request but reported none; True if so."""
        tracker = self.tracker
        if tracker is not None:
            self.counted = (
                getattr(tracker, "final", None) is not None
                or getattr(tracker, "usage", None) is not None
            )
        # refused by Ollama, or never reached it (unreachable, no room): nothing ran
        refused = (self.status[:1] == "4" and not self.cut) or self.status in ("502", "503")
        if not self.sent or self.counted or self.payload is None or refused:
            return False
        self.prompt_tokens = max(self.prompt_tokens, estimate_prompt_tokens(self.payload))
        return True


def with_fields(body: bytes, payload: dict[str, Any], extra: dict[str, Any]) -> bytes:
    """The request body with `extra`'s fields set, as sent upstream.

    When none of the fields is in the body yet (the usual case), they are appended before the
    closing brace and the client's bytes stay as they were: no re-encoding of what may be a
    long conversation, which cost as much as parsing it. Otherwise (a field to replace, or a
    body that is not plain UTF-8 JSON) the parsed payload is re-encoded.
    """
    if not extra:
        return body
    end = body.rstrip()
    plain_utf8 = body[:1] == b"{" and body[1:2] != b"\x00"  # not UTF-16/32, no BOM
    if (
        any(name in payload for name in extra)
        or not end.endswith(b"}")
        or not (plain_utf8 or json.detect_encoding(body[:4]) == "utf-8")
    ):
        payload.update(extra)
        return _compact(payload).encode()
    head = end[:-1].rstrip()
    return head + (b"" if head.endswith(b"{") else b",") + _fragment(extra) + b"}"


_fragments: dict[tuple[tuple[str, Any], ...], bytes] = {}


def _fragment(extra: dict[str, Any]) -> bytes:
    """`"name":value,...` of `extra`, cached for the few values policy uses (keep_alive)."""
    try:
        key = tuple(extra.items())
        cached = _fragments.get(key)
    except TypeError:  # an unhashable value (stream_options): encode it each time
        return _compact(extra)[1:-1].encode()
    if cached is None:
        cached = _compact(extra)[1:-1].encode()
        if len(_fragments) < 64:
            _fragments[key] = cached
    return cached


#: fields the gateway decides on; Ollama (Go's encoding/json) matches JSON keys
#: case-insensitively, so "MODEL" next to "model" would run a model the checks never saw.
#: `name` is where /api/show (and Ollama's older clients) name the model (routes.go:1312).
GUARDED_FIELDS = frozenset(
    {"model", "name", "keep_alive", "stream", "stream_options", "options", "shift"}
)


def reject_case_variants(payload: dict[str, Any]) -> None:
    for name in payload:
        folded = name.casefold()
        if folded != name and folded in GUARDED_FIELDS:
            raise ApiError(400, f"field {name!r}: write it as {folded!r} (lower case), once")


def require_model(payload: dict[str, Any]) -> str:
    model = payload.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ApiError(400, "'model' is required: name an installed model", param="model")
    return model.strip()


def _count(value: Any) -> int:
    """A token count from upstream JSON: a non-negative int, 0 for anything else."""
    if type(value) is int:
        return value if value > 0 else 0
    try:
        number = int(value or 0)  # a float (1e30), a numeric string
    except (TypeError, ValueError, OverflowError):
        return 0
    return number if number > 0 else 0


def counts_from_native(obj: dict[str, Any]) -> tuple[int, int]:
    return _count(obj.get("prompt_eval_count")), _count(obj.get("eval_count"))


def counts_from_openai(obj: dict[str, Any]) -> tuple[int, int] | None:
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        return None
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


class NdjsonTracker:
    """Watches a native NDJSON stream for token counts without decoding every line.

    The byte search assumes Go's compact encoding; for an upstream whose JSON has spaces
    (`"done": true`) the last complete line is kept and decoded at the end instead. A line
    with a top-level `"error"` is Ollama reporting a failure after the headers went out.
    """

    __slots__ = ("_last", "_tail", "chunks", "error", "final")

    def __init__(self) -> None:
        self._tail = b""
        self._last = b""
        self.chunks = 0
        self.final: dict[str, Any] | None = None
        self.error: str | None = None

    def feed(self, data: bytes) -> None:
        self.chunks += data.count(_NOT_DONE)
        buf = self._tail + data if self._tail else data
        newline = buf.rfind(b"\n")
        if newline < 0:
            # a line too long to be Ollama's final one is not held (a hostile 40 MB line)
            self._tail = buf if len(buf) <= MAX_LINE else b""
            return
        self._tail = buf[newline + 1 :] if newline + 1 < len(buf) else b""
        if buf.find(_DONE, 0, newline) >= 0:  # searched in place: no copy of every chunk
            self._parse_final(buf[:newline])
        elif buf.find(b'"error"', 0, newline) >= 0:
            self._parse_error(buf[:newline])
        else:
            previous = buf.rfind(b"\n", 0, newline)
            self._last = buf[previous + 1 : newline]

    def _parse_error(self, lines: bytes) -> None:
        for line in lines.split(b"\n"):
            if b'"error"' in line:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict) and "error" in obj:
                    self.error = str(obj["error"])

    def _parse_final(self, lines: bytes) -> None:
        for line in lines.split(b"\n"):
            if _DONE in line:
                try:
                    self.final = json.loads(line)
                except (ValueError, RecursionError):
                    pass

    def counts(self) -> tuple[int, int]:
        if self.final is None and _DONE in self._tail:  # stream ended without a newline
            self._parse_final(self._tail)
        if self.final is None:  # maybe JSON with spaces: decode the last line
            for line in (self._tail, self._last):
                try:
                    obj = json.loads(line) if line.strip() else None
                except ValueError:
                    obj = None
                if isinstance(obj, dict) and obj.get("done") is True:
                    self.final = obj
                    break
        if self.final is not None:
            return counts_from_native(self.final)
        return 0, self.chunks


class SseTracker(PassesOversizedEvents):
    """Watches an OpenAI SSE stream for the `usage` event, dropping it if the client didn't ask.

    Complete events are forwarded at once; only an event split across reads waits for its end.
    """

    __slots__ = ("_buf", "chunks", "error", "keep_usage", "usage")

    def __init__(self, keep_usage: bool) -> None:
        self._buf = b""
        super().__init__()
        self.error: str | None = None
        self.keep_usage = keep_usage
        self.usage: tuple[int, int] | None = None
        self.chunks = 0

    def feed(self, data: bytes) -> bytes:
        if self._passing:
            return self._pass(data)
        buf = self._buf + data if self._buf else data
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            if len(buf) > MAX_EVENT:  # not a usage event: on to the client as it comes
                self._buf, self._passing, self._newline = b"", True, buf.endswith(b"\n")
                return buf
            self._buf = buf
            return b""
        end = cut + 2
        ready, self._buf = (buf, b"") if end == len(buf) else (buf[:end], buf[end:])
        if b'data: {"error"' in ready:  # Ollama's late failure, after the headers
            self.error = "upstream error in stream"
        if b'"usage"' not in ready:
            self.chunks += ready.count(b'"delta"')
            return ready
        out = []
        for event in ready.split(b"\n\n")[:-1]:
            if b'"usage"' in event and event.startswith(b"data: {"):
                try:
                    obj = json.loads(event[6:])
                except (ValueError, RecursionError):
                    obj = {}
                counts = counts_from_openai(obj)
                if counts is not None:
                    # /v1/completions with usage forced puts a zero usage on every chunk
                    # before the real one: only a usage-only event (or a non-zero one) counts
                    if not obj.get("choices") or any(counts):
                        self.usage = counts
                    if not self.keep_usage:
                        if not obj.get("choices"):
                            continue
                        del obj["usage"]  # the client did not ask for usage
                        event = b"data: " + _compact(obj).encode()
            self.chunks += event.count(b'"delta"')
            out.append(event + b"\n\n")
        return b"".join(out)

    def flush(self) -> bytes:
        rest, self._buf = self._buf, b""
        return rest

    def counts(self) -> tuple[int, int]:
        return self.usage if self.usage is not None else (0, self.chunks)


async def forward_model_request(
    request: web.Request,
    route: str,
    upstream_path: str,
    *,
    openai: bool = False,
    dialect: Dialect | None = None,
) -> web.StreamResponse:
    """The whole life of an inference request: validate, gate, forward, audit.

    `dialect` (with `openai=True`) is an API that Ollama converts to a chat itself
    (Anthropic Messages, OpenAI Responses): the body goes up unchanged and the dialect reads
    its usage and shapes its errors (core/http/dialect.py).
    """
    ctx = context_of(request)
    key = client_key(request)
    policy = ctx.policy
    with Exchange(request, route).audited(ctx) as exchange, ctx.pause.guard():
        policy.charge(key)  # rpm counts every request, refused ones too
        body, payload = await read_json(request)
        reject_case_variants(payload)
        model = require_model(payload)
        exchange.model = model
        policy.check_model(key, model)  # before resolving: installed or not, the same 403
        resolved = await ctx.vram.resolve(model)
        exchange.model = resolved
        cloud = ctx.vram.is_cloud(resolved)
        if cloud:
            exchange.route = f"{route}:cloud"  # audited as cloud: it ran on ollama.com
        policy.check_model(key, resolved, cloud=cloud)
        exchange.payload = payload
        generates = "embed" not in route
        # Ollama streams unless `stream` is false (`"stream": null` streams, routes.go:750);
        # its /v1 routes stream only for `"stream": true` (openai.ChatCompletionRequest).
        stream = payload.get("stream")
        streaming = (stream is True if openai else stream is not False) and generates
        prompt = estimate_prompt_tokens(payload) if key.tokens_per_day else 0
        completion = requested_completion(payload, openai) if key.tokens_per_day else None
        grant = await policy.admit_request(key, prompt, completion, generates)
        try:
            exchange.grant = grant
            keep_usage = True
            extra: dict[str, Any] = grant.fields(payload, openai) if grant is not None else {}
            drop: tuple[str, ...] = ()
            if dialect is not None:
                pass  # Ollama reads neither keep_alive nor stream_options on these routes
            elif openai:
                if streaming:
                    options = payload.get("stream_options")
                    if options is not None and not isinstance(options, dict):
                        raise ApiError(
                            400, "'stream_options' must be an object", param="stream_options"
                        )
                    keep_usage = isinstance(options, dict) and bool(options.get("include_usage"))
                    extra["stream_options"] = {**(options or {}), "include_usage": True}
            elif not cloud:
                num_ctx = await ctx.vram.num_ctx_for(resolved)
                # the quota's num_predict (in extra's options) and the runner-option rewrite
                # both edit `options`: rewrite what the quota already merged
                merged = {**payload, **extra}
                changes, drop = native_changes(merged, ctx.vram.keep_alive_for(resolved), num_ctx)
                extra.update(changes)
            if drop:
                for name in drop:
                    payload.pop(name, None)
                payload.update(extra)
                data = _compact(payload).encode()
            else:
                data = with_fields(body, payload, extra)
            async with ctx.vram.use(resolved):
                exchange.sent = True
                args = (request, ctx, exchange, upstream_path, data, streaming, openai)
                if cloud:
                    return await _relay(*args, keep_usage, dialect)
                async with ctx.vram.parallel.slot(resolved):  # NUM_PARALLEL: see core/parallel
                    return await _relay(*args, keep_usage, dialect)
        finally:
            policy.release(key, grant)
            if exchange.cut:
                exchange.status = "429"  # the relay ended the stream in-stream


async def _relay(
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
            body = await _read_all(ollama, upstream)
            return _finish_buffered(
                request, exchange, upstream.status, upstream.content_type, body, openai, dialect
            )
        if not streaming:
            head = await _read_all(ollama, upstream, limit=STREAM_ABOVE)
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
    """Each piece goes out as it came in: one byte search and one write per chunk."""
    tracker = exchange.watch(NdjsonTracker())
    guard = _guard(request, response)
    read, feed, write = ollama.read_chunk, tracker.feed, guard.write
    try:
        while chunk := await read(upstream):
            feed(chunk)
            await write(chunk)
    except OllamaError as exc:
        # Headers are gone: tell the client in-stream, the way Ollama reports late errors.
        exchange.status = "upstream_error"
        await write(_in_stream_error(request.path, exc.message, False))
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
    tracker = exchange.watch(dialect.tracker() if dialect is not None else SseTracker(keep_usage))
    guard = _guard(request, response)
    write = guard.write
    try:
        while chunk := await ollama.read_chunk(upstream):
            ready = tracker.feed(chunk)
            if ready:
                await write(ready)
        rest = tracker.flush()
        if rest:
            await write(rest)
    except OllamaError as exc:
        exchange.status = "upstream_error"
        await write(
            dialect.stream_error(request.path, exc.message)
            if dialect is not None
            else _in_stream_error(request.path, exc.message, True)
        )
    finally:
        guard.close()
        if tracker.error is not None:  # Ollama's own in-stream {"error": ...} line
            exchange.status = "upstream_error"
        exchange.prompt_tokens, exchange.completion_tokens = tracker.counts()


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


async def _read_all(
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


_TAIL_MARKERS = (b'"total_duration":', b'"usage":')  # native, OpenAI
_NATIVE_COUNT_KEYS = ("prompt_eval_count", "eval_count")


def whole_body_counts(body: bytes, openai: bool) -> tuple[int, int]:
    """Token counts of a whole (not streamed) response, decoding as little of it as possible.

    The counts are top-level fields at the end of Ollama's objects (after the message, the
    generate `context` or the embedding vectors), so the tail from the last `"total_duration":`
    (native) or `"usage":` (OpenAI) is decoded on its own: an embedding response of a few MB
    then costs microseconds instead of a full parse. The tail decodes as a JSON object only if
    the marker is a key of the outermost object (a nested one leaves unbalanced brackets), so
    a look-alike inside the content cannot be mistaken for it; anything unexpected falls back
    to decoding the whole body.
    """
    at = body.rfind(_TAIL_MARKERS[openai])
    if at > 0:
        try:
            tail = json.loads("{" + body[at:].decode("utf-8", "surrogatepass"))
        except (ValueError, RecursionError):
            tail = None
        if isinstance(tail, dict):
            if openai:
                counts = counts_from_openai(tail)
                if counts is not None:
                    return counts
            elif any(k in tail for k in _NATIVE_COUNT_KEYS):
                return counts_from_native(tail)
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return 0, 0
    if not isinstance(obj, dict):
        return 0, 0
    counts = counts_from_openai(obj) if openai else None
    return counts if counts is not None else counts_from_native(obj)


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


async def passthrough(
    request: web.Request, path: str | None = None, route: str | None = None
) -> web.Response:
    """Forward a non-inference request (tags, ps, version, show) and audit it."""
    ctx = context_of(request)
    route = route or request.path.rsplit("/", 1)[-1]
    with Exchange(request, route).audited(ctx) as exchange:
        data = None
        if request.method == "POST":
            data, payload = await read_json(request)
            reject_case_variants(payload)
            # Ollama reads `name` when `model` is empty (routes.go:1312): check both
            names = [str(payload.get(f) or "").strip() for f in ("model", "name")]
            exchange.model = next((n for n in names if n), "")
            key = client_key(request)
            for name in dict.fromkeys(n for n in names if n):
                resolved = await ctx.vram.resolve(name)
                ctx.policy.check_model(key, resolved, cloud=ctx.vram.is_cloud(resolved))
        headers = JSON_HEADERS if data is not None else None
        async with ctx.ollama.open(
            request.method, path or request.path, data=data, headers=headers, first_byte_timeout=60
        ) as upstream:
            body = await _read_all(ctx.ollama, upstream)
            exchange.status = "ok" if upstream.status < 400 else str(upstream.status)
            body = filter_models_for_key(request, body) if upstream.status < 400 else body
            return web.Response(
                status=upstream.status,
                body=body,
                content_type=upstream.content_type or "application/json",
            )


def filter_models_for_key(request: web.Request, body: bytes) -> bytes:
    """A key limited to some models sees only those in model listings."""
    key = client_key(request)
    if not key.models or request.path not in ("/api/tags", "/api/ps", "/v1/models"):
        return body
    if request.method == "HEAD" or not body:
        return body  # no listing to filter (a HEAD answer has no body)
    obj = json.loads(body)
    field_name, name_of = ("data", "id") if request.path == "/v1/models" else ("models", "name")
    obj[field_name] = [m for m in obj.get(field_name) or [] if key.allows_model(m.get(name_of, ""))]
    return json.dumps(obj).encode()
