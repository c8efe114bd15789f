"""One request lifecycle for every route that runs a model: load, slot, generate, release.

Why one helper: Ollama sends every model-bearing request -- native chat/generate/embed, the
OpenAI routes and the Anthropic / Responses routes its middlewares convert to a ChatRequest
(middleware/anthropic.go, middleware/openai.go ResponsesMiddleware) -- through the one scheduler
(server/routes.go ChatHandler -> scheduleRunner -> server/sched.go GetRunner), and the runner
serves at most OLLAMA_NUM_PARALLEL of them at once. A route with its own copy of the lifecycle
drifted from it (the agent routes skipped the NUM_PARALLEL slot). Here, once: the in-flight
record that ``restart`` cuts, the model's load and keep_alive (``Scheduler.acquire`` /
``release``), the slot, the request counter, and the count of clients that left mid-answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from pbpm_desktop.simulator.models import ResidentModel, SimModel, _Flight, _Spec
from pbpm_desktop.simulator.wire import SimulatorError

if TYPE_CHECKING:
    from pbpm_desktop.simulator.server import OllamaSimulator

ErrorRenderer = Callable[[int, str], web.Response]


@dataclass(eq=False)
class Lease:
    """A request holding its model: what the route's answer needs to know and may take."""

    sim: OllamaSimulator
    spec: _Spec
    request: web.Request
    #: loop time when the request arrived (``total_duration`` counts from here)
    started: float
    #: the resident model it holds (None for a cloud model, which never loads)
    record: ResidentModel | None = None
    #: seconds spent waiting for the load (``load_duration``)
    load_s: float = 0.0
    #: the streamed response once its headers went out, so a reset returns it
    response: web.StreamResponse | None = None
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def generate(self, *, slot: bool = True) -> None:
        """Start the work: wait for a NUM_PARALLEL slot (headers stay unsent meanwhile, as
        Ollama's do), then count the request unless it only loads the model."""
        if slot and self.record is not None:
            await self._stack.enter_async_context(self.sim.scheduler.slot(self.record))
        if not self.spec.load_only:
            requests = self.sim.stats.requests
            requests[self.spec.model] = requests.get(self.spec.model, 0) + 1

    async def open_stream(self, headers: dict[str, str]) -> web.StreamResponse:
        """Send a streamed answer's headers; the body follows with ``write``."""
        self.response = web.StreamResponse(headers=headers)
        await self.response.prepare(self.request)
        return self.response


Answer = Callable[[Lease], Awaitable[web.StreamResponse]]


async def serve_request(
    sim: OllamaSimulator,
    request: web.Request,
    spec: _Spec,
    model: SimModel | None,
    answer: Answer,
    render_error: ErrorRenderer,
) -> web.StreamResponse:
    """Run ``answer`` with ``model`` loaded for ``spec`` (not for a cloud spec); a failed
    load is answered with ``render_error``. Whatever happens, the slot and the model are
    released and a client that left is counted (unless ``restart`` cut it)."""
    loop = asyncio.get_running_loop()
    flight = _Flight(asyncio.current_task(), request)
    sim._flights.add(flight)
    lease = Lease(sim, spec, request, loop.time())
    try:
        async with lease._stack:  # the slot goes back before the model is released
            if spec.cloud or model is None:
                sim.stats.cloud_requests += 1
            else:
                try:
                    lease.record, lease.load_s = await sim.scheduler.acquire(
                        model, spec.keep_alive, spec.runner
                    )
                except SimulatorError as exc:
                    return render_error(exc.status, exc.message)
            return await answer(lease)
    except ConnectionResetError:
        # Client went away mid-stream (no handler cancellation with this runner).
        if not flight.cut:
            sim.stats.cancelled_streams += 1
        return lease.response if lease.response is not None else web.Response(status=499)
    except asyncio.CancelledError:
        if not flight.cut:
            sim.stats.cancelled_streams += 1
        raise
    finally:
        if lease.record is not None:
            sim.scheduler.release(lease.record)
        sim._flights.discard(flight)
