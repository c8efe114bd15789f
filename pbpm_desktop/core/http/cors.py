"""CORS for browser clients (extensions, web UIs calling from a page): PBPM_CORS_ORIGINS.

A browser sends a preflight (`OPTIONS` with `Access-Control-Request-Method`) before any
request that carries a key; it carries no key itself, so a preflight from an allowed origin
is answered here, before authentication. Every response to an allowed origin -- errors and
streams included -- gets `Access-Control-Allow-Origin` in `on_response_prepare`, the one hook
that runs before a streamed response's headers leave. Other origins get no CORS headers at
all: the browser then refuses the page's request, which is the point.

Origins are written like Ollama's OLLAMA_ORIGINS (envconfig/config.go:86): exact
(`https://chat.example.org`), with `*` wildcards (`chrome-extension://*`,
`http://localhost:*`), or `*` alone for any origin. The allowed request headers follow
Ollama's list (server/routes.go:1845) plus what the Anthropic SDK sends from a browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web

from pbpm_desktop.core.http.errors import Handler
from pbpm_desktop.core.settings.parsers import clean_origins

#: request headers a page may send (compared case-insensitively)
ALLOWED_HEADERS = (
    "Authorization",
    "x-api-key",
    "Content-Type",
    "Accept",
    "User-Agent",
    "X-Requested-With",
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "OpenAI-Beta",
    "OpenAI-Organization",
    "OpenAI-Project",
)
#: families of SDK headers (x-stainless-os, x-stainless-retry-count, ...) allowed as requested
ALLOWED_PREFIXES = ("x-stainless-", "anthropic-", "openai-")
ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
EXPOSED_HEADERS = "Retry-After, WWW-Authenticate"
MAX_AGE_S = "600"
_LOWER_ALLOWED = frozenset(h.lower() for h in ALLOWED_HEADERS)


class CorsPolicy:
    """Which origins may call; empty means CORS is off (no header is ever added)."""

    def __init__(self, origins: Iterable[str]) -> None:
        cleaned = clean_origins(origins)
        self.any = "*" in cleaned
        self.exact = frozenset(o for o in cleaned if "*" not in o)
        self.patterns = tuple(
            re.compile("^" + ".*".join(map(re.escape, o.split("*"))) + "$")
            for o in cleaned
            if "*" in o and o != "*"
        )
        self.enabled = bool(cleaned)

    def allows(self, origin: str) -> bool:
        if not self.enabled or not origin:
            return False
        if self.any:
            return True
        origin = origin.rstrip("/").lower()
        return origin in self.exact or any(p.match(origin) for p in self.patterns)


CORS_POLICY = web.AppKey("pbpm_cors", CorsPolicy)


def _policy(request: web.Request) -> CorsPolicy:
    return request.app[CORS_POLICY]


def _allowed_request_headers(requested: str) -> str:
    names = [h.strip() for h in requested.split(",") if h.strip()]
    extra = [
        h
        for h in names
        if h.lower() not in _LOWER_ALLOWED and h.lower().startswith(ALLOWED_PREFIXES)
    ]
    return ", ".join((*ALLOWED_HEADERS, *extra))


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer an allowed origin's preflight before authentication (it carries no key)."""
    if (
        request.method == "OPTIONS"
        and "Access-Control-Request-Method" in request.headers
        and _policy(request).allows(request.headers.get("Origin", ""))
    ):
        headers = {
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": _allowed_request_headers(
                request.headers.get("Access-Control-Request-Headers", "")
            ),
            "Access-Control-Max-Age": MAX_AGE_S,
        }
        if request.headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
            # Chrome's Private Network Access: a public page calling a LAN gateway
            headers["Access-Control-Allow-Private-Network"] = "true"
        return web.Response(status=204, headers=headers)
    return await handler(request)


async def _add_origin_headers(request: web.Request, response: web.StreamResponse) -> None:
    origin = request.headers.get("Origin", "")
    response.headers.add("Vary", "Origin")
    if _policy(request).allows(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS


def install(app: web.Application, origins: Iterable[str]) -> None:
    """Validate the origins (a bad one stops start-up with one line) and hook the headers.

    `cors_middleware` must be the outermost middleware of `app` so that preflights never
    reach authentication.
    """
    policy = CorsPolicy(origins)
    app[CORS_POLICY] = policy
    if policy.enabled:
        app.on_response_prepare.append(_add_origin_headers)
