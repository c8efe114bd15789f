"""The aiohttp application factory: middlewares (CORS, errors, auth, body limits) and routes."""

from __future__ import annotations

from aiohttp import web

from pbpm_desktop.core.http import (
    admin,
    anthropic,
    cors,
    metrics,
    models,
    native,
    openai,
    responses,
    sharing,
)
from pbpm_desktop.core.http.auth import auth_middleware
from pbpm_desktop.core.http.body import body_limits_middleware
from pbpm_desktop.core.http.context import CONTEXT, GatewayContext
from pbpm_desktop.core.http.errors import error_middleware


async def root(request: web.Request) -> web.Response:
    return web.Response(text="PBPM Desktop gateway is running\n")


def create_app(ctx: GatewayContext) -> web.Application:
    # CORS answers preflights before authentication, so it is outermost; with no
    # PBPM_CORS_ORIGINS it would only pass every request on, so it is not installed at all
    outer = [cors.cors_middleware] if ctx.settings.cors_origins else []
    app = web.Application(
        middlewares=[*outer, error_middleware, auth_middleware, body_limits_middleware],
        client_max_size=ctx.settings.max_body_bytes,
        # no request is decompressed (body.py refuses Content-Encoding): a small gzip body
        # inflated to tens of MB on the event loop
        handler_args={"max_field_size": 16 * 1024, "auto_decompress": False},
    )
    app[CONTEXT] = ctx
    cors.install(app, ctx.settings.cors_origins)
    app.router.add_get("/", root)
    models.add_routes(app)
    native.add_routes(app)
    openai.add_routes(app)
    anthropic.add_routes(app)
    responses.add_routes(app)
    admin.add_routes(app)
    sharing.add_routes(app)
    metrics.add_routes(app)
    return app
