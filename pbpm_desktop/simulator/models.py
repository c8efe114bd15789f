"""The simulator's data: installed models, what is resident, counters, and a parsed request.

Why apart from the engine: tests and the demo build ``SimModel`` lists and read ``SimStats``
without caring how the scheduler or the routes work.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from aiohttp import web

from pbpm_desktop.simulator.behaviour import cloud_base


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
    #: Runner options it was loaded with (see behaviour.runner_key)
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
