"""In-process simulator of an Ollama server, faithful to Ollama's HTTP API.

Why it exists: the gateway sits in front of a real Ollama, but tests, the ``demo`` mode and the
benchmarks need an Ollama that is fast, deterministic and observable. This module reproduces
what a client (or a gateway) can see of Ollama -- routes, JSON field names, NDJSON / SSE
streaming, status codes and ``{"error": ...}`` bodies, model loading and ``keep_alive``
semantics -- and adds counters (:class:`SimStats`) that let tests prove properties of the
gateway, e.g. that it never overfills VRAM or never unloads a model that is still generating.

Ollama's scheduler behaviours that a gateway must cope with -- Go ``keep_alive`` parsing,
reloads on runner options through one serialized load queue, the max-loaded cap with Ollama's
eviction order, KV-cache-dependent sizes, ``NUM_PARALLEL`` queueing with late headers, the
free-memory lag after an unload, cloud stubs, case-insensitive names, 405s -- are each behind a
switch of :class:`SimBehaviour` (``sim.behaviour``; see ``simulator_behaviour.py``), on by
default where Ollama has them on.

Deliberate differences from a real Ollama (all documented where they live):

* With ``vram_capacity`` set, a load that does not fit is *refused* (HTTP 500) instead of
  evicting other models, so tests can prove that the gateway does its own admission control.
* Token and prompt counts are deterministic functions of the request (see
  :func:`count_prompt_tokens`), so audit records can be compared to them exactly.
* Durations are measured wall-clock times, except prompt evaluation which is instant here and
  reported as a nominal :data:`PROMPT_EVAL_NS_PER_TOKEN` per prompt token.

Run standalone with ``python -m pbpm_desktop.simulator --port 11434`` (see :func:`main`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from pbpm_desktop.core.goduration import parse_go_duration
from pbpm_desktop.simulator_behaviour import (
    RUNNER_OPTIONS,
    SimBehaviour,
    cloud_base,
    eviction_order,
    runner_key,
)

__all__ = [
    "ANSWER_TEXT",
    "MESSAGE_OVERHEAD_TOKENS",
    "OllamaSimulator",
    "ResidentModel",
    "SimBehaviour",
    "SimModel",
    "SimStats",
    "SimulatorError",
    "count_prompt_tokens",
    "default_models",
    "demo_models",
    "main",
    "parse_keep_alive",
]

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


# --------------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------------


@dataclass
class SimModel:
    """An installed model as ``/api/tags`` describes it."""

    name: str
    size: int
    family: str = "llama"
    parameter_size: str = "3.2B"
    quantization_level: str = "Q4_K_M"
    #: Embedding-only model (e.g. nomic-embed-text): chat/generate answer 400 like Ollama.
    embedding: bool = False
    #: Modelfile ``PARAMETER num_ctx`` (None: the server default, SimBehaviour.default_num_ctx)
    num_ctx: int | None = None
    #: KV-cache bytes per context token: /api/ps ``size`` is ``size + this * num_ctx``
    kv_bytes_per_token: int = 0
    #: training context length (``<arch>.context_length``); num_ctx is capped to it
    context_length: int = 131072
    #: a cloud stub (``ollama pull x:cloud``): runs on ollama.com, never loads locally
    remote_host: str = ""

    @property
    def cloud(self) -> bool:
        """A cloud model: a remote_host stub, or a ``:cloud`` / ``-cloud`` name."""
        return bool(self.remote_host) or cloud_base(self.name) is not None

    def capabilities(self) -> list[str]:
        return ["embedding"] if self.embedding else ["completion"]

    def size_at(self, num_ctx: int) -> int:
        """Memory footprint when loaded with this context length (weights + KV cache)."""
        return self.size + self.kv_bytes_per_token * num_ctx

    @property
    def digest(self) -> str:
        """Stable fake sha256 digest: tags and ps must agree across calls."""
        return hashlib.sha256(self.name.encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


def default_models() -> list[SimModel]:
    """A realistic demo set (sizes as ``ollama list`` reports them for these tags)."""
    return [
        SimModel("llama3.2:3b", 2_019_393_189, "llama", "3.2B", "Q4_K_M"),
        SimModel("qwen2.5:7b", 4_683_087_332, "qwen2", "7.6B", "Q4_K_M"),
        SimModel("qwen2.5-coder:32b", 19_851_349_856, "qwen2", "32.8B", "Q4_K_M"),
        SimModel("llama3.3:70b", 42_520_413_916, "llama", "70.6B", "Q4_K_M"),
        SimModel("nomic-embed-text:latest", 274_302_450, "nomic-bert", "137M", "F16", True),
    ]


#: f16 KV-cache bytes per token of the demo models (layers x KV heads x 2 x head size x 2)
_DEMO_KV = {
    "llama3.2:3b": 28 * 8 * 2 * 128 * 2,
    "qwen2.5:7b": 28 * 4 * 2 * 128 * 2,
    "qwen2.5-coder:32b": 64 * 8 * 2 * 128 * 2,
    "llama3.3:70b": 80 * 8 * 2 * 128 * 2,
}


def demo_models() -> list[SimModel]:
    """`default_models` as Ollama would load them (KV cache included), plus a cloud stub."""
    models = [replace(m, kv_bytes_per_token=_DEMO_KV.get(m.name, 0)) for m in default_models()]
    return [*models, SimModel("gpt-oss:120b-cloud", 384, remote_host="https://ollama.com:443")]


@dataclass
class SimStats:
    """Counters that let tests assert properties of whoever drives the simulator."""

    loads: int = 0
    unloads: int = 0
    #: Loads refused because they did not fit ``vram_capacity``.
    oom_failures: int = 0
    #: ``keep_alive: 0`` unloads asked while the model had requests generating (or waiting for
    #: its load): for a gateway this is a policy bug, the unload only happens once they finish.
    busy_unload_requests: int = 0
    #: Per model, inference requests served (chat/generate/embed that got the model loaded;
    #: load-only and unload requests are not counted).
    requests: dict[str, int] = field(default_factory=dict)
    #: High-water mark of the total size of resident models (pending unloads included).
    max_resident_bytes: int = 0
    #: Inference requests whose client disconnected before the end of the response.
    cancelled_streams: int = 0
    #: Reloads forced by a request whose runner options differed from the loaded model's.
    reloads: int = 0
    #: Models the simulator evicted on its own (max-loaded cap, or to fit a load in the
    #: memory-settle lag), in order: a gateway that plans well causes none.
    evictions: list[str] = field(default_factory=list)
    #: Loads that landed partly on CPU (size_vram < size) because memory had not settled.
    partial_offloads: list[str] = field(default_factory=list)
    #: Requests answered by a cloud model (they would have used the owner's ollama.com account).
    cloud_requests: int = 0
    #: Per model, the most requests that waited for a NUM_PARALLEL slot at once.
    max_queued: dict[str, int] = field(default_factory=dict)


@dataclass
class ResidentModel:
    """A loaded model, what ``/api/ps`` lists."""

    name: str
    size: int
    #: ``keep_alive`` (seconds) of the latest request; negative = forever, 0 = unload when idle.
    keep_alive: float
    expires_at: datetime
    loaded_at: datetime
    #: Requests currently using the model (generating, or holding it right after its load).
    busy: int = 0
    #: Unload started: still resident (and counted against VRAM) until ``unload_delay`` passed.
    unloading: bool = False
    #: Runner options it was loaded with (see simulator_behaviour.runner_key)
    runner: tuple[Any, ...] = ()
    num_ctx: int = 4096
    #: bytes on the GPU; below ``size`` when the load landed partly on CPU
    size_vram: int = 0
    #: expiring (evicted or being reloaded): unloads as soon as idle, admits no newcomers
    doomed: bool = False
    #: requests waiting for a NUM_PARALLEL slot
    queued: int = 0
    _slots: asyncio.Semaphore | None = field(default=None, repr=False, compare=False)
    _timer: asyncio.TimerHandle | None = field(default=None, repr=False, compare=False)
    _unloaded: asyncio.Future[None] | None = field(default=None, repr=False, compare=False)


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
    messages: list[str] | None = None, prompt: str | None = None, system: str | None = None
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


def _parameter_count(size: str) -> int:
    scale = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
    try:
        return int(float(size[:-1]) * scale[size[-1].upper()])
    except (KeyError, ValueError, IndexError):
        return 0


def _embedding(text: str, dims: int) -> list[float]:
    """A deterministic, L2-normalised vector derived from the text (Ollama normalises too)."""
    raw = b""
    counter = 0
    while len(raw) < 4 * dims:
        raw += hashlib.blake2b(f"{counter}:{text}".encode(), digest_size=64).digest()
        counter += 1
    ints = struct.unpack(f"<{dims}I", raw[: 4 * dims])
    values = [i / 2**31 - 1.0 for i in ints]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


@dataclass(slots=True)
class _Spec:
    """A parsed inference request, whatever API it came through."""

    api: str  # "chat" | "generate" | "oai_chat" | "oai_completion"
    model: str  # canonical installed name
    echo: str  # the name as the client spelled it: Ollama echoes it back
    stream: bool
    keep_alive: float
    prompt_tokens: int = 0
    num_predict: int | None = None
    load_only: bool = False
    unload: bool = False
    include_usage: bool = False
    #: runner options of the request (reload key) and the context length it asks for
    runner: tuple[Any, ...] = ()
    cloud: bool = False


@dataclass(eq=False, slots=True)
class _Flight:
    """An inference request in progress, so that ``restart`` can cut it."""

    task: asyncio.Task[Any] | None
    request: web.Request
    cut: bool = False


@dataclass(eq=False)
class _LoadJob:
    """A load in progress; concurrent requests for the same model share it."""

    model: SimModel
    keep_alive: float
    runner: tuple[Any, ...] = ()
    #: bytes it will take once the room check passed (counted as committed meanwhile)
    size: int = 0
    waiters: int = 0
    record: ResidentModel | None = None
    task: asyncio.Task[None] | None = None


# --------------------------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------------------------


class OllamaSimulator:
    """An Ollama server: ``await sim.start()`` gives its URL; ``sim.stats`` shows what happened.

    Attributes ``token_delay``, ``load_delay``, ``unload_delay``, ``response_tokens``,
    ``vram_capacity`` and ``models`` may be changed while it runs. ``fail_next`` is a queue of
    ``(status, message)`` errors: each one is answered, in order, by the next inference request
    (chat/generate/embed that would generate or embed; load-only and unload requests skip it).
    """

    def __init__(
        self,
        models: list[SimModel] | None = None,
        *,
        vram_capacity: int | None = None,
        token_delay: float = 0.0,
        load_delay: float = 0.0,
        unload_delay: float = 0.05,
        response_tokens: int = 12,
        version: str = "0.32.15",
        behaviour: SimBehaviour | None = None,
    ) -> None:
        self.models: dict[str, SimModel] = {m.name: m for m in (models or default_models())}
        self.vram_capacity = vram_capacity
        self.token_delay = token_delay
        self.load_delay = load_delay
        self.unload_delay = unload_delay
        self.response_tokens = response_tokens
        self.version = version
        self.stats = SimStats()
        self.fail_next: list[tuple[int, str]] = []
        #: messages for the next streamed answers to fail with after their first chunk
        self.fail_in_stream: list[str] = []
        #: runner options (num_ctx, ...) of the latest native chat/generate requests, in order
        #: (bounded: the demo and benchmarks run for hours)
        self.options_seen: deque[dict[str, Any]] = deque(maxlen=1000)
        self.behaviour = behaviour or SimBehaviour()
        self._resident: dict[str, ResidentModel] = {}
        self._load_lock = asyncio.Lock()
        #: (loop time, bytes) of recent unloads, for the memory-settle lag
        self._freed: list[tuple[float, int]] = []
        self._loading: dict[str, _LoadJob] = {}
        self._flights: set[_Flight] = set()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The aiohttp application (usable with any runner, e.g. pytest-aiohttp's)."""
        app = web.Application(client_max_size=64 * 1024**2)
        r = app.router
        r.add_get("/", self._handle_root)
        r.add_get("/api/version", self._handle_version)
        r.add_get("/api/tags", self._handle_tags)
        r.add_get("/api/ps", self._handle_ps)
        r.add_post("/api/show", self._handle_show)
        r.add_post("/api/chat", self._handle_chat)
        r.add_post("/api/generate", self._handle_generate)
        r.add_post("/api/embed", self._handle_embed)
        r.add_post("/api/embeddings", self._handle_legacy_embeddings)
        r.add_get("/v1/models", self._handle_v1_models)
        r.add_get("/v1/models/{model:.+}", self._handle_v1_model)
        r.add_post("/v1/chat/completions", self._handle_v1_chat)
        r.add_post("/v1/completions", self._handle_v1_completions)
        r.add_post("/v1/embeddings", self._handle_v1_embeddings)
        r.add_get("/_sim/stats", self._handle_sim_stats)
        r.add_post("/_sim/restart", self._handle_sim_restart)
        r.add_post("/_sim/config", self._handle_sim_config)
        from pbpm_desktop.simulator_agents import add_agent_routes  # it imports this module

        add_agent_routes(self, r)  # /v1/messages, /v1/responses
        # Last: anything unmatched answers like gin: 405 for a known path with another
        # method (HandleMethodNotAllowed, server/routes.go:1870), else 404.
        r.add_route("*", "/{tail:.*}", self._handle_not_found)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 = any free port) and return the base URL."""
        if self._runner is not None:
            return self.url
        # handler_cancellation: a client disconnect cancels its handler at once, like Go's
        # request context, so a stream cut during a load or a sleep is noticed immediately.
        runner = web.AppRunner(self.make_app(), handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0]
        url_host = f"[{host}]" if ":" in host else host
        self._runner = runner
        self._url = f"http://{url_host}:{bound[1]}"
        return self._url

    async def stop(self) -> None:
        """Stop serving; pending timers are cancelled (a later ``start`` works again)."""
        for flight in self._flights:
            flight.cut = True
        self._drop_all_models()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._url = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("simulator not started")
        return self._url

    # ---- model residency ------------------------------------------------------------------

    def resident(self) -> dict[str, ResidentModel]:
        """Currently loaded models (including ones whose unload is pending), by name."""
        return dict(self._resident)

    async def external_load(self, name: str, keep_alive: float | str = 300) -> None:
        """Load a model as ``ollama run`` outside the gateway would; raises SimulatorError."""
        model = self._resolve(name)
        if model is None:
            raise SimulatorError(404, f"model '{name}' not found")
        strict = self.behaviour.strict_keep_alive
        record, _ = await self._acquire(model, parse_keep_alive(keep_alive, strict))
        self._release(record)

    async def external_unload(self, name: str) -> None:
        """Unload as ``ollama stop`` would; waits for the unload unless the model is busy."""
        model = self._resolve(name)
        key = model.name if model else name
        self._request_unload(key, counted=False)
        record = self._resident.get(key)
        if record is not None and record.busy == 0 and record._unloaded is not None:
            await asyncio.shield(record._unloaded)

    async def restart(self) -> None:
        """Simulate Ollama restarting: every resident model gone, in-flight requests cut.

        Cut requests are not counted in ``cancelled_streams`` (the client did not leave) and
        the vanished models are not counted in ``unloads``.
        """
        self._drop_all_models()
        current = asyncio.current_task()
        for flight in list(self._flights):
            flight.cut = True
            transport = flight.request.transport
            if transport is not None:
                transport.abort()
            if flight.task is not None and flight.task is not current:
                flight.task.cancel()
        await asyncio.sleep(0)

    def _drop_all_models(self) -> None:
        for job in self._loading.values():
            if job.task is not None:
                job.task.cancel()
        self._loading.clear()
        for record in self._resident.values():
            if record._timer is not None:
                record._timer.cancel()
            if record._unloaded is not None and not record._unloaded.done():
                record._unloaded.set_result(None)
        self._resident.clear()

    def _resolve(self, name: str) -> SimModel | None:
        """Installed model for a request name; ``llama3.2`` means ``llama3.2:latest``.

        Case-insensitive like Ollama's getExistingName (server/routes.go:1222) unless that
        switch is off.
        """
        model = self.models.get(name)
        if model is None and ":" not in name:
            model = self.models.get(name + ":latest")
        if model is None and self.behaviour.case_insensitive_names:
            folded = name.casefold()
            for candidate in self.models.values():
                cname = candidate.name.casefold()
                if cname == folded or (":" not in folded and cname == folded + ":latest"):
                    return candidate
        return model

    def _committed_bytes(self, exclude: _LoadJob | None = None) -> int:
        resident = sum(r.size for r in self._resident.values())
        return resident + sum(j.size for j in self._loading.values() if j is not exclude)

    def _lagging_bytes(self) -> int:
        """Bytes unloaded so recently that the free-memory reading does not show them yet."""
        settle = self.behaviour.memory_settle_s
        if settle <= 0 or not self._freed:
            return 0
        now = asyncio.get_running_loop().time()
        self._freed = [(t, n) for t, n in self._freed if now - t < settle]
        return sum(n for _, n in self._freed)

    def _runner_for(self, model: SimModel, options: dict[str, Any], shift: Any) -> tuple[Any, ...]:
        """The runner key a request asks for: explicit num_ctx, else Modelfile, else default."""
        requested = options.get("num_ctx")
        if not isinstance(requested, int) or isinstance(requested, bool) or requested <= 0:
            requested = model.num_ctx or self.behaviour.default_num_ctx
        num_ctx = max(min(requested, model.context_length), 4)  # sched.go:170, :161
        return runner_key(options, shift, num_ctx)

    @staticmethod
    def _expiry(keep_alive: float) -> datetime:
        now = datetime.now(UTC)
        return now + (_FOREVER if keep_alive < 0 else timedelta(seconds=keep_alive))

    def _load_gate(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Ollama's single pending-load loop: one load, reload or eviction at a time."""
        return self._load_lock if self.behaviour.serial_loads else contextlib.nullcontext()

    async def _acquire(
        self, model: SimModel, keep_alive: float, runner: tuple[Any, ...] | None = None
    ) -> tuple[ResidentModel, float]:
        """Make ``model`` resident and count the caller as using it; returns (record, load s).

        The caller must ``_release`` the record. Waiting on a load is shared between
        concurrent requests; a model whose unload is in progress is reloaded afterwards (as
        Ollama's scheduler does), while a busy model marked ``keep_alive: 0`` is simply
        reused with the newer request's keep_alive -- the latest request wins, like Ollama.
        A request with other runner options reloads the model once it is idle (sched.go:1381).
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        name = model.name
        # no runner key (a route without options, e.g. one added by another module): defaults
        want = runner or self._runner_for(model, {}, None)
        while True:
            record = self._resident.get(name)
            if record is not None:
                if not record.unloading and not record.doomed:
                    if self.behaviour.reload_on_options and record.runner != want:
                        await self._reload(record)
                        continue
                    record.busy += 1
                    record.keep_alive = keep_alive
                    if record._timer is not None:
                        record._timer.cancel()
                        record._timer = None
                    record.expires_at = self._expiry(keep_alive)
                    return record, loop.time() - started
                assert record._unloaded is not None
                await asyncio.shield(record._unloaded)
                continue
            job = self._loading.get(name)
            if job is not None and self.behaviour.reload_on_options and job.runner != want:
                with contextlib.suppress(Exception):
                    await asyncio.shield(job.task)  # type: ignore[arg-type]
                continue  # then reload it with our options
            if job is None:
                job = _LoadJob(model, keep_alive, runner=want)
                job.task = loop.create_task(self._load(job))
                self._loading[name] = job
            job.keep_alive = keep_alive
            job.waiters += 1
            assert job.task is not None
            try:
                await asyncio.shield(job.task)
            except BaseException:
                if job.record is not None:
                    self._release(job.record)  # counted as busy when the load completed
                else:
                    job.waiters -= 1
                task = asyncio.current_task()
                if job.task.cancelled() and task is not None and not task.cancelling():
                    # The load was killed by restart() but this caller was not: an error,
                    # not a stray CancelledError, for callers such as external_load().
                    raise SimulatorError(500, "llama runner process has terminated") from None
                raise
            assert job.record is not None
            return job.record, loop.time() - started

    async def _reload(self, record: ResidentModel) -> None:
        """A request with other runner options: queue as a load, expire the model, wait."""
        async with self._load_gate():
            if self._resident.get(record.name) is not record or record.doomed:
                return
            self.stats.reloads += 1
            await self._expire_and_wait(record)

    async def _expire_and_wait(self, record: ResidentModel) -> None:
        """Ollama's "reset model to expire immediately": unload once idle, wait until gone."""
        record.doomed = True
        if record._unloaded is None:
            record._unloaded = asyncio.get_running_loop().create_future()
        if record.busy == 0:
            self._begin_unload(record)
        await asyncio.shield(record._unloaded)

    async def _make_room(self, job: _LoadJob) -> int:
        """Under the load gate: evict beyond the max-loaded cap, check memory; -> size_vram.

        The cap evicts by Ollama's order (idle first, shortest keep-alive first, pinned
        models too); a load that fits only once lagging memory settles evicts another idle
        model or, with none, lands partly on CPU.
        """
        b = self.behaviour
        while True:
            others = [r for r in self._resident.values() if r.name != job.model.name]
            if b.max_loaded is not None and len(others) >= b.max_loaded:
                ordered = eviction_order(others)
                victim = next((r for r in ordered if r.busy == 0), ordered[0])
                if not victim.doomed and not victim.unloading:
                    self.stats.evictions.append(victim.name)
                await self._expire_and_wait(victim)
                continue
            capacity = self.vram_capacity
            if capacity is None:
                return job.size
            committed = self._committed_bytes(exclude=job)
            if committed + job.size > capacity:
                self.stats.oom_failures += 1
                available = max(capacity - committed, 0)
                raise SimulatorError(
                    500,
                    f"model requires more system memory ({job.size / _GIB:.1f} GiB) "
                    f"than is available ({available / _GIB:.1f} GiB)",
                )
            visible = capacity - committed - self._lagging_bytes()
            if job.size <= visible:
                return job.size
            idle = [r for r in eviction_order(others) if r.busy == 0 and not r.unloading]
            if not idle:
                self.stats.partial_offloads.append(job.model.name)
                return max(visible, 0)
            self.stats.evictions.append(idle[0].name)
            await self._expire_and_wait(idle[0])

    async def _load(self, job: _LoadJob) -> None:
        name = job.model.name
        try:
            async with self._load_gate():
                job.size = job.model.size_at(job.runner[0] if job.runner else 4096)
                size_vram = await self._make_room(job)
                if self.load_delay > 0:
                    await asyncio.sleep(self.load_delay)
            now = datetime.now(UTC)
            record = ResidentModel(
                name=name,
                size=job.size,
                keep_alive=job.keep_alive,
                expires_at=self._expiry(job.keep_alive),
                loaded_at=now,
                busy=job.waiters,  # every waiter holds it from now on; they release it
                runner=job.runner,
                num_ctx=job.runner[0] if job.runner else 4096,
                size_vram=size_vram,
            )
            record._unloaded = asyncio.get_running_loop().create_future()
            if self.behaviour.num_parallel is not None:
                record._slots = asyncio.Semaphore(self.behaviour.num_parallel)
            job.record = record
            self._resident[name] = record
            self.stats.loads += 1
            total = sum(r.size for r in self._resident.values())
            self.stats.max_resident_bytes = max(self.stats.max_resident_bytes, total)
            if record.busy == 0:
                self._idle(record)
        finally:
            if self._loading.get(name) is job:
                del self._loading[name]

    @contextlib.asynccontextmanager
    async def _slot(self, record: ResidentModel) -> Any:
        """A NUM_PARALLEL slot: queued requests wait here before their headers go out."""
        slots = record._slots
        if slots is None:
            yield
            return
        if slots.locked():
            record.queued += 1
            most = self.stats.max_queued.get(record.name, 0)
            self.stats.max_queued[record.name] = max(most, record.queued)
            try:
                await slots.acquire()
            finally:
                record.queued -= 1
        else:
            await slots.acquire()
        try:
            yield
        finally:
            slots.release()

    def _release(self, record: ResidentModel) -> None:
        if self._resident.get(record.name) is not record:
            return  # gone meanwhile (restart)
        record.busy -= 1
        if record.busy <= 0:
            record.busy = 0
            self._idle(record)

    def _idle(self, record: ResidentModel) -> None:
        """Start the keep_alive clock: it runs from the end of the model's last request."""
        if record.unloading:
            return
        if record.keep_alive == 0 or record.doomed:
            self._begin_unload(record)
            return
        record.expires_at = self._expiry(record.keep_alive)
        if record.keep_alive > 0:
            loop = asyncio.get_running_loop()
            record._timer = loop.call_later(record.keep_alive, self._expire, record)

    def _expire(self, record: ResidentModel) -> None:
        record._timer = None
        if self._resident.get(record.name) is record and record.busy == 0:
            self._begin_unload(record)

    def _begin_unload(self, record: ResidentModel) -> None:
        """Ollama unloads asynchronously: the model stays resident for ``unload_delay``."""
        if record.unloading:
            return
        loop = asyncio.get_running_loop()
        record.unloading = True
        record.expires_at = datetime.now(UTC)
        if record._timer is not None:
            record._timer.cancel()
        if record._unloaded is None:
            record._unloaded = loop.create_future()
        record._timer = loop.call_later(max(self.unload_delay, 0.0), self._finish_unload, record)

    def _finish_unload(self, record: ResidentModel) -> None:
        record._timer = None
        if self._resident.get(record.name) is record:
            del self._resident[record.name]
            self.stats.unloads += 1
            self._freed.append((asyncio.get_running_loop().time(), record.size_vram))
        if record._unloaded is not None and not record._unloaded.done():
            record._unloaded.set_result(None)

    def _request_unload(self, name: str, *, counted: bool = True) -> None:
        """A ``keep_alive: 0`` load-only request: unload now, or once the model is idle."""
        record = self._resident.get(name)
        if record is not None:
            if record.unloading:
                return
            record.keep_alive = 0
            if record.busy > 0:
                if counted:
                    self.stats.busy_unload_requests += 1
                record.expires_at = datetime.now(UTC)
            else:
                self._begin_unload(record)
            return
        job = self._loading.get(name)
        if job is not None:
            job.keep_alive = 0
            if counted and job.waiters > 0:
                self.stats.busy_unload_requests += 1

    # ---- simple GET routes ----------------------------------------------------------------

    async def _handle_root(self, request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def _handle_version(self, request: web.Request) -> web.Response:
        return _json(200, {"version": self.version})

    async def _handle_not_found(self, request: web.Request) -> web.Response:
        if self.behaviour.method_not_allowed:
            for resource in request.app.router.resources():
                info = resource.get_info()
                if info.get("path") == request.path and resource.canonical != "/{tail}":
                    return web.Response(status=405, text="405 method not allowed")
        return web.Response(status=404, text=_NOT_FOUND_TEXT)

    async def _handle_tags(self, request: web.Request) -> web.Response:
        models = [
            {
                "name": m.name,
                "model": m.name,
                "modified_at": _MODIFIED_AT,
                "size": m.size,
                "digest": m.digest,
                "details": m.details(),
                **({"remote_model": m.name, "remote_host": m.remote_host} if m.cloud else {}),
                "capabilities": m.capabilities(),
            }
            for m in self.models.values()
        ]
        return _json(200, {"models": models})

    async def _handle_ps(self, request: web.Request) -> web.Response:
        entries = []
        for record in sorted(self._resident.values(), key=lambda r: r.expires_at, reverse=True):
            model = self.models.get(record.name) or SimModel(record.name, record.size)
            entries.append(
                {
                    "name": record.name,
                    "model": record.name,
                    "size": record.size,
                    "digest": model.digest,
                    "details": model.details(),
                    "expires_at": record.expires_at.isoformat(),
                    "size_vram": record.size_vram,
                    "context_length": record.num_ctx,
                }
            )
        return _json(200, {"models": entries})

    async def _handle_show(self, request: web.Request) -> web.Response:
        try:
            body = await _read_json(request, "api.ShowRequest")
        except SimulatorError as exc:
            return _error(exc.status, exc.message)
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not name:
            return _error(400, "model is required")
        model = self._resolve(name)
        if model is None:
            return _error(404, f"model '{name}' not found")
        arch = model.family.replace("-", "_")
        return _json(
            200,
            {
                "license": "Simulated license text",
                "modelfile": (
                    '# Modelfile generated by "ollama show"\n'
                    f"FROM /usr/share/ollama/.ollama/models/blobs/sha256-{model.digest}\n"
                    'TEMPLATE "{{ .Prompt }}"\n'
                ),
                "parameters": "\n".join(
                    ([f"num_ctx                        {model.num_ctx}"] if model.num_ctx else [])
                    + ([] if model.embedding else ['stop                           "<|eot_id|>"'])
                ),
                "template": "{{ .Prompt }}",
                "details": model.details(),
                "model_info": {
                    "general.architecture": arch,
                    "general.basename": model.name.split(":")[0],
                    "general.file_type": 15,
                    "general.parameter_count": _parameter_count(model.parameter_size),
                    "general.quantization_version": 2,
                    f"{arch}.context_length": 2048 if model.embedding else 131072,
                    f"{arch}.embedding_length": 768 if model.embedding else 3072,
                    **self._kv_info(arch, model),
                },
                "capabilities": model.capabilities(),
                "modified_at": _MODIFIED_AT,
                **(
                    {"remote_model": model.name, "remote_host": model.remote_host}
                    if model.cloud
                    else {}
                ),
            },
        )

    @staticmethod
    def _kv_info(arch: str, model: SimModel) -> dict[str, int]:
        """model_info fields from which the KV cache size follows (128-wide heads):
        ``block_count * head_count_kv * (key_length + value_length) * 2`` bytes per token."""
        per_layer_head = model.kv_bytes_per_token // (256 * 2)
        if per_layer_head <= 0:
            return {}
        kv_heads = next(h for h in (8, 4, 2, 1) if per_layer_head % h == 0)
        return {
            f"{arch}.block_count": per_layer_head // kv_heads,
            f"{arch}.attention.head_count": kv_heads * 4,
            f"{arch}.attention.head_count_kv": kv_heads,
            f"{arch}.attention.key_length": 128,
            f"{arch}.attention.value_length": 128,
        }

    async def _handle_v1_models(self, request: web.Request) -> web.Response:
        created = int(datetime.fromisoformat(_MODIFIED_AT).timestamp())
        data = [
            {"id": m.name, "object": "model", "created": created, "owned_by": "library"}
            for m in self.models.values()
        ]
        return _json(200, {"object": "list", "data": data})

    async def _handle_v1_model(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        if self._resolve(name) is None:
            return _openai_error(404, f"model '{name}' not found")
        created = int(datetime.fromisoformat(_MODIFIED_AT).timestamp())
        return _json(
            200, {"id": name, "object": "model", "created": created, "owned_by": "library"}
        )

    # ---- simulator-only introspection -----------------------------------------------------

    async def _handle_sim_stats(self, request: web.Request) -> web.Response:
        return _json(200, asdict(self.stats))

    async def _handle_sim_restart(self, request: web.Request) -> web.Response:
        await self.restart()
        return _json(200, {"status": "restarted"})

    async def _handle_sim_config(self, request: web.Request) -> web.Response:
        """Change timing knobs from another process (benchmarks); answers the current values."""
        try:
            body = await _read_json(request, "config") if request.can_read_body else {}
        except SimulatorError as exc:
            return _error(exc.status, exc.message)
        try:
            for key in ("token_delay", "load_delay", "unload_delay"):
                if key in body:
                    setattr(self, key, max(float(body[key]), 0.0))
            if "response_tokens" in body:
                self.response_tokens = max(int(body["response_tokens"]), 0)
            if "vram_capacity" in body:
                cap = body["vram_capacity"]
                self.vram_capacity = None if cap is None else int(cap)
            for key, value in (body.get("behaviour") or {}).items():
                if not hasattr(self.behaviour, key):
                    raise ValueError(f"unknown behaviour {key!r}")
                setattr(self.behaviour, key, value)
        except (TypeError, ValueError) as exc:
            return _error(400, str(exc))
        return _json(
            200,
            {
                "token_delay": self.token_delay,
                "load_delay": self.load_delay,
                "unload_delay": self.unload_delay,
                "response_tokens": self.response_tokens,
                "vram_capacity": self.vram_capacity,
                "behaviour": asdict(self.behaviour),
            },
        )

    # ---- request parsing ------------------------------------------------------------------

    def _find_model(self, body: dict[str, Any]) -> tuple[SimModel, str]:
        name = body.get("model")
        if name is None or name == "":
            raise SimulatorError(400, "model is required")
        if not isinstance(name, str):
            raise SimulatorError(
                400, f"json: cannot unmarshal {_go_type(name)} into Go value of type string"
            )
        model = self._resolve(name)
        if model is None and cloud_base(name) is not None:
            # an explicit :cloud reference goes to ollama.com, installed or not (routes.go:267)
            model = SimModel(name, 0, remote_host="https://ollama.com:443")
        if model is None:
            raise SimulatorError(404, f"model '{name}' not found")
        if model.cloud and self.behaviour.no_cloud:
            raise SimulatorError(403, "ollama cloud is disabled: remote model is unavailable")
        return model, name

    @staticmethod
    def _num_predict(value: Any) -> int | None:
        try:
            n = int(value) if value is not None else 0
        except (TypeError, ValueError):
            raise SimulatorError(400, "invalid options: num_predict") from None
        return n if n > 0 else None

    def _parse_native(self, api: str, body: dict[str, Any]) -> _Spec:
        model, echo = self._find_model(body)
        keep_alive = parse_keep_alive(body.get("keep_alive"), self.behaviour.strict_keep_alive)
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise SimulatorError(400, "options must be an object")
        self.options_seen.append({k: options[k] for k in RUNNER_OPTIONS if k in options})
        if api == "chat":
            messages = body.get("messages") or []
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                raise SimulatorError(
                    400, "json: cannot unmarshal messages into Go value of type []api.Message"
                )
            empty = len(messages) == 0
            tokens = count_prompt_tokens(messages=[m.get("content") for m in messages])
        else:
            prompt = body.get("prompt") or ""
            if not isinstance(prompt, str):
                raise SimulatorError(
                    400, f"json: cannot unmarshal {_go_type(prompt)} into Go value of type string"
                )
            empty = prompt == ""
            tokens = count_prompt_tokens(prompt=prompt, system=body.get("system"))
        spec = _Spec(
            api=api,
            model=model.name,
            echo=echo,
            stream=body.get("stream") is not False,
            keep_alive=keep_alive,
            prompt_tokens=tokens,
            num_predict=self._num_predict(options.get("num_predict")),
            load_only=empty,
            unload=empty and keep_alive == 0,
            runner=self._runner_for(model, options, body.get("shift")),
            cloud=model.cloud,
        )
        # Ollama answers an unload before checking capabilities (`ollama stop` works for
        # embedding models), but refuses to load or generate with an embedding-only model.
        if model.embedding and not spec.unload:
            raise SimulatorError(400, f'"{echo}" does not support {api}')
        return spec

    def _parse_openai(self, api: str, body: dict[str, Any]) -> _Spec:
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
        model, echo = self._find_model(body)
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
            num_predict=self._num_predict(body.get("max_tokens")),
            load_only=empty,
            include_usage=include_usage,
            runner=self._runner_for(model, {}, None),  # /v1 carries no runner options
            cloud=model.cloud,
        )

    # ---- inference routes -----------------------------------------------------------------

    async def _handle_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, "chat", "api.ChatRequest")

    async def _handle_generate(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, "generate", "api.GenerateRequest")

    async def _handle_v1_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, "oai_chat", "openai.ChatCompletionRequest")

    async def _handle_v1_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, "oai_completion", "openai.CompletionRequest")

    async def _inference(self, request: web.Request, api: str, go_type: str) -> web.StreamResponse:
        openai = api.startswith("oai")
        render_error = _openai_error if openai else _error
        try:
            body = await _read_json(request, go_type)
            spec = self._parse_openai(api, body) if openai else self._parse_native(api, body)
            if spec.unload:
                self._request_unload(spec.model)
                return self._load_response(spec, "unload")
            if self.fail_next and not spec.load_only:
                status, message = self.fail_next.pop(0)
                raise SimulatorError(status, message)
        except SimulatorError as exc:
            return render_error(exc.status, exc.message)
        return await self._serve(request, spec)

    @staticmethod
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

    async def _serve(self, request: web.Request, spec: _Spec) -> web.StreamResponse:
        """Load the model if needed, then answer (streamed or not); tracks disconnects."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        flight = _Flight(asyncio.current_task(), request)
        self._flights.add(flight)
        record: ResidentModel | None = None
        response: web.StreamResponse | None = None
        slot: contextlib.AsyncExitStack | None = None
        try:
            if spec.cloud:
                self.stats.cloud_requests += 1
                load_s = 0.0
            else:
                try:
                    record, load_s = await self._acquire(
                        self.models[spec.model], spec.keep_alive, spec.runner
                    )
                except SimulatorError as exc:
                    render = _openai_error if spec.api.startswith("oai") else _error
                    return render(exc.status, exc.message)
            if spec.load_only and not spec.api.startswith("oai"):
                return self._load_response(spec, "load")
            if record is not None:
                slot = contextlib.AsyncExitStack()
                await slot.enter_async_context(self._slot(record))
            if spec.load_only:
                n, reason = 0, "load"
            else:
                self.stats.requests[spec.model] = self.stats.requests.get(spec.model, 0) + 1
                n = spec.num_predict or self.response_tokens
                if spec.num_predict and not self.behaviour.num_predict_is_length:
                    n = min(n, self.response_tokens)  # a cap, as on a real model
                reason = "length" if spec.num_predict and n == spec.num_predict else "stop"
            delay = self.token_delay
            gen_started = loop.time()
            if not spec.stream:
                if delay > 0 and n > 0:
                    await asyncio.sleep(delay * n)
                metrics = self._metrics(spec, n, started, load_s, gen_started, loop.time())
                return _json(200, self._whole(spec, n, reason, metrics))
            response = web.StreamResponse(
                headers={
                    "Content-Type": (
                        "text/event-stream"
                        if spec.api.startswith("oai")
                        else "application/x-ndjson"
                    )
                }
            )
            await response.prepare(request)
            chunk, finish = self._stream_format(spec)
            for i in range(n):
                if delay > 0:
                    await asyncio.sleep(delay)
                await response.write(chunk(i))
                if self.fail_in_stream:  # Ollama reports a late failure in the stream
                    await response.write(self._stream_error(spec, self.fail_in_stream.pop(0)))
                    await response.write_eof()
                    return response
            metrics = self._metrics(spec, n, started, load_s, gen_started, loop.time())
            await response.write(finish(reason, metrics))
            await response.write_eof()
            return response
        except ConnectionResetError:
            # Client went away mid-stream (no handler cancellation with this runner).
            if not flight.cut:
                self.stats.cancelled_streams += 1
            return response if response is not None else web.Response(status=499)
        except asyncio.CancelledError:
            if not flight.cut:
                self.stats.cancelled_streams += 1
            raise
        finally:
            if slot is not None:
                await slot.aclose()
            if record is not None:
                self._release(record)
            self._flights.discard(flight)

    @staticmethod
    def _stream_error(spec: _Spec, message: str) -> bytes:
        """A failure after the headers: an ``{"error": ...}`` line (or SSE event on /v1)."""
        if spec.api.startswith("oai"):
            error = {"message": message, "type": "api_error", "param": None, "code": None}
            return b"data: " + _dumps({"error": error}).encode() + b"\n\n"
        return (_dumps({"error": message}) + "\n").encode()

    @staticmethod
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

    @staticmethod
    def _usage(metrics: dict[str, int]) -> dict[str, int]:
        prompt, completion = metrics["prompt_eval_count"], metrics["eval_count"]
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _whole(self, spec: _Spec, n: int, reason: str, metrics: dict[str, int]) -> dict[str, Any]:
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
                "usage": self._usage(metrics),
            }
        return {
            "id": f"cmpl-{random.randrange(999)}",
            "object": "text_completion",
            "created": created,
            "model": spec.echo,
            "system_fingerprint": "fp_ollama",
            "choices": [{"text": text, "index": 0, "finish_reason": reason}],
            "usage": self._usage(metrics),
        }

    def _stream_format(
        self, spec: _Spec
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
                body = self._whole(spec, 0, reason, metrics)
                if self.behaviour.spaced_json:  # an upstream whose encoder adds spaces
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
                    usage = {**envelope, "choices": [], "usage": self._usage(metrics)}
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
                usage = {**prefix, "choices": [], **suffix, "usage": self._usage(metrics)}
                out += b"data: " + _dumps(usage).encode() + b"\n\n"
            return out + _SSE_DONE

        return completion_chunk, completion_finish

    # ---- embeddings -----------------------------------------------------------------------

    async def _handle_embed(self, request: web.Request) -> web.Response:
        return await self._embed(request, "embed")

    async def _handle_legacy_embeddings(self, request: web.Request) -> web.Response:
        return await self._embed(request, "embeddings")

    async def _handle_v1_embeddings(self, request: web.Request) -> web.Response:
        return await self._embed(request, "oai")

    async def _embed(self, request: web.Request, api: str) -> web.Response:
        """``/api/embed`` (``input``), legacy ``/api/embeddings`` (``prompt``), ``/v1``."""
        render_error = _openai_error if api == "oai" else _error
        try:
            body = await _read_json(request, "api.EmbedRequest")
            if api == "embeddings":
                prompt = body.get("prompt")
                inputs = [prompt] if isinstance(prompt, str) and prompt else []
            else:
                raw = body.get("input")
                if api == "oai" and (raw is None or raw == []):
                    raise SimulatorError(400, "invalid input")
                if raw is None:
                    inputs = []
                elif isinstance(raw, str):
                    inputs = [raw]
                elif isinstance(raw, list) and all(isinstance(s, str) for s in raw):
                    inputs = raw
                else:
                    raise SimulatorError(400, "invalid input type")
            model, echo = self._find_model(body)
            keep_alive = (
                DEFAULT_KEEP_ALIVE if api == "oai" else parse_keep_alive(body.get("keep_alive"))
            )
            dims = body.get("dimensions") or EMBEDDING_DIMS
            if not isinstance(dims, int) or not 0 < dims <= 8192:
                raise SimulatorError(400, "invalid dimensions")
            if inputs and self.fail_next:
                status, message = self.fail_next.pop(0)
                raise SimulatorError(status, message)
        except SimulatorError as exc:
            return render_error(exc.status, exc.message)

        loop = asyncio.get_running_loop()
        started = loop.time()
        flight = _Flight(asyncio.current_task(), request)
        self._flights.add(flight)
        record: ResidentModel | None = None
        try:
            try:
                record, load_s = await self._acquire(model, keep_alive)
            except SimulatorError as exc:
                return render_error(exc.status, exc.message)
            if inputs:
                self.stats.requests[model.name] = self.stats.requests.get(model.name, 0) + 1
            vectors = [_embedding(text, dims) for text in inputs]
            tokens = sum(_words(text) for text in inputs)
            total_ns = int((loop.time() - started) * 1e9) + tokens * PROMPT_EVAL_NS_PER_TOKEN
            load_ns = max(int(load_s * 1e9), 1)
        except asyncio.CancelledError:
            if not flight.cut:
                self.stats.cancelled_streams += 1
            raise
        finally:
            if record is not None:
                self._release(record)
            self._flights.discard(flight)

        if api == "embeddings":
            return _json(200, {"embedding": vectors[0] if vectors else []})
        if api == "oai":
            data = [
                {"object": "embedding", "embedding": v, "index": i} for i, v in enumerate(vectors)
            ]
            usage = {"prompt_tokens": tokens, "total_tokens": tokens}
            return _json(200, {"object": "list", "data": data, "model": echo, "usage": usage})
        return _json(
            200,
            {
                "model": echo,
                "embeddings": vectors,
                "total_duration": total_ns,
                "load_duration": load_ns,
                "prompt_eval_count": tokens,
            },
        )


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


async def _serve_forever(args: argparse.Namespace) -> None:
    sim = OllamaSimulator(
        vram_capacity=int(args.vram_gb * _GIB) if args.vram_gb else None,
        token_delay=args.token_delay,
        load_delay=args.load_delay,
        unload_delay=args.unload_delay,
        response_tokens=args.response_tokens,
        behaviour=SimBehaviour(
            max_loaded=args.max_loaded or None,
            num_parallel=args.num_parallel or None,
            memory_settle_s=args.memory_settle,
            no_cloud=args.no_cloud,
        ),
    )
    url = await sim.start(args.host, args.port)
    print(url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    """Run a simulator until Ctrl-C; prints its URL on the first line of stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m pbpm_desktop.simulator", description="Simulated Ollama server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434, help="0 picks a free port")
    parser.add_argument("--token-delay", type=float, default=0.02, help="seconds per token")
    parser.add_argument("--load-delay", type=float, default=0.5, help="seconds per model load")
    parser.add_argument("--unload-delay", type=float, default=0.05, help="seconds per unload")
    parser.add_argument("--response-tokens", type=int, default=40, help="tokens per answer")
    parser.add_argument("--vram-gb", type=float, default=None, help="VRAM capacity (GiB)")
    parser.add_argument("--max-loaded", type=int, default=3, help="OLLAMA_MAX_LOADED_MODELS; 0=off")
    parser.add_argument(
        "--num-parallel",
        type=int,
        default=int(os.environ.get("PBPM_SIM_NUM_PARALLEL") or 1),
        help="OLLAMA_NUM_PARALLEL; 0=off (default: $PBPM_SIM_NUM_PARALLEL, else 1)",
    )
    parser.add_argument("--memory-settle", type=float, default=0.0, help="free-memory lag (s)")
    parser.add_argument("--no-cloud", action="store_true", help="OLLAMA_NO_CLOUD")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args))


if __name__ == "__main__":
    main()
