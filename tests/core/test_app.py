"""GatewayService life cycle."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pbpm_desktop.core.accounting.audit import AuditWriter
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


async def test_stop_runs_every_step_even_when_one_fails(
    sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part that fails to stop (here the audit) must not leave the others running."""
    real_stop = AuditWriter.stop

    async def failing_stop(self: AuditWriter) -> None:
        await real_stop(self)
        raise RuntimeError("audit stop failed")

    monkeypatch.setattr(AuditWriter, "stop", failing_stop)
    service = GatewayService(make_settings(tmp_path, sim.url))
    await service.start()
    assert service.context is not None
    ollama = service.context.ollama
    with pytest.raises(RuntimeError, match="audit stop failed"):
        await service.stop()
    # the steps after the failing one ran: the pool and the database are closed
    assert service.db is None and service.context is None
    assert not ollama._started  # the pool was closed
    monkeypatch.undo()
    await service.start()  # and the service starts again from scratch
    assert service.state == "serving"
    await service.stop()
