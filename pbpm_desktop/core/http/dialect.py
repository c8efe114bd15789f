"""APIs that Ollama converts to a chat itself: Anthropic Messages and OpenAI Responses.

The gateway forwards these bodies unchanged (Ollama's middleware/anthropic.go and
middleware/openai.go do the conversion) through the same gate, policies and relay as every
inference route (`proxy.forward_model_request(..., dialect=...)`). What differs per API is
read here: where the final token counts are, and how an error looks.

Both stream Server-Sent Events with an `event:` line (`event: NAME\\ndata: JSON\\n\\n`,
middleware/anthropic.go:849 writeSSE, middleware/openai.go:498 writeEvent). The trackers
forward every complete event as soon as it is in, decode only the few events that carry
usage, and hold back only an event split across reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pbpm_desktop.core.http.errors import error_body
from pbpm_desktop.core.http.sse import PassesOversizedEvents

_EVENT_END = b"\n\n"
_USAGE = b'"usage"'


def counts_from_usage(usage: Any) -> tuple[int, int] | None:
    """`{"input_tokens", "output_tokens"}`: the usage object of both APIs."""
    if not isinstance(usage, dict):
        return None
    return int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)


def _event_parts(event: bytes) -> tuple[bytes, Any]:
    """(name, decoded data) of one SSE event; data is None when it is not JSON."""
    name = b""
    data = []
    for line in event.split(b"\n"):
        if line.startswith(b"event:"):
            name = line[6:].strip()
        elif line.startswith(b"data:"):
            data.append(line[5:].lstrip())
    try:
        return name, json.loads(b"\n".join(data)) if data else None
    except ValueError:
        return name, None


class EventTracker(PassesOversizedEvents):
    """Watches a named-event SSE stream for its usage; forwards everything unchanged.

    Subclasses say which events carry the final counts (`_on_usage_event`) and which ones
    hold generated text (`DELTA`, counted as a fallback when no final usage arrives: a
    client that left early, an upstream cut).
    """

    DELTA = b""
    __slots__ = ("chunks", "error", "estimate", "usage")

    def __init__(self) -> None:
        super().__init__()
        self.error: str | None = None  # Ollama's own late failure, an `error` event
        self.usage: tuple[int, int] | None = None
        self.estimate = 0  # input tokens Ollama estimated before it knew (Anthropic)
        self.chunks = 0

    def feed(self, data: bytes) -> bytes:
        if self._passing:
            return self._pass(data)
        ready, complete = self._events(data)
        if not complete:
            return ready
        self.chunks += ready.count(self.DELTA)
        if b"event: error" in ready or b'"type":"error"' in ready:
            self.error = "upstream error in stream"
        if _USAGE in ready:  # decode only the events that carry usage
            for event in ready.split(_EVENT_END):
                if _USAGE in event:
                    name, obj = _event_parts(event)
                    if isinstance(obj, dict):
                        self._on_usage_event(name, obj)
        return ready

    def counts(self) -> tuple[int, int]:
        return self.usage if self.usage is not None else (self.estimate, self.chunks)

    def _on_usage_event(self, name: bytes, obj: dict[str, Any]) -> None:
        raise NotImplementedError


class AnthropicTracker(EventTracker):
    """`message_delta.usage` holds the real counts (anthropic/anthropic.go:953).

    `message_start` carries only Ollama's len/4 estimate of the input (anthropic.go:1095
    EstimateCountTokens): kept as the prompt count only if the stream ends without a
    `message_delta`.
    """

    DELTA = b"event: content_block_delta"
    __slots__ = ()

    def _on_usage_event(self, name: bytes, obj: dict[str, Any]) -> None:
        if name == b"message_delta":
            self.usage = counts_from_usage(obj.get("usage"))
        elif name == b"message_start":
            message = obj.get("message")
            counts = counts_from_usage(message.get("usage") if isinstance(message, dict) else None)
            if counts is not None:
                self.estimate = counts[0]


class ResponsesTracker(EventTracker):
    """`response.completed` (or `.failed` / `.incomplete`) holds `response.usage`
    (openai/responses.go:1557 processCompletion); earlier events carry `"usage":null`."""

    DELTA = b"event: response.output_text.delta"
    __slots__ = ()

    def _on_usage_event(self, name: bytes, obj: dict[str, Any]) -> None:
        response = obj.get("response")
        if isinstance(response, dict):
            counts = counts_from_usage(response.get("usage"))
            if counts is not None:
                self.usage = counts


@dataclass(frozen=True, slots=True)
class Dialect:
    """One converted API: its tracker, its whole-body usage, its error shapes."""

    name: str
    #: the first Ollama release that serves the route (git tag --contains of its middleware)
    since: str
    tracker_class: type[EventTracker]
    #: the shape Ollama's own errors already have on this route (then they pass unchanged)
    native_error_prefix: bytes

    def tracker(self) -> EventTracker:
        return self.tracker_class()

    def whole_counts(self, body: bytes) -> tuple[int, int]:
        """Counts of a non-streamed answer: its top-level `usage` (both APIs)."""
        try:
            obj = json.loads(body)
        except ValueError:
            return 0, 0
        counts = counts_from_usage(obj.get("usage")) if isinstance(obj, dict) else None
        return counts if counts is not None else (0, 0)

    def reshape_error(self, path: str, status: int, body: bytes) -> bytes | None:
        """The error in this route's shape, or None when Ollama's already has it.

        An Ollama too old for the route answers Go's `404 page not found` (text/plain):
        that becomes a JSON error saying to update Ollama.
        """
        stripped = body.lstrip()
        if stripped.startswith(self.native_error_prefix):
            return None
        message: Any = None
        try:
            obj = json.loads(body)
            message = obj.get("error") if isinstance(obj, dict) else None
            if isinstance(message, dict):
                message = message.get("message")
        except ValueError:
            pass
        if message is None:
            message = body.decode("utf-8", "replace").strip()[:300]
            if status == 404 and message == "404 page not found":
                message = (
                    f"the Ollama behind this gateway does not serve {path}; ask the "
                    f"workstation's owner to update Ollama (to {self.since} or newer)"
                )
        return error_body(path, status, str(message or f"upstream error {status}"))

    def stream_error(self, path: str, message: str) -> bytes:
        """A late upstream failure, told in-stream as an `error` event both SDKs raise on."""
        return b"event: error\ndata: " + error_body(path, 502, message) + _EVENT_END


ANTHROPIC = Dialect("anthropic", "0.14.0", AnthropicTracker, b'{"type":"error"')
RESPONSES = Dialect("responses", "0.13.3", ResponsesTracker, b'{"error":{')
