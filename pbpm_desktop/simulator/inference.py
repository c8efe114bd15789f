"""The generating routes: `/api/chat`, `/api/generate`, `/v1/chat/completions`, `/v1/completions`.

Why one engine for four routes: Ollama's OpenAI middleware converts ``/v1`` requests to native
ones (middleware/openai.go) and runs the same handlers, so loading, ``fail_next``, unload
requests, NUM_PARALLEL queueing and token timing are the same; only parsing (native.py,
openai.py) and framing (answers.py) differ.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from pbpm_desktop.simulator.answers import (
    _load_response,
    _metrics,
    _stream_error,
    _stream_format,
    _whole,
)
from pbpm_desktop.simulator.lifecycle import Lease, serve_request
from pbpm_desktop.simulator.native import parse_native
from pbpm_desktop.simulator.openai import parse_openai
from pbpm_desktop.simulator.wire import SimulatorError, _error, _json, _openai_error, _read_json

if TYPE_CHECKING:
    from pbpm_desktop.simulator.server import OllamaSimulator


class InferenceRoutes:
    """The four handlers, bound to one simulator."""

    def __init__(self, sim: OllamaSimulator) -> None:
        self.sim = sim

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, "chat", "api.ChatRequest")

    async def generate(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, "generate", "api.GenerateRequest")

    async def v1_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, "oai_chat", "openai.ChatCompletionRequest")

    async def v1_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, "oai_completion", "openai.CompletionRequest")

    async def _inference(self, request: web.Request, api: str, go_type: str) -> web.StreamResponse:
        sim = self.sim
        openai = api.startswith("oai")
        render_error = _openai_error if openai else _error
        try:
            body = await _read_json(request, go_type)
            spec = parse_openai(sim, api, body) if openai else parse_native(sim, api, body)
            if spec.unload:
                sim.scheduler.request_unload(spec.model)
                return _load_response(spec, "unload")
            if sim.fail_next and not spec.load_only:
                status, message = sim.fail_next.pop(0)
                raise SimulatorError(status, message)
        except SimulatorError as exc:
            return render_error(exc.status, exc.message)
        return await serve_request(
            sim, request, spec, sim.models.get(spec.model), self._answer, render_error
        )

    async def _answer(self, lease: Lease) -> web.StreamResponse:
        """With the model loaded: answer (streamed or not) after taking a NUM_PARALLEL slot."""
        sim, spec = self.sim, lease.spec
        openai = spec.api.startswith("oai")
        if spec.load_only and not openai:
            return _load_response(spec, "load")
        await lease.generate()
        if spec.load_only:
            n, reason = 0, "load"
        else:
            n = spec.num_predict or sim.response_tokens
            if spec.num_predict and not sim.behaviour.num_predict_is_length:
                n = min(n, sim.response_tokens)  # a cap, as on a real model
            reason = "length" if spec.num_predict and n == spec.num_predict else "stop"
        loop = asyncio.get_running_loop()
        delay = sim.token_delay
        gen_started = loop.time()
        if not spec.stream:
            if delay > 0 and n > 0:
                await asyncio.sleep(delay * n)
            metrics = _metrics(spec, n, lease.started, lease.load_s, gen_started, loop.time())
            return _json(200, _whole(spec, n, reason, metrics))
        content_type = "text/event-stream" if openai else "application/x-ndjson"
        response = await lease.open_stream({"Content-Type": content_type})
        chunk, finish = _stream_format(spec, sim.behaviour.spaced_json)
        for i in range(n):
            if delay > 0:
                await asyncio.sleep(delay)
            await response.write(chunk(i))
            if sim.fail_in_stream:  # Ollama reports a late failure in the stream
                await response.write(_stream_error(spec, sim.fail_in_stream.pop(0)))
                await response.write_eof()
                return response
        metrics = _metrics(spec, n, lease.started, lease.load_s, gen_started, loop.time())
        await response.write(finish(reason, metrics))
        await response.write_eof()
        return response


def add_inference_routes(sim: OllamaSimulator, router: web.UrlDispatcher) -> None:
    routes = InferenceRoutes(sim)
    router.add_post("/api/chat", routes.chat)
    router.add_post("/api/generate", routes.generate)
    router.add_post("/v1/chat/completions", routes.v1_chat)
    router.add_post("/v1/completions", routes.v1_completions)
