"""Loading, keep_alive, unloading and VRAM capacity, as a client sees them over HTTP."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from pbpm_desktop.simulator import OllamaSimulator, SimulatorError
from tests.simulator.helpers import LLAMA, QWEN, eventually, post, ps_names


async def test_load_only_and_unload(sim: OllamaSimulator, http) -> None:
    status, body = await post(http, sim.url + "/api/generate", {"model": LLAMA})
    assert status == 200
    assert body["done"] is True and body["done_reason"] == "load" and body["response"] == ""
    assert await ps_names(http, sim) == [LLAMA]
    status, body = await post(http, sim.url + "/api/chat", {"model": QWEN, "messages": []})
    assert body["done_reason"] == "load"
    assert body["message"] == {"role": "assistant", "content": ""}
    assert sorted(await ps_names(http, sim)) == sorted([LLAMA, QWEN])
    assert sim.stats.loads == 2 and sim.stats.requests == {}

    status, body = await post(
        http, sim.url + "/api/generate", {"model": LLAMA, "prompt": "", "keep_alive": 0}
    )
    assert (status, body["done_reason"]) == (200, "unload")
    status, body = await post(
        http, sim.url + "/api/chat", {"model": QWEN, "messages": [], "keep_alive": "0s"}
    )
    assert body["done_reason"] == "unload" and body["message"]["content"] == ""
    await eventually(lambda: not sim.resident())
    assert await ps_names(http, sim) == []
    assert sim.stats.unloads == 2 and sim.stats.busy_unload_requests == 0


async def test_unload_of_busy_model_is_deferred(sim: OllamaSimulator, http) -> None:
    sim.token_delay = 0.01
    sim.response_tokens = 15
    async with http.post(sim.url + "/api/chat", json={"model": LLAMA, "messages": [{}]}) as r:
        await r.content.readline()
        assert sim.resident()[LLAMA].busy == 1
        status, body = await post(
            http, sim.url + "/api/generate", {"model": LLAMA, "keep_alive": 0}
        )
        assert (status, body["done_reason"]) == (200, "unload")
        assert sim.stats.busy_unload_requests == 1
        await asyncio.sleep(0.03)
        assert await ps_names(http, sim) == [LLAMA]  # still generating, so still loaded
        rest = [json.loads(line) async for line in r.content]
    assert rest[-1]["done"] is True and rest[-1]["eval_count"] == 15
    await eventually(lambda: LLAMA not in sim.resident())
    assert await ps_names(http, sim) == []
    assert sim.stats.unloads == 1


async def test_unloading_model_is_reloaded_by_next_request(sim: OllamaSimulator, http) -> None:
    sim.unload_delay = 0.05
    await sim.external_load(LLAMA)
    await post(http, sim.url + "/api/generate", {"model": LLAMA, "keep_alive": 0})
    assert sim.resident()[LLAMA].unloading
    status, body = await post(
        http, sim.url + "/api/generate", {"model": LLAMA, "prompt": "x", "stream": False}
    )
    assert status == 200 and body["done_reason"] == "stop"
    assert (sim.stats.loads, sim.stats.unloads) == (2, 1)
    assert not sim.resident()[LLAMA].unloading


async def test_keep_alive_expiry_forever_and_bad_value(sim: OllamaSimulator, http) -> None:
    await post(http, sim.url + "/api/generate", {"model": LLAMA, "keep_alive": 0.1})
    await post(http, sim.url + "/api/generate", {"model": QWEN, "keep_alive": "-1m"})
    await post(http, sim.url + "/api/generate", {"model": "qwen2.5-coder:32b", "keep_alive": "1h"})
    async with http.get(sim.url + "/api/ps") as resp:
        expiry = {m["name"]: m["expires_at"] for m in (await resp.json())["models"]}
    assert datetime.fromisoformat(expiry[QWEN]).year >= 2300  # forever, like Ollama's MaxInt64
    in_an_hour = datetime.fromisoformat(expiry["qwen2.5-coder:32b"]) - datetime.now(UTC)
    assert 3500 < in_an_hour.total_seconds() <= 3600
    await eventually(lambda: LLAMA not in sim.resident())
    assert set(sim.resident()) == {QWEN, "qwen2.5-coder:32b"}
    # A later request's keep_alive replaces the earlier one (latest request wins).
    await post(http, sim.url + "/api/generate", {"model": QWEN, "keep_alive": "30s"})
    assert sim.resident()[QWEN].keep_alive == 30
    status, body = await post(
        http, sim.url + "/api/generate", {"model": LLAMA, "keep_alive": "soon"}
    )
    assert status == 400 and "invalid duration" in body["error"]


async def test_expiry_counts_from_end_of_last_request(sim: OllamaSimulator, http) -> None:
    sim.token_delay = 0.02
    sim.response_tokens = 8  # ~160 ms of generation, longer than the 0.1 s keep_alive
    body = {"model": LLAMA, "prompt": "x", "keep_alive": 0.1, "stream": False}
    status, _ = await post(http, sim.url + "/api/generate", body)
    assert status == 200
    assert LLAMA in sim.resident()  # the clock started when the request finished
    await eventually(lambda: LLAMA not in sim.resident())


# ---- VRAM capacity and loading ---------------------------------------------------------------


async def test_oom_refusal_with_capacity(http) -> None:
    sim = OllamaSimulator(vram_capacity=5 * 1024**3, unload_delay=0.01)
    await sim.start()
    try:
        status, _ = await post(http, sim.url + "/api/generate", {"model": LLAMA})
        assert status == 200
        status, body = await post(
            http, sim.url + "/api/chat", {"model": QWEN, "messages": [{"content": "x"}]}
        )
        assert status == 500
        assert body["error"].startswith("model requires more system memory (4.4 GiB)")
        assert "than is available (3.1 GiB)" in body["error"]
        assert sim.stats.oom_failures == 1 and set(sim.resident()) == {LLAMA}
        # Pending unloads still count against capacity: Ollama frees memory asynchronously.
        sim.unload_delay = 0.1
        await post(http, sim.url + "/api/generate", {"model": LLAMA, "keep_alive": 0})
        status, _ = await post(http, sim.url + "/api/generate", {"model": QWEN})
        assert status == 500 and sim.stats.oom_failures == 2
        await eventually(lambda: not sim.resident())
        status, _ = await post(http, sim.url + "/api/generate", {"model": QWEN})
        assert status == 200
        assert sim.stats.max_resident_bytes == sim.models[QWEN].size
        with pytest.raises(SimulatorError) as info:
            await sim.external_load(LLAMA)
        assert info.value.status == 500 and sim.stats.oom_failures == 3
    finally:
        await sim.stop()


async def test_concurrent_loads_share_one_load(sim: OllamaSimulator, http) -> None:
    sim.load_delay = 0.05
    body = {"model": LLAMA, "prompt": "hi", "stream": False}
    results = await asyncio.gather(*(post(http, sim.url + "/api/generate", body) for _ in range(4)))
    assert all(status == 200 for status, _ in results)
    assert sim.stats.loads == 1 and sim.stats.requests == {LLAMA: 4}
    assert all(b["load_duration"] >= 0.04e9 for _, b in results)
    _, again = await post(http, sim.url + "/api/generate", body)
    assert again["load_duration"] < 0.01e9  # already resident
    assert sim.resident()[LLAMA].busy == 0
