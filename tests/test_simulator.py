"""Tests of the Ollama simulator over real HTTP on loopback (no mocks).

The simulator stands in for Ollama in every other test, so these tests pin down the API shapes
and the loading/keep_alive semantics that the gateway tests rely on.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import ollama
import pytest

from pbpm_desktop.simulator import (
    ANSWER_TEXT,
    MESSAGE_OVERHEAD_TOKENS,
    OllamaSimulator,
    SimModel,
    SimulatorError,
    count_prompt_tokens,
    default_models,
    parse_keep_alive,
)

LLAMA = "llama3.2:3b"
QWEN = "qwen2.5:7b"
EMBED = "nomic-embed-text:latest"


@pytest.fixture
async def sim() -> AsyncIterator[OllamaSimulator]:
    simulator = OllamaSimulator(unload_delay=0.01)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def eventually(predicate: Callable[[], bool], timeout: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


async def ps_names(http: aiohttp.ClientSession, sim: OllamaSimulator) -> list[str]:
    async with http.get(sim.url + "/api/ps") as resp:
        return [m["name"] for m in (await resp.json())["models"]]


def expected_text(n: int) -> str:
    words = ANSWER_TEXT.split()
    return "".join(words[i % len(words)] + " " for i in range(n))


# ---- metadata routes ------------------------------------------------------------------------


async def test_root_version_tags_and_unknown_route(sim: OllamaSimulator, http) -> None:
    async with http.get(sim.url + "/") as resp:
        assert resp.status == 200
        assert await resp.text() == "Ollama is running"
    async with http.get(sim.url + "/api/version") as resp:
        assert await resp.json() == {"version": "0.32.15"}
    async with http.get(sim.url + "/api/tags") as resp:
        tags = await resp.json()
    by_name = {m["name"]: m for m in tags["models"]}
    assert set(by_name) == {m.name for m in default_models()}
    llama = by_name[LLAMA]
    assert llama["model"] == LLAMA
    assert 1.9e9 < llama["size"] < 2.1e9
    assert len(llama["digest"]) == 64
    assert llama["modified_at"]
    assert llama["details"] == {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "3.2B",
        "quantization_level": "Q4_K_M",
    }
    async with http.get(sim.url + "/nope") as resp:
        assert resp.status == 404
        assert resp.content_type == "text/plain"
        assert await resp.text() == "404 page not found"
    # a known path with another method: gin's 405 (server/routes.go:1870), or 404 when off
    for method, path in (("GET", "/api/chat"), ("POST", "/api/tags")):
        async with http.request(method, sim.url + path) as resp:
            assert resp.status == 405
    sim.behaviour.method_not_allowed = False
    async with http.get(sim.url + "/api/chat") as resp:
        assert resp.status == 404


async def test_show(sim: OllamaSimulator, http) -> None:
    status, body = await post(http, sim.url + "/api/show", {"model": LLAMA})
    assert status == 200
    assert {"modelfile", "parameters", "template", "details", "model_info"} <= set(body)
    assert body["capabilities"] == ["completion"]
    assert body["model_info"]["general.architecture"] == "llama"
    assert body["details"]["family"] == "llama"
    status, body = await post(http, sim.url + "/api/show", {"model": "nomic-embed-text"})
    assert status == 200 and body["capabilities"] == ["embedding"]
    status, body = await post(http, sim.url + "/api/show", {"model": "ghost:1b"})
    assert (status, body) == (404, {"error": "model 'ghost:1b' not found"})


async def test_ps_shape_and_v1_models(sim: OllamaSimulator, http) -> None:
    status, _ = await post(http, sim.url + "/api/generate", {"model": LLAMA})
    assert status == 200
    async with http.get(sim.url + "/api/ps") as resp:
        (entry,) = (await resp.json())["models"]
    assert entry["name"] == entry["model"] == LLAMA
    assert entry["size"] == entry["size_vram"] == sim.models[LLAMA].size
    assert entry["context_length"] == 4096
    assert entry["details"]["quantization_level"] == "Q4_K_M"
    expires = datetime.fromisoformat(entry["expires_at"])
    assert 290 < (expires - datetime.now(UTC)).total_seconds() <= 300  # default keep_alive 5m
    async with http.get(sim.url + "/v1/models") as resp:
        listing = await resp.json()
    assert listing["object"] == "list"
    assert {"id": LLAMA, "object": "model", "owned_by": "library"}.items() <= listing["data"][
        0
    ].items()
    assert isinstance(listing["data"][0]["created"], int)


# ---- native inference -------------------------------------------------------------------------


async def test_chat_stream_is_incremental_and_final_counts(sim: OllamaSimulator, http) -> None:
    sim.token_delay = 0.02
    sim.response_tokens = 5
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there simulator"},
    ]
    arrivals: list[float] = []
    lines: list[bytes] = []
    async with http.post(sim.url + "/api/chat", json={"model": LLAMA, "messages": messages}) as r:
        assert r.status == 200
        assert r.content_type == "application/x-ndjson"
        async for line in r.content:
            arrivals.append(time.monotonic())
            lines.append(line)
    chunks = [json.loads(line) for line in lines]
    assert len(chunks) == 6 and all(line.endswith(b"\n") for line in lines)
    assert arrivals[-1] - arrivals[0] >= 0.06  # chunks were flushed as generated
    first = chunks[0]
    assert set(first) == {"model", "created_at", "message", "done"}
    assert first["model"] == LLAMA and first["done"] is False
    assert first["message"]["role"] == "assistant"
    content = "".join(c["message"]["content"] for c in chunks)
    assert content == expected_text(5)
    final = chunks[-1]
    assert b'"done":true' in lines[-1]
    assert final["done_reason"] == "stop"
    assert final["message"] == {"role": "assistant", "content": ""}
    assert final["eval_count"] == 5
    expected_prompt = (2 + MESSAGE_OVERHEAD_TOKENS) + (3 + MESSAGE_OVERHEAD_TOKENS)
    assert (
        final["prompt_eval_count"]
        == expected_prompt
        == count_prompt_tokens(messages=["be brief", "hello there simulator"])
    )
    for key in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert isinstance(final[key], int) and final[key] > 0
    assert final["eval_duration"] >= 0.08e9
    assert sim.stats.requests == {LLAMA: 1}


async def test_generate_non_stream_with_num_predict(sim: OllamaSimulator, http) -> None:
    status, body = await post(
        http,
        sim.url + "/api/generate",
        {
            "model": "llama3.2:3b",
            "prompt": "why is the sky blue",
            "system": "you are terse",
            "stream": False,
            "options": {"num_predict": 3},
        },
    )
    assert status == 200
    assert body["response"] == expected_text(3)
    assert body["done"] is True and body["done_reason"] == "length"
    assert body["eval_count"] == 3
    assert body["prompt_eval_count"] == (5 + 4) + (3 + 4)
    assert isinstance(body["context"], list) and all(isinstance(t, int) for t in body["context"])
    # Streaming generate: response chunks, then a final chunk carrying context.
    async with http.post(sim.url + "/api/generate", json={"model": LLAMA, "prompt": "hi"}) as r:
        chunks = [json.loads(line) async for line in r.content]
    assert [c["done"] for c in chunks] == [False] * 12 + [True]
    assert "response" in chunks[0] and "context" in chunks[-1]
    assert chunks[-1]["eval_count"] == 12 and chunks[-1]["prompt_eval_count"] == 1 + 4


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


# ---- keep_alive ------------------------------------------------------------------------------


def test_parse_keep_alive() -> None:
    assert parse_keep_alive(None) == 300
    assert parse_keep_alive(10) == 10
    assert parse_keep_alive(1.5) == 1.5
    assert parse_keep_alive(0) == 0
    assert parse_keep_alive("5m") == 300
    assert parse_keep_alive("30s") == 30
    assert parse_keep_alive("1h") == 3600
    assert parse_keep_alive("1h30m") == 5400
    assert parse_keep_alive("250ms") == 0.25
    assert parse_keep_alive("0") == 0
    assert parse_keep_alive(-1) < 0
    assert parse_keep_alive("-1m") < 0
    # Go's time.ParseDuration: a bare number string has no unit (Ollama answers 400)
    for bare in ("60", "-1", "1800"):
        with pytest.raises(SimulatorError) as info:
            parse_keep_alive(bare)
        assert info.value.message == f'time: missing unit in duration "{bare}"'
    assert parse_keep_alive("60", strict=False) == 60
    assert parse_keep_alive("-1", strict=False) < 0
    for bad in ("soon", "5 minutes", "m", True, [1]):
        with pytest.raises(SimulatorError) as info:
            parse_keep_alive(bad)
        assert info.value.status == 400


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


# ---- out-of-band events ----------------------------------------------------------------------


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


async def test_restart_during_load(sim: OllamaSimulator) -> None:
    sim.load_delay = 0.2
    loader = asyncio.create_task(sim.external_load(LLAMA))
    await asyncio.sleep(0.02)
    await sim.restart()
    with pytest.raises(SimulatorError):
        await loader
    assert sim.resident() == {} and sim.stats.loads == 0


async def test_disconnect_during_load_keeps_the_load(sim: OllamaSimulator, http) -> None:
    sim.load_delay = 0.1
    request = asyncio.create_task(
        http.post(sim.url + "/api/generate", json={"model": LLAMA, "prompt": "x"})
    )
    await eventually(lambda: LLAMA in sim._loading)
    request.cancel()
    await eventually(lambda: sim.stats.cancelled_streams == 1)
    await eventually(lambda: LLAMA in sim.resident())  # a load, once started, completes
    assert sim.resident()[LLAMA].busy == 0 and sim.stats.requests == {}


# ---- embeddings ------------------------------------------------------------------------------


async def test_embed(sim: OllamaSimulator, http) -> None:
    status, body = await post(
        http, sim.url + "/api/embed", {"model": "nomic-embed-text", "input": ["hello world", "x"]}
    )
    assert status == 200
    assert body["model"] == "nomic-embed-text"
    assert len(body["embeddings"]) == 2 and all(len(v) == 8 for v in body["embeddings"])
    assert body["prompt_eval_count"] == 3
    assert body["total_duration"] > 0 and body["load_duration"] > 0
    _, again = await post(http, sim.url + "/api/embed", {"model": EMBED, "input": "hello world"})
    assert again["embeddings"] == body["embeddings"][:1]  # deterministic
    assert sim.resident()[EMBED].size == 274_302_450
    assert sim.stats.requests == {EMBED: 2}
    status, v1 = await post(http, sim.url + "/v1/embeddings", {"model": EMBED, "input": ["a b c"]})
    assert status == 200 and v1["object"] == "list"
    assert v1["data"][0]["object"] == "embedding" and len(v1["data"][0]["embedding"]) == 8
    assert v1["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


# ---- OpenAI-compatible API -------------------------------------------------------------------


async def read_sse(resp: aiohttp.ClientResponse) -> list[Any]:
    events: list[Any] = []
    async for line in resp.content:
        if line.startswith(b"data: "):
            payload = line[6:].strip()
            events.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return events


async def test_v1_chat_stream_with_and_without_usage(sim: OllamaSimulator, http) -> None:
    sim.response_tokens = 4
    body = {"model": LLAMA, "messages": [{"role": "user", "content": "one two"}], "stream": True}
    async with http.post(sim.url + "/v1/chat/completions", json=body) as resp:
        assert resp.content_type == "text/event-stream"
        events = await read_sse(resp)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all("usage" not in c for c in chunks)
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == expected_text(4)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 4 + ["stop"]

    body |= {"stream_options": {"include_usage": True}, "max_tokens": 2}
    async with http.post(sim.url + "/v1/chat/completions", json=body) as resp:
        events = await read_sse(resp)
    *chunks, usage_chunk, done = events
    assert done == "[DONE]"
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 6, "completion_tokens": 2, "total_tokens": 8}


async def test_v1_non_stream_usage(sim: OllamaSimulator, http) -> None:
    status, body = await post(
        http,
        sim.url + "/v1/chat/completions",
        {
            "model": LLAMA,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "a b"}]}],
        },
    )
    assert status == 200
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"] == {"role": "assistant", "content": expected_text(12)}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 6, "completion_tokens": 12, "total_tokens": 18}
    status, body = await post(
        http, sim.url + "/v1/completions", {"model": LLAMA, "prompt": "x y z", "max_tokens": 5}
    )
    assert status == 200 and body["object"] == "text_completion"
    assert body["choices"][0]["text"] == expected_text(5)
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}


async def test_v1_errors(sim: OllamaSimulator, http) -> None:
    status, body = await post(
        http, sim.url + "/v1/chat/completions", {"model": "ghost", "messages": [{"content": "x"}]}
    )
    assert status == 404
    assert body["error"]["message"] == "model 'ghost' not found"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    status, body = await post(http, sim.url + "/v1/chat/completions", {"model": LLAMA})
    assert status == 400 and body["error"]["type"] == "invalid_request_error"


# ---- errors ----------------------------------------------------------------------------------


async def test_native_errors(sim: OllamaSimulator, http) -> None:
    async with http.post(sim.url + "/api/chat", data=b"{not json") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"].startswith("invalid character")
    async with http.post(sim.url + "/api/generate", data=b"") as resp:
        assert (resp.status, await resp.json()) == (400, {"error": "missing request body"})
    status, body = await post(http, sim.url + "/api/chat", {"messages": []})
    assert (status, body) == (400, {"error": "model is required"})
    status, body = await post(http, sim.url + "/api/generate", {"model": "ghost:7b", "prompt": "x"})
    assert (status, body) == (404, {"error": "model 'ghost:7b' not found"})
    status, body = await post(
        http, sim.url + "/api/chat", {"model": EMBED, "messages": [{"content": "hi"}]}
    )
    assert (status, body) == (400, {"error": f'"{EMBED}" does not support chat'})
    status, body = await post(http, sim.url + "/api/generate", {"model": EMBED, "prompt": "hi"})
    assert (status, body) == (400, {"error": f'"{EMBED}" does not support generate'})
    assert sim.resident() == {} and sim.stats.requests == {}


async def test_fail_next_and_runtime_models(sim: OllamaSimulator, http) -> None:
    sim.fail_next.append((503, "server overloaded"))
    body = {"model": LLAMA, "prompt": "x", "stream": False}
    status, err = await post(http, sim.url + "/api/generate", body)
    assert (status, err) == (503, {"error": "server overloaded"})
    status, _ = await post(http, sim.url + "/api/generate", body)
    assert status == 200
    sim.models["tiny:1b"] = SimModel("tiny:1b", 1000)
    status, _ = await post(http, sim.url + "/api/generate", body | {"model": "tiny:1b"})
    assert status == 200
    del sim.models["tiny:1b"]
    status, _ = await post(http, sim.url + "/api/generate", body | {"model": "tiny:1b"})
    assert status == 404


# ---- simulator-only endpoints, official client, CLI ------------------------------------------


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


async def test_official_ollama_client_streams_chat(sim: OllamaSimulator) -> None:
    client = ollama.AsyncClient(host=sim.url)
    try:
        parts = []
        stream = await client.chat(
            model=LLAMA, messages=[{"role": "user", "content": "hi there"}], stream=True
        )
        async for part in stream:
            parts.append(part)
        assert parts[-1].done and parts[-1].eval_count == 12
        assert parts[-1].prompt_eval_count == 2 + MESSAGE_OVERHEAD_TOKENS
        assert "".join(p.message.content or "" for p in parts) == expected_text(12)
        listed = await client.list()
        assert LLAMA in [m.model for m in listed.models]
        running = await client.ps()
        assert [m.model for m in running.models] == [LLAMA]
        embedded = await client.embed(model=EMBED, input="a b")
        assert len(embedded.embeddings[0]) == 8
        with pytest.raises(ollama.ResponseError) as info:
            await client.chat(model="ghost", messages=[])
        assert info.value.status_code == 404
    finally:
        await client.close()


def test_cli_serves_and_prints_url() -> None:
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "pbpm_desktop.simulator", "--port", "0", "--token-delay", "0"]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")

            async def probe() -> str:
                async with aiohttp.ClientSession() as session, session.get(url + "/") as resp:
                    return await resp.text()

            assert asyncio.run(probe()) == "Ollama is running"
        finally:
            proc.terminate()
