"""Out-of-band events: a load or unload outside the gateway, an Ollama restart."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from pbpm_desktop.simulator import OllamaSimulator, SimulatorError
from tests.simulator.helpers import LLAMA, QWEN, post, ps_names


async def test_external_load_unload_and_restart(sim: OllamaSimulator, http) -> None:
    await sim.external_load(LLAMA, keep_alive=-1)
    assert await ps_names(http, sim) == [LLAMA]
    assert sim.resident()[LLAMA].keep_alive < 0
    await sim.external_unload(LLAMA)
    assert await ps_names(http, sim) == []
    with pytest.raises(SimulatorError):
        await sim.external_load("ghost:1b")

    await sim.external_load(QWEN)
    sim.token_delay = 0.02
    async with http.post(sim.url + "/api/chat", json={"model": LLAMA, "messages": [{}]}) as r:
        await r.content.readline()
        await sim.restart()
        with pytest.raises(aiohttp.ClientError):
            async for _ in r.content:
                pass
    assert sim.resident() == {}
    assert await ps_names(http, sim) == []
    assert sim.stats.cancelled_streams == 0  # cut by the server, not left by the client
    sim.token_delay = 0
    status, body = await post(
        http, sim.url + "/api/chat", {"model": LLAMA, "messages": [{}], "stream": False}
    )
    assert status == 200 and body["done"] is True
    assert sim.stats.loads == 4  # llama, qwen, llama again after the restart


async def test_restart_during_load(sim: OllamaSimulator) -> None:
    sim.load_delay = 0.2
    loader = asyncio.create_task(sim.external_load(LLAMA))
    await asyncio.sleep(0.02)
    await sim.restart()
    with pytest.raises(SimulatorError):
        await loader
    assert sim.resident() == {} and sim.stats.loads == 0
