"""Error responses: Ollama-shaped on native routes, OpenAI-shaped on /v1 (Anthropic-shaped on
/v1/messages), never a traceback.

Every failure the gateway knows about becomes an `ApiError` (or one of the core's errors that
carry `.status` and `.message`); the middleware turns it into JSON in the shape the client's
library expects. Anything unexpected is logged with its traceback and answered with a 500 that
says where to look.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from pbpm_desktop.core.errors import GatewayError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(GatewayError):
    """A refusal of the HTTP layer itself (bad body, bad field, wrong route for the key)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, status, headers=headers, param=param)


#: Anthropic's error types (what its SDKs and Claude Code read); Ollama's
#: anthropic/anthropic.go:38 NewError maps the same statuses (503 and 529 overloaded).
_ANTHROPIC_TYPES = {
    **_OPENAI_TYPES,
    413: "request_too_large",
    503: "overloaded_error",
    529: "overloaded_error",
}


def is_openai_path(path: str) -> bool:
    return path.startswith("/v1/")


def is_anthropic_path(path: str) -> bool:
    """Anthropic Messages (and its sub-routes, e.g. an SDK's count_tokens): Anthropic errors."""
    return path == "/v1/messages" or path.startswith("/v1/messages/")


def error_body(path: str, status: int, message: str, param: str | None = None) -> bytes:
    """The one place an error's shape is chosen, from the route the client called."""
    if is_anthropic_path(path):
        payload: dict[str, object] = {
            "type": "error",
            "error": {"type": _ANTHROPIC_TYPES.get(status, "api_error"), "message": message},
        }
    elif is_openai_path(path):
        payload = {
            "error": {
                "message": message,
                "type": _OPENAI_TYPES.get(status, "api_error"),
                "param": param,
                # Ollama's /v1 errors carry code null (openai/openai.go NewError); the HTTP
                # status says the rest
                "code": None,
            }
        }
    else:
        payload = {"error": message}
    return json.dumps(payload).encode()


def error_response(
    request: web.Request,
    status: int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> web.Response:
    return web.Response(
        status=status,
        body=error_body(request.path, status, message, param),
        content_type="application/json",
        headers=headers,
    )


_HTTP_MESSAGES = {
    404: "no such route; see the README for the gateway's routes",
    405: "method not allowed on this route",
    413: "request body too large; the limit is set with MAX_BODY_MB",
}


def _payload_reason(exc: Exception) -> str:
    """aiohttp's "400, message:\n  Can not decode ..." as one plain clause."""
    return " ".join(str(exc).split()).removeprefix("400, message: ") or "malformed body"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as exc:  # keys, limits, VRAM, Ollama, this layer: one shape
        return error_response(
            request, exc.status, exc.message, headers=exc.headers or None, param=exc.param
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = _HTTP_MESSAGES.get(exc.status, exc.reason)
        if exc.status == 413:
            detail = (exc.text or "").strip()
            message = f"request body too large ({detail}); the limit is set with MAX_BODY_MB"
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(request, exc.status, message, headers=headers)
    except web.RequestPayloadError as exc:  # e.g. a body that its Content-Encoding can't decode
        return error_response(
            request,
            400,
            f"the request body could not be read ({_payload_reason(exc)}); "
            "send plain JSON or a valid gzip/deflate/zstd body with its Content-Encoding",
        )
    except ConnectionResetError:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            request, 500, "internal gateway error; the gateway log has the details"
        )
