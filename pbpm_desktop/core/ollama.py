"""Client for the upstream Ollama server: one pooled aiohttp session, explicit timeouts.

No total timeout: a long generation must never be cut. Instead a connect timeout, a
first-byte deadline (which covers model loading) and an idle timeout between chunks.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

log = logging.getLogger(__name__)


class OllamaError(Exception):
    """Ollama answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class OllamaUnreachable(OllamaError):
    """No connection to Ollama (not running, wrong URL)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            502,
            f"Ollama is unreachable at {url} ({reason}). Start Ollama (`ollama serve`) "
            "or set OLLAMA_URL to where it runs.",
        )


class OllamaTimeout(OllamaError):
    def __init__(self, what: str) -> None:
        super().__init__(504, f"Ollama did not answer in time ({what}); try again later.")


class OllamaClient:
    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 5.0,
        first_byte_timeout: float = 600.0,
        idle_timeout: float = 300.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.first_byte_timeout = first_byte_timeout
        self.idle_timeout = idle_timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("OllamaClient.start() was not awaited")
        return self._session

    @asynccontextmanager
    async def open(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        first_byte_timeout: float | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request and yield the response once its headers arrive.

        Maps connection failures to OllamaUnreachable (502) and a missed first-byte deadline to
        OllamaTimeout (504). The body is left for the caller to stream.
        """
        url = self.base_url + path
        deadline = self.first_byte_timeout if first_byte_timeout is None else first_byte_timeout
        try:
            async with asyncio.timeout(deadline):
                resp = await self.session.request(method, url, data=data, headers=headers)
        except TimeoutError as exc:
            raise OllamaTimeout(f"no response within {deadline:g}s") from exc
        except aiohttp.ClientConnectionError as exc:
            raise OllamaUnreachable(self.base_url, type(exc).__name__) from exc
        try:
            yield resp
        finally:
            resp.release()

    async def read_chunk(self, resp: aiohttp.ClientResponse) -> bytes:
        """Next piece of a streamed body as it arrives (b"" at the end), within the idle timeout."""
        try:
            async with asyncio.timeout(self.idle_timeout):
                return await resp.content.readany()
        except TimeoutError as exc:
            raise OllamaTimeout(f"no data for {self.idle_timeout:g}s mid-response") from exc
        except aiohttp.ClientPayloadError as exc:
            raise OllamaError(502, "Ollama closed the response before it was complete") from exc
        except aiohttp.ClientConnectionError as exc:
            raise OllamaError(502, "Ollama closed the connection mid-response") from exc

    async def call(
        self, method: str, path: str, payload: Any = None, *, timeout: float | None = None
    ) -> Any:
        """A JSON request/response round trip for control calls (tags, ps, load, unload)."""
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if data is not None else None
        async with self.open(
            method, path, data=data, headers=headers, first_byte_timeout=timeout
        ) as r:
            try:
                body = await r.read()
            except aiohttp.ClientError as exc:
                raise OllamaError(502, "Ollama closed the connection mid-response") from exc
            if r.status >= 400:
                raise OllamaError(r.status, _error_message(body, r.status))
            return json.loads(body) if body else None

    async def tags(self) -> list[dict[str, Any]]:
        return (await self.call("GET", "/api/tags", timeout=30))["models"] or []

    async def ps(self) -> list[dict[str, Any]]:
        return (await self.call("GET", "/api/ps", timeout=30))["models"] or []

    async def version(self) -> str:
        return (await self.call("GET", "/api/version", timeout=10))["version"]

    async def load(self, model: str, keep_alive: int | str) -> dict[str, Any]:
        """Load a model with no prompt (Ollama's documented preload)."""
        return await self.call("POST", "/api/generate", {"model": model, "keep_alive": keep_alive})

    async def unload(self, model: str) -> dict[str, Any]:
        """Ask Ollama to unload; it does so asynchronously, so callers poll `ps()` after."""
        payload = {"model": model, "keep_alive": 0}
        return await self.call("POST", "/api/generate", payload, timeout=60)


def _error_message(body: bytes, status: int) -> str:
    try:
        data = json.loads(body)
        if isinstance(data, dict):
            err = data.get("error")
            if isinstance(err, dict):
                return str(err.get("message") or err)
            if err:
                return str(err)
    except ValueError:
        pass
    text = body.decode("utf-8", "replace").strip()
    return text[:300] or f"Ollama answered HTTP {status}"
