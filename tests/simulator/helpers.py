"""Helpers shared by the simulator's tests (tests/simulator/)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from pbpm_desktop.simulator import ANSWER_TEXT, OllamaSimulator

LLAMA = "llama3.2:3b"
QWEN = "qwen2.5:7b"
EMBED = "nomic-embed-text:latest"


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


async def read_sse(resp: aiohttp.ClientResponse) -> list[Any]:
    events: list[Any] = []
    async for line in resp.content:
        if line.startswith(b"data: "):
            payload = line[6:].strip()
            events.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return events
