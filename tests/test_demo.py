"""The demo backend: simulator, demo key, seeded history, live traffic through the gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.core.settings import Settings
from pbpm_desktop.demo import DEMO_ALWAYS_ON, DEMO_KEY_NAME, DemoBackend


def fast_demo(tmp_path: Path, traffic_interval: float) -> DemoBackend:
    """The demo backend with instant loads and tokens, its data under `tmp_path`."""
    base = Settings(
        data_dir=tmp_path,
        host="127.0.0.1",
        port=0,
        master_api_key="demo-master-key-for-tests-0123456789",
    )
    demo = DemoBackend(base, traffic_interval=traffic_interval)
    demo.simulator.load_delay = 0.0
    demo.simulator.token_delay = 0.0
    return demo


async def test_demo_backend_gives_a_working_gateway(tmp_path: Path) -> None:
    demo = fast_demo(tmp_path, traffic_interval=0.05)
    settings = await demo.start()
    assert settings.data_dir == tmp_path / "demo" and settings.always_on_models == DEMO_ALWAYS_ON
    service = GatewayService(settings)
    await service.start()
    try:
        await demo.attach(service)
        history = await service.usage_records(limit=10_000)
        assert len(history) > 100  # a week of sample usage for the charts
        assert {r["client"] for r in history} == {"demo-history"}
        for _ in range(100):  # live traffic arrives through the real gateway
            await asyncio.sleep(0.05)
            live = [
                r for r in await service.usage_records(limit=50) if r["client"] != "demo-history"
            ]
            if live:
                break
        assert live and live[0]["status"] == "ok"
        resident = {r["name"] for r in service.vram_snapshot()["resident"]}
        assert set(DEMO_ALWAYS_ON) <= resident
        # a second start re-issues the demo key and does not duplicate the history
        await demo.attach(service)
        keys = [k for k in await service.list_keys() if k["name"] == DEMO_KEY_NAME]
        assert [k["status"] for k in keys].count("active") == 1
        assert len(await service.usage_records(limit=10_000)) < len(history) + 200
    finally:
        await demo.stop()
        await service.stop()


async def test_demo_answers_a_quota_key_at_normal_length(tmp_path: Path) -> None:
    """A key with a daily token quota gets the demo's usual answer, not one of 200k tokens.

    The quota caps num_predict to what is left of the day; the demo's simulator used to take
    num_predict as the answer's length, so scripts/screenshots.py (and any demo user with
    such a key) waited ~100 minutes per request at the demo's 30 ms a token.
    """
    import aiohttp

    demo = fast_demo(tmp_path, traffic_interval=3600)
    service = GatewayService(await demo.start())
    await service.start()
    try:
        created = await service.create_key("ci-runner", "", tokens_per_day=200_000)
        headers = {"Authorization": f"Bearer {created['api_key']}"}
        body = {
            "model": "llama3.2:3b",
            "stream": False,
            "messages": [{"role": "user", "content": "Summarise this."}],
        }
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(f"{service.url}/api/chat", json=body) as resp:
                answer = await resp.json()
            assert answer["eval_count"] == demo.simulator.response_tokens
            assert answer["done_reason"] == "stop"
            # an explicit, smaller num_predict still cuts the answer short
            body["options"] = {"num_predict": 3}
            async with http.post(f"{service.url}/api/chat", json=body) as resp:
                short = await resp.json()
        assert (short["eval_count"], short["done_reason"]) == (3, "length")
    finally:
        await demo.stop()
        await service.stop()
