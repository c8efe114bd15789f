"""Forwarding to Ollama: model-bearing requests (VRAM-gated, audited, streamed) and passthrough.

This module holds each request's order of checks (key, body, model, allow-list, VRAM, quota,
rewrite); relay.py streams the answer back, trackers.py reads its token counts, exchange.py
records it. Streaming bodies are forwarded chunk by chunk as they arrive: no re-encoding, no
buffering.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pbpm_desktop.core.access.quota import (
    estimate_prompt_tokens,
    requested_completion,
)
from pbpm_desktop.core.http.auth import client_key
from pbpm_desktop.core.http.body import read_json
from pbpm_desktop.core.http.context import context_of
from pbpm_desktop.core.http.errors import ApiError
from pbpm_desktop.core.http.exchange import Exchange
from pbpm_desktop.core.http.payload import (
    compact_json,
    reject_case_variants,
    require_model,
    with_fields,
)
from pbpm_desktop.core.http.relay import JSON_HEADERS, read_all, relay
from pbpm_desktop.core.rewrite import native_changes

if TYPE_CHECKING:
    from pbpm_desktop.core.http.dialect import Dialect


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
        grant = await policy.admit_request(key, prompt, completion, generates, streaming)
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
                data = compact_json(payload).encode()
            else:
                data = with_fields(body, payload, extra)
            # the VRAM gate as explicit enter/leave (not `vram.use()`): a generator-based
            # context manager costs a few microseconds a request on this, the hottest path
            admitted = await ctx.vram.enter(resolved)
            try:
                exchange.sent = True
                args = (request, ctx, exchange, upstream_path, data, streaming, openai)
                if cloud:
                    return await relay(*args, keep_usage, dialect)
                slot = await ctx.vram.parallel.acquire(resolved)  # NUM_PARALLEL (parallel.py)
                try:
                    return await relay(*args, keep_usage, dialect)
                finally:
                    slot.release()
            finally:
                ctx.vram.leave(admitted)
        finally:
            policy.release(key, grant)
            if exchange.cut:
                exchange.status = "429"  # the relay ended the stream in-stream


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
            body = await read_all(ctx.ollama, upstream)
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
