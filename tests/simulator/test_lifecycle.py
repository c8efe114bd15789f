"""The one request lifecycle: clients that leave, and NUM_PARALLEL on every route."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from pbpm_desktop.simulator import OllamaSimulator
from tests.simulator.helpers import LLAMA, eventually, post


async def test_client_disconnect_is_counted(sim: OllamaSimulator, http) -> None:
    sim.token_delay = 0.02
    sim.response_tokens = 50
    resp = await http.post(sim.url + "/api/chat", json={"model": LLAMA, "messages": [{}]})
    await resp.content.readline()
    assert sim.resident()[LLAMA].busy == 1
    resp.close()
    await eventually(lambda: sim.stats.cancelled_streams == 1)
    assert sim.resident()[LLAMA].busy == 0
    assert sim._flights == set()


async def test_disconnect_during_load_keeps_the_load(sim: OllamaSimulator, http) -> None:
    sim.load_delay = 0.1
    request = asyncio.create_task(
        http.post(sim.url + "/api/generate", json={"model": LLAMA, "prompt": "x"})
    )
    await eventually(lambda: LLAMA in sim.scheduler.loading())
    request.cancel()
    await eventually(lambda: sim.stats.cancelled_streams == 1)
    await eventually(lambda: LLAMA in sim.resident())  # a load, once started, completes
    assert sim.resident()[LLAMA].busy == 0 and sim.stats.requests == {}


ROUTES = [
    ("/v1/messages", {"max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/responses", {"max_output_tokens": 2, "input": "hi"}),
    ("/v1/chat/completions", {"max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}),
    ("/api/generate", {"prompt": "hi", "stream": False, "options": {"num_predict": 2}}),
]


@pytest.mark.parametrize(("path", "body"), ROUTES, ids=[path for path, _ in ROUTES])
async def test_every_route_waits_for_the_num_parallel_slot(
    sim: OllamaSimulator, http: aiohttp.ClientSession, path: str, body: dict[str, Any]
) -> None:
    """Ollama converts /v1/messages and /v1/responses to a ChatRequest (middleware/anthropic.go,
    middleware/openai.go ResponsesMiddleware) and runs ChatHandler, which goes through the one
    scheduler (server/routes.go scheduleRunner, server/sched.go) like every other route: with
    NUM_PARALLEL=1 each waits for the /api/chat generating on the model, headers unsent."""
    sim.behaviour.num_parallel = 1
    sim.token_delay = 0.01
    chat = {"model": LLAMA, "messages": [{"role": "user", "content": "long"}]}
    chat["options"] = {"num_predict": 1_000_000}  # generates until its client leaves
    running = await http.post(sim.url + "/api/chat", json=chat)
    await running.content.readline()  # generating: it holds the model's only slot
    other = asyncio.create_task(post(http, sim.url + path, {"model": LLAMA, **body}))
    queued = asyncio.create_task(eventually(lambda: sim.resident()[LLAMA].queued == 1, 10))
    await asyncio.wait({other, queued}, return_when=asyncio.FIRST_COMPLETED)
    queued.cancel()
    assert not other.done(), f"{path} did not wait for the model's NUM_PARALLEL slot"
    assert sim.resident()[LLAMA].queued == 1
    running.close()  # the chat's client leaves: its slot frees, the queued request runs
    status, _ = await other
    assert status == 200
    assert sim.stats.max_queued[LLAMA] == 1
