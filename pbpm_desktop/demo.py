"""The `demo` backend: the built-in Ollama simulator, demo settings and a little traffic.

It lets a new user see every part of the app working with no Ollama installed. Everything it
creates lives in a separate `demo/` data directory, so it never mixes with real keys or usage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp

from pbpm_desktop.core.settings import Settings
from pbpm_desktop.simulator import OllamaSimulator, SimBehaviour, demo_models

if TYPE_CHECKING:
    from pbpm_desktop.core.app import GatewayService

log = logging.getLogger(__name__)

DEMO_ALWAYS_ON = ("llama3.2:3b", "nomic-embed-text:latest")
DEMO_CHAT_MODELS = ("llama3.2:3b", "qwen2.5:7b", "qwen2.5-coder:32b")
DEMO_KEY_NAME = "demo-traffic"
HISTORY_DAYS = 7


class DemoBackend:
    def __init__(self, settings: Settings, *, traffic_interval: float = 4.0) -> None:
        self.base_settings = settings
        self.traffic_interval = traffic_interval
        self.simulator = OllamaSimulator(
            demo_models(),
            vram_capacity=24 * 1024**3,
            # like a real GPU: freed memory shows up a little after an unload
            # num_predict caps the answer: a key's daily quota sets it to what is left
            behaviour=SimBehaviour(memory_settle_s=0.5, num_predict_is_length=False),
            token_delay=0.03,
            load_delay=1.0,
            response_tokens=40,
        )
        self._traffic: asyncio.Task[None] | None = None

    async def start(self) -> Settings:
        """Start the simulator; return the settings the demo gateway runs with."""
        url = await self.simulator.start()
        return demo_settings(self.base_settings).replace(
            ollama_url=url,
            always_on_models=DEMO_ALWAYS_ON,
            vram_limit_gb=24.0,
            max_heavy_models=1,
        )

    async def attach(self, service: GatewayService) -> None:
        """Give the running demo gateway a client key, a week of history and live traffic.

        Called again after the gateway restarts (new settings): the old traffic stops first.
        """
        await self._stop_traffic()
        for key in await service.list_keys():  # secrets are not recoverable: issue a fresh one
            if key["name"] == DEMO_KEY_NAME and key["status"] == "active":
                await service.revoke_key(key["id"])
        created = await service.create_key(DEMO_KEY_NAME, "demo@localhost")
        secret = created["api_key"]
        announce_demo_key(service.settings, service.url, secret)
        if not await service.usage_records(limit=1):
            await seed_history(service, created["id"], created["prefix"])
        self._traffic = asyncio.create_task(self._run_traffic(service.url, secret))

    async def _run_traffic(self, url: str, secret: str) -> None:
        headers = {"Authorization": f"Bearer {secret}"}
        rng = random.Random(7)
        async with aiohttp.ClientSession(headers=headers) as session:
            while True:
                await asyncio.sleep(self.traffic_interval * rng.uniform(0.5, 1.5))
                model = (
                    rng.choice(DEMO_CHAT_MODELS[:2]) if rng.random() < 0.85 else DEMO_CHAT_MODELS[2]
                )
                path, body = _demo_request(model, rng.random())
                try:
                    async with session.post(url + path, json=body) as resp:
                        await resp.read()
                except aiohttp.ClientError as exc:
                    log.debug("demo traffic: %s", exc)

    async def _stop_traffic(self) -> None:
        if self._traffic is not None:
            self._traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._traffic
            self._traffic = None

    async def stop(self) -> None:
        await self._stop_traffic()
        await self.simulator.stop()


def _demo_request(model: str, dice: float) -> tuple[str, dict[str, Any]]:
    """Mostly native chat, sometimes the coding-agent APIs (Anthropic Messages, Responses)."""
    hello = [{"role": "user", "content": "Hello there!"}]
    if dice < 0.15:
        return "/v1/messages", {"model": model, "max_tokens": 256, "messages": hello}
    if dice < 0.25:
        return "/v1/responses", {"model": model, "input": hello}
    return "/api/chat", {"model": model, "messages": hello}


def demo_settings(base: Settings) -> Settings:
    """`base` pointed at the demo's own data: `keys --demo`/`usage --demo` use the same."""
    return base.replace(data_dir=base.data_dir / "demo", db_url=None)


def announce_demo_key(settings: Settings, url: str, secret: str) -> None:
    """Print a ready client key for the demo gateway (a demo-only key, not a real secret)."""
    print(f"demo client key (this demo's database only): {secret}", flush=True)
    print(
        f"  try: curl {url}/api/chat -H 'Authorization: Bearer {secret}' "
        """-d '{"model": "llama3.2:3b", "messages": [{"role": "user", "content": "Hi"}]}'""",
        flush=True,
    )
    print(
        f"  demo data: PBPM_DATA_DIR={settings.data_dir}; "
        "manage it with `pbpm-desktop keys list --demo` / `pbpm-desktop usage --demo`",
        flush=True,
    )


async def seed_history(service: GatewayService, key_id: int, prefix: str) -> int:
    """Write a week of plausible past usage so the charts have something to show."""
    from pbpm_desktop.core.store.models import UsageRecord

    rng = random.Random(42)
    now = datetime.now(UTC)
    rows = []
    for hours_ago in range(HISTORY_DAYS * 24, 0, -1):
        when = now - timedelta(hours=hours_ago)
        busy = 9 <= when.hour <= 18
        for _ in range(rng.randint(2, 9) if busy else rng.randint(0, 2)):
            model = rng.choices(DEMO_CHAT_MODELS, weights=(6, 3, 1))[0]
            rows.append(
                UsageRecord(
                    key_id=key_id,
                    key_prefix=prefix,
                    owner="demo@localhost",
                    model=model,
                    route="chat",
                    prompt_tokens=rng.randint(20, 600),
                    completion_tokens=rng.randint(50, 900),
                    status="ok",
                    duration_ms=rng.uniform(400, 9000),
                    ttft_ms=rng.uniform(40, 400),
                    client="demo-history",
                    created_at=when + timedelta(minutes=rng.randint(0, 59)),
                )
            )
    with service.db.bound():
        await UsageRecord.bulk_create(rows, batch_size=500)
    return len(rows)
