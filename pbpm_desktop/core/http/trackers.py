"""Token counts read from answers as they pass: NDJSON and SSE streams, and whole bodies.

The relay feeds every chunk to a tracker; trackers look for the final counts with a byte search
(`"done":true`, `"usage":`) instead of decoding every chunk, and hold at most one bounded line
or event, whatever the upstream sends.
"""

from __future__ import annotations

import json
from typing import Any

from pbpm_desktop.core.http.payload import compact_json
from pbpm_desktop.core.http.sse import PassesOversizedEvents

MAX_LINE = 4 * 1024 * 1024  # an NDJSON line kept whole to find the final counts (else skipped)
_DONE = b'"done":true'
_NOT_DONE = b'"done":false'


def _count(value: Any) -> int:
    """A token count from upstream JSON: a non-negative int, 0 for anything else."""
    if type(value) is int:
        return value if value > 0 else 0
    try:
        number = int(value or 0)  # a float (1e30), a numeric string
    except (TypeError, ValueError, OverflowError):
        return 0
    return number if number > 0 else 0


def counts_from_native(obj: dict[str, Any]) -> tuple[int, int]:
    return _count(obj.get("prompt_eval_count")), _count(obj.get("eval_count"))


def counts_from_openai(obj: dict[str, Any]) -> tuple[int, int] | None:
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        return None
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


class NdjsonTracker:
    """Watches a native NDJSON stream for token counts without decoding every line.

    The byte search assumes Go's compact encoding; for an upstream whose JSON has spaces
    (`"done": true`) the last complete line is kept and decoded at the end instead. A line
    with a top-level `"error"` is Ollama reporting a failure after the headers went out.
    """

    __slots__ = ("_last", "_last_end", "_tail", "chunks", "error", "final")

    def __init__(self) -> None:
        self._tail = b""
        self._last = b""  # the latest read that ended a line, and where its last line ends:
        self._last_end = 0  # the line is cut out only if the byte search found no counts
        self.chunks = 0
        self.final: dict[str, Any] | None = None
        self.error: str | None = None

    def feed(self, data: bytes) -> None:
        self.chunks += data.count(_NOT_DONE)
        buf = self._tail + data if self._tail else data
        newline = buf.rfind(b"\n")
        if newline < 0:
            # a line too long to be Ollama's final one is not held (a hostile 40 MB line)
            self._tail = buf if len(buf) <= MAX_LINE else b""
            return
        self._tail = buf[newline + 1 :] if newline + 1 < len(buf) else b""
        if buf.find(_DONE, 0, newline) >= 0:  # searched in place: no copy of every chunk
            self._parse_final(buf[:newline])
        elif buf.find(b'"error"', 0, newline) >= 0:
            self._parse_error(buf[:newline])
        else:
            self._last, self._last_end = buf, newline

    def _parse_error(self, lines: bytes) -> None:
        for line in lines.split(b"\n"):
            if b'"error"' in line:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict) and "error" in obj:
                    self.error = str(obj["error"])

    def _parse_final(self, lines: bytes) -> None:
        for line in lines.split(b"\n"):
            if _DONE in line:
                try:
                    self.final = json.loads(line)
                except (ValueError, RecursionError):
                    pass

    def counts(self) -> tuple[int, int]:
        if self.final is None and _DONE in self._tail:  # stream ended without a newline
            self._parse_final(self._tail)
        if self.final is None:  # maybe JSON with spaces: decode the last line
            last = self._last[self._last.rfind(b"\n", 0, self._last_end) + 1 : self._last_end]
            for line in (self._tail, last):
                try:
                    obj = json.loads(line) if line.strip() else None
                except ValueError:
                    obj = None
                if isinstance(obj, dict) and obj.get("done") is True:
                    self.final = obj
                    break
        if self.final is not None:
            return counts_from_native(self.final)
        return 0, self.chunks


def _tokens_in(events: bytes) -> int:
    """Chunks in complete SSE events: chat deltas, else completion texts (`/v1/completions`
    chunks carry `"text"` and no delta; one search in the usual case). Keys cannot hide in
    string content: quotes there are escaped."""
    return events.count(b'"delta"') or events.count(b'"text"')


class SseTracker(PassesOversizedEvents):
    """Watches an OpenAI SSE stream for the `usage` event, dropping it if the client didn't ask.

    Complete events are forwarded at once; only an event split across reads waits for its end.
    """

    __slots__ = ("chunks", "error", "keep_usage", "usage")

    def __init__(self, keep_usage: bool) -> None:
        super().__init__()
        self.error: str | None = None
        self.keep_usage = keep_usage
        self.usage: tuple[int, int] | None = None
        # The stream's last chunk (the one with the finish reason) has an empty delta:
        # openai.go ToChunk / ToCompleteChunk. Starting at -1 leaves it out, so a stream with
        # `max_tokens` N under a quota is not cut at its very end (it was, counted as N + 1).
        self.chunks = -1

    def feed(self, data: bytes) -> bytes:
        if self._passing:
            return self._pass(data)
        ready, complete = self._events(data)
        if not complete:
            return ready
        # find() rather than `in`: ~60 ns less per event on CPython 3.11 (once per token)
        if ready.find(b'data: {"error"') >= 0:  # Ollama's late failure, after the headers
            self.error = "upstream error in stream"
        if ready.find(b'"usage"') < 0:  # the usual event: _tokens_in, inlined
            self.chunks += ready.count(b'"delta"') or ready.count(b'"text"')
            return ready
        out = []
        for event in ready.split(b"\n\n")[:-1]:
            if b'"usage"' in event and event.startswith(b"data: {"):
                try:
                    obj = json.loads(event[6:])
                except (ValueError, RecursionError):
                    obj = {}
                counts = counts_from_openai(obj)
                if counts is not None:
                    # /v1/completions with usage forced puts a zero usage on every chunk
                    # before the real one: only a usage-only event (or a non-zero one) counts
                    if not obj.get("choices") or any(counts):
                        self.usage = counts
                    if not self.keep_usage:
                        if not obj.get("choices"):
                            continue
                        del obj["usage"]  # the client did not ask for usage
                        event = b"data: " + compact_json(obj).encode()
            self.chunks += _tokens_in(event)
            out.append(event + b"\n\n")
        return b"".join(out)

    def counts(self) -> tuple[int, int]:
        return self.usage if self.usage is not None else (0, max(self.chunks, 0))


_TAIL_MARKERS = (b'"total_duration":', b'"usage":')  # native, OpenAI
_NATIVE_COUNT_KEYS = ("prompt_eval_count", "eval_count")


def whole_body_counts(body: bytes, openai: bool) -> tuple[int, int]:
    """Token counts of a whole (not streamed) response, decoding as little of it as possible.

    The counts are top-level fields at the end of Ollama's objects (after the message, the
    generate `context` or the embedding vectors), so the tail from the last `"total_duration":`
    (native) or `"usage":` (OpenAI) is decoded on its own: an embedding response of a few MB
    then costs microseconds instead of a full parse. The tail decodes as a JSON object only if
    the marker is a key of the outermost object (a nested one leaves unbalanced brackets), so
    a look-alike inside the content cannot be mistaken for it; anything unexpected falls back
    to decoding the whole body.
    """
    at = body.rfind(_TAIL_MARKERS[openai])
    if at > 0:
        try:
            tail = json.loads("{" + body[at:].decode("utf-8", "surrogatepass"))
        except (ValueError, RecursionError):
            tail = None
        if isinstance(tail, dict):
            if openai:
                counts = counts_from_openai(tail)
                if counts is not None:
                    return counts
            elif any(k in tail for k in _NATIVE_COUNT_KEYS):
                return counts_from_native(tail)
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return 0, 0
    if not isinstance(obj, dict):
        return 0, 0
    counts = counts_from_openai(obj) if openai else None
    return counts if counts is not None else counts_from_native(obj)
