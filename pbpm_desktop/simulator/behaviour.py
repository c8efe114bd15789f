"""The simulator's Ollama behaviours that a gateway must cope with, each behind a switch.

Why: a gateway that passes against a lenient simulator can still break users against a real
Ollama. Each switch of :class:`SimBehaviour` turns on one behaviour read from Ollama's source
(v0.33; file:line given per field), so a test can prove the gateway copes with it, and can
turn it off to prove the test would fail without it. Defaults are Ollama's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "RUNNER_OPTIONS",
    "SimBehaviour",
    "cloud_base",
    "eviction_order",
    "runner_key",
]

#: `api.Runner` fields (ollama api/types.go:588-596): a change makes Ollama reload the model.
#: Deliberately not shared with core/rewrite.RUNNER_OPTIONS: this is Ollama's list, that one is
#: what the gateway defends against; one constant for both would hide a gap between them.
RUNNER_OPTIONS = (
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "use_mmap",
    "num_thread",
    "draft_num_predict",
)


@dataclass
class SimBehaviour:
    """Switches for Ollama behaviours; change them on ``sim.behaviour`` while it runs."""

    #: keep_alive strings go through Go's time.ParseDuration: "1800" / "-1" are a 400
    #: (api/types.go:1243-1270)
    strict_keep_alive: bool = True
    #: a request whose runner options (or top-level ``shift``) differ from the loaded
    #: model's reloads it, once it is idle (server/sched.go:1381 needsReload)
    reload_on_options: bool = True
    #: one load (or reload, or eviction for a load) at a time: every other load waits in
    #: the same queue (server/sched.go:225 processPending)
    serial_loads: bool = True
    #: OLLAMA_MAX_LOADED_MODELS: beyond it Ollama evicts by its own order, pinned models
    #: too (server/sched.go:86, :264, findRunnerToUnload); None = no cap
    max_loaded: int | None = 3
    #: the context length a request without ``num_ctx`` gets when the Modelfile has none
    #: (OLLAMA_CONTEXT_LENGTH, else Ollama's VRAM-based default; envconfig/config.go:230)
    default_num_ctx: int = 4096
    #: OLLAMA_NUM_PARALLEL: requests one model serves at once; the rest queue and get their
    #: headers only when generation starts (envconfig/config.go:275); None = unlimited
    num_parallel: int | None = 1
    #: after an unload, freed memory shows up in the free-memory reading only this many
    #: seconds later (Ollama waits up to 5 s for it, server/sched.go:101, :1441); a load in
    #: the lag evicts another idle model or lands partly on CPU (size_vram < size)
    memory_settle_s: float = 0.0
    #: OLLAMA_NO_CLOUD: cloud models answer 403 "ollama cloud is disabled: ..."
    no_cloud: bool = False
    #: model names resolve case-insensitively (server/routes.go:1222 getExistingName)
    case_insensitive_names: bool = True
    #: a known path with a wrong method answers 405 (gin HandleMethodNotAllowed,
    #: server/routes.go:1870); off: 404 like an unknown path
    method_not_allowed: bool = True
    #: not Ollama itself: an upstream (a proxy, another server) whose JSON has spaces,
    #: ``"done": true`` -- the final native chunk is encoded that way
    spaced_json: bool = False
    #: not Ollama itself: ``num_predict`` / ``max_tokens`` is the answer's length, so a test
    #: can ask for a long stream (num_predict 400 = a 4 s stream). Off, it only caps the
    #: model's own answer (``response_tokens``), the way a real model stops at its end token;
    #: the demo needs that: a key's daily token quota caps num_predict to what is left of the
    #: day (200k tokens), which would otherwise stream for hours
    num_predict_is_length: bool = True


def cloud_base(name: str) -> str | None:
    """The model name without its cloud source suffix, or None for a local reference.

    Mirrors ollama internal/modelref parseSourceSuffix: ``x:cloud`` and ``x:tag-cloud``
    (case-insensitive) are cloud references; ``x:local`` is local.
    """
    at = name.rfind(":")
    if at < 0:
        return None
    suffix_raw = name[at + 1 :].strip()
    suffix = suffix_raw.lower()
    if suffix == "cloud":
        return name[:at]
    if "/" not in suffix_raw and suffix.endswith("-cloud"):
        return name[: at + 1] + suffix_raw[: -len("-cloud")]
    return None


def runner_key(options: dict[str, Any], shift: Any, num_ctx: int) -> tuple[Any, ...]:
    """What Ollama compares to decide on a reload: the runner options and context shift."""
    values = [num_ctx] + [options.get(name) for name in RUNNER_OPTIONS[1:]]
    num_gpu = values[2]
    if isinstance(num_gpu, int | float) and num_gpu < 0:
        values[2] = None  # num_gpu -1 never reloads (sched.go:1404)
    return (*values, shift is not False)


def eviction_order(records: list[Any]) -> list[Any]:
    """Ollama's ByDurationAndName: shortest keep-alive first, forever last, then by name.

    ``sessionDuration`` is compared as uint64 (sched.go ByDurationAndName), so "forever"
    (negative) sorts after every finite duration.
    """
    return sorted(
        records, key=lambda r: (r.keep_alive < 0, r.keep_alive if r.keep_alive >= 0 else 0, r.name)
    )
