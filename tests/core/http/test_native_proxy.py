"""Ollama-native routes through the real gateway and the simulator: streaming, errors, audit."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import ollama
import pytest
from aiohttp import web

from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.simulator import count_prompt_tokens
from tests.conftest import Gateway, make_settings

MESSAGES = [{"role": "user", "content": "why is the sky blue"}]


async def usage(gateway: Gateway) -> list[dict]:
    return await gateway.service.usage_records(limit=100)


async def test_streamed_chat_chunks_arrive_before_upstream_finishes(gateway: Gateway, http) -> None:
    gateway.sim.token_delay = 0.05
    gateway.sim.response_tokens = 10
    body = {"model": "llama3.2:3b", "messages": MESSAGES}
    arrivals: list[float] = []
    lines: list[dict] = []
    started = time.perf_counter()
    async with http.post(gateway.url + "/api/chat", json=body, headers=gateway.auth()) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("application/x-ndjson")
        async for line in r.content:
            arrivals.append(time.perf_counter() - started)
            lines.append(json.loads(line))
    assert len(lines) == 11 and lines[-1]["done"] is True
    # the first token reached us long before the last was generated: nothing was buffered
    assert arrivals[0] < arrivals[-1] - 0.3
    records = await usage(gateway)
    assert records[0]["completion_tokens"] == lines[-1]["eval_count"] == 10
    assert records[0]["prompt_tokens"] == lines[-1]["prompt_eval_count"] > 0
    assert records[0]["status"] == "ok" and records[0]["route"] == "chat"
    assert records[0]["ttft_ms"] is not None


async def test_non_streaming_generate_and_audit(gateway: Gateway, http) -> None:
    body = {"model": "llama3.2:3b", "prompt": "hello world", "stream": False}
    async with http.post(gateway.url + "/api/generate", json=body, headers=gateway.auth()) as r:
        assert r.status == 200
        data = await r.json()
    assert data["done"] is True and data["eval_count"] == 8
    record = (await usage(gateway))[0]
    assert (record["prompt_tokens"], record["completion_tokens"]) == (
        data["prompt_eval_count"],
        data["eval_count"],
    )
    assert record["prompt_tokens"] == count_prompt_tokens(prompt="hello world")


async def test_official_ollama_client_streams_through_gateway(gateway: Gateway) -> None:
    client = ollama.AsyncClient(host=gateway.url, headers=gateway.auth())
    parts = []
    final = None
    async for chunk in await client.chat(model="llama3.2:3b", messages=MESSAGES, stream=True):
        parts.append(chunk.message.content)
        if chunk.done:
            final = chunk
    assert final is not None and final.eval_count == 8
    assert "".join(parts).strip()
    listing = await client.list()
    assert {m.model for m in listing.models} >= {"llama3.2:3b", "qwen2.5:7b"}


async def test_keep_alive_is_rewritten_by_policy(gateway: Gateway, http) -> None:
    body = {"model": "qwen2.5:7b", "prompt": "x", "stream": False, "keep_alive": -1}
    async with http.post(gateway.url + "/api/generate", json=body, headers=gateway.auth()) as r:
        assert r.status == 200
    async with http.get(gateway.url + "/api/ps", headers=gateway.auth()) as r:
        resident = {m["name"]: m for m in (await r.json())["models"]}
    # HEAVY_KEEP_ALIVE (30m) wins over the client's "forever"
    assert not resident["qwen2.5:7b"]["expires_at"].startswith("2318")


async def test_passthrough_routes(gateway: Gateway, http) -> None:
    for path in ("/api/tags", "/api/ps", "/api/version"):
        async with http.get(gateway.url + path, headers=gateway.auth()) as r:
            assert r.status == 200, path
            assert await r.json()
    show = {"model": "llama3.2:3b"}
    async with http.post(gateway.url + "/api/show", json=show, headers=gateway.auth()) as r:
        assert r.status == 200 and "details" in await r.json()
    embed = {"model": "nomic-embed-text:latest", "input": ["a b c", "d"]}
    async with http.post(gateway.url + "/api/embed", json=embed, headers=gateway.auth()) as r:
        assert r.status == 200
        data = await r.json()
        assert len(data["embeddings"]) == 2
    record = (await usage(gateway))[0]
    assert record["route"] == "embed" and record["prompt_tokens"] == data["prompt_eval_count"]


async def test_available_models_lists_categories(gateway: Gateway, http) -> None:
    async with http.get(gateway.url + "/api/available_models", headers=gateway.auth()) as r:
        models = {m["name"]: m for m in (await r.json())["models"]}
    assert set(models) == {"llama3.2:3b", "qwen2.5:7b", "big:70b", "nomic-embed-text:latest"}
    assert all(set(m) >= {"name", "category", "size", "loaded"} for m in models.values())


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"messages": []}', 400, "'model' is required"),
        (b'{"model": "nope:1b", "messages": []}', 404, "ollama pull nope:1b"),
    ],
)
async def test_bad_requests_get_clear_errors(gateway: Gateway, http, body, status, words) -> None:
    async with http.post(gateway.url + "/api/chat", data=body, headers=gateway.auth()) as r:
        assert r.status == status
        assert words in (await r.json())["error"]
    assert gateway.sim.stats.loads == 0  # nothing was loaded for a bad request
    assert (await usage(gateway))[0]["status"] == str(status)


async def test_oversized_body_is_413(sim, tmp_path: Path, http) -> None:
    service = GatewayService(make_settings(tmp_path, sim.url, max_body_mb=0.01))
    await service.start()
    try:
        key = (await service.create_key("t"))["api_key"]
        big = {"model": "llama3.2:3b", "prompt": "x" * 20_000}
        headers = {"Authorization": f"Bearer {key}"}
        async with http.post(service.url + "/api/generate", json=big, headers=headers) as r:
            assert r.status == 413
            assert "MAX_BODY_MB" in (await r.json())["error"]
    finally:
        await service.stop()


async def test_ollama_down_is_502_naming_the_url(tmp_path: Path, http) -> None:
    service = GatewayService(make_settings(tmp_path, "http://127.0.0.1:9"))
    await service.start()  # Ollama being down is not fatal
    try:
        key = (await service.create_key("t"))["api_key"]
        headers = {"Authorization": f"Bearer {key}"}
        async with http.get(service.url + "/api/tags", headers=headers) as r:
            assert r.status == 502
            assert "http://127.0.0.1:9" in (await r.json())["error"]
        async with http.get(service.url + "/health") as r:
            assert (await r.json())["ollama"] == "down"
    finally:
        await service.stop()


async def test_upstream_first_byte_timeout_is_504(sim, tmp_path: Path, http) -> None:
    sim.load_delay = 2.0
    service = GatewayService(make_settings(tmp_path, sim.url, first_byte_timeout_s=0.3))
    await service.start()
    try:
        key = (await service.create_key("t"))["api_key"]
        body = {"model": "qwen2.5:7b", "prompt": "x", "stream": False}
        headers = {"Authorization": f"Bearer {key}"}
        async with http.post(service.url + "/api/generate", json=body, headers=headers) as r:
            assert r.status == 504
            assert "did not answer in time" in (await r.json())["error"]
    finally:
        await service.stop()


async def test_upstream_closing_mid_stream_is_reported_in_stream(gateway: Gateway, http) -> None:
    gateway.sim.token_delay = 0.05
    gateway.sim.response_tokens = 50
    body = {"model": "llama3.2:3b", "messages": MESSAGES}
    lines = []
    async with http.post(gateway.url + "/api/chat", json=body, headers=gateway.auth()) as r:
        async for line in r.content:
            lines.append(json.loads(line))
            if len(lines) == 3:
                await gateway.sim.restart()  # Ollama dies mid-generation
    assert "error" in lines[-1] and "Ollama closed" in lines[-1]["error"]
    record = (await usage(gateway))[0]
    assert record["status"] == "upstream_error"
    assert record["completion_tokens"] >= 3


async def test_client_disconnect_cancels_upstream_and_is_audited(gateway: Gateway, http) -> None:
    gateway.sim.token_delay = 0.05
    gateway.sim.response_tokens = 100
    body = {"model": "llama3.2:3b", "messages": MESSAGES}
    seen = 0
    async with http.post(gateway.url + "/api/chat", json=body, headers=gateway.auth()) as r:
        async for _ in r.content:
            seen += 1
            if seen == 4:
                break  # leaving the block closes the connection mid-stream
    for _ in range(100):
        await gateway.service.context.audit.flush()
        records = await usage(gateway)
        if records and gateway.sim.stats.cancelled_streams:
            break
        await asyncio.sleep(0.05)
    assert records[0]["status"] == "client_closed"
    assert 4 <= records[0]["completion_tokens"] < 100
    assert gateway.sim.stats.cancelled_streams == 1  # the upstream generation was cut too


async def test_upstream_gets_ollama_host_and_no_client_authorization(tmp_path: Path, http) -> None:
    seen: dict[str, str] = {}

    async def tags(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.json_response({"models": []})

    app = web.Application()
    app.router.add_get("/api/tags", tags)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    service = GatewayService(make_settings(tmp_path, f"http://127.0.0.1:{port}"))
    await service.start()
    try:
        key = (await service.create_key("t"))["api_key"]
        async with http.get(service.url + "/api/tags", headers={"Authorization": f"Bearer {key}"}):
            pass
        assert seen["Host"] == f"127.0.0.1:{port}"
        assert "Authorization" not in seen
    finally:
        await service.stop()
        await runner.cleanup()


async def test_no_traceback_reaches_the_client(gateway: Gateway, http, monkeypatch) -> None:
    async def broken(model: str) -> str:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(gateway.service.context.vram, "resolve", broken)
    body = {"model": "llama3.2:3b", "prompt": "x"}
    async with http.post(gateway.url + "/api/generate", json=body, headers=gateway.auth()) as r:
        assert r.status == 500
        text = await r.text()
    assert "secret" not in text and "Traceback" not in text
    assert "gateway log" in json.loads(text)["error"]


async def test_unknown_route_with_key_is_404(gateway: Gateway, http) -> None:
    async with http.get(gateway.url + "/api/nothing", headers=gateway.auth()) as r:
        assert r.status == 404
        assert "no such route" in (await r.json())["error"]


async def test_many_concurrent_streams_are_all_audited(gateway: Gateway) -> None:
    gateway.sim.token_delay = 0.005
    async with aiohttp.ClientSession(headers=gateway.auth()) as session:

        async def one(i: int) -> int:
            body = {"model": "llama3.2:3b", "prompt": f"n {i}"}
            async with session.post(gateway.url + "/api/generate", json=body) as r:
                return len([line async for line in r.content])

        counts = await asyncio.gather(*(one(i) for i in range(40)))
    assert counts == [9] * 40
    records = await gateway.service.usage_records(limit=1000)
    assert len(records) == 40 and all(r["completion_tokens"] == 8 for r in records)


@pytest.mark.parametrize("field", ["MODEL", "Model", "ſtream", "Keep_Alive"])
async def test_case_variants_of_guarded_fields_are_refused(gateway: Gateway, http, field) -> None:
    # Ollama's JSON decoder matches keys case-insensitively: "MODEL" would override "model"
    # after the gateway checked the key's allowed models and the VRAM plan.
    body = json.dumps({"model": "llama3.2:3b", "prompt": "x", field: "big:70b"})
    async with http.post(gateway.url + "/api/generate", data=body, headers=gateway.auth()) as r:
        assert r.status == 400
        assert "lower case" in (await r.json())["error"]
    assert gateway.sim.stats.requests == {}


async def test_show_respects_the_keys_model_allowlist(gateway: Gateway, http) -> None:
    limited = await gateway.service.create_key("limited", models="llama3.2:3b")
    headers = gateway.auth(limited["api_key"])
    async with http.post(
        gateway.url + "/api/show", json={"model": "qwen2.5:7b"}, headers=headers
    ) as r:
        assert r.status == 403
    async with http.post(
        gateway.url + "/api/show", json={"model": "llama3.2:3b"}, headers=headers
    ) as r:
        assert r.status == 200
