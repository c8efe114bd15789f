"""Uncapped requests of a quota key run side by side; the quota still holds (issue 9).

A `tokens_per_day` request that named no `num_predict` / `max_tokens` used to reserve all that
was left of the day, so a key's second and third concurrent uncapped requests got 429 on a
roomy quota. Now it reserves a step (`QUOTA_RESERVE_TOKENS`) and a stream grows it as it
flows. Through the real HTTP stack: the simulator, or a fake upstream on 127.0.0.1 that holds
its streams open until the test lets them finish (so "at the same time" is not a matter of
timing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import aiohttp
from aiohttp import web

from pbpm_desktop.core.app import GatewayService
from tests.conftest import Gateway, make_settings
from tests.core.access.test_quota import post_all, used
from tests.fake_upstream import MODEL, fake_ollama

HI = [{"role": "user", "content": "hi"}]  # 5 prompt tokens by the gateway's estimate


def _line(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"  # as Ollama writes


class HeldStreams:
    """An upstream /api/chat that answers `tokens` tokens, most of them only after `release`.

    A stream gets its headers and first chunk at once, the rest after `release`; a
    non-streamed answer comes whole after it. `release` is set by the test, or by the
    `expect`-th request's arrival (5 s at most: a test that fails must not hang). It ignores
    `num_predict`, as a hostile or broken upstream would: the gateway's own count is what must
    stop it.
    """

    def __init__(self, tokens: int = 5, expect: int = 0) -> None:
        self.tokens = tokens
        self.expect = expect
        self.release = asyncio.Event()
        self.bodies: list[dict] = []

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        if len(self.bodies) == self.expect:
            self.release.set()
        final = {"model": MODEL, "done": True, "prompt_eval_count": 5, "eval_count": self.tokens}
        if body.get("stream") is False:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), 5)
            message = {"role": "assistant", "content": "x " * self.tokens}
            return web.json_response({**final, "message": message})
        response = web.StreamResponse()
        response.content_type = "application/x-ndjson"
        await response.prepare(request)
        chunk = {"model": MODEL, "message": {"role": "assistant", "content": "x"}, "done": False}
        try:
            await response.write(_line(chunk))
            await self.release.wait()
            for _ in range(self.tokens - 1):
                await response.write(_line(chunk))
            await response.write(_line(final))
        except ConnectionResetError:
            pass  # the gateway cut the stream
        return response


async def _service(tmp_path: Path, url: str, **overrides: object) -> GatewayService:
    service = GatewayService(make_settings(tmp_path, url, num_parallel=8, **overrides))
    await service.start()
    return service


async def _held_requests(service: GatewayService, key: str, upstream: HeldStreams, n: int):
    """Start `n` streams at once; return their statuses once every one has its headers (the
    admitted ones are then all running, held by the upstream), then let them finish."""
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"})
    body = {"model": MODEL, "messages": HI}
    try:
        responses = await asyncio.gather(
            *(session.post(service.url + "/api/chat", json=body) for _ in range(n))
        )
        statuses = [r.status for r in responses]
        upstream.release.set()
        bodies = [await r.read() for r in responses]
        return statuses, bodies
    finally:
        await session.close()


async def test_concurrent_uncapped_streams_of_a_roomy_quota_all_run(tmp_path: Path) -> None:
    upstream = HeldStreams()
    async with fake_ollama(upstream.chat) as url:
        service = await _service(tmp_path, url)
        try:
            created = await service.create_key("q", tokens_per_day=100_000)
            statuses, bodies = await _held_requests(service, created["api_key"], upstream, 3)
            assert statuses == [200, 200, 200]  # was [200, 429, 429]: the first held it all
            for body in bodies:
                assert json.loads(body.splitlines()[-1])["done"] is True
            # nothing was written into the requests: Ollama's own "until done" stays
            assert all("options" not in b for b in upstream.bodies)
        finally:
            await service.stop()


async def test_quota_reserve_tokens_0_keeps_the_strict_rule(tmp_path: Path) -> None:
    upstream = HeldStreams()
    async with fake_ollama(upstream.chat) as url:
        service = await _service(tmp_path, url, quota_reserve_tokens=0)
        try:
            created = await service.create_key("q", tokens_per_day=100_000)
            statuses, _ = await _held_requests(service, created["api_key"], upstream, 3)
            assert sorted(statuses) == [200, 429, 429]
            assert upstream.bodies[0]["options"]["num_predict"] == 100_000 - 5
        finally:
            await service.stop()


async def test_a_stream_grows_its_reservation_step_by_step(tmp_path: Path) -> None:
    upstream = HeldStreams(tokens=50)
    upstream.release.set()
    async with fake_ollama(upstream.chat) as url:
        service = await _service(tmp_path, url, quota_reserve_tokens=10)
        try:
            created = await service.create_key("g", tokens_per_day=1000)
            headers = {"Authorization": f"Bearer {created['api_key']}"}
            body = {"model": MODEL, "messages": HI}
            async with aiohttp.ClientSession(headers=headers) as session:
                async with session.post(service.url + "/api/chat", json=body) as r:
                    lines = [json.loads(line) async for line in r.content]
            assert lines[-1]["done"] is True and len(lines) == 51  # 50 tokens, 5 steps of 10
            [record] = await service.usage_records(key_id=created["id"])
            assert record["status"] == "ok" and record["completion_tokens"] == 50
        finally:
            await service.stop()


async def test_growing_streams_cannot_overrun_the_quota(tmp_path: Path) -> None:
    upstream = HeldStreams(tokens=40)  # each wants 45 tokens; 8 of them, 100 for the day
    async with fake_ollama(upstream.chat) as url:
        service = await _service(tmp_path, url, quota_reserve_tokens=4)
        try:
            created = await service.create_key("o", tokens_per_day=100)
            statuses, bodies = await _held_requests(service, created["api_key"], upstream, 8)
            assert statuses.count(200) >= 2 and set(statuses) <= {200, 429}
            assert any(b"quota" in b for b in bodies)  # some were cut: the day ran out
            # what reached the clients: never more than the day holds (5 prompt tokens each)
            delivered = sum(5 + b.count(b'"done":false') for b in bodies)
            assert delivered <= 100
            # the audit counts what the upstream produced, up to the read that crossed the
            # line (undelivered, but generated: nothing is lost); the day is then used up
            again = {"model": MODEL, "messages": HI}
            assert await post_all(service.url + "/api/chat", created["api_key"], [again]) == [429]
        finally:
            await service.stop()


async def test_an_openai_stream_with_max_tokens_is_not_cut_at_its_end(gateway: Gateway) -> None:
    # Ollama's last chunk carries the finish reason and an empty delta (openai.go ToChunk):
    # counted as a token, a stream of exactly max_tokens passed its cap there and was cut
    created = await gateway.service.create_key("v", tokens_per_day=10**6)
    body = {"model": "llama3.2:3b", "messages": HI, "stream": True, "max_tokens": 8}
    headers = {"Authorization": f"Bearer {created['api_key']}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(gateway.url + "/v1/chat/completions", json=body) as r:
            text = await r.text()
    assert "quota" not in text and text.rstrip().endswith("data: [DONE]")
    [record] = await gateway.service.usage_records(key_id=created["id"])
    assert record["status"] == "ok" and record["completion_tokens"] == 8


async def test_uncapped_non_streamed_requests_run_side_by_side(tmp_path: Path) -> None:
    upstream = HeldStreams(expect=3)  # answers once all three are upstream at once
    async with fake_ollama(upstream.chat) as url:
        service = await _service(tmp_path, url)
        try:
            created = await service.create_key("n", tokens_per_day=5000)
            body = {"model": MODEL, "messages": HI, "stream": False}
            statuses = await post_all(service.url + "/api/chat", created["api_key"], [body] * 3)
            assert statuses == [200, 200, 200]  # was [200, 429, 429]
            # each is capped at what was left when it started, and reserved one step (1024)
            caps = sorted((b["options"]["num_predict"] for b in upstream.bodies), reverse=True)
            assert caps == [4995, 4995 - 1029, 4995 - 2 * 1029]
        finally:
            await service.stop()


async def test_an_uncapped_non_streamed_request_alone_ends_the_day_exactly(
    gateway: Gateway,
) -> None:
    # the simulator answers exactly num_predict tokens: capped at what is left, it uses it all
    created = await gateway.service.create_key("m", tokens_per_day=300)
    body = {"model": "llama3.2:3b", "messages": HI, "stream": False}
    assert await post_all(gateway.url + "/api/chat", created["api_key"], [body]) == [200]
    assert await used(gateway, created["id"]) == 300
    assert await post_all(gateway.url + "/api/chat", created["api_key"], [body]) == [429]


async def test_an_uncapped_completions_stream_is_counted_and_cut(gateway: Gateway) -> None:
    # /v1/completions chunks carry "text", no "delta": they must count towards the cap, now
    # that an uncapped stream gets no max_tokens written into it (5 prompt + 7 of 8 tokens)
    created = await gateway.service.create_key("c", tokens_per_day=12)
    body = {"model": "llama3.2:3b", "prompt": "hi", "stream": True}
    headers = {"Authorization": f"Bearer {created['api_key']}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(gateway.url + "/v1/completions", json=body) as r:
            text = await r.text()
    assert "quota" in text and text.count('"text"') <= 7  # a read past the cap is held back
    [record] = await gateway.service.usage_records(key_id=created["id"])
    assert record["status"] == "429"
