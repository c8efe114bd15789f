"""Model routes of the gateway itself: available models, preload, unload; health and status."""

from __future__ import annotations

import time

from aiohttp import web

from pbpm_desktop.core.http.auth import client_key
from pbpm_desktop.core.http.body import parse_json_body
from pbpm_desktop.core.http.context import context_of
from pbpm_desktop.core.http.exchange import Exchange
from pbpm_desktop.core.http.payload import require_model
from pbpm_desktop.core.upstream.client import OllamaError


async def health(request: web.Request) -> web.Response:
    """Open to anyone, so it says only whether the gateway and Ollama are up."""
    ctx = context_of(request)
    try:
        await ctx.ollama.call("GET", "/api/version", timeout=2)
        ollama = "up"
    except OllamaError:
        ollama = "down"
    status = "paused" if ctx.pause.paused else "ok"
    return web.json_response({"status": status, "ollama": ollama})


async def available_models(request: web.Request) -> web.Response:
    ctx = context_of(request)
    key = client_key(request)
    models = [m for m in ctx.vram.available_models() if key.allows_model(m["name"])]
    return web.json_response({"models": models})


async def preload(request: web.Request) -> web.Response:
    return await _model_action(request, "preload")


async def unload(request: web.Request) -> web.Response:
    return await _model_action(request, "unload")


async def _model_action(request: web.Request, action: str) -> web.Response:
    ctx = context_of(request)
    key = client_key(request)
    with Exchange(request, action).audited(ctx) as exchange:
        model = require_model(parse_json_body(await request.read()))
        exchange.model = model
        ctx.policy.check_model(key, model)  # before resolving: installed or not, the same 403
        resolved = await ctx.vram.resolve(model)
        exchange.model = resolved
        await ctx.policy.admit(key, resolved, cloud=ctx.vram.is_cloud(resolved))
        started = time.perf_counter()
        if action == "preload":
            with ctx.pause.guard():  # paused: 503, like inference
                result = await ctx.vram.preload(resolved)
        else:
            result = await ctx.vram.unload(resolved)
        result.setdefault("elapsed_ms", round((time.perf_counter() - started) * 1e3, 1))
        return web.json_response(result)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/api/available_models", available_models)
    app.router.add_post("/preload", preload)
    app.router.add_post("/unload", unload)
