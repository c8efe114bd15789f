"""Daily token quotas, stream slots and rate limits under concurrency (issue 9, items 4, 5, 12).

Through the real HTTP stack against the simulator (whose token counts are deterministic:
words + 4 per message for the prompt, `response_tokens` or `num_predict` for the answer), and
against a fake upstream that ignores `num_predict`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from aiohttp import web

from pbpm_desktop.core.app import GatewayService
from tests.conftest import Gateway, make_settings
from tests.fake_upstream import MODEL, fake_ollama

CHAT = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}], "stream": False}


async def used(gateway: Gateway, key_id: int) -> int:
    records = await gateway.service.usage_records(limit=1000, key_id=key_id)
    return sum(r["prompt_tokens"] + r["completion_tokens"] for r in records)


async def post_all(url: str, key: str, bodies: list[dict]) -> list[int]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:

        async def one(body: dict) -> int:
            async with session.post(url, json=body) as r:
                await r.read()
                return r.status

        return list(await asyncio.gather(*(one(b) for b in bodies)))


async def test_concurrent_requests_cannot_overrun_the_daily_quota(gateway: Gateway) -> None:
    created = await gateway.service.create_key("q", tokens_per_day=30)
    statuses = await post_all(gateway.url + "/api/chat", created["api_key"], [CHAT] * 15)
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 429}
    while (await post_all(gateway.url + "/api/chat", created["api_key"], [CHAT])) == [200]:
        pass  # one at a time until refused
    assert await used(gateway, created["id"]) <= 30  # was 15 x 13 = 195 before reservations


async def test_num_predict_is_capped_to_what_is_left(gateway: Gateway) -> None:
    created = await gateway.service.create_key("q", tokens_per_day=30)
    body = {**CHAT, "options": {"num_predict": 300, "temperature": 0}}
    assert await post_all(gateway.url + "/api/chat", created["api_key"], [body]) == [200]
    assert await used(gateway, created["id"]) == 30  # 5 prompt + 25: was 5 + 300
    # and on /v1, max_tokens
    created = await gateway.service.create_key("v1", tokens_per_day=30)
    body = {"model": "llama3.2:3b", "messages": CHAT["messages"], "max_tokens": 300}
    assert await post_all(gateway.url + "/v1/chat/completions", created["api_key"], [body]) == [200]
    assert await used(gateway, created["id"]) == 30


async def test_max_streams_holds_on_a_keys_first_burst(gateway: Gateway) -> None:
    assert gateway.sim is not None
    gateway.sim.token_delay = 0.02  # each stream lasts ~1 s: the burst overlaps it
    created = await gateway.service.create_key("s", max_streams=1, tokens_per_day=10**6)
    body = {**CHAT, "stream": True, "options": {"num_predict": 50}}
    statuses = await post_all(gateway.url + "/api/chat", created["api_key"], [body] * 6)
    assert sorted(statuses) == [200, 429, 429, 429, 429, 429]  # was 6 of 6


async def test_a_restart_loads_the_day_total_once(gateway: Gateway, tmp_path: Path) -> None:
    created = await gateway.service.create_key("r", tokens_per_day=100)
    key, key_id = created["api_key"], created["id"]
    small = {"model": "llama3.2:3b", "prompt": "hi", "stream": False, "options": {"num_predict": 3}}
    assert await post_all(gateway.url + "/api/generate", key, [small] * 5) == [200] * 5
    assert await used(gateway, key_id) == 40  # 5 x (5 prompt + 3)
    await gateway.service.stop()
    service = GatewayService(gateway.service.settings)
    await service.start()
    try:
        url = service.url + "/api/generate"
        # concurrent first requests after the restart: each used to add the day's 40 again
        assert await post_all(url, key, [small] * 6) == [200] * 6
        assert await post_all(url, key, [small]) == [200]  # 96 of 100 used
        assert await post_all(url, key, [small]) == [429]
        records = await service.usage_records(limit=1000, key_id=key_id)
        assert sum(r["prompt_tokens"] + r["completion_tokens"] for r in records) == 96
    finally:
        await service.stop()


async def test_a_stream_that_passes_the_quota_is_cut(tmp_path: Path) -> None:
    async def ignores_num_predict(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "application/x-ndjson"
        await response.prepare(request)
        chunk = {"model": MODEL, "message": {"role": "assistant", "content": "x"}, "done": False}
        line = json.dumps(chunk, separators=(",", ":")).encode() + b"\n"  # as Ollama writes
        try:
            for _ in range(5000):
                await response.write(line)
                await asyncio.sleep(0)
        except ConnectionResetError:
            return response  # the gateway hung up: what this test wants
        await response.write(b'{"done":true,"prompt_eval_count":5,"eval_count":5000}\n')
        return response

    async with fake_ollama(ignores_num_predict) as url:
        service = GatewayService(make_settings(tmp_path, url))
        await service.start()
        try:
            created = await service.create_key("c", tokens_per_day=30)
            headers = {"Authorization": f"Bearer {created['api_key']}"}
            body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
            async with aiohttp.ClientSession(headers=headers) as session:
                async with session.post(service.url + "/api/chat", json=body) as r:
                    lines = [json.loads(line) async for line in r.content]
            assert len(lines) <= 26  # at most 25 chunks (30 - 5 prompt), then the reason
            assert "quota" in lines[-1]["error"]
            [record] = await service.usage_records(key_id=created["id"])
            assert record["status"] == "429" and record["estimated"]
            assert record["prompt_tokens"] == 5 and 25 < record["completion_tokens"] < 5000
        finally:
            await service.stop()


# -- estimates when no counts arrive (item 5) ---------------------------------------------------


async def test_legacy_embeddings_are_counted_by_estimate(gateway: Gateway) -> None:
    created = await gateway.service.create_key("e", tokens_per_day=1)
    body = {"model": "nomic-embed-text", "prompt": "hello there"}
    statuses = [
        (await post_all(gateway.url + "/api/embeddings", created["api_key"], [body]))[0]
        for _ in range(10)
    ]
    assert statuses.count(200) <= 1  # was 10 of 10: Ollama reports no counts there
    records = await gateway.service.usage_records(key_id=created["id"], limit=100)
    assert all(r["estimated"] for r in records if r["status"] == "ok")


async def test_an_abandoned_stream_records_an_estimated_prompt(gateway: Gateway) -> None:
    assert gateway.sim is not None
    gateway.sim.token_delay = 0.05
    prompt = " ".join(["word"] * 3000)
    body = {"model": "llama3.2:3b", "prompt": prompt, "options": {"num_predict": 500}}
    async with aiohttp.ClientSession(headers=gateway.auth()) as session:
        async with session.post(gateway.url + "/api/generate", json=body) as r:
            await r.content.readline()  # the first chunk, then the client leaves
    for _ in range(200):
        records = await gateway.service.usage_records()
        if records:
            break
        await asyncio.sleep(0.02)
    [record] = records
    assert record["status"] == "client_closed" and record["estimated"]
    assert record["prompt_tokens"] >= 3000  # was 0
    assert record["completion_tokens"] >= 1


async def test_complete_requests_are_not_marked_estimated(gateway: Gateway) -> None:
    assert await post_all(gateway.url + "/api/chat", gateway.client_key, [CHAT]) == [200]
    [record] = await gateway.service.usage_records()
    assert not record["estimated"] and record["prompt_tokens"] == 5


# -- refused requests count against rpm; scoped keys see one answer (item 12) -------------------


async def test_refused_requests_count_against_rpm(gateway: Gateway) -> None:
    created = await gateway.service.create_key("r", rpm=5, models="llama3.2:3b")
    missing = {**CHAT, "model": "not-installed:1b"}
    statuses = await post_all(gateway.url + "/api/chat", created["api_key"], [missing] * 8)
    assert statuses.count(403) == 5 and statuses.count(429) == 3  # was 8 x 403/404


async def test_a_scoped_key_cannot_tell_installed_from_missing_models(gateway: Gateway) -> None:
    created = await gateway.service.create_key("s", models="llama3.2:3b")
    headers = {"Authorization": f"Bearer {created['api_key']}"}
    answers = []
    async with aiohttp.ClientSession(headers=headers) as session:
        for model in ("qwen2.5:7b", "not-installed:1b"):  # installed, missing
            async with session.post(gateway.url + "/api/chat", json={**CHAT, "model": model}) as r:
                answers.append((r.status, (await r.json())["error"].replace(model, "M")))
    assert answers[0] == answers[1] and answers[0][0] == 403
