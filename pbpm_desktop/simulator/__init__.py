"""In-process simulator of an Ollama server, faithful to Ollama's HTTP API.

Why it exists: the gateway sits in front of a real Ollama, but tests, the ``demo`` mode and the
benchmarks need an Ollama that is fast, deterministic and observable. This package reproduces
what a client (or a gateway) can see of Ollama -- routes, JSON field names, NDJSON / SSE
streaming, status codes and ``{"error": ...}`` bodies, model loading and ``keep_alive``
semantics -- and adds counters (:class:`SimStats`) that let tests prove properties of the
gateway, e.g. that it never overfills VRAM or never unloads a model that is still generating.

Ollama's scheduler behaviours that a gateway must cope with -- Go ``keep_alive`` parsing,
reloads on runner options through one serialized load queue, the max-loaded cap with Ollama's
eviction order, KV-cache-dependent sizes, ``NUM_PARALLEL`` queueing with late headers (on every
model-running route, the agent routes too), the free-memory lag after an unload, cloud stubs,
case-insensitive names, 405s -- are each behind a switch of :class:`SimBehaviour`
(``sim.behaviour``; see ``behaviour.py``), on by default where Ollama has them on.

Deliberate differences from a real Ollama (all documented where they live):

* With ``vram_capacity`` set, a load that does not fit is *refused* (HTTP 500) instead of
  evicting other models, so tests can prove that the gateway does its own admission control.
* Token and prompt counts are deterministic functions of the request (see
  :func:`count_prompt_tokens`), so audit records can be compared to them exactly.
* Durations are measured wall-clock times, except prompt evaluation which is instant here and
  reported as a nominal :data:`PROMPT_EVAL_NS_PER_TOKEN` per prompt token.

The modules, one concern each: ``server`` (the class, its app, start/stop, test hooks),
``scheduler`` (loads, keep_alive, slots, unloads), ``lifecycle`` (the one request lifecycle
every model-running route uses), ``native`` / ``openai`` / ``inference`` / ``embed`` /
``agents`` / ``agent_requests`` (the routes and their parsing), ``answers`` and ``convert``
(the bytes of an answer), ``wire`` (shared encoding, errors, token counts), ``models`` (the
data), ``behaviour`` (the switches), ``control`` (``/_sim/*``), ``cli`` (the command line).

Run standalone with ``python -m pbpm_desktop.simulator --port 11434`` (see :func:`main`).
"""

from __future__ import annotations

from pbpm_desktop.simulator.behaviour import SimBehaviour
from pbpm_desktop.simulator.cli import main
from pbpm_desktop.simulator.models import (
    ResidentModel,
    SimModel,
    SimStats,
    default_models,
    demo_models,
)
from pbpm_desktop.simulator.server import OllamaSimulator
from pbpm_desktop.simulator.wire import (
    ANSWER_TEXT,
    MESSAGE_OVERHEAD_TOKENS,
    PROMPT_EVAL_NS_PER_TOKEN,
    SimulatorError,
    count_prompt_tokens,
    parse_keep_alive,
)

__all__ = [
    "ANSWER_TEXT",
    "MESSAGE_OVERHEAD_TOKENS",
    "PROMPT_EVAL_NS_PER_TOKEN",
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
