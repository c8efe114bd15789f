"""Request bodies: no compression, a read deadline, large JSON decoded off the event loop.

* `Content-Encoding` on a request is refused (415): a 27 KB gzip body inflated to tens of MB
  on the event loop, stalling every client; aiohttp's request decompression is off as well
  (`auto_decompress=False` in app.py). The one exception is the one Ollama makes: `zstd` on
  `/v1/responses` (Codex-style agents compress their bodies; middleware/openai.go:1157
  ResponsesMiddleware), inflated here off the loop and never past the body limit (413).
* The whole body must arrive within `request_body_timeout_s` (408, connection closed): a body
  trickled a byte at a time would otherwise hold its connection and handler for ever.
* A JSON body above `OFF_LOOP_BYTES` is decoded in the default executor: a 28 MB body took
  the loop ~0.6 s, during which no other client got a byte. Small bodies, the usual case,
  are decoded in place (a thread hop would cost more than the parse).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from aiohttp import web

from pbpm_desktop.core.http.context import context_of
from pbpm_desktop.core.http.errors import ApiError, Handler, error_response

OFF_LOOP_BYTES = 1024 * 1024
#: the only compressed bodies accepted, as Ollama accepts them: zstd on the Responses route
ZSTD_PATHS = frozenset({"/v1/responses"})

if sys.version_info >= (3, 14):
    from compression.zstd import ZstdDecompressor, ZstdError
else:
    from backports.zstd import ZstdDecompressor, ZstdError


@web.middleware
async def body_limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse compressed bodies and read the body within the deadline, before any handler."""
    if request.body_exists:
        coding = request.headers.get("Content-Encoding", "").strip().lower()
        if coding not in ("", "identity") and not _inflatable(request, coding):
            raise ApiError(
                415,
                f"compressed request bodies are not accepted (Content-Encoding: {coding[:40]}); "
                "send the body uncompressed",
                headers={"Accept-Encoding": "identity"},
            )
        if request.content.is_eof():
            return await handler(request)  # it came with the head (the usual case): no timer
        limit = context_of(request).settings.request_body_timeout_s
        try:
            async with asyncio.timeout(limit if limit > 0 else None):  # 0: no deadline
                await request.read()  # aiohttp keeps it: the handler's read() returns it
        except TimeoutError:
            response = error_response(
                request,
                408,
                f"the request body did not arrive within {limit:g}s; check the client's "
                "connection (the limit is REQUEST_BODY_TIMEOUT_S)",
            )
            # sent here, then the connection closed: no lingering read of a body not coming
            response.force_close()
            await response.prepare(request)
            await response.write_eof()
            if request.transport is not None:
                request.transport.close()
            return response
    return await handler(request)


def _inflatable(request: web.Request, coding: str) -> bool:
    return coding == "zstd" and request.path in ZSTD_PATHS


def inflate_zstd(packed: bytes, limit: int) -> bytes:
    """The inflated body; 400 for bad data, 413 past `limit` (a small bomb stops there)."""
    try:
        body = ZstdDecompressor().decompress(packed, max_length=limit + 1)
    except ZstdError as exc:
        raise ApiError(
            400, f"the request body is not valid zstd ({exc}); check the Content-Encoding"
        ) from None
    if len(body) > limit:
        raise ApiError(
            413,
            f"request body too large once inflated (over {limit} bytes); the limit is "
            "set with MAX_BODY_MB",
        )
    return body


def parse_json_body(body: bytes) -> dict[str, Any]:
    try:
        if body[:1] == b"{" and body[1:2] != b"\x00":
            # what json.loads(bytes) would do for UTF-8, minus its encoding sniffing
            payload = json.loads(body.decode("utf-8", "surrogatepass"))
        else:
            payload = json.loads(body) if body else None
    except ValueError as exc:
        raise ApiError(400, f"request body is not valid JSON ({exc.args[0]})") from exc
    except RecursionError as exc:
        raise ApiError(400, "request body is nested too deeply to be a request") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "request body must be a JSON object")
    return payload


async def read_json(request: web.Request) -> tuple[bytes, dict[str, Any]]:
    """The request's body and its JSON object; a large one is decoded off the event loop."""
    body = await request.read()
    # the running loop only where it is needed: on Python 3.11 each lookup is a getpid()
    if _inflatable(request, request.headers.get("Content-Encoding", "").strip().lower()):
        limit = context_of(request).settings.max_body_bytes
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(None, inflate_zstd, body, limit)
    if len(body) <= OFF_LOOP_BYTES:
        return body, parse_json_body(body)
    return body, await asyncio.get_running_loop().run_in_executor(None, parse_json_body, body)
