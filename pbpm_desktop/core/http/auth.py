"""Authentication middleware: who is calling, and may that kind of key use this route.

Rules (DESIGN.md §3): `/health` is open; `/admin/*` needs the master key; `/metrics` the
master key, or no key at all from loopback (a local Prometheus); every other route needs an
active client key. The master key never serves inference. Secrets are never logged.
Refused credentials are counted per address by the brute-force guard (core/access/guard.py),
which answers 429 to an address past its limit before any key is looked at.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.access.keys import MASTER, KeyInfo
from pbpm_desktop.core.http.context import context_of
from pbpm_desktop.core.http.errors import ApiError, Handler

PUBLIC_PATHS = frozenset({"/health", "/"})
METRICS_PATH = "/metrics"
PRINCIPAL = web.RequestKey("pbpm_principal", object)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pbpm-desktop"'}


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    # Anthropic's SDKs (`api_key`) and Claude-Code-style agents (ANTHROPIC_API_KEY) send the
    # key as x-api-key; `auth_token` / ANTHROPIC_AUTH_TOKEN send it as Bearer, taken above.
    return request.headers.get("x-api-key", "").strip() or None


def client_key(request: web.Request) -> KeyInfo:
    """The authenticated client key of a request that passed the middleware."""
    principal = request[PRINCIPAL]
    assert isinstance(principal, KeyInfo)
    return principal


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    token = bearer_token(request)
    if token is None:
        if request.path == METRICS_PATH and _from_loopback(request):
            return await handler(request)  # a scraper on this machine needs no key
        _failed(request, None)
        raise ApiError(
            401,
            "missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>' "
            "(the gateway's owner issues keys with `pbpm-desktop keys create`)",
            headers=_CHALLENGE,
        )
    ctx = context_of(request)
    guard, address = ctx.guard, request.remote
    wait = guard.retry_after(address)
    if wait is not None:
        raise ApiError(
            429,
            f"too many failed authentications from this address; try again in {wait} s "
            "with a valid key",
            headers={"Retry-After": str(wait)},
        )
    keys = ctx.keys
    is_admin_route = request.path.startswith("/admin/") or request.path == METRICS_PATH
    info = keys.cached(token)  # a recently verified client key: no database
    if info is None:
        if keys.is_master(token):
            if not is_admin_route:
                raise ApiError(
                    403,
                    "the master key only manages keys and cannot be used for inference; "
                    "create a client key (POST /admin/create_key or `pbpm-desktop keys create`) "
                    "and use that",
                )
            request[PRINCIPAL] = MASTER
            return await handler(request)
        info = await keys.lookup(token)
    if info is None or not info.active:
        guard.failed(address)
        _failed(request, info)  # metrics hook (pbpm_auth_failures_total)
        if info is None:
            message = "invalid API key; check it or ask for a new one"
        elif info.revoked_at is not None:
            message = "this API key was revoked; ask for a new one"
        else:
            message = "this API key has expired; ask for a new one"
        raise ApiError(401, message, headers=_CHALLENGE)
    if is_admin_route:
        raise ApiError(403, "admin routes need the master key; client keys are for inference")
    request[PRINCIPAL] = info
    return await handler(request)


def _failed(request: web.Request, info: KeyInfo | None) -> None:
    """Publish a failed authentication (metrics count it); never the key itself."""
    if info is None:
        reason = "missing" if bearer_token(request) is None else "invalid"
    else:
        reason = "revoked" if info.revoked_at is not None else "expired"
    payload = {"reason": reason, "client": request.remote or ""}
    context_of(request).events.publish(ev.AUTH_FAILED, payload)


def _from_loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False
