"""Anthropic Messages (`POST /v1/messages`), which Ollama serves itself (server/routes.go:1926).

Claude-Code-style agents point ANTHROPIC_BASE_URL at the gateway and send the client key as
`x-api-key` (ANTHROPIC_API_KEY) or Bearer (ANTHROPIC_AUTH_TOKEN); auth.py takes both. The
request goes through the same policies, VRAM gate and audit as every inference route; its
errors are Anthropic-shaped (errors.error_body) and its tokens come from the final
`message_delta.usage` (dialect.AnthropicTracker).

Keep-alive: Ollama's converted request carries none (anthropic/anthropic.go:297
FromMessagesRequest), exactly like its other /v1 routes, so the gateway's re-pinning of
always-on models (vram.py reconcile) covers these requests too.
"""

from __future__ import annotations

from aiohttp import web

from pbpm_desktop.core.http.dialect import ANTHROPIC
from pbpm_desktop.core.http.proxy import forward_model_request


async def messages(request: web.Request) -> web.StreamResponse:
    return await forward_model_request(
        request, "v1/messages", "/v1/messages", openai=True, dialect=ANTHROPIC
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/messages", messages)
