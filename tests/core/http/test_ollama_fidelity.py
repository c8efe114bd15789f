"""The gateway against the simulator's Ollama behaviours (issue 10), through the real HTTP stack.

Each test turns on the Ollama behaviour it is about (SimBehaviour) and proves the gateway copes:
no reload from client options, keep-alive forms Ollama accepts, cloud models refused, the
model allowlist on /api/show's `name`, Ollama's own model cap, `"stream": null`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.simulator import OllamaSimulator, SimBehaviour, SimModel
from tests.conftest import GB, Gateway, make_settings

LLAMA, QWEN, CODER, CLOUD = "llama3.2:3b", "qwen2.5:7b", "coder:14b", "gpt-oss:120b-cloud"
MESSAGES = [{"role": "user", "content": "hello there"}]

Factory = Callable[..., Awaitable[Gateway]]


def fidelity_models() -> list[SimModel]:
    return [
        SimModel(LLAMA, 2 * GB),
        SimModel(QWEN, 5 * GB, family="qwen2", num_ctx=8192, kv_bytes_per_token=65536),
        SimModel(CODER, 8 * GB, family="qwen2"),
        SimModel("tiny:1b", GB),
        SimModel(CLOUD, 384, remote_host="https://ollama.com:443"),
    ]


@pytest.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[Factory]:
    """Build a simulator with some behaviours and a gateway with some settings in front."""
    started: list[tuple[OllamaSimulator, GatewayService]] = []

    async def make(behaviour: SimBehaviour | None = None, **settings: Any) -> Gateway:
        sim = OllamaSimulator(
            fidelity_models(), vram_capacity=40 * GB, response_tokens=4, behaviour=behaviour
        )
        await sim.start()
        service = GatewayService(make_settings(tmp_path, sim.url, **settings))
        started.append((sim, service))
        await service.start()
        created = await service.create_key("tester", "tester@example.com")
        return Gateway(service, service.url or "", sim, created["api_key"], created["id"])

    yield make
    for sim, service in reversed(started):
        await service.stop()
        await sim.stop()


async def call(
    http: aiohttp.ClientSession, gw: Gateway, path: str, body: dict, key: str | None = None
) -> tuple[int, Any]:
    async with http.post(gw.url + path, json=body, headers=gw.auth(key)) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


# -- 1. runner options ----------------------------------------------------------------------


async def alternate_routes(http: aiohttp.ClientSession, gw: Gateway) -> None:
    """Native requests with runner options, and /v1 requests (which carry none), in turn."""
    hostile = {"num_ctx": 2048, "num_batch": 64, "num_thread": 3, "use_mmap": False}
    for _ in range(2):
        native = {"model": QWEN, "messages": MESSAGES, "stream": False, "options": hostile}
        status, _ = await call(http, gw, "/api/chat", {**native, "shift": False})
        assert status == 200
        status, _ = await call(
            http, gw, "/v1/chat/completions", {"model": QWEN, "messages": MESSAGES}
        )
        assert status == 200
        status, _ = await call(http, gw, "/api/generate", {"model": QWEN, "prompt": "hi"})
        assert status == 200
        status, _ = await call(http, gw, "/v1/completions", {"model": QWEN, "prompt": "hi"})
        assert status == 200


async def test_client_runner_options_and_v1_in_turn_cause_no_reload(make_gateway: Factory, http):
    # the Modelfile of QWEN says num_ctx 8192, and so does MODEL_NUM_CTX: honoured everywhere
    gw = await make_gateway(model_num_ctx=f"{QWEN}=8192")
    await alternate_routes(http, gw)
    assert gw.sim.stats.reloads == 0 and gw.sim.stats.loads == 1
    # every native request reached Ollama with the configured num_ctx and no other runner option
    # (the gateway's own load carries none: the Modelfile gives the same 8192)
    sent = [seen for seen in gw.sim.options_seen if seen]
    assert len(sent) == 4 and all(seen == {"num_ctx": 8192} for seen in sent)
    assert gw.sim.resident()[QWEN].num_ctx == 8192


async def test_model_num_ctx_that_ollama_does_not_share_is_not_sent(make_gateway: Factory, http):
    # 16384 is not QWEN's default in Ollama: sending it would make /v1 requests reload it
    gw = await make_gateway(model_num_ctx=f"{QWEN}=16384")
    await alternate_routes(http, gw)
    assert gw.sim.stats.reloads == 0 and gw.sim.stats.loads == 1
    assert all(seen == {} for seen in gw.sim.options_seen)


async def test_a_client_num_ctx_on_a_busy_always_on_model_stalls_nobody(
    make_gateway: Factory, http
):
    gw = await make_gateway(always_on_models=LLAMA)
    gw.sim.token_delay = 0.02
    gw.sim.response_tokens = 20
    body = {"model": LLAMA, "messages": MESSAGES, "stream": False}
    results = await asyncio.gather(
        call(http, gw, "/api/chat", body),
        call(http, gw, "/api/chat", {**body, "options": {"num_ctx": 32768}}),
        call(http, gw, "/api/chat", {**body, "options": {"num_gpu": 10, "main_gpu": 1}}),
    )
    assert [status for status, _ in results] == [200, 200, 200]
    assert gw.sim.stats.reloads == 0 and gw.sim.stats.loads == 1


# -- 2. keep_alive ---------------------------------------------------------------------------


@pytest.mark.parametrize(("configured", "seconds"), [("1800", 1800), ("1h30m", 5400)])
async def test_heavy_keep_alive_reaches_ollama_in_a_form_it_accepts(
    make_gateway: Factory, http, configured: str, seconds: int
):
    gw = await make_gateway(heavy_keep_alive=configured)
    status, body = await call(http, gw, "/api/generate", {"model": CODER, "prompt": "hi"})
    assert status == 200, body
    assert gw.sim.resident()[CODER].keep_alive == seconds
    status, body = await call(http, gw, "/preload", {"model": QWEN})
    assert status == 200, body
    assert gw.sim.resident()[QWEN].keep_alive == seconds


# -- 3. Ollama's max-loaded cap ---------------------------------------------------------------


async def test_four_models_with_a_cap_of_three_never_evict_a_pinned_one(
    make_gateway: Factory, http
):
    gw = await make_gateway(
        SimBehaviour(max_loaded=3),
        always_on_models=f"{LLAMA},tiny:1b",
        max_heavy_models=2,
        max_loaded_models=3,
    )
    for model in (QWEN, CODER, QWEN, CODER):
        status, body = await call(http, gw, "/api/generate", {"model": model, "prompt": "x"})
        assert status == 200, body
        assert {LLAMA, "tiny:1b"} <= set(gw.sim.resident())
    assert gw.sim.stats.evictions == []  # the gateway made room itself, pinned models stayed
    assert len(gw.sim.resident()) <= 3


async def test_an_eviction_the_gateway_did_not_make_is_reported(make_gateway: Factory, http):
    # Ollama configured with a smaller cap than the gateway believes
    gw = await make_gateway(SimBehaviour(max_loaded=1), always_on_models=LLAMA)
    status, _ = await call(http, gw, "/api/generate", {"model": QWEN, "prompt": "x"})
    assert status == 200
    assert gw.sim.stats.evictions == [LLAMA]
    assert gw.service.context is not None
    snapshot = await gw.service.context.vram.reconcile()
    # reported; reconciled: the always-on model is back (and this too-small cap then
    # evicts QWEN, which is reported as well)
    assert snapshot["unexpected_evictions"][0]["model"] == LLAMA
    assert LLAMA in gw.sim.resident()


# -- 4. cloud models --------------------------------------------------------------------------


async def test_cloud_model_refused_for_a_normal_key_and_never_reaches_ollama(
    make_gateway: Factory, http
):
    gw = await make_gateway()
    for path, body in (
        ("/api/chat", {"model": CLOUD, "messages": MESSAGES}),
        ("/v1/chat/completions", {"model": CLOUD, "messages": MESSAGES}),
        ("/api/generate", {"model": "kimi-k2:1t:cloud", "prompt": "x"}),  # not even installed
        ("/api/show", {"model": CLOUD}),
        ("/preload", {"model": CLOUD}),
    ):
        status, answer = await call(http, gw, path, body)
        assert status == 403, (path, answer)
        assert "cloud" in json.dumps(answer)
    assert gw.sim.stats.cloud_requests == 0 and gw.sim.stats.loads == 0
    async with http.get(gw.url + "/api/available_models", headers=gw.auth()) as resp:
        rows = {row["name"]: row for row in (await resp.json())["models"]}
    assert rows[CLOUD]["cloud"] is True and rows[QWEN]["cloud"] is False


async def test_cloud_key_may_use_cloud_models_outside_the_vram_plan(make_gateway: Factory, http):
    gw = await make_gateway(always_on_models=LLAMA)
    created = await gw.service.create_key("cloudy", "c@example.com", cloud=True)
    body = {"model": CLOUD, "messages": MESSAGES, "stream": False}
    status, answer = await call(http, gw, "/api/chat", body, key=created["api_key"])
    assert status == 200, answer
    assert gw.sim.stats.cloud_requests == 1
    assert set(gw.sim.resident()) == {LLAMA}  # nothing was evicted or loaded for it
    records = await gw.service.usage_records(limit=10)
    assert records[0]["route"] == "chat:cloud" and records[0]["model"] == CLOUD
    async with http.patch(
        gw.url + f"/admin/keys/{created['id']}", json={"cloud": False}, headers=gw.master
    ) as resp:
        assert resp.status == 200 and (await resp.json())["cloud"] is False
    async with http.post(
        gw.url + "/admin/create_key", json={"name": "x", "cloud": "maybe"}, headers=gw.master
    ) as resp:
        assert resp.status == 400 and "'cloud' must be true or false" in await resp.text()


# -- 5. /api/show by name ----------------------------------------------------------------------


async def test_show_by_name_respects_the_allowlist(make_gateway: Factory, http):
    gw = await make_gateway()
    limited = await gw.service.create_key("limited", "l@example.com", models=LLAMA)
    key = limited["api_key"]
    status, _ = await call(http, gw, "/api/show", {"name": QWEN}, key=key)
    assert status == 403
    status, _ = await call(http, gw, "/api/show", {"model": "", "name": QWEN}, key=key)
    assert status == 403
    status, body = await call(http, gw, "/api/show", {"name": LLAMA}, key=key)
    assert status == 200 and body["details"]["family"] == "llama"
    status, _ = await call(http, gw, "/api/show", {"Name": QWEN}, key=key)
    assert status == 400  # Go matches JSON keys case-insensitively: refused, not unchecked
    # Ollama resolves names case-insensitively; the allowlist holds for any spelling
    status, _ = await call(http, gw, "/api/show", {"name": QWEN.upper()}, key=key)
    assert status == 403
    status, _ = await call(http, gw, "/api/chat", {"model": LLAMA.upper(), "messages": MESSAGES})
    assert status == 200


# -- 9. smaller ------------------------------------------------------------------------------


async def test_stream_null_streams_like_ollama(make_gateway: Factory, http):
    gw = await make_gateway()
    body = {"model": LLAMA, "messages": MESSAGES, "stream": None}
    async with http.post(gw.url + "/api/chat", json=body, headers=gw.auth()) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/x-ndjson")
        # relayed as a stream, not buffered into one body
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in resp.headers
        lines = [json.loads(line) async for line in resp.content if line.strip()]
    assert len(lines) == 5 and lines[-1]["done"] is True
    record = (await gw.service.usage_records(limit=1))[0]
    assert record["completion_tokens"] == 4


# -- 8. NUM_PARALLEL -------------------------------------------------------------------------


async def test_time_queued_for_a_busy_model_is_not_a_first_byte_timeout(
    make_gateway: Factory, http
):
    # Ollama serves one request per model at a time (OLLAMA_NUM_PARALLEL=1); each answer
    # takes ~0.5 s, longer than the first-byte deadline
    gw = await make_gateway(SimBehaviour(num_parallel=1), first_byte_timeout_s=0.3)
    gw.sim.token_delay = 0.05
    gw.sim.response_tokens = 10
    await call(http, gw, "/preload", {"model": QWEN})
    queued_seen: list[dict[str, int]] = []

    async def one() -> tuple[int, int]:
        body = {"model": QWEN, "messages": MESSAGES}
        async with http.post(gw.url + "/api/chat", json=body, headers=gw.auth()) as resp:
            queued_seen.append(gw.service.vram_snapshot()["queued"])
            lines = [line async for line in resp.content if line.strip()]
            return resp.status, len(lines)

    results = await asyncio.gather(one(), one(), one())
    assert results == [(200, 11)] * 3
    assert gw.sim.stats.max_queued.get(QWEN, 0) == 0  # they waited in the gateway, not Ollama
    assert any(q.get(QWEN) for q in queued_seen)  # and the dashboard saw them queued


async def test_v1_completions_stream_without_usage_asked_has_no_usage_and_counts_right(
    make_gateway: Factory, http
):
    gw = await make_gateway()
    body = {"model": LLAMA, "prompt": "one two three", "stream": True}
    async with http.post(gw.url + "/v1/completions", json=body, headers=gw.auth()) as resp:
        assert resp.status == 200
        raw = (await resp.read()).decode()
    events = [e[6:] for e in raw.split("\n\n") if e.startswith("data: {")]
    assert events and all("usage" not in json.loads(e) for e in events)
    record = (await gw.service.usage_records(limit=1))[0]
    assert (record["prompt_tokens"], record["completion_tokens"]) == (7, 4)


async def test_openai_errors_carry_code_null(make_gateway: Factory, http):
    gw = await make_gateway()
    status, body = await call(http, gw, "/v1/chat/completions", {"model": "nope", "messages": []})
    assert status in (400, 404) and body["error"]["code"] is None


@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
async def test_in_stream_error_is_an_upstream_error_in_the_audit(
    make_gateway: Factory, http, path: str
):
    gw = await make_gateway()
    gw.sim.fail_in_stream.append("CUDA error: out of memory")
    body = {"model": LLAMA, "messages": MESSAGES, "stream": True}
    async with http.post(gw.url + path, json=body, headers=gw.auth()) as resp:
        assert resp.status == 200
        assert "out of memory" in (await resp.read()).decode()
    record = (await gw.service.usage_records(limit=1))[0]
    assert record["status"] == "upstream_error"


async def test_token_counts_survive_an_upstream_whose_json_has_spaces(make_gateway: Factory, http):
    gw = await make_gateway(SimBehaviour(spaced_json=True))
    body = {"model": LLAMA, "messages": MESSAGES}
    async with http.post(gw.url + "/api/chat", json=body, headers=gw.auth()) as resp:
        final = [json.loads(line) async for line in resp.content if line.strip()][-1]
    assert final["done"] is True
    record = (await gw.service.usage_records(limit=1))[0]
    assert (record["prompt_tokens"], record["completion_tokens"]) == (
        final["prompt_eval_count"],
        final["eval_count"],
    )
    assert record["prompt_tokens"] > 0


# -- 6. memory-settle lag -----------------------------------------------------------------------


@pytest.mark.parametrize("settle_s", [0.0, 0.4])
async def test_swaps_wait_for_memory_to_settle(make_gateway: Factory, http, settle_s: float):
    """Ollama's free-memory reading lags 0.2 s after an unload in this simulator. A gateway
    that loads at once makes Ollama evict the idle always-on model to fit the new one; one
    that waits (MEMORY_SETTLE_S, no NVML here) causes no eviction and no partial offload."""
    gw = await make_gateway(
        SimBehaviour(memory_settle_s=0.2),
        always_on_models=LLAMA,
        vram_limit_gb=16,
        memory_settle_s=settle_s,
    )
    gw.sim.vram_capacity = 11 * GB  # LLAMA 2 + CODER 8 fit; CODER 8 + QWEN 5 only with room
    for model in (CODER, QWEN, CODER):
        status, body = await call(http, gw, "/api/generate", {"model": model, "prompt": "x"})
        assert status == 200, body
    if settle_s:
        assert gw.sim.stats.evictions == [] and gw.sim.stats.partial_offloads == []
    else:  # the behaviour this guards against really happens without the wait
        assert LLAMA in gw.sim.stats.evictions or gw.sim.stats.partial_offloads


# -- 7. first-load size -------------------------------------------------------------------------

QWEN_REAL = 5 * GB + 65536 * 8192  # weights + KV cache at its Modelfile's 8192 tokens


async def test_first_load_is_budgeted_with_its_kv_cache(make_gateway: Factory, http):
    # by file size CODER (8) + QWEN (5) fit in 13.3 GB; loaded, QWEN takes 5.5
    gw = await make_gateway(max_heavy_models=2, vram_limit_gb=13.3)
    for model in (CODER, QWEN):
        status, body = await call(http, gw, "/api/generate", {"model": model, "prompt": "x"})
        assert status == 200, body
    assert gw.sim.resident()[QWEN].size == QWEN_REAL
    assert CODER not in gw.sim.resident()  # made room before loading, not after
    assert gw.sim.stats.max_resident_bytes <= 13.3 * GB


async def test_real_size_is_remembered_across_restarts(make_gateway: Factory, http):
    gw = await make_gateway()
    status, _ = await call(http, gw, "/preload", {"model": QWEN})
    assert status == 200
    later = await make_gateway()  # same data directory, a fresh Ollama with nothing loaded
    async with http.get(later.url + "/api/available_models", headers=later.auth()) as resp:
        rows = {row["name"]: row for row in (await resp.json())["models"]}
    assert rows[QWEN]["size"] == QWEN_REAL and rows[QWEN]["loaded"] is False
