"""`GET /metrics`: Prometheus text (core/accounting/metrics.py); access is checked in auth.py."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from pbpm_desktop.core.http.auth import METRICS_PATH
from pbpm_desktop.core.http.context import context_of


async def metrics(request: web.Request) -> web.Response:
    body = context_of(request).metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application) -> None:
    app.router.add_get(METRICS_PATH, metrics)
