"""Ollama's native routes over real HTTP: metadata, chat/generate answers, errors, and the
official client."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import ollama
import pytest

from pbpm_desktop.simulator import (
    MESSAGE_OVERHEAD_TOKENS,
    OllamaSimulator,
    SimModel,
    count_prompt_tokens,
    default_models,
)
from tests.simulator.helpers import EMBED, LLAMA, expected_text, post

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
