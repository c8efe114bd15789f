"""GatewayService life cycle."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pbpm_desktop.core.app import GatewayService
from tests.conftest import make_settings


async def test_failed_start_undoes_what_had_started(sim, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = GatewayService(make_settings(tmp_path, sim.url, port=port))
        with pytest.raises(OSError, match="PBPM_PORT"):
            await service.start()
    assert service.context is None and service.db is None and service.state == "stopped"
    # and it can start again once the port is free
    service.settings = make_settings(tmp_path, sim.url)
    await service.start()
    assert service.url and service.state == "serving"
    await service.stop()


async def test_restart_applies_new_settings(gateway, tmp_path: Path) -> None:
    old_url = gateway.url
    await gateway.service.restart(gateway.service.settings.with_overrides(vram_limit_gb=12))
    assert gateway.service.vram_snapshot()["budget_limit_bytes"] == 12 * 1024**3
    assert gateway.service.url is not None and old_url
