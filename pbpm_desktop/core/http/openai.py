"""OpenAI-compatible routes, forwarded to Ollama's own `/v1` implementation.

Token usage is always requested upstream (`stream_options.include_usage`) so the audit gets
exact counts; the extra usage event is removed again for clients that did not ask for it.
"""

from __future__ import annotations

from aiohttp import web

from pbpm_desktop.core.http.auth import client_key
from pbpm_desktop.core.http.errors import ApiError
from pbpm_desktop.core.http.proxy import forward_model_request, passthrough


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await forward_model_request(request, "v1/chat", "/v1/chat/completions", openai=True)


async def completions(request: web.Request) -> web.StreamResponse:
    return await forward_model_request(request, "v1/completions", "/v1/completions", openai=True)


async def embeddings(request: web.Request) -> web.StreamResponse:
    return await forward_model_request(request, "v1/embeddings", "/v1/embeddings", openai=True)


async def models(request: web.Request) -> web.StreamResponse:
    return await passthrough(request)


async def retrieve_model(request: web.Request) -> web.StreamResponse:
    """`GET /v1/models/{id}` (SDKs' `models.retrieve`, a common health check).

    A model the key may not use answers exactly like one that is not installed (Ollama's
    404, server/routes.go:1920 RetrieveMiddleware -> ShowHandler), so a key learns nothing
    about the models it cannot see.
    """
    name = request.match_info["model"]
    if not client_key(request).allows_model(name):
        raise ApiError(404, f"model '{name}' not found", param="model")
    return await passthrough(request, route="model")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/v1/models/{model:.+}", retrieve_model)
