"""The demo backend: simulator, demo key, seeded history, live traffic through the gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.core.settings import Settings
from pbpm_desktop.demo import DEMO_ALWAYS_ON, DEMO_KEY_NAME, DemoBackend


async def test_demo_backend_gives_a_working_gateway(tmp_path: Path) -> None:
    base = Settings(
        data_dir=tmp_path,
        host="127.0.0.1",
        port=0,
        master_api_key="demo-master-key-for-tests-0123456789",
    )
    demo = DemoBackend(base, traffic_interval=0.05)
    demo.simulator.load_delay = 0.0
    demo.simulator.token_delay = 0.0
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
