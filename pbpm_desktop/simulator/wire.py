"""What every simulated route shares: the answer's words, Go-shaped JSON, request parsing, errors.

Why one module: the native, OpenAI and agent routes must agree byte for byte on how a token is
encoded, how a bad body is reported (Go's encoding/json phrasing, which clients may show) and
how prompt tokens are counted, because tests compare the gateway's relay and audit to them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from pbpm_desktop.core.goduration import parse_go_duration

# --------------------------------------------------------------------------------------------
# Constants and pre-encoded bytes (the streaming hot path only concatenates bytes).
# --------------------------------------------------------------------------------------------

#: Template tokens added per chat message (role header, separators) and once per generate
#: prompt, so that ``prompt_eval_count`` is never 0 for a real request, as with real models.
MESSAGE_OVERHEAD_TOKENS = 4
#: Prompt evaluation is instant in the simulator; this nominal cost is what gets reported.
PROMPT_EVAL_NS_PER_TOKEN = 10_000
#: ``keep_alive`` when the request does not carry one (Ollama's default, 5 minutes).
DEFAULT_KEEP_ALIVE = 300.0
#: Default embedding width: small on purpose, the values only need to be deterministic.
EMBEDDING_DIMS = 8
#: Go's ``time.Duration(math.MaxInt64)``: what Ollama uses for "forever" (expires in ~2318).
_FOREVER = timedelta(microseconds=(2**63 - 1) // 1000)
_GIB = 1024**3
_MODIFIED_AT = "2025-01-15T10:30:00.000000+00:00"

#: The answer text; token ``i`` is word ``i mod len`` plus a space, so content is predictable.
ANSWER_TEXT = (
    "The simulated model answers with a steady stream of deterministic words so that every "
    "test can predict exactly what the gateway relays to its clients."
)
_TOKENS = tuple(w + " " for w in ANSWER_TEXT.split())


def _dumps(obj: Any) -> str:
    """Encode JSON compactly like Go's encoder, so clients may look for ``"done":true``."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


_TOKEN_JSON = tuple(_dumps(t).encode() for t in _TOKENS)
_CHAT_MID = tuple(
    b'","message":{"role":"assistant","content":' + t + b'},"done":false}\n' for t in _TOKEN_JSON
)
_GENERATE_MID = tuple(b'","response":' + t + b',"done":false}\n' for t in _TOKEN_JSON)
_SSE_DONE = b"data: [DONE]\n\n"
_NOT_FOUND_TEXT = "404 page not found"


def _now() -> str:
    """RFC 3339 timestamp with microseconds, as Ollama puts in ``created_at``."""
    return datetime.now(UTC).isoformat()


def _content(n: int) -> str:
    """The full text of an ``n``-token answer: the word list, cycled."""
    count = len(_TOKENS)
    return "".join(_TOKENS[i % count] for i in range(n))


class SimulatorError(Exception):
    """An error with the HTTP status Ollama would answer (raised by ``external_load`` too)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------------------------
# Request helpers
# --------------------------------------------------------------------------------------------


def parse_keep_alive(value: Any, strict: bool = True) -> float:
    """Turn a request's ``keep_alive`` into seconds; negative means forever.

    Mirrors Ollama's ``api.Duration``: a JSON number is seconds, a string is a Go duration
    (``"5m"``, ``"1h30m"``, ``"-1m"``); a bare numeric string (``"-1"``, ``"0"``) is also
    accepted as seconds unless ``strict`` (Ollama's behaviour: ``time: missing unit in
    duration "-1"``). Absent/null means the 5 minute default.
    """
    if value is None:
        return DEFAULT_KEEP_ALIVE
    if isinstance(value, bool):
        raise SimulatorError(400, f"Unsupported type: '{type(value).__name__}'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_go_duration(value if strict else value.strip())
        except ValueError as exc:
            if strict:
                raise SimulatorError(400, str(exc)) from None
            try:
                seconds = float(value)
            except ValueError:
                raise SimulatorError(400, str(exc)) from None
    else:
        raise SimulatorError(400, f"Unsupported type: '{type(value).__name__}'")
    if math.isnan(seconds):
        raise SimulatorError(400, f'time: invalid duration "{value}"')
    return -1.0 if seconds < 0 else seconds


def _words(text: Any) -> int:
    return len(text.split()) if isinstance(text, str) else 0


def count_prompt_tokens(
    messages: Sequence[str | None] | None = None,
    prompt: str | None = None,
    system: str | None = None,
) -> int:
    """The simulator's deterministic ``prompt_eval_count``.

    ``words(s)`` is ``len(s.split())`` (whitespace-separated words) and ``O`` is
    :data:`MESSAGE_OVERHEAD_TOKENS` (4):

    * chat (``/api/chat``, ``/v1/chat/completions``): sum over messages of ``words(content) + O``
      (an OpenAI multi-part content counts each part as one message, as Ollama splits them);
    * generate (``/api/generate``, ``/v1/completions``): ``words(prompt) + O``, plus
      ``words(system) + O`` when a non-empty ``system`` is given;
    * embed: sum of ``words(input)`` over the inputs (no template) -- see the embed handler.
    """
    total = 0
    for content in messages or ():
        total += _words(content) + MESSAGE_OVERHEAD_TOKENS
    if prompt is not None:
        total += _words(prompt) + MESSAGE_OVERHEAD_TOKENS
    if system:
        total += _words(system) + MESSAGE_OVERHEAD_TOKENS
    return total


def _go_json_error(exc: json.JSONDecodeError) -> str:
    """Phrase a JSON syntax error the way Go's encoding/json does (clients may show it)."""
    if exc.pos >= len(exc.doc.rstrip()):
        return "unexpected EOF"
    return f"invalid character {exc.doc[exc.pos]!r} looking for beginning of value"


_GO_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "bool"}


def _go_type(value: Any) -> str:
    return _GO_TYPES.get(type(value), "object")


async def _read_json(request: web.Request, go_type: str) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raise SimulatorError(400, "missing request body")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SimulatorError(400, _go_json_error(exc)) from None
    except UnicodeDecodeError:
        raise SimulatorError(400, "invalid character in request body") from None
    if not isinstance(body, dict):
        raise SimulatorError(
            400, f"json: cannot unmarshal {_go_type(body)} into Go value of type {go_type}"
        )
    return body


def _json(status: int, obj: Any) -> web.Response:
    return web.Response(
        status=status, body=_dumps(obj).encode(), content_type="application/json", charset="utf-8"
    )


def _error(status: int, message: str) -> web.Response:
    return _json(status, {"error": message})


def _openai_error(status: int, message: str) -> web.Response:
    """Ollama's ``openai.NewError``: the type follows from the status code."""
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return _json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})


def _num_predict(value: Any) -> int | None:
    """``num_predict`` / ``max_tokens``: a positive limit, or None for the natural length."""
    try:
        n = int(value) if value is not None else 0
    except (TypeError, ValueError):
        raise SimulatorError(400, "invalid options: num_predict") from None
    return n if n > 0 else None
