"""Admin routes (master key only): issue, list, revoke and change keys; read usage; status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.access.key_rows import check_models, keys_with_usage
from pbpm_desktop.core.access.keys import (
    EDITABLE_FIELDS,
    MAX_DB_INT,
    POLICY_FIELDS,
)
from pbpm_desktop.core.http.body import parse_json_body
from pbpm_desktop.core.http.context import context_of
from pbpm_desktop.core.http.errors import ApiError
from pbpm_desktop.core.timeutil import parse_utc


async def _params(request: web.Request) -> dict[str, Any]:
    """Query parameters merged with a JSON body (the body wins), as the seed API accepted both."""
    params: dict[str, Any] = dict(request.query)
    body = await request.read()
    if body.strip():
        params.update(parse_json_body(body))
    return params


def _key_id(request: web.Request) -> int:
    return parse_key_id(request.match_info["key_id"], "key id")


def parse_key_id(raw: Any, label: str) -> int:
    """A key id as the database can hold it: 1 to 2^31-1 (an id over 64 bits was a 500)."""
    try:
        number = int(raw)
        if not 0 < number <= MAX_DB_INT:
            raise ValueError
    except (TypeError, ValueError) as exc:
        raise ApiError(
            400, f"{label} must be a whole number from 1 to {MAX_DB_INT}, got {str(raw)[:40]!r}"
        ) from exc
    return number


async def create_key(request: web.Request) -> web.Response:
    ctx = context_of(request)
    params = await _params(request)
    policy = {k: params[k] for k in POLICY_FIELDS if k in params}
    await check_models(ctx.vram, policy)
    info, secret = await ctx.keys.create(
        str(params.get("name") or ""), str(params.get("email") or ""), **policy
    )
    ctx.events.publish(ev.KEYS_CHANGED, {"id": info.id, "action": "created"})
    return web.json_response(
        {
            "message": "Key created. Store it now: it is shown only once.",
            "api_key": secret,
            **info.to_dict(),
        },
        status=201,
    )


async def list_keys(request: web.Request) -> web.Response:
    ctx = context_of(request)
    await ctx.audit.flush()  # include what is still in the batch
    return web.json_response({"keys": await keys_with_usage(ctx.keys)})


async def revoke_key(request: web.Request) -> web.Response:
    ctx = context_of(request)
    info = await ctx.keys.revoke(_key_id(request))
    ctx.events.publish(ev.KEYS_CHANGED, {"id": info.id, "action": "revoked"})
    return web.json_response({"message": f"key {info.prefix}… revoked", **info.to_dict()})


async def update_key(request: web.Request) -> web.Response:
    ctx = context_of(request)
    params = await _params(request)
    unknown = set(params) - set(EDITABLE_FIELDS)
    if unknown:
        raise ApiError(
            400,
            f"cannot change {', '.join(sorted(unknown))}; "
            f"editable fields: {', '.join(EDITABLE_FIELDS)}",
        )
    await check_models(ctx.vram, params)
    info = await ctx.keys.update(_key_id(request), **params)
    ctx.events.publish(ev.KEYS_CHANGED, {"id": info.id, "action": "updated"})
    return web.json_response(info.to_dict())


def _when(params: dict[str, Any], name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return parse_utc(raw)
    except ValueError as exc:
        raise ApiError(400, f"'{name}' must be an ISO 8601 date/time, got {raw!r}") from exc


def usage_filters(params: dict[str, Any]) -> dict[str, Any]:
    filters: dict[str, Any] = {"since": _when(params, "since"), "until": _when(params, "until")}
    if params.get("model"):
        filters["model"] = params["model"]
    if params.get("key_id"):
        filters["key_id"] = parse_key_id(params["key_id"], "'key_id'")
    return filters


async def usage(request: web.Request) -> web.Response:
    ctx = context_of(request)
    params = dict(request.query)
    try:
        limit = int(params.get("limit", 100))
    except ValueError as exc:
        raise ApiError(400, "'limit' must be a number") from exc
    await ctx.audit.flush()  # include what is still in the batch
    records = await ctx.keys.db.usage.records(limit=limit, **usage_filters(params))
    return web.json_response({"records": records})


async def status(request: web.Request) -> web.Response:
    """The VRAM snapshot plus the audit writer's counters (queued, written, dropped, set aside)."""
    ctx = context_of(request)
    return web.json_response({**ctx.vram.snapshot(), "audit": ctx.audit.stats()})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/admin/create_key", create_key)
    app.router.add_get("/admin/keys", list_keys)
    app.router.add_post("/admin/keys/{key_id}/revoke", revoke_key)
    app.router.add_patch("/admin/keys/{key_id}", update_key)
    app.router.add_get("/admin/usage", usage)
    app.router.add_get("/admin/status", status)
