"""VRAM policy (DESIGN.md §4): which models are resident, and when a request may run.

`VramManager.enter(model)` / `leave()` (`use(model)` as a context manager) is the only gate
inference requests pass through. Requests for always-on models, and for a resident on-demand
model while nobody waits for another model, pass straight through without awaiting anything
(a few microseconds). Everything else queues in `scheduler.SwapScheduler`, which serves
waiting requests fairly, group by group, and performs every load and unload one at a time.

The pieces:
* `vram_state.Ledger`: installed/resident models, in-flight counts and budget arithmetic;
* `vram_scheduler.SwapScheduler`: the fair queue, draining, eviction, load/unload;
* `vram_gpu.GpuReader`: NVML totals for the dashboard;
* this module: the public interface the proxy and the dashboard use, discovery (/api/tags),
  the reconcile pass and the published snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.contracts import VramSnapshot
from pbpm_desktop.core.events import EventBus
from pbpm_desktop.core.num_ctx import NumCtxPolicy, modelfile_num_ctx
from pbpm_desktop.core.settings import Settings
from pbpm_desktop.core.upstream.client import OllamaClient, OllamaError, OllamaUnreachable
from pbpm_desktop.core.vram.always_on import AlwaysOnKeeper
from pbpm_desktop.core.vram.errors import ModelNotInstalled, ModelTooLarge, SwapTimeout, VramError
from pbpm_desktop.core.vram.gpu import GpuReader
from pbpm_desktop.core.vram.parallel import ParallelGate
from pbpm_desktop.core.vram.scheduler import Admission, SwapScheduler, ms_since, retry_once
from pbpm_desktop.core.vram.settle import MemorySettler
from pbpm_desktop.core.vram.sizes import DEFAULT_NUM_CTX, SizeBook, kv_cache_bytes
from pbpm_desktop.core.vram.snapshot import build_snapshot, installed_rows
from pbpm_desktop.core.vram.state import ALWAYS_ON, ON_DEMAND, Ledger, is_cloud_entry

log = logging.getLogger(__name__)

#: a miss in resolve() refreshes /api/tags at most this often (typos must not hammer Ollama)
TAGS_MISS_REFRESH_S = 1.0
#: in-flight count changes are published at most this often
PUBLISH_THROTTLE_S = 0.25

__all__ = [
    "ALWAYS_ON",
    "ON_DEMAND",
    "ModelNotInstalled",
    "ModelTooLarge",
    "SwapTimeout",
    "VramError",
    "VramManager",
]


class VramManager:
    """Keeps Ollama's resident models within the VRAM policy and gates inference requests."""

    def __init__(self, ollama: OllamaClient, settings: Settings, events: EventBus) -> None:
        self.ollama = ollama
        self.settings = settings
        self.events = events
        self.ollama_up = False
        self._ledger = Ledger(settings, SizeBook(settings.data_dir / "model_sizes.json"))
        self.num_ctx = NumCtxPolicy(ollama, settings)
        #: OLLAMA_NUM_PARALLEL slots: requests wait here, not in Ollama, for a free one
        self.parallel = ParallelGate(settings.num_parallel, self._publish_soon)
        self._scheduler = SwapScheduler(
            ollama,
            settings,
            self._ledger,
            events,
            keep_alive_for=self.keep_alive_for,
            publish=self._publish_state,
            publish_soon=self._publish_soon,
            ollama_ok=lambda: self._set_up(True),
        )
        self._gpu = GpuReader()
        self._scheduler.settler = MemorySettler(self._gpu, settings.memory_settle_s)
        self._tags_lock = asyncio.Lock()
        self._tags_at = float("-inf")
        self._reconcile_task: asyncio.Task[None] | None = None
        self._publish_handle: asyncio.TimerHandle | None = None
        self._always_on = AlwaysOnKeeper(self._ledger, self._scheduler, settings)
        #: the pause status while the owner paused sharing (core/pause.py), else None
        self.paused: dict[str, Any] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Discover models, load the always-on ones, start the scheduler and reconcile loop.

        Ollama being down is not fatal: the gateway still starts (inference answers 502
        meanwhile) and the reconcile loop retries every RECONCILE_INTERVAL_S.
        """
        await self.reconcile()
        if not self.ollama_up:
            log.warning(
                "Ollama is not reachable at %s; will retry every %gs",
                self.ollama.base_url,
                self.settings.reconcile_interval_s,
            )
        pinned = len(self._ledger.always_on)
        if pinned >= self.settings.max_loaded_models:
            log.warning(
                "%d always-on models leave no room under MAX_LOADED_MODELS=%d (Ollama's "
                "OLLAMA_MAX_LOADED_MODELS): on-demand models cannot load; raise both or shorten "
                "ALWAYS_ON_MODELS",
                pinned,
                self.settings.max_loaded_models,
            )
        self._scheduler.start()
        if self._reconcile_task is None or self._reconcile_task.done():
            self._reconcile_task = asyncio.create_task(
                self._reconcile_loop(), name="vram-reconcile"
            )

    async def stop(self) -> None:
        """Stop the background tasks and fail pending waiters. Unloads nothing."""
        if self._reconcile_task is not None:
            self._reconcile_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconcile_task
            self._reconcile_task = None
        await self._scheduler.stop()
        if self._publish_handle is not None:
            self._publish_handle.cancel()
            self._publish_handle = None
        self._gpu.close()

    # -- names and policy -----------------------------------------------------------------

    @property
    def installed(self) -> dict[str, dict[str, Any]]:
        """Installed models from /api/tags, by name."""
        return self._ledger.installed

    def category(self, model: str) -> str:
        """Either "always_on" (named in ALWAYS_ON_MODELS) or "on_demand"."""
        return self._ledger.category(model)

    def keep_alive_for(self, model: str) -> int | str:
        """The keep_alive the gateway forces on requests for `model` (clients' is rewritten).

        HEAVY_KEEP_ALIVE in whole seconds goes out as a JSON number: Ollama parses a string
        with Go's time.ParseDuration and rejects "1800" (api/types.go:1243).
        """
        return -1 if self.category(model) == ALWAYS_ON else self.settings.keep_alive_value

    def is_cloud(self, model: str) -> bool:
        """An Ollama cloud model (runs on ollama.com): never in the VRAM plan."""
        return model in self._ledger.cloud or is_cloud_entry(model, {})

    async def num_ctx_for(self, model: str) -> int | None:
        """The `num_ctx` native requests for `model` carry (MODEL_NUM_CTX), or None."""
        resident = self._ledger.resident.get(model)
        if resident is not None:
            self.num_ctx.observe_ps(model, resident.context_length)
        return await self.num_ctx.value_for(model)

    async def resolve(self, model: str) -> str:
        """The canonical installed name ("llama3.2" -> "llama3.2:latest").

        On a miss /api/tags is refreshed (at most once per TAGS_MISS_REFRESH_S, shared by
        concurrent callers) in case the model was pulled since. Ollama errors propagate, so
        an unreachable Ollama is reported as such rather than as a missing model.
        """
        canonical = self._ledger.canonical(model)
        if canonical is not None:
            return canonical
        if is_cloud_entry(model, {}):
            return model  # an explicit :cloud reference: Ollama sends it to ollama.com as is
        async with self._tags_lock:
            if time.monotonic() - self._tags_at >= TAGS_MISS_REFRESH_S:
                await self._refresh_tags()
        canonical = self._ledger.canonical(model)
        if canonical is not None:
            return canonical
        raise ModelNotInstalled(
            f"model '{model}' is not installed in Ollama; run `ollama pull {model}` on the "
            "Ollama host, or pick one from GET /api/available_models"
        )

    # -- the gate -------------------------------------------------------------------------

    @asynccontextmanager
    async def use(self, model: str) -> AsyncIterator[None]:
        """Admit one inference request for `model` and count it in flight until exit.

        Waits in the fair queue until the model is resident (and, for on-demand models,
        explicitly loaded); a cancelled waiter leaves the queue. The hot path, for always-on
        models or a resident model nobody competes with, awaits nothing.
        """
        admitted = await self.enter(model)
        try:
            yield
        finally:
            self.leave(admitted)

    async def enter(self, model: str) -> str | None:
        """`use()` without the context manager, for the proxy's hot path (a generator-based
        context manager costs a few microseconds a request): admit one request and return
        what `leave` must be given once it is over (None: a cloud model, nothing counted)."""
        if self.is_cloud(model):
            return None  # runs on ollama.com: nothing to load, nothing to evict
        scheduler = self._scheduler
        if model in self._ledger.always_on or scheduler.is_open(model):
            scheduler.acquire(model)
            return model
        model, _ = await self._admit(model)
        return model

    def leave(self, admitted: str | None) -> None:
        """The request `enter` admitted is over: the model may be evicted again."""
        if admitted is not None:
            self._scheduler.release(admitted)

    async def preload(self, model: str) -> dict[str, Any]:
        """Load `model` now, swapping on-demand models out as needed; answers once loaded.

        Goes through the same queue as requests (it is a waiter of that model), so it never
        jumps ahead of other users. For a model that is already resident it refreshes the
        keep_alive, which is what a user clicking "preload" again expects.
        """
        name = await self.resolve(model)
        category = self.category(name)
        started = time.monotonic()
        if self.is_cloud(name):
            raise VramError(
                f"model '{name}' is an Ollama cloud model: it runs on ollama.com and is never "
                "loaded locally, so there is nothing to preload",
                status=400,
            )
        if category == ALWAYS_ON:
            async with self._scheduler.lock:
                await self._scheduler.load(name)
            return _preload_result(name, category, Admission(True, (), ms_since(started)))
        name, admission = await self._admit(name)
        try:
            if not admission.loaded:  # it was resident already: refresh its keep_alive
                started = time.monotonic()
                await self._scheduler.load_request(name)
                admission = Admission(True, admission.unloaded, ms_since(started))
        finally:
            self._scheduler.release(name)
        return _preload_result(name, category, admission)

    async def unload(self, model: str) -> dict[str, Any]:
        """Unload an on-demand model once its in-flight requests have finished.

        The unload queues like a request; while it drains the model, newcomers for the
        model queue behind it (and reload it afterwards if they still want it). Returns
        when /api/ps no longer lists the model.

        Always-on models are refused with a 409: the reconcile pass would reload them within
        RECONCILE_INTERVAL_S, so an "unload" that silently comes back would mislead; the
        message says to remove the model from ALWAYS_ON_MODELS instead.
        """
        name = await self.resolve(model)
        if self.category(name) == ALWAYS_ON:
            raise VramError(
                f"model '{name}' is always-on (ALWAYS_ON_MODELS) and is kept loaded; remove it "
                "from ALWAYS_ON_MODELS to allow unloading it",
                status=409,
            )
        started = time.monotonic()
        await self._scheduler.wait("unload", name)
        return {"model": name, "unloaded": True, "waited_ms": ms_since(started)}

    async def _admit(self, model: str) -> tuple[str, Admission]:
        """Slow path of use()/preload(): resolve, refuse impossible models, else queue.

        On return the request is counted in flight under the canonical name returned.
        """
        name = await self.resolve(model)
        if self.category(name) == ALWAYS_ON:
            self._scheduler.acquire(name)
            return name, Admission()
        await self._estimate_size(name)
        reason = self._ledger.never_fits_reason(name)
        if reason is not None:
            raise ModelTooLarge(reason)
        if self._scheduler.is_open(name):
            self._scheduler.acquire(name)
            return name, Admission()
        return name, await self._scheduler.wait("use", name)

    async def _estimate_size(self, name: str) -> None:
        """Budget a never-seen model by file size plus its KV cache (see core/vram_sizes)."""
        ledger = self._ledger
        if ledger.size_known(name):
            return
        try:
            show = await self.ollama.call("POST", "/api/show", {"model": name}, timeout=30)
        except OllamaError:
            return  # the file size it is, this time
        info = show.get("model_info") or {}
        num_ctx = modelfile_num_ctx(show) or self.num_ctx.planned(name) or DEFAULT_NUM_CTX
        train = info.get(f"{info.get('general.architecture')}.context_length")
        if isinstance(train, int) and train > 0:
            num_ctx = min(num_ctx, train)  # Ollama caps it the same way (sched.go:161)
        file_size = int(ledger.installed.get(name, {}).get("size") or 0)
        ledger.sizes.estimates[name] = file_size + kv_cache_bytes(info, num_ctx)

    # -- reconcile ------------------------------------------------------------------------

    async def reconcile(self) -> dict[str, Any]:
        """One pass: refresh tags, sync with /api/ps, reload missing always-on models.

        Models loaded outside the gateway are adopted into the budget by the sync; models
        gone from /api/ps are dropped. Never raises for Ollama trouble (it is logged and
        reflected in `ollama_up`); returns the snapshot it publishes.
        """
        was_up = self.ollama_up
        try:
            await self._refresh_tags()
            async with self._scheduler.lock:
                await self._scheduler.sync_ps()
                await self._ensure_always_on()
        except OllamaError as exc:
            if isinstance(exc, OllamaUnreachable):
                self._set_up(False)
            # log once per outage, not every RECONCILE_INTERVAL_S while Ollama is down
            log.log(logging.WARNING if was_up else logging.DEBUG, "VRAM reconcile: %s", exc)
        except Exception:
            log.exception("VRAM reconcile failed")
        return self._publish_state()

    # -- pause (core/pause.py drives these) ------------------------------------------------

    def set_paused(self, status: dict[str, Any] | None) -> None:
        """Enter/leave the paused state: no always-on reloads meanwhile; shown in snapshots."""
        self.paused = status
        self._publish_state()

    def refuse_waiting(self, exc: Exception) -> None:
        """Fail every request still queued for a swap (it had not started yet)."""
        self._scheduler.fail_waiting(exc)

    async def unload_everything(self, reason: str) -> list[str]:
        """Unload every idle model Ollama holds, always-on and external ones included.

        For a pause with `free_vram`: the caller has let running requests end first. A model
        still in use is left alone (it is Ollama's to unload when its request ends).
        """
        unloaded: list[str] = []
        scheduler = self._scheduler
        async with scheduler.lock:
            await scheduler.sync_ps()
            for name in sorted(self._ledger.resident):
                if self._ledger.in_flight.get(name):
                    continue
                await scheduler.unload_now(name, scheduler.deadline(), reason)
                unloaded.append(name)
        self._publish_state()
        return unloaded

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reconcile_interval_s)
            await self.reconcile()

    async def _ensure_always_on(self) -> None:
        """Load and re-pin the always-on models (caller holds the scheduler lock)."""
        if self.paused is not None:
            return  # the owner took the GPU back: reload nothing until they resume
        await self._always_on.ensure()

    async def _refresh_tags(self) -> None:
        models = await retry_once(self.ollama.tags)
        self._tags_at = time.monotonic()
        self._set_up(True)
        for name in self._ledger.set_installed(models):
            log.warning(
                "always-on model '%s' (ALWAYS_ON_MODELS) is not installed; run `ollama pull %s`",
                name,
                name,
            )

    # -- state publishing -----------------------------------------------------------------

    def available_models(self) -> list[dict[str, Any]]:
        """Rows for GET /api/available_models."""
        return installed_rows(self._ledger)

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state for the dashboard and the VRAM_STATE event."""
        return self.state().to_dict()

    def state(self) -> VramSnapshot:
        """The typed snapshot (core/contracts.py); `snapshot()` is its JSON shape."""
        return build_snapshot(
            self._ledger,
            self._scheduler,
            self.parallel,
            self.settings,
            ollama_up=self.ollama_up,
            paused=self.paused,
            gpu=self._gpu.read(),
        )

    def _publish_state(self) -> dict[str, Any]:
        if self._publish_handle is not None:
            self._publish_handle.cancel()
            self._publish_handle = None
        snapshot = self.snapshot()
        self.events.publish(ev.VRAM_STATE, snapshot)
        return snapshot

    def _publish_soon(self) -> None:
        """Publish within PUBLISH_THROTTLE_S: in-flight counts change far more often than a
        dashboard repaints, and the hot path must stay cheap."""
        if self._publish_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._publish_handle = loop.call_later(PUBLISH_THROTTLE_S, self._publish_state)

    def _set_up(self, up: bool) -> None:
        if up != self.ollama_up:
            self.ollama_up = up
            if up:
                log.info("Ollama is reachable at %s", self.ollama.base_url)
            self._publish_soon()


def _preload_result(name: str, category: str, admission: Admission) -> dict[str, Any]:
    return {
        "model": name,
        "loaded": True,
        "unloaded": list(admission.unloaded),
        "load_ms": admission.load_ms,
        "category": category,
    }
