"""Two gateway processes on one PostgreSQL: keys and audit are shared, starts are safe.

Real processes (`python -m pbpm_desktop serve`), a real PostgreSQL (tests/postgres.py), the
Ollama simulator upstream. Skips with a clear message where no PostgreSQL can be started.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from pbpm_desktop.simulator import OllamaSimulator
from tests.conftest import MASTER

MASTER_AUTH = {"Authorization": f"Bearer {MASTER}"}
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


@dataclass
class Proc:
    process: asyncio.subprocess.Process
    url: str


async def start_gateway(data_dir: Path, db_url: str, ollama_url: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PBPM_DB_URL": db_url,
        "PBPM_DATA_DIR": str(data_dir),
        "MASTER_API_KEY": MASTER,
        "OLLAMA_URL": ollama_url,
        "PBPM_NO_KEYRING": "1",
        "PBPM_CONFIG_FILE": str(data_dir / "no-config.toml"),  # not the developer's settings
    }
    args = ["-m", "pbpm_desktop", "serve", "--host", "127.0.0.1", "--port", "0"]
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def wait_listening(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    seen = []
    while line := await asyncio.wait_for(process.stdout.readline(), 60):
        seen.append(line.decode(errors="replace"))
        if match := LISTENING.search(seen[-1]):
            return match.group(1)
    raise AssertionError("gateway exited before listening:\n" + "".join(seen))


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Poll `check` until it holds (the audit writer and the key cache are asynchronous)."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


@pytest.fixture
async def two_gateways(
    pg_url: str, sim: OllamaSimulator, tmp_path: Path
) -> AsyncIterator[tuple[Proc, Proc]]:
    # both start at the same moment on the empty database: both must come up
    processes = [await start_gateway(tmp_path / name, pg_url, sim.url) for name in ("a", "b")]
    try:
        urls = await asyncio.gather(*(wait_listening(p) for p in processes))
        yield Proc(processes[0], urls[0]), Proc(processes[1], urls[1])
        for p in processes:  # a clean stop: SIGTERM, audit flushed, exit 0
            p.send_signal(signal.SIGTERM)
        assert [await asyncio.wait_for(p.wait(), 60) for p in processes] == [0, 0]
    finally:
        for p in processes:
            if p.returncode is None:
                p.kill()
                await p.wait()


async def test_two_gateways_share_keys_audit_and_revokes(two_gateways, http: aiohttp.ClientSession):
    a, b = two_gateways
    async with http.post(f"{a.url}/admin/create_key?name=carol", headers=MASTER_AUTH) as r:
        assert r.status == 201, await r.text()
        created = await r.json()
    auth = {"Authorization": f"Bearer {created['api_key']}"}

    chat = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(f"{a.url}/api/chat", json=chat, headers=auth) as r:
        assert r.status == 200, await r.text()
        await r.read()
    # created on A, usable on B at once (B has never seen it, so nothing cached says otherwise)
    generate = {"model": "llama3.2:3b", "prompt": "hi", "stream": False}
    async with http.post(f"{b.url}/api/generate", json=generate, headers=auth) as r:
        assert r.status == 200, await r.text()
        await r.read()

    async def usage_on_a_shows_both() -> bool:
        params = {"key_id": str(created["id"])}
        async with http.get(f"{a.url}/admin/usage", params=params, headers=MASTER_AUTH) as r:
            routes = {rec["route"] for rec in (await r.json())["records"]}
        return {"chat", "generate"} <= routes

    await eventually(usage_on_a_shows_both)

    async with http.post(f"{b.url}/admin/keys/{created['id']}/revoke", headers=MASTER_AUTH) as r:
        assert r.status == 200, await r.text()

    async def refused_on_a() -> bool:  # A cached the key; it honours B's revoke within the TTL
        async with http.post(f"{a.url}/api/chat", json=chat, headers=auth) as r:
            await r.read()
            return r.status == 401

    await eventually(refused_on_a, within=15.0)
