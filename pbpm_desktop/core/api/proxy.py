"""Forwarding to Ollama: model-bearing requests (VRAM-gated, audited, streamed) and passthrough.

Streaming bodies are forwarded chunk by chunk as they arrive: no re-encoding, no buffering.
Token counts come from the final chunk, found by a byte search (`"done":true`) rather than by
decoding every chunk, which keeps the per-chunk cost to one `write`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pbpm_desktop.core.api.auth import client_key
from pbpm_desktop.core.api.context import GatewayContext, context_of
from pbpm_desktop.core.api.errors import ApiError, error_body
from pbpm_desktop.core.audit import AuditEntry
from pbpm_desktop.core.ollama import OllamaError

JSON_HEADERS = {"Content-Type": "application/json"}
_DONE = b'"done":true'
_NOT_DONE = b'"done":false'


@dataclass(slots=True)
class Exchange:
    """Book-keeping of one proxied request, turned into its audit record at the end."""

    request: web.Request
    route: str
    model: str = ""
    started: float = field(default_factory=time.perf_counter)
    first_byte: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    status: str = "ok"

    def finish(self, ctx: GatewayContext) -> None:
        key = client_key(self.request)
        now = time.perf_counter()
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
            )
        )


def parse_json_body(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body) if body else None
    except ValueError as exc:
        raise ApiError(400, f"request body is not valid JSON ({exc.args[0]})") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "request body must be a JSON object")
    return payload


def require_model(payload: dict[str, Any]) -> str:
    model = payload.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ApiError(400, "'model' is required: name an installed model", param="model")
    return model.strip()


def counts_from_native(obj: dict[str, Any]) -> tuple[int, int]:
    return int(obj.get("prompt_eval_count") or 0), int(obj.get("eval_count") or 0)


def counts_from_openai(obj: dict[str, Any]) -> tuple[int, int] | None:
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        return None
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


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
        complete, self._tail = (buf[:newline], buf[newline + 1 :]) if newline >= 0 else (b"", buf)
        if _DONE in complete:
            self._parse_final(complete)

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
        buf = self._buf + data
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            self._buf = buf
            return b""
        ready, self._buf = buf[: cut + 2], buf[cut + 2 :]
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
    exchange = Exchange(request, route)
    try:
        payload = parse_json_body(await request.read())
        model = require_model(payload)
        exchange.model = model
        resolved = await ctx.vram.resolve(model)
        exchange.model = resolved
        await ctx.policy.admit(key, resolved)
        default_stream = not openai
        streaming = bool(payload.get("stream", default_stream)) and "embed" not in route
        keep_usage = True
        if openai:
            if streaming:
                options = payload.get("stream_options")
                keep_usage = isinstance(options, dict) and bool(options.get("include_usage"))
                payload["stream_options"] = {**(options or {}), "include_usage": True}
        else:
            payload["keep_alive"] = ctx.vram.keep_alive_for(resolved)
        data = json.dumps(payload, separators=(",", ":")).encode()
        ctx.policy.stream_started(key.id)
        try:
            async with ctx.vram.use(resolved):
                return await _relay(
                    request, ctx, exchange, upstream_path, data, streaming, openai, keep_usage
                )
        finally:
            ctx.policy.stream_ended(key.id)
    except asyncio.CancelledError:
        exchange.status = "client_closed"
        raise
    except ConnectionResetError:
        exchange.status = "client_closed"
        raise
    except Exception as exc:
        if exchange.status == "ok":
            exchange.status = str(getattr(exc, "status", 500))
        raise
    finally:
        exchange.finish(ctx)


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
    async with ollama.open("POST", path, data=data, headers=JSON_HEADERS) as upstream:
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
        tracker: NdjsonTracker | SseTracker = SseTracker(keep_usage) if openai else NdjsonTracker()
        try:
            while True:
                chunk = await ollama.read_chunk(upstream)
                if not chunk:
                    break
                if openai:
                    chunk = tracker.feed(chunk)  # type: ignore[assignment]
                    if chunk:
                        await response.write(chunk)
                else:
                    tracker.feed(chunk)  # type: ignore[call-arg]
                    await response.write(chunk)
            if openai:
                rest = tracker.flush()  # type: ignore[union-attr]
                if rest:
                    await response.write(rest)
        except OllamaError as exc:
            # Headers are gone: tell the client in-stream, the way Ollama reports late errors.
            exchange.status = "upstream_error"
            await response.write(_in_stream_error(request.path, exc.message, openai))
        finally:
            exchange.prompt_tokens, exchange.completion_tokens = tracker.counts()
        await response.write_eof()
        return response


async def _read_all(ollama: Any, upstream: Any) -> bytes:
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
        try:
            obj = json.loads(body)
        except ValueError:
            obj = {}
        counts = counts_from_openai(obj) if openai else None
        if counts is None and isinstance(obj, dict):
            counts = counts_from_native(obj)
        exchange.prompt_tokens, exchange.completion_tokens = counts or (0, 0)
    return web.Response(status=status, body=body, content_type=content_type or "application/json")


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
    exchange = Exchange(request, request.path.rsplit("/", 1)[-1])
    try:
        data = await request.read() if request.method == "POST" else None
        if data is not None:
            exchange.model = str(parse_json_body(data).get("model") or "")
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
    except Exception as exc:
        exchange.status = str(getattr(exc, "status", 500))
        raise
    finally:
        exchange.finish(ctx)


def filter_models_for_key(request: web.Request, body: bytes) -> bytes:
    """A key limited to some models sees only those in model listings."""
    key = client_key(request)
    if not key.models or request.path not in ("/api/tags", "/api/ps", "/v1/models"):
        return body
    obj = json.loads(body)
    field_name, name_of = ("data", "id") if request.path == "/v1/models" else ("models", "name")
    obj[field_name] = [m for m in obj.get(field_name) or [] if key.allows_model(m.get(name_of, ""))]
    return json.dumps(obj).encode()
