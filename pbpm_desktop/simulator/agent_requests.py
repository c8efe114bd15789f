"""What Ollama's middlewares hand to ChatHandler for ``/v1/messages`` and ``/v1/responses``.

Why apart from the routes: the simulator counts prompt tokens over the chat messages these
conversions build (anthropic/anthropic.go FromMessagesRequest, openai/responses.go
FromResponsesRequest), and rejects what they reject with their messages, so a test can predict
``usage`` and the errors exactly without reading the route code.
"""

from __future__ import annotations

from typing import Any

from pbpm_desktop.simulator import convert as conv
from pbpm_desktop.simulator.wire import SimulatorError, _go_type


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
