"""Ollama's OpenAI-compatible routes that run no model, and the parsing of those that do.

Why a module: ``/v1`` has its own defaults (no streaming unless asked, no keep_alive, no runner
options) and its own error shape (``openai.NewError``), which must not leak into the native
routes; the generating ``/v1`` routes share the native engine (inference.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pbpm_desktop.simulator.models import _Spec
from pbpm_desktop.simulator.wire import (
    _MODIFIED_AT,
    DEFAULT_KEEP_ALIVE,
    SimulatorError,
    _go_type,
    _json,
    _num_predict,
    _openai_error,
    count_prompt_tokens,
)

if TYPE_CHECKING:
    from pbpm_desktop.simulator.server import OllamaSimulator


class ModelRoutes:
    """``GET /v1/models`` and ``GET /v1/models/{model}``, bound to one simulator."""

    def __init__(self, sim: OllamaSimulator) -> None:
        self.sim = sim

    async def v1_models(self, request: web.Request) -> web.Response:
        created = int(datetime.fromisoformat(_MODIFIED_AT).timestamp())
        data = [
            {"id": m.name, "object": "model", "created": created, "owned_by": "library"}
            for m in self.sim.models.values()
        ]
        return _json(200, {"object": "list", "data": data})

    async def v1_model(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        if self.sim._resolve(name) is None:
            return _openai_error(404, f"model '{name}' not found")
        created = int(datetime.fromisoformat(_MODIFIED_AT).timestamp())
        return _json(
            200, {"id": name, "object": "model", "created": created, "owned_by": "library"}
        )


def add_openai_model_routes(sim: OllamaSimulator, router: web.UrlDispatcher) -> None:
    routes = ModelRoutes(sim)
    router.add_get("/v1/models", routes.v1_models)
    router.add_get("/v1/models/{model:.+}", routes.v1_model)


def parse_openai(sim: OllamaSimulator, api: str, body: dict[str, Any]) -> _Spec:
    """A ``/v1/chat/completions`` or ``/v1/completions`` body as a spec (openai/openai.go
    FromChatRequest / FromCompleteRequest checks): no keep_alive, no runner options."""
    options = body.get("stream_options") or {}
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    if api == "oai_chat":
        messages = body.get("messages")
        if not messages:
            raise SimulatorError(400, "[] is too short - 'messages'")
        if not isinstance(messages, list):
            raise SimulatorError(400, "invalid message format")
        contents: list[str | None] = []
        for message in messages:
            if not isinstance(message, dict):
                raise SimulatorError(400, "invalid message format")
            content = message.get("content")
            if isinstance(content, str):
                contents.append(content)
            elif isinstance(content, list):  # multi-part: one message per part
                for part in content:
                    if not isinstance(part, dict):
                        raise SimulatorError(400, "invalid message format")
                    contents.append(part.get("text") if part.get("type") == "text" else None)
            elif message.get("tool_calls"):
                contents.append(None)
            else:
                kind = "<nil>" if content is None else _go_type(content)
                raise SimulatorError(400, f"invalid message content type: {kind}")
        tokens = count_prompt_tokens(messages=contents)
        empty = False
    else:
        prompt = body.get("prompt") or ""
        if not isinstance(prompt, str):
            raise SimulatorError(
                400,
                f"json: cannot unmarshal {_go_type(prompt)} into Go struct field "
                "CompletionRequest.prompt of type string",
            )
        tokens = count_prompt_tokens(prompt=prompt)
        empty = prompt == ""
    model, echo = sim._find_model(body)
    if model.embedding:
        raise SimulatorError(
            400, f'"{echo}" does not support {"chat" if api == "oai_chat" else "generate"}'
        )
    return _Spec(
        api=api,
        model=model.name,
        echo=echo,
        stream=body.get("stream") is True,  # OpenAI default: not streaming
        keep_alive=DEFAULT_KEEP_ALIVE,  # the OpenAI API has no keep_alive field
        prompt_tokens=0 if empty else tokens,
        num_predict=_num_predict(body.get("max_tokens")),
        load_only=empty,
        include_usage=include_usage,
        runner=sim.scheduler.runner_for(model, {}, None),  # /v1 carries no runner options
        cloud=model.cloud,
    )
