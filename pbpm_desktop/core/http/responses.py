"""OpenAI Responses (`POST /v1/responses`), stateless as Ollama serves it (server/routes.go:1921).

Codex-style agents use it. Same policies, VRAM gate and audit as every inference route;
OpenAI-shaped errors; tokens from `response.completed`'s `usage` (dialect.ResponsesTracker).
Ollama keeps no state, so `previous_response_id` and stored responses do not exist here
either: clients send the whole conversation as `input`.
"""

from __future__ import annotations

from aiohttp import web

from pbpm_desktop.core.http.dialect import RESPONSES
from pbpm_desktop.core.http.proxy import forward_model_request


async def responses(request: web.Request) -> web.StreamResponse:
    return await forward_model_request(
        request, "v1/responses", "/v1/responses", openai=True, dialect=RESPONSES
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/responses", responses)
