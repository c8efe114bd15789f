"""The simulator's Ollama behaviours (SimBehaviour), each proven on and off over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pbpm_desktop.simulator import OllamaSimulator, SimModel
from pbpm_desktop.simulator.behaviour import cloud_base
from tests.simulator.helpers import eventually, post

GB = 1024**3
A, B, C, D = "a:1b", "b:1b", "c:1b", "d:1b"
CLOUD = "gpt-oss:120b-cloud"


@pytest.fixture
async def sim() -> AsyncIterator[OllamaSimulator]:
    models = [
        SimModel(A, GB, num_ctx=8192, kv_bytes_per_token=65536),
        SimModel(B, GB),
        SimModel(C, GB),
        SimModel(D, GB),
        SimModel(CLOUD, 384, remote_host="https://ollama.com:443"),
    ]
    simulator = OllamaSimulator(models, vram_capacity=10 * GB, response_tokens=3)
    await simulator.start()
    yield simulator
    await simulator.stop()


def gen(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "prompt": "x", "stream": False, **extra}


async def test_runner_options_reload_unless_switched_off(sim: OllamaSimulator, http) -> None:
    url = sim.url + "/api/generate"
    assert (await post(http, url, gen(B)))[0] == 200
    assert (await post(http, url, gen(B, options={"temperature": 0.1})))[0] == 200
    assert sim.stats.reloads == 0  # sampling options never reload
    assert (await post(http, url, gen(B, options={"num_ctx": 2048})))[0] == 200
    assert sim.stats.reloads == 1 and sim.resident()[B].num_ctx == 2048
    assert (await post(http, url, gen(B, shift=False, options={"num_ctx": 2048})))[0] == 200
    assert sim.stats.reloads == 2
    # a /v1 request carries no options: back to the default context, another reload
    body = {"model": B, "messages": [{"role": "user", "content": "hi"}]}
    assert (await post(http, sim.url + "/v1/chat/completions", body))[0] == 200
    assert sim.stats.reloads == 3 and sim.resident()[B].num_ctx == 4096
    sim.behaviour.reload_on_options = False
    assert (await post(http, url, gen(B, options={"num_ctx": 999})))[0] == 200
    assert sim.stats.reloads == 3


async def test_a_reload_waits_for_the_busy_model_and_blocks_other_loads(
    sim: OllamaSimulator, http
) -> None:
    sim.token_delay = 0.1
    sim.response_tokens = 5
    url = sim.url + "/api/generate"
    busy = asyncio.create_task(post(http, url, gen(B)))
    await eventually(lambda: B in sim.resident() and sim.resident()[B].busy > 0, timeout=5)
    reload = asyncio.create_task(post(http, url, gen(B, options={"num_ctx": 1024})))
    await eventually(lambda: sim.stats.reloads, timeout=5)
    other = asyncio.create_task(post(http, url, gen(C)))
    await asyncio.sleep(0.1)
    assert C not in sim.resident() and not other.done()  # stuck behind the reload
    assert [r[0] for r in await asyncio.gather(busy, reload, other)] == [200, 200, 200]


async def test_max_loaded_evicts_by_ollamas_order_pinned_too(sim: OllamaSimulator, http) -> None:
    url = sim.url + "/api/generate"
    await post(http, url, {"model": A, "keep_alive": -1})  # pinned
    await post(http, url, {"model": B, "keep_alive": "10m"})
    await post(http, url, {"model": C, "keep_alive": "5m"})
    await post(http, url, {"model": D})  # cap 3: C (shortest keep-alive) goes
    assert sim.stats.evictions == [C]
    await post(http, url, {"model": C, "keep_alive": "1h"})  # D 5m goes, then
    await post(http, url, {"model": D, "keep_alive": -1})  # B 10m, then
    await post(http, url, {"model": B, "keep_alive": -1})  # C 1h: only pinned left
    await post(http, url, {"model": C})  # a pinned model is evicted too (A by name)
    assert sim.stats.evictions == [C, D, B, C, A]
    sim.behaviour.max_loaded = None
    await post(http, url, {"model": A})
    assert len(sim.resident()) == 4 and sim.stats.evictions[-1] == A


async def test_sizes_include_the_kv_cache(sim: OllamaSimulator, http) -> None:
    await post(http, sim.url + "/api/generate", {"model": A})
    async with http.get(sim.url + "/api/ps") as resp:
        (entry,) = (await resp.json())["models"]
    assert entry["context_length"] == 8192  # the Modelfile's num_ctx
    assert entry["size"] == entry["size_vram"] == GB + 65536 * 8192
    status, show = await post(http, sim.url + "/api/show", {"name": A})
    assert status == 200 and "num_ctx" in show["parameters"]
    info = show["model_info"]
    per_token = info["llama.block_count"] * info["llama.attention.head_count_kv"] * 256 * 2
    assert per_token == 65536


async def test_num_parallel_queues_with_late_headers(sim: OllamaSimulator, http) -> None:
    sim.token_delay = 0.05
    await post(http, sim.url + "/api/generate", {"model": B})
    first_done = asyncio.Event()
    second_headers_before_first_done: list[bool] = []

    async def stream(first: bool) -> None:
        async with http.post(sim.url + "/api/generate", json={"model": B, "prompt": "x"}) as r:
            if not first:
                second_headers_before_first_done.append(not first_done.is_set())
            await r.read()
        if first:
            first_done.set()

    first = asyncio.create_task(stream(True))
    await eventually(lambda: sim.stats.requests.get(B), timeout=5)
    await asyncio.gather(first, stream(False))
    assert sim.stats.max_queued[B] == 1
    # the queued request's headers came only once the first one had finished
    assert second_headers_before_first_done == [False]
    sim.behaviour.num_parallel = None
    sim.stats.max_queued.clear()
    await post(http, sim.url + "/api/generate", {"model": B, "keep_alive": 0})
    await eventually(lambda: B not in sim.resident(), timeout=5)
    await asyncio.gather(stream(True), stream(False))
    assert sim.stats.max_queued.get(B, 0) == 0


async def test_a_load_inside_the_memory_lag_lands_partly_on_cpu(sim: OllamaSimulator, http) -> None:
    sim.vram_capacity = int(1.5 * GB)
    sim.behaviour.memory_settle_s = 30.0  # freed memory never shows up during this test
    url = sim.url + "/api/generate"
    await post(http, url, {"model": B})
    await post(http, url, {"model": B, "keep_alive": 0})
    await eventually(lambda: B not in sim.resident(), timeout=5)
    await post(http, url, {"model": C})
    async with http.get(sim.url + "/api/ps") as resp:
        (entry,) = (await resp.json())["models"]
    assert entry["size_vram"] < entry["size"] and sim.stats.partial_offloads == [C]


async def test_cloud_stubs_listed_served_without_loading_and_disabled(
    sim: OllamaSimulator, http
) -> None:
    async with http.get(sim.url + "/api/tags") as resp:
        tags = {m["name"]: m for m in (await resp.json())["models"]}
    assert tags[CLOUD]["remote_host"] == "https://ollama.com:443"
    assert tags[A]["capabilities"] == ["completion"] and "remote_host" not in tags[A]
    assert (await post(http, sim.url + "/api/generate", gen(CLOUD)))[0] == 200
    assert (await post(http, sim.url + "/api/generate", gen("kimi-k2:1t:cloud")))[0] == 200
    assert sim.stats.cloud_requests == 2 and sim.resident() == {}
    sim.behaviour.no_cloud = True
    status, body = await post(http, sim.url + "/api/generate", gen(CLOUD))
    assert status == 403 and body["error"].startswith("ollama cloud is disabled")
    assert cloud_base("x:cloud") == "x" and cloud_base("x:7b-cloud") == "x:7b"
    assert cloud_base("x:7b") is None and cloud_base("x:local") is None


async def test_names_resolve_case_insensitively_unless_switched_off(
    sim: OllamaSimulator, http
) -> None:
    assert (await post(http, sim.url + "/api/generate", gen("A:1B")))[0] == 200
    assert (await post(http, sim.url + "/api/show", {"name": "B:1B"}))[0] == 200
    sim.behaviour.case_insensitive_names = False
    status, body = await post(http, sim.url + "/api/generate", gen("A:1B"))
    assert status == 404 and body == {"error": "model 'A:1B' not found"}


async def test_keep_alive_strings_follow_go(sim: OllamaSimulator, http) -> None:
    status, body = await post(http, sim.url + "/api/generate", {"model": B, "keep_alive": "1800"})
    assert status == 400 and body == {"error": 'time: missing unit in duration "1800"'}
    assert (await post(http, sim.url + "/api/generate", {"model": B, "keep_alive": 1800}))[0] == 200
    sim.behaviour.strict_keep_alive = False
    assert (await post(http, sim.url + "/api/generate", {"model": B, "keep_alive": "-1"}))[0] == 200


async def test_behaviour_switches_over_http(sim: OllamaSimulator, http) -> None:
    status, cfg = await post(http, sim.url + "/_sim/config", {"behaviour": {"num_parallel": 4}})
    assert status == 200 and cfg["behaviour"]["num_parallel"] == 4
    assert sim.behaviour.num_parallel == 4
    status, body = await post(http, sim.url + "/_sim/config", {"behaviour": {"nope": 1}})
    assert status == 400 and "unknown behaviour" in body["error"]
