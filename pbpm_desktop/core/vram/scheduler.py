"""The swap scheduler: the fair queue in front of on-demand models, and every load/unload.

Requests that cannot pass the hot path queue as *jobs*, handled by one scheduler task, so
swaps are strictly sequential (DESIGN.md §4):

* jobs are grouped by (kind, model); the group holding the oldest job goes next and is
  admitted whole, so a burst of alternating requests for two heavy models costs two swaps;
* while any request waits, resident on-demand models admit no newcomers (`is_open` is
  False), so the models in the way drain and the waiting group is served in bounded time;
* making room evicts the least recently used on-demand model only once its in-flight count
  is 0, then polls /api/ps until Ollama has really let it go, then loads the new model.

Every Ollama call that changes or reads the resident set (load, unload, /api/ps sync) holds
`lock`, so the manager's reconcile pass never interleaves with a swap. Draining (waiting for
in-flight requests) happens outside the lock: it can take minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.events import EventBus
from pbpm_desktop.core.settings import Settings
from pbpm_desktop.core.upstream.client import OllamaClient, OllamaError, OllamaUnreachable
from pbpm_desktop.core.vram.errors import ModelTooLarge, SwapTimeout, VramError
from pbpm_desktop.core.vram.settle import MemorySettler
from pbpm_desktop.core.vram.state import Ledger, gb

log = logging.getLogger(__name__)

T = TypeVar("T")
JobKind = Literal["use", "unload"]

#: how often to poll /api/ps while waiting for Ollama to drop an unloaded model
PS_POLL_S = 0.05


@dataclass(frozen=True)
class Admission:
    """What the scheduler did before letting a group in (preload reports it)."""

    loaded: bool = False
    unloaded: tuple[str, ...] = ()
    load_ms: float = 0.0


class _Abandoned(Exception):
    """Every waiter of the group being served gave up; stop making room for it."""


@dataclass(eq=False)
class _Job:
    """One waiter: a request (or preload) waiting to use a model, or an unload request."""

    kind: JobKind
    model: str
    future: asyncio.Future[Admission]
    #: set by the scheduler when it counted this request in flight; the waiter must release
    admitted: bool = False


class SwapScheduler:
    """Owns the queue, in-flight counts, and the single lock every load/unload holds.

    The manager passes callbacks rather than itself so this module does not depend on it:
    `keep_alive_for(model)`, `publish()` (snapshot now), `publish_soon()` (throttled) and
    `ollama_ok()` (an Ollama call succeeded).
    """

    def __init__(
        self,
        ollama: OllamaClient,
        settings: Settings,
        ledger: Ledger,
        events: EventBus,
        *,
        keep_alive_for: Callable[[str], int | str],
        publish: Callable[[], object],
        publish_soon: Callable[[], None],
        ollama_ok: Callable[[], None],
    ) -> None:
        self.ollama = ollama
        self.settings = settings
        self.ledger = ledger
        self.events = events
        self.lock = asyncio.Lock()
        self._keep_alive_for = keep_alive_for
        self._publish = publish
        self._publish_soon = publish_soon
        self._ollama_ok = ollama_ok
        self._jobs: list[_Job] = []
        self._use_waiting = 0  # "use" jobs queued; > 0 closes the hot path of on-demand models
        self._draining: set[str] = set()  # models being evicted or unloaded: no newcomers
        self._idle: dict[str, asyncio.Event] = {}
        self._embedding_models: set[str] = set()  # loaded via /api/embed, see load_request
        self._loading: str | None = None
        #: the load/unload in progress (under the lock), and a drain waiting outside it
        self._swap_state: dict[str, Any] | None = None
        self._drain_state: dict[str, Any] | None = None
        self._wake = asyncio.Event()
        #: set when a drained model goes idle or a waiter leaves: `_wait_idle` rechecks then
        self._drain_wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: waits for GPU memory to settle after each unload (set by the manager)
        self.settler: MemorySettler | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduler task (idempotent; also done lazily by the first job)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="vram-swap")

    async def stop(self) -> None:
        """Cancel the task and fail every waiter, so no request hangs on shutdown."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for job in self._jobs:
            if not job.future.done():
                job.future.set_exception(VramError("the gateway is shutting down; try again"))
        self._jobs.clear()
        self._use_waiting = 0

    # -- the gate (hot path) --------------------------------------------------------------

    def is_open(self, model: str) -> bool:
        """May a request for this on-demand model go straight through?"""
        return (
            not self._use_waiting and model in self.ledger.resident and model not in self._draining
        )

    def acquire(self, model: str) -> None:
        """Count one request in flight (the model cannot be evicted until released)."""
        in_flight = self.ledger.in_flight
        count = in_flight.get(model, 0)
        in_flight[model] = count + 1
        if count == 0:
            self._idle_event(model).clear()
        self.ledger.last_used[model] = time.monotonic()
        self._publish_soon()

    def release(self, model: str) -> None:
        in_flight = self.ledger.in_flight
        count = in_flight.get(model, 0) - 1
        if count > 0:
            in_flight[model] = count
        else:
            in_flight.pop(model, None)
            self._idle_event(model).set()
            self._drain_wake.set()
        self.ledger.last_used[model] = time.monotonic()
        self._publish_soon()

    async def wait(self, kind: JobKind, model: str) -> Admission:
        """Queue a job and wait for the scheduler; a cancelled waiter leaves the queue.

        For "use" jobs the request is counted in flight on return: the caller must release.
        """
        job = _Job(kind, model, asyncio.get_running_loop().create_future())
        self._jobs.append(job)
        if kind == "use":
            self._use_waiting += 1
        self.start()
        self._wake.set()
        self._publish_soon()
        try:
            return await job.future
        except asyncio.CancelledError:
            if job.admitted:  # admitted just as we were cancelled: give the slot back
                self.release(model)
            else:
                self._remove_jobs([job])
                self._drain_wake.set()  # a drain for nobody stops now, not at a poll
            raise

    def fail_waiting(self, exc: Exception) -> None:
        """Fail every queued request (unloads stay queued): e.g. sharing was paused."""
        for model in {j.model for j in self._jobs if j.kind == "use"}:
            self._fail("use", model, exc)

    # -- state for the snapshot -----------------------------------------------------------

    def waiting(self) -> dict[str, int]:
        """Requests waiting, per model."""
        return dict(Counter(j.model for j in self._jobs if j.kind == "use"))

    def unloads_waiting(self) -> int:
        return sum(1 for j in self._jobs if j.kind == "unload")

    def swapping(self) -> dict[str, Any] | None:
        """The swap phase in progress ({"phase", "model", "for", ...}) or None."""
        state = self._swap_state or self._drain_state
        return dict(state) if state else None

    # -- scheduling -----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._jobs:
                self._remove_jobs([j for j in self._jobs if j.future.done()])  # cancelled
                if not self._jobs:
                    break
                head = self._jobs[0]
                try:
                    if head.kind == "unload":
                        await self._run_unload(head.model)
                        self._finish(head.kind, head.model, Admission())
                    else:
                        admission = await self._swap_in(head.model)
                        if admission is not None:
                            self._finish(head.kind, head.model, admission)
                except _Abandoned:
                    pass  # every waiter left; a latecomer's job starts over next round
                except Exception as exc:
                    if not isinstance(exc, VramError | OllamaError):
                        log.exception("VRAM scheduler failed for %s", head.model)
                        exc = VramError(f"could not schedule model '{head.model}': {exc}")
                    self._fail(head.kind, head.model, exc)
                finally:
                    self._publish()

    def _finish(self, kind: JobKind, model: str, admission: Admission) -> None:
        """Admit a group whole: every job of this (kind, model) waiting now, latecomers too."""
        group = [j for j in self._jobs if (j.kind, j.model) == (kind, model)]
        self._remove_jobs(group)
        for job in group:
            if job.future.done():  # cancelled while we worked: nothing to hand over
                continue
            if job.kind == "use":
                self.acquire(job.model)
                job.admitted = True
            job.future.set_result(admission)

    def _fail(self, kind: JobKind, model: str, exc: Exception) -> None:
        group = [j for j in self._jobs if (j.kind, j.model) == (kind, model)]
        self._remove_jobs(group)
        for job in group:
            if not job.future.done():
                job.future.set_exception(exc)
        self.events.publish(ev.SWAP, {"phase": "failed", "model": model, "error": str(exc)})

    def _remove_jobs(self, jobs: list[_Job]) -> None:
        for job in jobs:
            if job in self._jobs:
                self._jobs.remove(job)
                if job.kind == "use":
                    self._use_waiting -= 1
        self._publish_soon()

    def _has_jobs(self, kind: JobKind, model: str) -> bool:
        """Whether anyone still waits in this group (cancelled waiters do not count)."""
        return any((j.kind, j.model) == (kind, model) and not j.future.done() for j in self._jobs)

    async def _swap_in(self, model: str) -> Admission | None:
        """Make `model` resident for its waiting group: make room, then load it.

        None (or _Abandoned) means every waiter gave up meanwhile: nothing to admit, and a
        latecomer's job is served by the next scheduler round, which starts over.
        """
        if model in self.ledger.resident and model not in self._draining:
            return Admission()
        deadline = self.deadline()
        async with self.lock:
            await self.sync_ps()  # see external loads/unloads before deciding
        unloaded: list[str] = []
        while model not in self.ledger.resident and not self.ledger.fits(model):
            victim = self.ledger.pick_victim(model)
            if victim is None:
                raise ModelTooLarge(
                    self.ledger.never_fits_reason(model)
                    or f"model '{model}' does not fit in VRAM_LIMIT_GB="
                    f"{self.settings.vram_limit_gb:g} next to the models Ollama holds"
                )
            await self._evict(victim, deadline, reason=model)
            unloaded.append(victim)
        if model in self.ledger.resident:  # loaded meanwhile (outside the gateway)
            return Admission(False, tuple(unloaded))
        if not self._has_jobs("use", model):
            return None
        started = time.monotonic()
        async with self.lock:
            await self.load(model)
        return Admission(True, tuple(unloaded), ms_since(started))

    async def _run_unload(self, model: str) -> None:
        """An unload job: drain the model's requests, then unload it."""
        self._draining.add(model)
        try:
            deadline = self.deadline()
            await self._wait_idle(model, deadline, ("unload", model), reason=None)
            async with self.lock:
                await self.sync_ps()
                if model in self.ledger.resident:
                    await self.unload_now(model, deadline, reason=None)
        finally:
            self._draining.discard(model)

    async def _evict(self, victim: str, deadline: float, reason: str) -> None:
        """Close `victim` to newcomers, wait for its requests to finish, then unload it."""
        self._draining.add(victim)
        try:
            await self._wait_idle(victim, deadline, ("use", reason), reason)
            async with self.lock:
                if victim in self.ledger.resident:
                    await self.unload_now(victim, deadline, reason)
        finally:
            self._draining.discard(victim)

    async def _wait_idle(
        self, model: str, deadline: float, group: tuple[JobKind, str], reason: str | None
    ) -> None:
        """Wait until `model` has no request in flight.

        Raises SwapTimeout at the deadline, and _Abandoned as soon as nobody in `group`
        waits any more (all cancelled), so a model is never evicted for nobody. Woken by
        `_drain_wake` (a release or a cancelled waiter), never by polling.
        """
        idle = self._idle_event(model)
        if idle.is_set():
            return
        self._drain_state = {
            "phase": "unloading",
            "model": model,
            "for": reason,
            "in_flight": self.ledger.in_flight.get(model, 0),
        }
        self.events.publish(ev.SWAP, dict(self._drain_state))
        self._publish()
        try:
            while not idle.is_set():
                if not self._has_jobs(*group):
                    raise _Abandoned
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SwapTimeout(
                        f"could not make room for '{reason or model}' within SWAP_TIMEOUT_S="
                        f"{self.settings.swap_timeout_s:g}: '{model}' still has "
                        f"{self.ledger.in_flight.get(model, 0)} request(s) in flight. Try "
                        "again later, or raise SWAP_TIMEOUT_S / VRAM_LIMIT_GB / MAX_HEAVY_MODELS"
                    )
                self._drain_wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._drain_wake.wait()
        finally:
            self._drain_state = None

    # -- Ollama operations (callers hold `lock`) ------------------------------------------

    async def sync_ps(self) -> None:
        """Bring the ledger's resident set in line with /api/ps."""
        models = await retry_once(self.ollama.ps)
        self._ollama_ok()
        if self.ledger.apply_ps(models, loading=self._loading):
            self._publish()

    async def load(self, model: str) -> None:
        """Load `model` with its keep_alive policy and record its real size."""
        self._set_swap("loading", model, None)
        self._loading = model
        try:
            await self.load_request(model)
            self._ollama_ok()
            await self.sync_ps()
        finally:
            self._loading = None
            self._swap_state = None
        self.ledger.mark_loaded(model)  # in case /api/ps lags behind the load answer
        self.ledger.last_used[model] = time.monotonic()
        self.events.publish(ev.SWAP, {"phase": "loaded", "model": model})
        log.info("loaded %s (%s)", model, gb(self.ledger.size_of(model)))
        self._publish()

    async def load_request(self, model: str) -> None:
        """The load call itself (also refreshes keep_alive of a resident model).

        Embedding-only models refuse /api/generate ("does not support generate"), so they
        are loaded through /api/embed with no input instead; remembered per model. Loading
        is idempotent, so a dropped pooled connection is retried once.
        """
        keep_alive = self._keep_alive_for(model)
        if model not in self._embedding_models:
            try:
                await retry_once(lambda: self.ollama.load(model, keep_alive))
                return
            except OllamaError as exc:
                if exc.status != 400 or "does not support" not in exc.message:
                    raise
                self._embedding_models.add(model)
        payload = {"model": model, "keep_alive": keep_alive}
        await retry_once(lambda: self.ollama.call("POST", "/api/embed", payload))

    async def unload_now(self, model: str, deadline: float, reason: str | None) -> None:
        """Ask Ollama to unload an idle model, then poll /api/ps until it is gone."""
        self._set_swap("unloading", model, reason, in_flight=0)
        self.ledger.expected_gone.add(model)
        freed = self.ledger.size_of(model)
        baseline = self.settler.baseline() if self.settler is not None else None
        try:
            await retry_once(lambda: self.ollama.unload(model))
            while True:
                await self.sync_ps()
                if model not in self.ledger.resident:
                    break
                if time.monotonic() >= deadline:
                    raise SwapTimeout(
                        f"Ollama still lists '{model}' as loaded "
                        f"{self.settings.swap_timeout_s:g}s after it was asked to unload it "
                        "(SWAP_TIMEOUT_S); try again later"
                    )
                await asyncio.sleep(PS_POLL_S)
            if self.settler is not None:  # a load right now would find stale free memory
                await self.settler.settle(freed, baseline)
        finally:
            self._swap_state = None
        log.info("unloaded %s%s", model, f" to make room for {reason}" if reason else "")
        self._publish()

    async def evict_idle_for(self, model: str) -> None:
        """Unload idle on-demand models (LRU first) until `model` fits; never waits for a drain.

        Used by the reconcile pass for always-on models, whose space only models loaded
        outside the gateway can take.
        """
        while not self.ledger.fits(model):
            victim = self.ledger.pick_victim(model, idle_only=True)
            if victim is None:
                return
            self._draining.add(victim)  # no hot-path newcomer while it unloads
            try:
                await self.unload_now(victim, self.deadline(), reason=model)
            finally:
                self._draining.discard(victim)

    # -- helpers --------------------------------------------------------------------------

    def deadline(self) -> float:
        return time.monotonic() + self.settings.swap_timeout_s

    def _idle_event(self, model: str) -> asyncio.Event:
        event = self._idle.get(model)
        if event is None:
            event = self._idle[model] = asyncio.Event()
            if not self.ledger.in_flight.get(model):
                event.set()
        return event

    def _set_swap(self, phase: str, model: str, reason: str | None, **extra: Any) -> None:
        self._swap_state = {"phase": phase, "model": model, "for": reason, **extra}
        self.events.publish(ev.SWAP, dict(self._swap_state))
        self._publish()


def ms_since(started: float) -> float:
    """Milliseconds since a time.monotonic() reading, rounded for JSON."""
    return round((time.monotonic() - started) * 1000, 1)


async def retry_once(call: Callable[[], Awaitable[T]]) -> T:
    """Retry an idempotent read once on a dropped connection.

    After Ollama restarts, the first request on a pooled keep-alive connection fails even
    though Ollama is up again; one immediate retry tells the two apart.
    """
    try:
        return await call()
    except OllamaUnreachable:
        return await call()
