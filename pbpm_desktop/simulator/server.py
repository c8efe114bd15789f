"""The simulated Ollama server: its knobs and counters, its app, start/stop, and test hooks.

Why a thin class: tests, the demo and the benchmarks hold an ``OllamaSimulator`` and change its
knobs while it runs; everything it does is delegated -- residency to ``Scheduler``
(scheduler.py), each group of routes to its module, every model-running route through the one
lifecycle (lifecycle.py). The package docstring (``__init__.py``) lists what is deliberately
different from a real Ollama.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from aiohttp import web

from pbpm_desktop.simulator.agents import add_agent_routes
from pbpm_desktop.simulator.behaviour import SimBehaviour, cloud_base
from pbpm_desktop.simulator.control import add_control_routes
from pbpm_desktop.simulator.embed import add_embed_routes
from pbpm_desktop.simulator.inference import add_inference_routes
from pbpm_desktop.simulator.models import ResidentModel, SimModel, SimStats, _Flight, default_models
from pbpm_desktop.simulator.native import add_native_routes
from pbpm_desktop.simulator.openai import add_openai_model_routes
from pbpm_desktop.simulator.scheduler import Scheduler
from pbpm_desktop.simulator.wire import SimulatorError, _go_type, parse_keep_alive


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
        #: which models are resident; every request's load and unload goes through it
        self.scheduler = Scheduler(self)
        self._flights: set[_Flight] = set()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    def make_app(self) -> web.Application:
        """The aiohttp application (usable with any runner, e.g. pytest-aiohttp's)."""
        app = web.Application(client_max_size=64 * 1024**2)
        r = app.router
        native = add_native_routes(self, r)
        add_inference_routes(self, r)
        add_embed_routes(self, r)
        add_openai_model_routes(self, r)
        add_control_routes(self, r)
        add_agent_routes(self, r)  # /v1/messages, /v1/responses
        # Last: anything unmatched answers like gin: 405 for a known path with another
        # method (HandleMethodNotAllowed, server/routes.go:1870), else 404.
        r.add_route("*", "/{tail:.*}", native.not_found)
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
        self.scheduler.drop_all()
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
        return self.scheduler.resident()

    async def external_load(self, name: str, keep_alive: float | str = 300) -> None:
        """Load a model as ``ollama run`` outside the gateway would; raises SimulatorError."""
        model = self._resolve(name)
        if model is None:
            raise SimulatorError(404, f"model '{name}' not found")
        strict = self.behaviour.strict_keep_alive
        record, _ = await self.scheduler.acquire(model, parse_keep_alive(keep_alive, strict))
        self.scheduler.release(record)

    async def external_unload(self, name: str) -> None:
        """Unload as ``ollama stop`` would; waits for the unload unless the model is busy."""
        model = self._resolve(name)
        await self.scheduler.stop_model(model.name if model else name)

    async def restart(self) -> None:
        """Simulate Ollama restarting: every resident model gone, in-flight requests cut.

        Cut requests are not counted in ``cancelled_streams`` (the client did not leave) and
        the vanished models are not counted in ``unloads``.
        """
        self.scheduler.drop_all()
        current = asyncio.current_task()
        for flight in list(self._flights):
            flight.cut = True
            transport = flight.request.transport
            if transport is not None:
                transport.abort()
            if flight.task is not None and flight.task is not current:
                flight.task.cancel()
        await asyncio.sleep(0)

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

    # ---- request parsing ------------------------------------------------------------------

    def _find_model(self, body: dict[str, Any]) -> tuple[SimModel, str]:
        """The model a request body names, and the name as spelled (Ollama echoes it back);
        every route checks it the same way, in the order of Ollama's handlers."""
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
