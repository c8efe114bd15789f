"""The simulator's own routes (``/_sim/*``), which a real Ollama does not have.

Why over HTTP: the benchmarks run the simulator in another process and change its timing
knobs and behaviour switches per scenario, read its counters, and simulate an Ollama restart.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from aiohttp import web

from pbpm_desktop.simulator.wire import SimulatorError, _error, _json, _read_json

if TYPE_CHECKING:
    from pbpm_desktop.simulator.server import OllamaSimulator


class ControlRoutes:
    """The handlers, bound to one simulator."""

    def __init__(self, sim: OllamaSimulator) -> None:
        self.sim = sim

    async def stats(self, request: web.Request) -> web.Response:
        return _json(200, asdict(self.sim.stats))

    async def restart(self, request: web.Request) -> web.Response:
        await self.sim.restart()
        return _json(200, {"status": "restarted"})

    async def config(self, request: web.Request) -> web.Response:
        """Change timing knobs from another process (benchmarks); answers the current values."""
        try:
            body = await _read_json(request, "config") if request.can_read_body else {}
        except SimulatorError as exc:
            return _error(exc.status, exc.message)
        try:
            for key in ("token_delay", "load_delay", "unload_delay"):
                if key in body:
                    setattr(self.sim, key, max(float(body[key]), 0.0))
            if "response_tokens" in body:
                self.sim.response_tokens = max(int(body["response_tokens"]), 0)
            if "vram_capacity" in body:
                cap = body["vram_capacity"]
                self.sim.vram_capacity = None if cap is None else int(cap)
            for key, value in (body.get("behaviour") or {}).items():
                if not hasattr(self.sim.behaviour, key):
                    raise ValueError(f"unknown behaviour {key!r}")
                setattr(self.sim.behaviour, key, value)
        except (TypeError, ValueError) as exc:
            return _error(400, str(exc))
        return _json(
            200,
            {
                "token_delay": self.sim.token_delay,
                "load_delay": self.sim.load_delay,
                "unload_delay": self.sim.unload_delay,
                "response_tokens": self.sim.response_tokens,
                "vram_capacity": self.sim.vram_capacity,
                "behaviour": asdict(self.sim.behaviour),
            },
        )


def add_control_routes(sim: OllamaSimulator, router: web.UrlDispatcher) -> None:
    routes = ControlRoutes(sim)
    router.add_get("/_sim/stats", routes.stats)
    router.add_post("/_sim/restart", routes.restart)
    router.add_post("/_sim/config", routes.config)
