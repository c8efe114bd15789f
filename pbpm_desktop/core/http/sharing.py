"""Pause / resume routes (master key): the owner takes the GPU back (core/pause.py).

`POST /admin/pause` `{"free_vram": bool, "minutes": N, "wait": bool}` (query parameters work
too) answers at once with the pause status; with `"wait": true` it answers once the GPU is
free, which suits a script that starts a game right after. `POST /admin/resume` accepts
inference again and reloads the always-on models. `GET /admin/pause` reads the status.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pbpm_desktop.core.http.admin import _params
from pbpm_desktop.core.http.context import context_of
from pbpm_desktop.core.http.errors import ApiError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ApiError(400, f"'{name}' must be true or false, got {value!r}", param=name)


def _minutes(params: dict[str, Any]) -> float | None:
    value = params.get("minutes")
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        value = "bad"
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(
            400, f"'minutes' must be a number of minutes, got {value!r}", param="minutes"
        ) from exc


async def pause(request: web.Request) -> web.Response:
    ctx = context_of(request)
    params = await _params(request)
    free_vram, minutes, wait = _flag(params, "free_vram"), _minutes(params), _flag(params, "wait")
    try:
        status = await ctx.pause.pause(free_vram=free_vram, minutes=minutes)
    except ValueError as exc:
        raise ApiError(400, str(exc), param="minutes") from exc
    if wait:
        status = await ctx.pause.wait_freed()
    message = "Sharing paused: new requests get 503 until you resume"
    if free_vram:
        message += "; every model is unloaded once running requests end"
    return web.json_response({"message": message, **status})


async def resume(request: web.Request) -> web.Response:
    status = await context_of(request).pause.resume()
    return web.json_response({"message": "Sharing resumed", **status})


async def pause_status(request: web.Request) -> web.Response:
    return web.json_response(context_of(request).pause.status())


def add_routes(app: web.Application) -> None:
    app.router.add_post("/admin/pause", pause)
    app.router.add_get("/admin/pause", pause_status)
    app.router.add_post("/admin/resume", resume)
