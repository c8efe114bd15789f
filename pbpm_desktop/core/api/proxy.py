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
from typing import Any, TypeVar

from aiohttp import web

from pbpm_desktop.core.api.auth import client_key
from pbpm_desktop.core.api.context import GatewayContext, context_of
from pbpm_desktop.core.api.errors import ApiError, error_body
from pbpm_desktop.core.audit import AuditEntry
from pbpm_desktop.core.ollama import OllamaClient, OllamaError, UpstreamResponse
from pbpm_desktop.core.quota import (
    Grant,
    StreamBudget,
    estimate_prompt_tokens,
    requested_completion,
)

JSON_HEADERS = {"Content-Type": "application/json"}
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


def parse_json_body(body: bytes) -> dict[str, Any]:
    try:
        if body[:1] == b"{" and body[1:2] != b"\x00":
            # what json.loads(bytes) would do for UTF-8, minus its encoding sniffing
            payload = json.loads(body.decode("utf-8", "surrogatepass"))
        else:
            payload = json.loads(body) if body else None
    except ValueError as exc:
        raise ApiError(400, f"request body is not valid JSON ({exc.args[0]})") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "request body must be a JSON object")
    return payload


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
GUARDED_FIELDS = frozenset({"model", "keep_alive", "stream", "stream_options", "options"})


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
    """Watches a native NDJSON stream for token counts without decoding every line."""

    __slots__ = ("_tail", "chunks", "final")

    def __init__(self) -> None:
        self._tail = b""
        self.chunks = 0
        self.final: dict[str, Any] | None = None

    def feed(self, data: bytes) -> None:
        self.chunks += data.count(_NOT_DONE)
        buf = self._tail + data if self._tail else data
        newline = buf.rfind(b"\n")
        if newline < 0:
            self._tail = buf
            return
        self._tail = buf[newline + 1 :] if newline + 1 < len(buf) else b""
        if buf.find(_DONE, 0, newline) >= 0:  # searched in place: no copy of every chunk
            self._parse_final(buf[:newline])

    def _parse_final(self, lines: bytes) -> None:
        for line in lines.split(b"\n"):
            if _DONE in line:
                try:
                    self.final = json.loads(line)
                except ValueError:
                    pass

    def counts(self) -> tuple[int, int]:
        if self.final is None and _DONE in self._tail:  # stream ended without a newline
            self._parse_final(self._tail)
        if self.final is not None:
            return counts_from_native(self.final)
        return 0, self.chunks


class SseTracker:
    """Watches an OpenAI SSE stream for the `usage` event, dropping it if the client didn't ask.

    Complete events are forwarded at once; only an event split across reads waits for its end.
    """

    __slots__ = ("_buf", "chunks", "keep_usage", "usage")

    def __init__(self, keep_usage: bool) -> None:
        self._buf = b""
        self.keep_usage = keep_usage
        self.usage: tuple[int, int] | None = None
        self.chunks = 0

    def feed(self, data: bytes) -> bytes:
        buf = self._buf + data if self._buf else data
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            self._buf = buf
            return b""
        end = cut + 2
        ready, self._buf = (buf, b"") if end == len(buf) else (buf[:end], buf[end:])
        if b'"usage"' not in ready:
            self.chunks += ready.count(b'"delta"')
            return ready
        out = []
        for event in ready.split(b"\n\n")[:-1]:
            if b'"usage"' in event and event.startswith(b"data: {"):
                try:
                    obj = json.loads(event[6:])
                except ValueError:
                    obj = {}
                counts = counts_from_openai(obj)
                if counts is not None:
                    self.usage = counts
                    if not obj.get("choices") and not self.keep_usage:
                        continue
            self.chunks += event.count(b'"delta"')
            out.append(event + b"\n\n")
        return b"".join(out)

    def flush(self) -> bytes:
        rest, self._buf = self._buf, b""
        return rest

    def counts(self) -> tuple[int, int]:
        return self.usage if self.usage is not None else (0, self.chunks)


async def forward_model_request(
    request: web.Request, route: str, upstream_path: str, *, openai: bool = False
) -> web.StreamResponse:
    """The whole life of an inference request: validate, gate, forward, audit."""
    ctx = context_of(request)
    key = client_key(request)
    policy = ctx.policy
    with Exchange(request, route).audited(ctx) as exchange:
        policy.charge(key)  # rpm counts every request, refused ones too
        body = await request.read()
        payload = parse_json_body(body)
        reject_case_variants(payload)
        model = require_model(payload)
        exchange.model = model
        policy.check_model(key, model)  # before resolving: installed or not, the same 403
        resolved = await ctx.vram.resolve(model)
        exchange.model = resolved
        policy.check_model(key, resolved)
        exchange.payload = payload
        generates = "embed" not in route
        default_stream = not openai
        streaming = bool(payload.get("stream", default_stream)) and generates
        prompt = estimate_prompt_tokens(payload) if key.tokens_per_day else 0
        completion = requested_completion(payload, openai) if key.tokens_per_day else None
        grant = await policy.admit_request(key, prompt, completion, generates)
        try:
            exchange.grant = grant
            keep_usage = True
            extra: dict[str, Any] = grant.fields(payload, openai) if grant is not None else {}
            if openai:
                if streaming:
                    options = payload.get("stream_options")
                    keep_usage = isinstance(options, dict) and bool(options.get("include_usage"))
                    extra["stream_options"] = {**(options or {}), "include_usage": True}
            else:
                extra["keep_alive"] = ctx.vram.keep_alive_for(resolved)
            data = with_fields(body, payload, extra)
            async with ctx.vram.use(resolved):
                exchange.sent = True
                return await _relay(
                    request, ctx, exchange, upstream_path, data, streaming, openai, keep_usage
                )
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
) -> web.StreamResponse:
    ollama = ctx.ollama
    upstream = await ollama.send("POST", path, data=data, headers=JSON_HEADERS)
    try:
        exchange.first_byte = time.perf_counter()
        if upstream.status >= 400 or not streaming:
            body = await _read_all(ollama, upstream)
            return _finish_buffered(
                request, exchange, upstream.status, upstream.content_type, body, openai
            )
        response = web.StreamResponse(status=upstream.status)
        response.content_type = upstream.content_type
        if openai:
            response.headers["Cache-Control"] = "no-cache"
        await response.prepare(request)
        if openai:
            await _relay_sse(request, ollama, upstream, response, exchange, keep_usage)
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
    read, feed, write = ollama.read_chunk, tracker.feed, response.write
    try:
        while chunk := await read(upstream):
            feed(chunk)
            await write(chunk)
    except OllamaError as exc:
        # Headers are gone: tell the client in-stream, the way Ollama reports late errors.
        exchange.status = "upstream_error"
        await write(_in_stream_error(request.path, exc.message, False))
    finally:
        exchange.prompt_tokens, exchange.completion_tokens = tracker.counts()


async def _relay_sse(
    request: web.Request,
    ollama: OllamaClient,
    upstream: UpstreamResponse,
    response: web.StreamResponse,
    exchange: Exchange,
    keep_usage: bool,
) -> None:
    tracker = exchange.watch(SseTracker(keep_usage))
    try:
        while chunk := await ollama.read_chunk(upstream):
            ready = tracker.feed(chunk)
            if ready:
                await response.write(ready)
        rest = tracker.flush()
        if rest:
            await response.write(rest)
    except OllamaError as exc:
        exchange.status = "upstream_error"
        await response.write(_in_stream_error(request.path, exc.message, True))
    finally:
        exchange.prompt_tokens, exchange.completion_tokens = tracker.counts()


async def _read_all(ollama: OllamaClient, upstream: UpstreamResponse) -> bytes:
    parts = []
    while chunk := await ollama.read_chunk(upstream):
        parts.append(chunk)
    return b"".join(parts)


def _finish_buffered(
    request: web.Request,
    exchange: Exchange,
    status: int,
    content_type: str,
    body: bytes,
    openai: bool,
) -> web.Response:
    if status >= 400:
        exchange.status = str(status)
        if openai and body and not body.lstrip().startswith(b'{"error":{'):
            body = _reshape_error(request.path, status, body)
    else:
        counts = whole_body_counts(body, openai)
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
        except ValueError:
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
    except ValueError:
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


async def passthrough(request: web.Request, path: str | None = None) -> web.Response:
    """Forward a non-inference request (tags, ps, version, show) and audit it."""
    ctx = context_of(request)
    with Exchange(request, request.path.rsplit("/", 1)[-1]).audited(ctx) as exchange:
        data = await request.read() if request.method == "POST" else None
        if data is not None:
            payload = parse_json_body(data)
            reject_case_variants(payload)
            exchange.model = str(payload.get("model") or "")
            key = client_key(request)
            if exchange.model and not key.allows_model(exchange.model):
                raise ApiError(403, f"this key may not use model '{exchange.model}'")
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
    obj = json.loads(body)
    field_name, name_of = ("data", "id") if request.path == "/v1/models" else ("models", "name")
    obj[field_name] = [m for m in obj.get(field_name) or [] if key.allows_model(m.get(name_of, ""))]
    return json.dumps(obj).encode()
