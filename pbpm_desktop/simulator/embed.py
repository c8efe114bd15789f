"""The embedding routes: ``/api/embed``, the legacy ``/api/embeddings``, ``/v1/embeddings``.

Why apart from the generating engine: an embedding loads the model like any request (the shared
lifecycle) but produces one deterministic vector per input in one JSON answer, with no
NUM_PARALLEL slot and no stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import struct
from typing import TYPE_CHECKING

from aiohttp import web

from pbpm_desktop.simulator.lifecycle import Lease, serve_request
from pbpm_desktop.simulator.models import _Spec
from pbpm_desktop.simulator.wire import (
    DEFAULT_KEEP_ALIVE,
    EMBEDDING_DIMS,
    PROMPT_EVAL_NS_PER_TOKEN,
    SimulatorError,
    _error,
    _json,
    _openai_error,
    _read_json,
    _words,
    parse_keep_alive,
)

if TYPE_CHECKING:
    from pbpm_desktop.simulator.server import OllamaSimulator


def _embedding(text: str, dims: int) -> list[float]:
    """A deterministic, L2-normalised vector derived from the text (Ollama normalises too)."""
    raw = b""
    counter = 0
    while len(raw) < 4 * dims:
        raw += hashlib.blake2b(f"{counter}:{text}".encode(), digest_size=64).digest()
        counter += 1
    ints = struct.unpack(f"<{dims}I", raw[: 4 * dims])
    values = [i / 2**31 - 1.0 for i in ints]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


class EmbedRoutes:
    """The three handlers, bound to one simulator."""

    def __init__(self, sim: OllamaSimulator) -> None:
        self.sim = sim

    async def embed(self, request: web.Request) -> web.StreamResponse:
        return await self._embed(request, "embed")

    async def legacy_embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self._embed(request, "embeddings")

    async def v1_embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self._embed(request, "oai")

    async def _embed(self, request: web.Request, api: str) -> web.StreamResponse:
        """``/api/embed`` (``input``), legacy ``/api/embeddings`` (``prompt``), ``/v1``."""
        sim = self.sim
        render_error = _openai_error if api == "oai" else _error
        try:
            body = await _read_json(request, "api.EmbedRequest")
            if api == "embeddings":
                prompt = body.get("prompt")
                inputs = [prompt] if isinstance(prompt, str) and prompt else []
            else:
                raw = body.get("input")
                if api == "oai" and (raw is None or raw == []):
                    raise SimulatorError(400, "invalid input")
                if raw is None:
                    inputs = []
                elif isinstance(raw, str):
                    inputs = [raw]
                elif isinstance(raw, list) and all(isinstance(s, str) for s in raw):
                    inputs = raw
                else:
                    raise SimulatorError(400, "invalid input type")
            model, echo = sim._find_model(body)
            keep_alive = (
                DEFAULT_KEEP_ALIVE if api == "oai" else parse_keep_alive(body.get("keep_alive"))
            )
            dims = body.get("dimensions") or EMBEDDING_DIMS
            if not isinstance(dims, int) or not 0 < dims <= 8192:
                raise SimulatorError(400, "invalid dimensions")
            if inputs and sim.fail_next:
                status, message = sim.fail_next.pop(0)
                raise SimulatorError(status, message)
        except SimulatorError as exc:
            return render_error(exc.status, exc.message)
        # not a cloud spec: the simulator loads a cloud stub for an embedding like a local model
        spec = _Spec(api, model.name, echo, False, keep_alive, load_only=not inputs)

        async def answer(lease: Lease) -> web.StreamResponse:
            await lease.generate(slot=False)
            vectors = [_embedding(text, dims) for text in inputs]
            tokens = sum(_words(text) for text in inputs)
            elapsed = asyncio.get_running_loop().time() - lease.started
            total_ns = int(elapsed * 1e9) + tokens * PROMPT_EVAL_NS_PER_TOKEN
            load_ns = max(int(lease.load_s * 1e9), 1)
            if api == "embeddings":
                return _json(200, {"embedding": vectors[0] if vectors else []})
            if api == "oai":
                data = [
                    {"object": "embedding", "embedding": v, "index": i}
                    for i, v in enumerate(vectors)
                ]
                usage = {"prompt_tokens": tokens, "total_tokens": tokens}
                return _json(200, {"object": "list", "data": data, "model": echo, "usage": usage})
            return _json(
                200,
                {
                    "model": echo,
                    "embeddings": vectors,
                    "total_duration": total_ns,
                    "load_duration": load_ns,
                    "prompt_eval_count": tokens,
                },
            )

        return await serve_request(sim, request, spec, model, answer, render_error)


def add_embed_routes(sim: OllamaSimulator, router: web.UrlDispatcher) -> None:
    routes = EmbedRoutes(sim)
    router.add_post("/api/embed", routes.embed)
    router.add_post("/api/embeddings", routes.legacy_embeddings)
    router.add_post("/v1/embeddings", routes.v1_embeddings)
