"""Prometheus metrics of one gateway (`GET /metrics`), built with `prometheus-client`.

Each `GatewayMetrics` owns its own `CollectorRegistry`, never the library's global one: two
gateways in one process (tests, a settings restart, the demo next to a real one) would
otherwise collide on metric names. It lives as long as its `GatewayService`, so counters keep
counting across restarts that only apply new settings.

Where the numbers come from:
* counters and histograms are fed from the event bus (`REQUEST_DONE` audit entries, `SWAP`
  phases, `AUTH_FAILED`): the response path does nothing extra for metrics;
* gauges (resident models, VRAM, waiting requests, audit queue, paused) are read at scrape time
  from a `state()` callable the service provides, so they are never stale.

Label cardinality is bounded: `key` is the key's public prefix (never the secret; keys are
issued by the owner), `model` is an installed or configured model or else "other" (a client
may send any string as a model name), `route` and `status` come from fixed sets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.accounting.audit import AuditEntry
from pbpm_desktop.core.events import EventBus

#: request durations: sub-second embeddings up to long generations (UPSTREAM timeouts: 600 s)
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
#: time to first token: includes model loads and waiting for a swap
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
SWAP_BUCKETS = (0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
OTHER = "other"
NONE = "none"

StateFn = Callable[[], "dict[str, Any] | None"]


class GatewayMetrics:
    """Counters fed by core events plus a scrape-time collector of the gateway's state."""

    def __init__(
        self,
        events: EventBus,
        state: StateFn,
        is_known_model: Callable[[str], bool],
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        #: may this model name be a label (installed or configured)? Asked once a request,
        #: so it looks names up rather than building the set of them
        self._is_known_model = is_known_model
        r = self.registry
        self.requests = Counter(
            "pbpm_requests",
            "Proxied requests by key prefix, model, route and outcome",
            ["key", "model", "route", "status"],
            registry=r,
        )
        self.tokens = Counter(
            "pbpm_tokens",
            "Tokens by key prefix, model, route and kind (prompt or completion)",
            ["key", "model", "route", "kind"],
            registry=r,
        )
        self.duration = Histogram(
            "pbpm_request_duration_seconds",
            "Whole request duration, streaming included",
            ["model", "route"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "pbpm_time_to_first_token_seconds",
            "Time from request to Ollama's first byte (loads and swap waits included)",
            ["model", "route"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.auth_failures = Counter(
            "pbpm_auth_failures",
            "Failed authentications by reason (missing, invalid, revoked or expired key)",
            ["reason"],
            registry=r,
        )
        self.loads = Counter(
            "pbpm_model_loads", "Models loaded by the gateway", ["model"], registry=r
        )
        self.swaps = Counter(
            "pbpm_swaps",
            "Swaps: on-demand models unloaded to make room for this model, then it loaded",
            ["model"],
            registry=r,
        )
        self.swap_duration = Histogram(
            "pbpm_swap_duration_seconds",
            "From the first unload for a swap until the new model is loaded (drain included)",
            ["model"],
            buckets=SWAP_BUCKETS,
            registry=r,
        )
        r.register(_StateCollector(state))
        self._swap_started: dict[str, float] = {}
        self._children: dict[int, dict[tuple[str, ...], Any]] = {}  # see _child
        self._unsubscribe = events.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def exposition(self) -> bytes:
        """The Prometheus text format of everything above."""
        return generate_latest(self.registry)

    # -- event feed (on the gateway loop; cheap) --------------------------------------------

    def model_label(self, model: str) -> str:
        if not model:
            return NONE
        return model if self._is_known_model(model) else OTHER

    def _on_event(self, name: str, payload: Any) -> None:
        if name == ev.REQUEST_DONE and isinstance(payload, AuditEntry):
            self._request(payload)
        elif name == ev.SWAP and isinstance(payload, dict):
            self._swap(payload)
        elif name == ev.AUTH_FAILED and isinstance(payload, dict):
            self.auth_failures.labels(str(payload.get("reason") or "invalid")).inc()

    def _request(self, entry: AuditEntry) -> None:
        model = self.model_label(entry.model)
        key = entry.key_prefix or NONE
        route = entry.route
        child = self._child
        child(self.requests, key, model, route, entry.status).inc()
        if entry.prompt_tokens:
            child(self.tokens, key, model, route, "prompt").inc(entry.prompt_tokens)
        if entry.completion_tokens:
            child(self.tokens, key, model, route, "completion").inc(entry.completion_tokens)
        child(self.duration, model, route).observe(entry.duration_ms / 1e3)
        if entry.ttft_ms is not None:
            child(self.ttft, model, route).observe(entry.ttft_ms / 1e3)

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, remembered: prometheus-client validates and locks on
        every `labels()` call (~1.4 us; five per request). The same children it keeps
        itself, so the bound on cardinality is unchanged."""
        cache = self._children.get(id(metric))
        if cache is None:
            cache = self._children[id(metric)] = {}
        found = cache.get(labels)
        if found is None:
            found = cache[labels] = metric.labels(*labels)
        return found

    def _swap(self, payload: dict[str, Any]) -> None:
        phase, model = payload.get("phase"), str(payload.get("model") or "")
        reason = payload.get("for")
        if phase == "unloading" and reason:
            self._swap_started.setdefault(str(reason), time.monotonic())
        elif phase == "loaded":
            label = self.model_label(model)
            self.loads.labels(label).inc()
            started = self._swap_started.pop(model, None)
            if started is not None:
                self.swaps.labels(label).inc()
                self.swap_duration.labels(label).observe(time.monotonic() - started)
        elif phase == "failed":
            self._swap_started.pop(model, None)


class _StateCollector(Collector):
    """Gauges read from the running gateway at scrape time (nothing while it is stopped)."""

    def __init__(self, state: StateFn) -> None:
        self._state = state

    def describe(self) -> list[Metric]:
        return []  # names vary with what is running; no registry-time duplicate check needed

    def collect(self) -> Iterator[Metric]:
        state = self._state()
        if not state:
            return
        vram = state.get("vram") or {}
        yield _gauge("pbpm_ollama_up", "1 if Ollama answers", bool(vram.get("ollama_up")))
        yield _gauge("pbpm_sharing_paused", "1 while the owner paused sharing", state["paused"])
        resident = GaugeMetricFamily(
            "pbpm_model_resident",
            "Models Ollama holds in memory (1 each) by category",
            labels=["model", "category"],
        )
        size = GaugeMetricFamily(
            "pbpm_model_size_bytes", "Memory each resident model takes", labels=["model"]
        )
        for row in vram.get("resident") or []:
            category = "external" if row.get("external") else str(row.get("category"))
            resident.add_metric([row["name"], category], 1)
            size.add_metric([row["name"]], float(row.get("size") or 0))
        yield resident
        yield size
        yield _gauge(
            "pbpm_models_resident", "Number of resident models", len(vram.get("resident") or [])
        )
        yield _gauge(
            "pbpm_vram_used_bytes", "Memory the resident models take", vram.get("budget_used_bytes")
        )
        yield _gauge(
            "pbpm_vram_planned_bytes",
            "Budget in use: reserved always-on space plus other resident models",
            vram.get("budget_planned_bytes"),
        )
        yield _gauge("pbpm_vram_budget_bytes", "VRAM_LIMIT_GB in bytes", vram.get("budget_bytes"))
        gpu = vram.get("gpu") or {}
        if gpu.get("total_bytes") is not None:
            yield _gauge("pbpm_gpu_memory_total_bytes", "GPU memory (NVML)", gpu["total_bytes"])
            yield _gauge(
                "pbpm_gpu_memory_used_bytes", "GPU memory in use (NVML)", gpu.get("used_bytes")
            )
        yield _per_model(
            "pbpm_requests_waiting", "Requests queued for a swap", vram.get("waiting") or {}
        )
        yield _per_model("pbpm_requests_in_flight", "Requests running", vram.get("in_flight") or {})
        audit = state.get("audit") or {}
        yield _gauge(
            "pbpm_audit_queue_depth", "Audit records not yet written", audit.get("pending")
        )
        yield _counter("pbpm_audit_records_written", "Audit records written", audit.get("written"))
        yield _counter(
            "pbpm_audit_records_dropped",
            "Audit records lost (could not be written at shutdown)",
            audit.get("dropped"),
        )
        yield _counter(
            "pbpm_audit_failed_flushes",
            "Audit writes that failed and were retried",
            audit.get("failed_flushes"),
        )


def _gauge(name: str, doc: str, value: Any) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value or 0))


def _counter(name: str, doc: str, value: Any) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=float(value or 0))


def _per_model(name: str, doc: str, counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["model"])
    for model, count in sorted(counts.items()):
        family.add_metric([model], count)
    return family
