"""A purpose-built hostile Ollama on 127.0.0.1: one installed model, a chat route you script.

Enough of Ollama for the gateway to start, resolve the model and load it (`/api/tags`,
`/api/ps`, `/api/version`, a load through `/api/generate`); `/api/chat` and
`/api/embeddings` answer whatever the test's handler says (absurd token counts, streams
that ignore `num_predict`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

MODEL = "m:latest"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _model_row() -> dict[str, object]:
    return {
        "name": MODEL,
        "model": MODEL,
        "size": 1024,
        "size_vram": 1024,
        "digest": "0" * 64,
        "details": {"family": "llama", "parameter_size": "1B", "quantization_level": "Q4_0"},
        "expires_at": "2318-01-01T00:00:00Z",
    }


@asynccontextmanager
async def fake_ollama(chat: Handler, embeddings: Handler | None = None) -> AsyncIterator[str]:
    """Run the fake; yields its URL."""

    async def tags(request: web.Request) -> web.Response:
        return web.json_response({"models": [_model_row()]})

    async def ps(request: web.Request) -> web.Response:
        return web.json_response({"models": [_model_row()]})

    async def version(request: web.Request) -> web.Response:
        return web.json_response({"version": "0.12.6"})

    async def generate(request: web.Request) -> web.Response:  # loads and unloads
        body = await request.json()
        return web.json_response({"model": body.get("model"), "response": "", "done": True})

    app = web.Application()
    app.router.add_get("/api/tags", tags)
    app.router.add_get("/api/ps", ps)
    app.router.add_get("/api/version", version)
    app.router.add_post("/api/generate", generate)
    app.router.add_post("/api/chat", chat)
    if embeddings is not None:
        app.router.add_post("/api/embeddings", embeddings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
