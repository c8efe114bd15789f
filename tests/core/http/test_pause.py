"""Pause sharing / give the GPU back, through the real HTTP stack and the simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.simulator import OllamaSimulator
from tests.conftest import Gateway, make_settings, small_models

ALWAYS_ON = "llama3.2:3b"
HEAVY = "qwen2.5:7b"


@pytest.fixture
async def paused_gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    """A gateway with one always-on model (loaded at start) in front of the simulator."""
    sim = OllamaSimulator(small_models(), vram_capacity=30 * 1024**3, response_tokens=4)
    await sim.start()
    service = GatewayService(
        make_settings(tmp_path, sim.url, always_on_models=ALWAYS_ON, shutdown_grace_s=30)
    )
    await service.start()
    created = await service.create_key("player", "")
    yield Gateway(service, service.url or "", sim, created["api_key"], created["id"])
    await service.stop()
    await sim.stop()


async def post(http, gw: Gateway, path: str, body: dict, master: bool = False) -> tuple:
    headers = gw.master if master else gw.auth()
    async with http.post(gw.url + path, json=body, headers=headers) as r:
        return r.status, await r.json(), r.headers


def chat(model: str, **extra: object) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "go"}], **extra}


async def test_pause_with_a_stream_in_flight(paused_gw: Gateway, http) -> None:
    gw, sim = paused_gw, paused_gw.sim
    assert ALWAYS_ON in sim.resident()
    await gw.service.preload(HEAVY)
    sim.token_delay = 0.01
    body = chat(HEAVY, options={"num_predict": 400})  # a 4-second stream
    async with http.post(gw.url + "/api/chat", json=body, headers=gw.auth()) as stream:
        assert stream.status == 200
        first = json.loads(await stream.content.readline())
        assert first["done"] is False
        # the owner pauses while it streams
        status, paused, _ = await post(http, gw, "/admin/pause", {"free_vram": True}, True)
        assert status == 200 and paused["paused"] is True and paused["running"] == 1
        assert paused["vram_freed"] is False
        # new inference is refused at once, with Retry-After and a message that says why
        code, refused, headers = await post(http, gw, "/api/chat", chat(ALWAYS_ON))
        assert code == 503 and "paused sharing" in refused["error"]
        assert int(headers["Retry-After"]) > 0
        code, refused, _ = await post(http, gw, "/v1/chat/completions", chat(ALWAYS_ON))
        assert code == 503 and "paused sharing" in refused["error"]["message"]
        code, _, _ = await post(http, gw, "/preload", {"model": HEAVY})
        assert code == 503
        async with http.get(gw.url + "/health") as r:
            assert (await r.json())["status"] == "paused"
        assert HEAVY in sim.resident()  # not unloaded under a running stream
        # the running stream completes
        rest = [json.loads(line) async for line in stream.content]
    assert rest[-1]["done"] is True and rest[-1]["eval_count"] == 400
    assert sim.stats.busy_unload_requests == 0
    # wait for the GPU to be free (pausing again keeps free_vram and waits)
    code, freed, _ = await post(http, gw, "/admin/pause", {"free_vram": True, "wait": True}, True)
    assert code == 200 and freed["vram_freed"] is True
    assert sorted(freed["unloaded"]) == sorted([ALWAYS_ON, HEAVY])
    assert sim.resident() == {}  # VRAM empty, always-on too
    # the reconcile pass must not bring the always-on model back while paused
    await gw.service.context.vram.reconcile()
    assert sim.resident() == {}
    assert gw.service.vram_snapshot()["paused"]["paused"] is True
    # resume: the always-on model is reloaded and requests are served again
    code, resumed, _ = await post(http, gw, "/admin/resume", {}, True)
    assert code == 200 and resumed["paused"] is False
    assert ALWAYS_ON in sim.resident()
    code, answer, _ = await post(http, gw, "/api/chat", chat(ALWAYS_ON, stream=False))
    assert code == 200 and answer["done"] is True
    async with http.get(gw.url + "/health") as r:
        assert (await r.json())["status"] == "ok"
    records = await gw.service.usage_records()
    assert [r["status"] for r in records].count("503") == 3


async def test_streams_past_the_grace_period_are_cut(tmp_path: Path, http) -> None:
    sim = OllamaSimulator(small_models(), token_delay=0.05, response_tokens=2000)
    await sim.start()
    service = GatewayService(make_settings(tmp_path, sim.url, shutdown_grace_s=0.3))
    await service.start()
    created = await service.create_key("long", "")
    gw = Gateway(service, service.url or "", sim, created["api_key"], created["id"])
    try:
        async with http.post(gw.url + "/api/chat", json=chat(HEAVY), headers=gw.auth()) as r:
            await r.content.readline()
            result = await service.pause(free_vram=True, wait=True)
            assert result["vram_freed"] is True and result["running"] == 0
            with pytest.raises(aiohttp.ClientPayloadError):
                async for _line in r.content:
                    pass
        assert sim.resident() == {}
    finally:
        await service.stop()
        await sim.stop()


async def test_pause_for_some_minutes_resumes_by_itself(paused_gw: Gateway, http) -> None:
    gw = paused_gw
    resumed = asyncio.Event()
    gw.service.events.subscribe(
        lambda name, p: name == ev.PAUSE_STATE and not p["paused"] and resumed.set()
    )
    _, paused, _ = await post(http, gw, "/admin/pause", {"minutes": 0.5}, True)
    assert paused["until"] is not None and paused["free_vram"] is False
    code, _, headers = await post(
        http, gw, "/api/generate", {"model": ALWAYS_ON, "prompt": "x", "stream": False}
    )
    assert code == 503 and 1 <= int(headers["Retry-After"]) <= 30
    assert ALWAYS_ON in gw.sim.resident()  # without free_vram nothing is unloaded
    # shorten the timer instead of waiting half a minute: pause again for 1/100 minute
    await gw.service.pause(free_vram=False, minutes=0.01)
    await asyncio.wait_for(resumed.wait(), 10)
    code, _, _ = await post(
        http, gw, "/api/generate", {"model": ALWAYS_ON, "prompt": "x", "stream": False}
    )
    assert code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"minutes": -5}, "'minutes' must be more than 0"),
        ({"minutes": "soon"}, "'minutes' must be a number"),
        ({"minutes": 10**6}, "at most"),
        ({"free_vram": "maybe"}, "'free_vram' must be true or false"),
    ],
)
async def test_bad_pause_requests_get_400(paused_gw: Gateway, http, body, message) -> None:
    code, answer, _ = await post(http, paused_gw, "/admin/pause", body, True)
    assert code == 400 and message in answer["error"]
    assert paused_gw.service.pause_status()["paused"] is False


async def test_only_the_master_key_pauses(paused_gw: Gateway, http) -> None:
    code, _, _ = await post(http, paused_gw, "/admin/pause", {})
    assert code == 403
    async with http.post(paused_gw.url + "/admin/pause?free_vram=true&minutes=5") as r:
        assert r.status == 401
    async with http.post(
        paused_gw.url + "/admin/pause?free_vram=true&minutes=5", headers=paused_gw.master
    ) as r:
        assert r.status == 200 and (await r.json())["free_vram"] is True
    async with http.get(paused_gw.url + "/admin/pause", headers=paused_gw.master) as r:
        assert (await r.json())["paused"] is True


async def test_requests_queued_for_a_swap_are_refused_by_the_pause(paused_gw: Gateway, http):
    gw, sim = paused_gw, paused_gw.sim
    await gw.service.preload(HEAVY)
    sim.token_delay = 0.01
    queued = asyncio.Event()
    gw.service.events.subscribe(
        lambda name, p: (
            name == ev.VRAM_STATE and "nomic-embed-text:latest" in p["waiting"] and queued.set()
        )
    )
    body = chat(HEAVY, options={"num_predict": 400})
    async with http.post(gw.url + "/api/chat", json=body, headers=gw.auth()) as stream:
        await stream.content.readline()
        # MAX_HEAVY_MODELS=1: the embedding model waits until the stream on HEAVY ends
        embed = asyncio.create_task(
            post(http, gw, "/api/embed", {"model": "nomic-embed-text", "input": "x"})
        )
        await asyncio.wait_for(queued.wait(), 10)
        await gw.service.pause(free_vram=False)
        code, answer, headers = await embed
        assert code == 503 and "paused sharing" in answer["error"] and "Retry-After" in headers
        await stream.read()
    assert "nomic-embed-text:latest" not in sim.resident()
