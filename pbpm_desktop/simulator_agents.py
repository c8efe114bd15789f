"""The simulator's `POST /v1/messages` (Anthropic) and `POST /v1/responses` (OpenAI Responses).

Ollama serves both by converting the request to a native chat (middleware/anthropic.go:655
AnthropicMessagesMiddleware, middleware/openai.go:1169 ResponsesMiddleware), running its chat
handler, and converting each native chunk back (simulator_convert.py). The simulator does
the same with its own engine: the model's load, in-flight accounting and keep_alive clock
(`OllamaSimulator._acquire` / `_release`), `fail_next`, `token_delay`, the per-model request
counters and the deterministic token counts (`count_prompt_tokens` over the converted
messages, so tests can predict `usage` exactly).

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

from pbpm_desktop import simulator_convert as conv
from pbpm_desktop.simulator import (
    _TOKENS,
    DEFAULT_KEEP_ALIVE,
    SimulatorError,
    _content,
    _Flight,
    _go_type,
    _json,
    _openai_error,
    _read_json,
    _Spec,
    count_prompt_tokens,
)

if TYPE_CHECKING:
    from pbpm_desktop.simulator import OllamaSimulator, ResidentModel

Converter = Callable[[dict[str, Any]], list[tuple[str, dict[str, Any]]]]
ErrorRenderer = Callable[[int, str], web.Response]


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


def _check(body: dict[str, Any], name: str, kinds: type, go: str, where: str) -> Any:
    """Go's type check of one struct field (a JSON bool is never a number or a string)."""
    value = body.get(name)
    if value is not None and (
        not isinstance(value, kinds) or isinstance(value, bool) != (go == "bool")
    ):
        raise SimulatorError(
            400,
            f"json: cannot unmarshal {_go_type(value)} into Go struct field "
            f"{where}.{name} of type {go}",
        )
    return value


# ---- request conversion (what the middlewares hand to ChatHandler) ------------------------


def _block_text(block: dict[str, Any]) -> str:
    text = block.get("text")
    return text if isinstance(text, str) else ""


def anthropic_messages(body: dict[str, Any]) -> list[str]:
    """The contents of the chat messages anthropic.go:297 FromMessagesRequest builds."""
    out: list[str] = []
    system = body.get("system")
    if isinstance(system, str) and system:
        out.append(system)
    elif isinstance(system, list):
        text = "".join(
            _block_text(b) for b in system if isinstance(b, dict) and b.get("type") == "text"
        )
        if text:
            out.append(text)
    for message in body["messages"]:
        if not isinstance(message, dict):
            raise SimulatorError(
                400, "json: cannot unmarshal into Go value of type anthropic.MessageParam"
            )
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        text, tool_results, other = "", [], False
        for block in blocks if isinstance(blocks, list) else []:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                text += _block_text(block)
            elif kind == "tool_use":
                for field in ("id", "name"):
                    if not block.get(field):
                        raise SimulatorError(
                            400, f"tool_use block missing required '{field}' field"
                        )
                other = True
            elif kind == "tool_result":
                result = block.get("content")
                if isinstance(result, list):
                    result = "".join(_block_text(b) for b in result if isinstance(b, dict))
                tool_results.append(result if isinstance(result, str) else "")
            elif kind == "image":
                if not isinstance(block.get("source"), dict):
                    raise SimulatorError(400, "invalid image source")
                other = True
        out.extend(tool_results)  # a user turn's tool results come first (anthropic.go:518)
        if text or other:
            out.append(text)
    return out


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """anthropic.go:1095 EstimateCountTokens: bytes of system, roles, texts and tools, / 4."""

    def size(content: Any) -> int:
        if content is None:
            return 0
        if isinstance(content, str):
            return len(content.encode())
        if isinstance(content, list):
            total = 0
            for block in content:
                if isinstance(block, dict):
                    total += len(_block_text(block).encode())
                    if isinstance(block.get("thinking"), str):
                        total += len(block["thinking"].encode())
                    if block.get("type") in ("tool_use", "tool_result"):
                        total += len(conv.go_json(block).encode())
            return total
        return len(conv.go_json(content).encode())

    messages = body.get("messages") or []
    total = size(body.get("system"))
    for m in messages:
        if isinstance(m, dict):
            content = m.get("content")
            total += len(str(m.get("role", "")).encode())
            total += size(
                [{"type": "text", "text": content}] if isinstance(content, str) else content
            )
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            schema = conv.go_json(tool["input_schema"]) if "input_schema" in tool else ""
            total += len(str(tool.get("name", "")) + str(tool.get("description", "")) + schema)
    tokens = total // 4
    return 1 if tokens == 0 and (messages or body.get("system") is not None) else tokens


def _responses_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    text = ""
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text"):
            text += part.get("text") or ""
        elif kind == "input_file":
            raise SimulatorError(400, "file inputs are not currently supported")
        elif kind != "input_image":
            raise SimulatorError(400, f"{where}content[{i}]: unknown content type: {kind or ''}")
    return text


def responses_messages(body: dict[str, Any]) -> list[str]:
    """The contents of the chat messages openai/responses.go:416 FromResponsesRequest builds."""
    out: list[str] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        out.append(body["instructions"])
    raw = body.get("input")
    if isinstance(raw, str):
        if raw:
            out.append(raw)
        return out
    if raw is not None and not isinstance(raw, list):
        raise SimulatorError(400, "input must be a string or array")
    for i, item in enumerate(raw or []):
        if not isinstance(item, dict):
            raise SimulatorError(400, f"input[{i}]: json: cannot unmarshal {_go_type(item)}")
        kind = item.get("type") or ("message" if item.get("role") else "")
        if kind == "message":
            out.append(_responses_text(item.get("content"), f"input[{i}]: "))
        elif kind == "function_call_output":
            out.append(_responses_text(item.get("output"), f"input[{i}]: "))
        elif kind in ("function_call", "reasoning", "web_search_call"):
            continue  # joins an assistant message / history only: no text of its own
        elif not kind:
            raise SimulatorError(400, f"input[{i}]: input item missing required 'type' field")
        else:
            raise SimulatorError(400, f'input[{i}]: unknown input item type: "{kind}"')
    return out


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
        loop = asyncio.get_running_loop()
        started = loop.time()
        flight = _Flight(asyncio.current_task(), request)
        sim._flights.add(flight)
        record: ResidentModel | None = None
        response: web.StreamResponse | None = None
        try:
            try:
                record, load_s = await sim._acquire(sim.models[spec.model], spec.keep_alive)
            except SimulatorError as exc:
                return render_error(exc.status, exc.message)
            if not spec.load_only:
                sim.stats.requests[spec.model] = sim.stats.requests.get(spec.model, 0) + 1
            n, reason = self._length(spec)
            gen_started = loop.time()

            def final(text: str) -> dict[str, Any]:
                metrics = sim._metrics(spec, n, started, load_s, gen_started, loop.time())
                return {**_chunk(spec.echo, text), "done": True, "done_reason": reason, **metrics}

            if not spec.stream:
                if sim.token_delay > 0 and n > 0:
                    await asyncio.sleep(sim.token_delay * n)
                [(_, whole)] = convert(final(_content(n)))
                return web.Response(
                    body=(conv.go_json(whole) + "\n").encode(), content_type="application/json"
                )
            response = web.StreamResponse(
                headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
            )
            await response.prepare(request)
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
        except ConnectionResetError:
            if not flight.cut:
                sim.stats.cancelled_streams += 1
            return response if response is not None else web.Response(status=499)
        except asyncio.CancelledError:
            if not flight.cut:
                sim.stats.cancelled_streams += 1
            raise
        finally:
            if record is not None:
                sim._release(record)
            sim._flights.discard(flight)


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
