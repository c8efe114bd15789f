"""Ollama-native routes: an allowlist. Model-management routes are refused with a clear 403."""

from __future__ import annotations

from aiohttp import web

from pbpm_desktop.core.http.errors import ApiError
from pbpm_desktop.core.http.proxy import forward_model_request, passthrough

#: Ollama routes that manage models or accounts: never reachable through the gateway.
BLOCKED = (
    "/api/pull",
    "/api/push",
    "/api/create",
    "/api/copy",
    "/api/delete",
    "/api/blobs/{digest}",
    "/api/me",
    "/api/signin",
    "/api/signout",
)


async def chat(request: web.Request) -> web.StreamResponse:
    return await forward_model_request(request, "chat", "/api/chat")


async def generate(request: web.Request) -> web.StreamResponse:
    return await forward_model_request(request, "generate", "/api/generate")


async def embed(request: web.Request) -> web.StreamResponse:
    return await forward_model_request(request, "embed", "/api/embed")


async def embeddings_legacy(request: web.Request) -> web.StreamResponse:
    return await forward_model_request(request, "embeddings", "/api/embeddings")


async def simple(request: web.Request) -> web.StreamResponse:
    return await passthrough(request)


async def blocked(request: web.Request) -> web.StreamResponse:
    raise ApiError(
        403,
        f"{request.path} manages models on the server and is not available through the gateway; "
        "ask the workstation's owner to run it with the `ollama` command there",
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/chat", chat)
    app.router.add_post("/api/generate", generate)
    app.router.add_post("/api/embed", embed)
    app.router.add_post("/api/embeddings", embeddings_legacy)  # Ollama's older embedding route
    app.router.add_get("/api/tags", simple)
    app.router.add_get("/api/ps", simple)
    app.router.add_get("/api/version", simple)
    app.router.add_post("/api/show", simple)
    for path in BLOCKED:
        app.router.add_route("*", path, blocked)
