"""Ollama's scheduler as the simulator plays it: loads, keep_alive clocks, slots, unloads.

Why its own module: every route (native, OpenAI, agents, embeddings) and the test hooks
(``external_load``, ``restart``) go through this one place, as every Ollama request goes
through server/sched.go -- so what a gateway sees of loading, reloading, eviction, queueing and
unloading is the same whatever API the client speaks. The knobs it reads (``load_delay``,
``unload_delay``, ``vram_capacity``, ``behaviour``, ``stats``) stay on the simulator, where
tests change them while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pbpm_desktop.simulator.behaviour import eviction_order, runner_key
from pbpm_desktop.simulator.models import ResidentModel, SimModel, _LoadJob
from pbpm_desktop.simulator.wire import _FOREVER, _GIB, SimulatorError

if TYPE_CHECKING:
    from pbpm_desktop.simulator.server import OllamaSimulator


class Scheduler:
    """Which models are resident, and the one queue their loads and unloads go through."""

    def __init__(self, sim: OllamaSimulator) -> None:
        self._sim = sim
        self._resident: dict[str, ResidentModel] = {}
        self._load_lock = asyncio.Lock()
        #: (loop time, bytes) of recent unloads, for the memory-settle lag
        self._freed: list[tuple[float, int]] = []
        self._loading: dict[str, _LoadJob] = {}

    def resident(self) -> dict[str, ResidentModel]:
        """Currently loaded models (including ones whose unload is pending), by name."""
        return dict(self._resident)

    def loading(self) -> set[str]:
        """Models whose load is in progress."""
        return set(self._loading)

    async def stop_model(self, name: str) -> None:
        """``ollama stop``: unload, and wait for the unload unless the model is busy."""
        self.request_unload(name, counted=False)
        record = self._resident.get(name)
        if record is not None and record.busy == 0 and record._unloaded is not None:
            await asyncio.shield(record._unloaded)

    def drop_all(self) -> None:
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

    def _committed_bytes(self, exclude: _LoadJob | None = None) -> int:
        resident = sum(r.size for r in self._resident.values())
        return resident + sum(j.size for j in self._loading.values() if j is not exclude)

    def _lagging_bytes(self) -> int:
        """Bytes unloaded so recently that the free-memory reading does not show them yet."""
        settle = self._sim.behaviour.memory_settle_s
        if settle <= 0 or not self._freed:
            return 0
        now = asyncio.get_running_loop().time()
        self._freed = [(t, n) for t, n in self._freed if now - t < settle]
        return sum(n for _, n in self._freed)

    def runner_for(self, model: SimModel, options: dict[str, Any], shift: Any) -> tuple[Any, ...]:
        """The runner key a request asks for: explicit num_ctx, else Modelfile, else default."""
        requested = options.get("num_ctx")
        if not isinstance(requested, int) or isinstance(requested, bool) or requested <= 0:
            requested = model.num_ctx or self._sim.behaviour.default_num_ctx
        num_ctx = max(min(requested, model.context_length), 4)  # sched.go:170, :161
        return runner_key(options, shift, num_ctx)

    @staticmethod
    def _expiry(keep_alive: float) -> datetime:
        now = datetime.now(UTC)
        return now + (_FOREVER if keep_alive < 0 else timedelta(seconds=keep_alive))

    def _load_gate(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Ollama's single pending-load loop: one load, reload or eviction at a time."""
        return self._load_lock if self._sim.behaviour.serial_loads else contextlib.nullcontext()

    async def acquire(
        self, model: SimModel, keep_alive: float, runner: tuple[Any, ...] | None = None
    ) -> tuple[ResidentModel, float]:
        """Make ``model`` resident and count the caller as using it; returns (record, load s).

        The caller must ``release`` the record. Waiting on a load is shared between
        concurrent requests; a model whose unload is in progress is reloaded afterwards (as
        Ollama's scheduler does), while a busy model marked ``keep_alive: 0`` is simply
        reused with the newer request's keep_alive -- the latest request wins, like Ollama.
        A request with other runner options reloads the model once it is idle (sched.go:1381).
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        name = model.name
        # no runner key (a route without options, e.g. one added by another module): defaults
        want = runner or self.runner_for(model, {}, None)
        while True:
            record = self._resident.get(name)
            if record is not None:
                if not record.unloading and not record.doomed:
                    if self._sim.behaviour.reload_on_options and record.runner != want:
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
            if job is not None and self._sim.behaviour.reload_on_options and job.runner != want:
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
                    self.release(job.record)  # counted as busy when the load completed
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
            self._sim.stats.reloads += 1
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
        b = self._sim.behaviour
        while True:
            others = [r for r in self._resident.values() if r.name != job.model.name]
            if b.max_loaded is not None and len(others) >= b.max_loaded:
                ordered = eviction_order(others)
                victim = next((r for r in ordered if r.busy == 0), ordered[0])
                if not victim.doomed and not victim.unloading:
                    self._sim.stats.evictions.append(victim.name)
                await self._expire_and_wait(victim)
                continue
            capacity = self._sim.vram_capacity
            if capacity is None:
                return job.size
            committed = self._committed_bytes(exclude=job)
            if committed + job.size > capacity:
                self._sim.stats.oom_failures += 1
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
                self._sim.stats.partial_offloads.append(job.model.name)
                return max(visible, 0)
            self._sim.stats.evictions.append(idle[0].name)
            await self._expire_and_wait(idle[0])

    async def _load(self, job: _LoadJob) -> None:
        name = job.model.name
        try:
            async with self._load_gate():
                job.size = job.model.size_at(job.runner[0] if job.runner else 4096)
                size_vram = await self._make_room(job)
                if self._sim.load_delay > 0:
                    await asyncio.sleep(self._sim.load_delay)
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
            if self._sim.behaviour.num_parallel is not None:
                record._slots = asyncio.Semaphore(self._sim.behaviour.num_parallel)
            job.record = record
            self._resident[name] = record
            self._sim.stats.loads += 1
            total = sum(r.size for r in self._resident.values())
            self._sim.stats.max_resident_bytes = max(self._sim.stats.max_resident_bytes, total)
            if record.busy == 0:
                self._idle(record)
        finally:
            if self._loading.get(name) is job:
                del self._loading[name]

    @contextlib.asynccontextmanager
    async def slot(self, record: ResidentModel) -> AsyncIterator[None]:
        """A NUM_PARALLEL slot: queued requests wait here before their headers go out."""
        slots = record._slots
        if slots is None:
            yield
            return
        if slots.locked():
            record.queued += 1
            most = self._sim.stats.max_queued.get(record.name, 0)
            self._sim.stats.max_queued[record.name] = max(most, record.queued)
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

    def release(self, record: ResidentModel) -> None:
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
        record._timer = loop.call_later(
            max(self._sim.unload_delay, 0.0), self._finish_unload, record
        )

    def _finish_unload(self, record: ResidentModel) -> None:
        record._timer = None
        if self._resident.get(record.name) is record:
            del self._resident[record.name]
            self._sim.stats.unloads += 1
            self._freed.append((asyncio.get_running_loop().time(), record.size_vram))
        if record._unloaded is not None and not record._unloaded.done():
            record._unloaded.set_result(None)

    def request_unload(self, name: str, *, counted: bool = True) -> None:
        """A ``keep_alive: 0`` load-only request: unload now, or once the model is idle."""
        record = self._resident.get(name)
        if record is not None:
            if record.unloading:
                return
            record.keep_alive = 0
            if record.busy > 0:
                if counted:
                    self._sim.stats.busy_unload_requests += 1
                record.expires_at = datetime.now(UTC)
            else:
                self._begin_unload(record)
            return
        job = self._loading.get(name)
        if job is not None:
            job.keep_alive = 0
            if counted and job.waiters > 0:
                self._sim.stats.busy_unload_requests += 1
