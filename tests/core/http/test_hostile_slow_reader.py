"""A client that stops reading mid-stream is cut, and the model it held is free to swap out.

Before, writes to the client had no deadline: the stream waited on the full socket for ever,
its model stayed in flight, and a request for another model (which needs that one unloaded,
MAX_HEAVY_MODELS=1) waited on it, whatever key it came with.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import aiohttp

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.app import GatewayService
from tests.conftest import make_settings


async def test_a_client_that_stops_reading_is_cut_and_the_swap_proceeds(
    sim, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path,
        sim.url,
        max_heavy_models=1,
        client_write_timeout_s=0.5,
        swap_timeout_s=10,
    )
    service = GatewayService(settings)
    await service.start()
    try:
        key = (await service.create_key("stalled", "s@example.com"))["api_key"]
        other = (await service.create_key("other", "o@example.com"))["api_key"]
        host, port = (service.url or "").removeprefix("http://").split(":")
        streaming = asyncio.Event()  # set once the VRAM gate counts A in flight

        def watch(name: str, payload: object) -> None:
            if name == ev.VRAM_STATE and payload["in_flight"].get("llama3.2:3b"):  # type: ignore[index]
                streaming.set()

        service.events.subscribe(watch)

        # A: a long stream from llama3.2, read by nobody (a small receive buffer fills fast)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        _, writer = await asyncio.open_connection(sock=sock)
        body = json.dumps(
            {
                "model": "llama3.2:3b",
                "messages": [{"role": "user", "content": "talk"}],
                "options": {"num_predict": 1_000_000},
            }
        ).encode()
        writer.write(
            b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s"
            % (key.encode(), len(body), body)
        )
        async with asyncio.timeout(10):
            await streaming.wait()

        # B: another key, another model: needs llama3.2 unloaded, so A must have been cut
        b_chat = {"model": "qwen2.5:7b", "messages": [{"role": "user", "content": "hi"}]}
        async with aiohttp.ClientSession() as http:
            async with http.post(
                service.url + "/api/chat",
                json={**b_chat, "stream": False},
                headers={"Authorization": f"Bearer {other}"},
            ) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["done"] is True
        writer.close()

        records = await service.usage_records(limit=10)
        by_model = {rec["model"]: rec["status"] for rec in records}
        assert by_model == {"llama3.2:3b": "client_closed", "qwen2.5:7b": "ok"}
        assert service.vram_snapshot()["in_flight"].get("llama3.2:3b", 0) == 0
    finally:
        await service.stop()


async def test_a_slow_model_is_not_taken_for_a_slow_reader(sim, tmp_path: Path) -> None:
    # the write deadline times writes to the client, not the gaps between tokens: one timer
    # per stream wakes every `limit` seconds and must find no write waiting in those gaps
    service = GatewayService(make_settings(tmp_path, sim.url, client_write_timeout_s=0.1))
    await service.start()
    try:
        sim.token_delay = 0.25  # each gap is 2.5 deadlines long
        key = (await service.create_key("slow", "s@example.com"))["api_key"]
        body = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]}
        body["options"] = {"num_predict": 4}
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
            async with http.post(service.url + "/api/chat", json=body) as r:
                lines = [json.loads(line) async for line in r.content]
        assert lines[-1]["done"] is True and len(lines) == 5
        [record] = await service.usage_records(limit=10)
        assert record["status"] == "ok"
    finally:
        await service.stop()
