"""Ollama's converters from a native chat answer to Anthropic Messages and OpenAI Responses.

Ports of anthropic/anthropic.go (ToMessagesResponse, StreamConverter.Process) and
openai/responses.go (ToResponse, ResponsesStreamConverter) for what the simulator generates:
plain text, no thinking, no tool calls. Each converter takes the native `api.ChatResponse`
chunks (as dicts) one by one, as Ollama's middleware writers do, and returns
`(event name, data)` pairs to send. Field order follows Go: struct fields in declaration
order (dict insertion order here), maps sorted by key (`go_json(..., sort_keys=True)`).
"""

from __future__ import annotations

import json
import random
import secrets
import time
from typing import Any

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def go_json(obj: Any, *, sort_keys: bool = False) -> str:
    """Encode like Go's encoding/json: compact, UTF-8, HTML characters escaped."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    for char, escaped in _GO_ESCAPES.items():
        if char in text:
            text = text.replace(char, escaped)
    return text


def sse(event: str, data: Any, *, sort_keys: bool = False) -> bytes:
    """`event: NAME\\ndata: JSON\\n\\n` (middleware/anthropic.go:849 writeSSE)."""
    return f"event: {event}\ndata: {go_json(data, sort_keys=sort_keys)}\n\n".encode()


def anthropic_id(prefix: str) -> str:
    """anthropic.go:983 generateID: prefix, underscore, 12 random bytes in hex."""
    return f"{prefix}_{secrets.token_hex(12)}"


# ---- Anthropic Messages -------------------------------------------------------------------


def stop_reason(done_reason: str) -> str:
    """anthropic.go:699 mapStopReason (no tool calls here)."""
    return {"stop": "end_turn", "length": "max_tokens"}.get(
        done_reason, "stop_sequence" if done_reason else ""
    )


def _message(msg_id: str, model: str, content: Any, reason: str, usage: dict[str, int]) -> dict:
    out: dict[str, Any] = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
    }
    if reason:  # `omitempty`
        out["stop_reason"] = reason
    out["usage"] = usage
    return out


def to_messages_response(msg_id: str, chunk: dict[str, Any]) -> dict[str, Any]:
    """anthropic.go:656 ToMessagesResponse; `content` is null when there is no text (Go nil)."""
    text = chunk["message"]["content"]
    content = [{"type": "text", "text": text}] if text else None
    usage = {
        "input_tokens": chunk.get("prompt_eval_count", 0),
        "output_tokens": chunk.get("eval_count", 0),
    }
    return _message(msg_id, chunk["model"], content, stop_reason(chunk["done_reason"]), usage)


class AnthropicStream:
    """anthropic.go:749 StreamConverter.Process, text path."""

    def __init__(self, msg_id: str, model: str, estimated_input_tokens: int) -> None:
        self.msg_id = msg_id
        self.model = model
        self.estimate = estimated_input_tokens
        self.first = True
        self.text_started = False

    def process(self, chunk: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = []
        if self.first:
            self.first = False
            # only the final chunk has metrics: the first one usually carries the estimate
            input_tokens = chunk.get("prompt_eval_count", 0) or self.estimate
            usage = {"input_tokens": input_tokens, "output_tokens": 0}
            start = _message(self.msg_id, self.model, [], "", usage)
            events.append(("message_start", {"type": "message_start", "message": start}))
        text = chunk["message"]["content"]
        if text:
            if not self.text_started:
                self.text_started = True
                block = {"type": "text", "text": ""}
                events.append(
                    (
                        "content_block_start",
                        {"type": "content_block_start", "index": 0, "content_block": block},
                    )
                )
            delta = {"type": "text_delta", "text": text}
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            )
        if chunk["done"]:
            if self.text_started:
                events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
            reason = stop_reason(chunk["done_reason"])
            usage = {
                "input_tokens": chunk.get("prompt_eval_count", 0),
                "output_tokens": chunk.get("eval_count", 0),
            }
            delta = {"stop_reason": reason} if reason else {}
            events.append(
                ("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
            )
            events.append(("message_stop", {"type": "message_stop"}))
        return events


# ---- OpenAI Responses ---------------------------------------------------------------------


def responses_ids() -> tuple[str, str]:
    """middleware/openai.go ResponsesMiddleware: `resp_%d` and `msg_%d` of rand.Intn(999999)."""
    return f"resp_{random.randrange(999999)}", f"msg_{random.randrange(999999)}"


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _responses_usage(chunk: dict[str, Any]) -> dict[str, Any]:
    prompt, completion = chunk.get("prompt_eval_count", 0), chunk.get("eval_count", 0)
    return {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": prompt + completion,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


def _text_format(request: dict[str, Any]) -> dict[str, Any]:
    fmt = (
        (request.get("text") or {}).get("format") if isinstance(request.get("text"), dict) else None
    )
    if not isinstance(fmt, dict):
        return {"type": "text"}
    out = {"type": fmt.get("type", "")}
    for name in ("name", "schema", "strict"):
        if fmt.get(name) not in (None, ""):
            out[name] = fmt[name]
    return out


def _tools(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "type": t.get("type", ""),
            "name": t.get("name", ""),
            "description": t.get("description"),
            "strict": t.get("strict"),
            "parameters": t.get("parameters"),
        }
        for t in request.get("tools") or []
        if isinstance(t, dict)
    ]


def _reasoning(request: dict[str, Any]) -> dict[str, Any] | None:
    reasoning = request.get("reasoning") or {}
    effort, summary = reasoning.get("effort") or None, reasoning.get("summary") or None
    if effort is None and summary is None:
        return None
    return {"effort": effort, "summary": summary}


def _response_object(
    resp_id: str, model: str, request: dict[str, Any], status: str, output: list, usage: Any
) -> dict[str, Any]:
    """responses.go:1122 buildResponseObject (a Go map: keys sorted when encoded)."""
    return {
        "id": resp_id,
        "object": "response",
        "created_at": int(time.time()),
        "completed_at": None,
        "status": status,
        "incomplete_details": None,
        "model": model,
        "previous_response_id": None,
        "instructions": request.get("instructions") or None,
        "output": output,
        "error": None,
        "tools": _tools(request),
        "tool_choice": "auto",
        "truncation": request.get("truncation") or "disabled",
        "parallel_tool_calls": True,
        "text": {"format": _text_format(request)},
        "top_p": request.get("top_p") if request.get("top_p") is not None else 1,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "top_logprobs": 0,
        "temperature": request.get("temperature") if request.get("temperature") is not None else 1,
        "reasoning": _reasoning(request),
        "usage": usage,
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": None,
        "store": False,
        "background": bool(request.get("background")),
        "service_tier": "default",
        "metadata": {},
        "safety_identifier": None,
        "prompt_cache_key": None,
    }


def to_response(
    resp_id: str, item_id: str, model: str, chunk: dict[str, Any], request: dict[str, Any]
) -> dict[str, Any]:
    """responses.go:898 ToResponse, with `completed_at` set as the middleware does."""
    item = {
        "id": item_id,
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [_output_text(chunk["message"]["content"])],
    }
    out = _response_object(resp_id, model, request, "completed", [item], _responses_usage(chunk))
    out["completed_at"] = int(time.time())
    reasoning = _reasoning(request)  # a struct with omitempty pointers here, not a map
    out["reasoning"] = (
        None if reasoning is None else {k: v for k, v in reasoning.items() if v is not None}
    )
    return out


class ResponsesStream:
    """responses.go:1084 ResponsesStreamConverter.Process, text path."""

    def __init__(self, resp_id: str, item_id: str, model: str, request: dict[str, Any]) -> None:
        self.resp_id, self.item_id, self.model, self.request = resp_id, item_id, model, request
        self.first = True
        self.started = False
        self.text = ""
        self.seq = 0

    def _event(self, name: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        data["type"] = name
        data["sequence_number"] = self.seq
        self.seq += 1
        return name, data

    def _object(self, status: str, output: list, usage: Any) -> dict[str, Any]:
        return _response_object(self.resp_id, self.model, self.request, status, output, usage)

    def _item(self, status: str) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self.item_id, "type": "message", "status": status}
        item["role"] = "assistant"
        item["content"] = [_output_text(self.text)] if status == "completed" else []
        return item

    def process(self, chunk: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        events = []
        if self.first:
            self.first = False
            for name in ("response.created", "response.in_progress"):
                events.append(
                    self._event(name, {"response": self._object("in_progress", [], None)})
                )
        text = chunk["message"]["content"]
        where = {"item_id": self.item_id, "output_index": 0, "content_index": 0}
        if text:
            if not self.started:
                self.started = True
                added = {"output_index": 0, "item": self._item("in_progress")}
                events.append(self._event("response.output_item.added", added))
                part = {**where, "part": _output_text("")}
                events.append(self._event("response.content_part.added", part))
            self.text += text
            delta = {**where, "delta": text, "logprobs": []}
            events.append(self._event("response.output_text.delta", delta))
        if chunk["done"]:
            output = []
            if self.started:
                done = {**where, "text": self.text, "logprobs": []}
                events.append(self._event("response.output_text.done", done))
                part = {**where, "part": _output_text(self.text)}
                events.append(self._event("response.content_part.done", part))
                item = {"output_index": 0, "item": self._item("completed")}
                events.append(self._event("response.output_item.done", item))
                output = [self._item("completed")]
            response = self._object("completed", output, _responses_usage(chunk))
            response["completed_at"] = int(time.time())
            events.append(self._event("response.completed", {"response": response}))
        return events
