"""The bytes of a simulated answer: whole bodies, streamed chunks, metrics, per API.

Why apart from the routes: the four generating APIs (``/api/chat``, ``/api/generate``,
``/v1/chat/completions``, ``/v1/completions``) share one engine and differ only in framing,
which lives here in Go's field order, so a test can compare the gateway's relay to it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pbpm_desktop.simulator.models import _Spec
from pbpm_desktop.simulator.wire import (
    _CHAT_MID,
    _GENERATE_MID,
    _SSE_DONE,
    _TOKEN_JSON,
    _TOKENS,
    PROMPT_EVAL_NS_PER_TOKEN,
    _content,
    _dumps,
    _json,
    _now,
)


def _load_response(spec: _Spec, reason: str) -> web.Response:
    """Ollama answers load/unload requests with one JSON object, even when streaming."""
    body: dict[str, Any] = {"model": spec.echo, "created_at": _now()}
    if spec.api == "chat":
        body["message"] = {"role": "assistant", "content": ""}
    else:
        body["response"] = ""
    body["done"] = True
    body["done_reason"] = reason
    return _json(200, body)


def _stream_error(spec: _Spec, message: str) -> bytes:
    """A failure after the headers: an ``{"error": ...}`` line (or SSE event on /v1)."""
    if spec.api.startswith("oai"):
        error = {"message": message, "type": "api_error", "param": None, "code": None}
        return b"data: " + _dumps({"error": error}).encode() + b"\n\n"
    return (_dumps({"error": message}) + "\n").encode()


def _metrics(
    spec: _Spec, n: int, started: float, load_s: float, gen_started: float, ended: float
) -> dict[str, int]:
    prompt_ns = spec.prompt_tokens * PROMPT_EVAL_NS_PER_TOKEN
    return {
        "total_duration": int((ended - started) * 1e9) + prompt_ns,
        "load_duration": max(int(load_s * 1e9), 1),
        "prompt_eval_count": spec.prompt_tokens,
        "prompt_eval_duration": prompt_ns,
        "eval_count": n,
        "eval_duration": max(int((ended - gen_started) * 1e9), 1),
    }


def _usage(metrics: dict[str, int]) -> dict[str, int]:
    prompt, completion = metrics["prompt_eval_count"], metrics["eval_count"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _whole(spec: _Spec, n: int, reason: str, metrics: dict[str, int]) -> dict[str, Any]:
    """The non-streaming body: whole content plus the final chunk's fields."""
    text = _content(n)
    if spec.api == "chat":
        return {
            "model": spec.echo,
            "created_at": _now(),
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": reason,
            **metrics,
        }
    if spec.api == "generate":
        return {
            "model": spec.echo,
            "created_at": _now(),
            "response": text,
            "done": True,
            "done_reason": reason,
            "context": list(range(1, spec.prompt_tokens + n + 1)),
            **metrics,
        }
    created = int(datetime.now(UTC).timestamp())
    if spec.api == "oai_chat":
        return {
            "id": f"chatcmpl-{random.randrange(999)}",
            "object": "chat.completion",
            "created": created,
            "model": spec.echo,
            "system_fingerprint": "fp_ollama",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": reason,
                }
            ],
            "usage": _usage(metrics),
        }
    return {
        "id": f"cmpl-{random.randrange(999)}",
        "object": "text_completion",
        "created": created,
        "model": spec.echo,
        "system_fingerprint": "fp_ollama",
        "choices": [{"text": text, "index": 0, "finish_reason": reason}],
        "usage": _usage(metrics),
    }


def _stream_format(
    spec: _Spec, spaced_json: bool = False
) -> tuple[Callable[[int], bytes], Callable[[str, dict[str, int]], bytes]]:
    """Per-API ``(chunk(i) -> bytes, finish(reason, metrics) -> bytes)``.

    Chunks are assembled from pre-encoded pieces: only the timestamp (native) varies.
    """
    model_json = _dumps(spec.echo).encode()
    count = len(_TOKENS)
    if spec.api in ("chat", "generate"):
        head = b'{"model":' + model_json + b',"created_at":"'
        mids = _CHAT_MID if spec.api == "chat" else _GENERATE_MID

        def native_chunk(i: int) -> bytes:
            return head + _now().encode() + mids[i % count]

        def native_finish(reason: str, metrics: dict[str, int]) -> bytes:
            body = _whole(spec, 0, reason, metrics)
            if spaced_json:  # an upstream whose encoder adds spaces
                return (json.dumps(body) + "\n").encode()
            return (_dumps(body) + "\n").encode()

        return native_chunk, native_finish

    created = int(datetime.now(UTC).timestamp())
    if spec.api == "oai_chat":
        ident = f"chatcmpl-{random.randrange(999)}"
        envelope: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": spec.echo,
            "system_fingerprint": "fp_ollama",
        }
        head = (
            b"data: "
            + _dumps(envelope).encode()[:-1]
            + b',"choices":[{"index":0,"delta":{"role":"assistant","content":'
        )
        tail = b'},"finish_reason":null}]}\n\n'

        def chat_chunk(i: int) -> bytes:
            return head + _TOKEN_JSON[i % count] + tail

        def chat_finish(reason: str, metrics: dict[str, int]) -> bytes:
            last = {
                **envelope,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": reason,
                    }
                ],
            }
            out = b"data: " + _dumps(last).encode() + b"\n\n"
            if spec.include_usage:
                usage = {**envelope, "choices": [], "usage": _usage(metrics)}
                out += b"data: " + _dumps(usage).encode() + b"\n\n"
            return out + _SSE_DONE

        return chat_chunk, chat_finish

    # /v1/completions: Go field order is id, object, created, choices, model, fingerprint.
    # With include_usage Ollama puts a zero usage on every chunk, then the real one last.
    ident = f"cmpl-{random.randrange(999)}"
    prefix = {"id": ident, "object": "text_completion", "created": created}
    suffix: dict[str, Any] = {"model": spec.echo, "system_fingerprint": "fp_ollama"}
    if spec.include_usage:
        suffix["usage"] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    head = b"data: " + _dumps(prefix).encode()[:-1] + b',"choices":[{"text":'
    tail = b',"index":0,"finish_reason":null}],' + _dumps(suffix).encode()[1:] + b"\n\n"

    def completion_chunk(i: int) -> bytes:
        return head + _TOKEN_JSON[i % count] + tail

    def completion_finish(reason: str, metrics: dict[str, int]) -> bytes:
        choice = {"text": "", "index": 0, "finish_reason": reason}
        last = {**prefix, "choices": [choice], **suffix}
        out = b"data: " + _dumps(last).encode() + b"\n\n"
        if spec.include_usage:
            usage = {**prefix, "choices": [], **suffix, "usage": _usage(metrics)}
            out += b"data: " + _dumps(usage).encode() + b"\n\n"
        return out + _SSE_DONE

    return completion_chunk, completion_finish
