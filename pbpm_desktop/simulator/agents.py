"""The simulator's `POST /v1/messages` (Anthropic) and `POST /v1/responses` (OpenAI Responses).

Ollama serves both by converting the request to a native chat (middleware/anthropic.go:655
AnthropicMessagesMiddleware, middleware/openai.go:1169 ResponsesMiddleware), running its chat
handler, and converting each native chunk back (convert.py). The simulator does the same with
its own engine: the one request lifecycle of every model-running route (lifecycle.py: the
model's load, the NUM_PARALLEL slot, in-flight accounting and the keep_alive clock),
`fail_next`, `token_delay`, the per-model request counters and the deterministic token counts
(`count_prompt_tokens` over the converted messages, agent_requests.py).

One deliberate difference, as for every simulated answer: the answer is `response_tokens`
long unless the request's limit (`max_tokens`, `max_output_tokens`) is smaller, then it is cut
there with `done_reason: "length"` -- agents send large limits (Claude Code: 32000) and a
real model stops long before them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pbpm_desktop.simulator import convert as conv
from pbpm_desktop.simulator.agent_requests import (
    _check,
    anthropic_messages,
    estimate_input_tokens,
    responses_messages,
)
from pbpm_desktop.simulator.answers import _metrics
from pbpm_desktop.simulator.lifecycle import ErrorRenderer, Lease, serve_request
from pbpm_desktop.simulator.models import _Spec
from pbpm_desktop.simulator.wire import (
    _TOKENS,
    DEFAULT_KEEP_ALIVE,
    SimulatorError,
    _content,
    _json,
    _openai_error,
    _read_json,
    count_prompt_tokens,
)

if TYPE_CHECKING:
    from pbpm_desktop.simulator.server import OllamaSimulator

Converter = Callable[[dict[str, Any]], list[tuple[str, dict[str, Any]]]]

__all__ = [
    "AgentRoutes",
    "add_agent_routes",
    "anthropic_error",
    "anthropic_messages",
    "estimate_input_tokens",
    "responses_messages",
]


def anthropic_error(status: int, message: str) -> web.Response:
    """anthropic/anthropic.go:38 NewError, with its `request_id`."""
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
        503: "overloaded_error",
        529: "overloaded_error",
    }.get(status, "api_error")
    body = {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": conv.anthropic_id("req"),
    }
    return _json(status, body)


# ---- the routes ---------------------------------------------------------------------------


class AgentRoutes:
    """The two handlers, bound to one simulator."""

    def __init__(self, sim: OllamaSimulator) -> None:
        self.sim = sim

    async def messages(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await _read_json(request, "anthropic.MessagesRequest")
            where = "MessagesRequest"
            model = _check(body, "model", str, "string", where)
            max_tokens = _check(body, "max_tokens", int, "int", where)
            stream = _check(body, "stream", bool, "bool", where)
            messages = _check(body, "messages", list, "[]anthropic.MessageParam", where)
            if not model:
                raise SimulatorError(400, "model is required")
            if not max_tokens or max_tokens <= 0:
                raise SimulatorError(400, "max_tokens is required and must be positive")
            if not messages:
                raise SimulatorError(400, "messages is required")
            spec = self._spec(body, anthropic_messages(body), max_tokens, bool(stream))
        except SimulatorError as exc:
            return anthropic_error(exc.status, exc.message)
        msg_id = conv.anthropic_id("msg")
        if spec.stream:
            converter = conv.AnthropicStream(msg_id, spec.echo, estimate_input_tokens(body))
            return await self._run(request, spec, converter.process, anthropic_error, False)
        return await self._run(
            request,
            spec,
            lambda c: [("", conv.to_messages_response(msg_id, c))],
            anthropic_error,
            False,
        )

    async def responses(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await _read_json(request, "openai.ResponsesRequest")
            where = "ResponsesRequest"
            _check(body, "model", str, "string", where)
            limit = _check(body, "max_output_tokens", int, "int", where)
            stream = _check(body, "stream", bool, "bool", where)
            spec = self._spec(body, responses_messages(body), limit, stream is True)
        except SimulatorError as exc:
            return _openai_error(exc.status, exc.message)
        resp_id, item_id = conv.responses_ids()
        if spec.stream:
            converter = conv.ResponsesStream(resp_id, item_id, spec.echo, body)
            return await self._run(request, spec, converter.process, _openai_error, True)
        whole = lambda c: [("", conv.to_response(resp_id, item_id, spec.echo, c, body))]  # noqa: E731
        return await self._run(request, spec, whole, _openai_error, True)

    def _spec(
        self, body: dict[str, Any], contents: list[str], limit: int | None, stream: bool
    ) -> _Spec:
        """ChatHandler's checks, in its order: model, installed, can chat; then fail_next."""
        model, echo = self.sim._find_model(body)
        if model.embedding:
            raise SimulatorError(400, f'"{echo}" does not support chat')
        spec = _Spec(
            api="chat",
            model=model.name,
            echo=echo,
            stream=stream,
            keep_alive=DEFAULT_KEEP_ALIVE,  # the converted request carries none
            prompt_tokens=count_prompt_tokens(messages=contents) if contents else 0,
            num_predict=limit if limit and limit > 0 else None,
            load_only=not contents,  # no messages: ChatHandler only loads the model
            runner=self.sim.scheduler.runner_for(model, {}, None),  # the conversion sets none
            cloud=model.cloud,  # ChatHandler sends a cloud model to ollama.com, as /api/chat does
        )
        if self.sim.fail_next and not spec.load_only:
            status, message = self.sim.fail_next.pop(0)
            raise SimulatorError(status, message)
        return spec

    def _length(self, spec: _Spec) -> tuple[int, str]:
        if spec.load_only:
            return 0, "load"
        cap, natural = spec.num_predict, self.sim.response_tokens
        return (cap, "length") if cap is not None and cap <= natural else (natural, "stop")

    async def _run(
        self,
        request: web.Request,
        spec: _Spec,
        convert: Converter,
        render_error: ErrorRenderer,
        sort_keys: bool,
    ) -> web.StreamResponse:
        """Generate native chunks with the simulator's engine and send them converted."""
        sim = self.sim

        async def answer(lease: Lease) -> web.StreamResponse:
            if not spec.load_only:  # ChatHandler answers a load-only request before Completion
                await lease.generate()
            loop = asyncio.get_running_loop()
            n, reason = self._length(spec)
            gen_started = loop.time()

            def final(text: str) -> dict[str, Any]:
                started, load_s = lease.started, lease.load_s
                metrics = _metrics(spec, n, started, load_s, gen_started, loop.time())
                return {**_chunk(spec.echo, text), "done": True, "done_reason": reason, **metrics}

            if not spec.stream:
                if sim.token_delay > 0 and n > 0:
                    await asyncio.sleep(sim.token_delay * n)
                [(_, whole)] = convert(final(_content(n)))
                return web.Response(
                    body=(conv.go_json(whole) + "\n").encode(), content_type="application/json"
                )
            response = await lease.open_stream(
                {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
            )
            for i in range(n):
                if sim.token_delay > 0:
                    await asyncio.sleep(sim.token_delay)
                token = _TOKENS[i % len(_TOKENS)]
                await response.write(
                    _events(convert({**_chunk(spec.echo, token), "done": False}), sort_keys)
                )
            await response.write(_events(convert(final("")), sort_keys))
            await response.write_eof()
            return response

        model = sim.models.get(spec.model)
        return await serve_request(sim, request, spec, model, answer, render_error)


def _chunk(model: str, text: str) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": datetime.now(UTC).isoformat(),
        "message": {"role": "assistant", "content": text},
    }


def _events(events: list[tuple[str, dict[str, Any]]], sort_keys: bool) -> bytes:
    return b"".join(conv.sse(name, data, sort_keys=sort_keys) for name, data in events)


def add_agent_routes(sim: OllamaSimulator, router: web.UrlDispatcher) -> None:
    """Register the routes on the simulator's app (before its catch-all 404)."""
    routes = AgentRoutes(sim)
    router.add_post("/v1/messages", routes.messages)
    router.add_post("/v1/responses", routes.responses)
