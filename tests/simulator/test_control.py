"""The simulator's own /_sim routes."""

from __future__ import annotations

from pbpm_desktop.simulator import OllamaSimulator
from tests.simulator.helpers import LLAMA, post


async def test_sim_endpoints(sim: OllamaSimulator, http) -> None:
    status, cfg = await post(
        http, sim.url + "/_sim/config", {"token_delay": 0, "response_tokens": 3, "load_delay": 0}
    )
    assert status == 200 and cfg["response_tokens"] == 3 and sim.response_tokens == 3
    await post(http, sim.url + "/api/generate", {"model": LLAMA, "prompt": "x", "stream": False})
    async with http.get(sim.url + "/_sim/stats") as resp:
        stats = await resp.json()
    assert stats["loads"] == 1 and stats["requests"] == {LLAMA: 1}
    assert set(stats) == {
        "loads",
        "unloads",
        "oom_failures",
        "busy_unload_requests",
        "requests",
        "max_resident_bytes",
        "cancelled_streams",
        "reloads",
        "evictions",
        "partial_offloads",
        "cloud_requests",
        "max_queued",
    }
    status, _ = await post(http, sim.url + "/_sim/restart", {})
    assert status == 200 and sim.resident() == {}
