"""Exposure self-check. 127.0.0.2 (a loopback alias) stands in for the LAN address: these
tests never send traffic to a non-loopback address."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aiohttp import web

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.core.exposure import check_ollama_exposure, local_addresses
from pbpm_desktop.simulator import OllamaSimulator
from tests.conftest import make_settings, small_models

LAN_STAND_IN = "127.0.0.2"


@pytest.fixture
async def exposed_sim() -> OllamaSimulator:
    """An Ollama bound to the stand-in LAN address, as OLLAMA_HOST=0.0.0.0 would make it."""
    sim = OllamaSimulator(small_models())
    await sim.start(host=LAN_STAND_IN)
    yield sim
    await sim.stop()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def test_ollama_answering_on_the_lan_address_is_reported(exposed_sim) -> None:
    port = port_of(exposed_sim.url)
    report = await check_ollama_exposure(f"http://127.0.0.1:{port}", [LAN_STAND_IN])
    assert report.checked == [LAN_STAND_IN]
    assert report.exposed == [LAN_STAND_IN] and not report.ok
    warning = report.warning()
    assert f"{LAN_STAND_IN}:{port}" in warning
    assert "OLLAMA_HOST=127.0.0.1:11434" in warning and "without a key" in warning
    assert report.to_dict()["warning"] == warning


async def test_ollama_on_loopback_only_is_fine(exposed_sim) -> None:
    port = port_of(exposed_sim.url)
    report = await check_ollama_exposure(f"http://127.0.0.1:{port}", ["127.0.0.3"])
    assert report.checked == ["127.0.0.3"] and report.exposed == []
    assert report.ok and report.warning() is None


async def test_something_else_on_the_port_is_not_mistaken_for_ollama() -> None:
    hits: list[str] = []

    async def not_ollama(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"hello": "world"})

    app = web.Application()
    app.router.add_get("/api/version", not_ollama)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, LAN_STAND_IN, 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        report = await check_ollama_exposure(f"http://localhost:{port}", [LAN_STAND_IN])
    finally:
        await runner.cleanup()
    assert hits == ["/api/version"]  # it was asked, and did not pass for Ollama
    assert report.checked == [LAN_STAND_IN] and report.ok


async def test_ollama_on_another_host_is_not_probed() -> None:
    # 192.0.2.10 is TEST-NET-1: documentation only; the check returns without contacting it
    report = await check_ollama_exposure("http://192.0.2.10:11434", [LAN_STAND_IN])
    assert report.checked == [] and report.ok
    assert report.skipped and "another host" in report.skipped


def test_addresses_can_be_pinned_by_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("PBPM_EXPOSURE_ADDRESSES", " 127.0.0.2, ,127.0.0.3")
    assert local_addresses() == ["127.0.0.2", "127.0.0.3"]
    monkeypatch.setenv("PBPM_EXPOSURE_ADDRESSES", "")
    assert local_addresses() == []


async def test_gateway_start_warns_in_the_log_and_publishes_the_report(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """The gateway's Ollama on 127.0.0.1:P, the same Ollama port open on the "LAN" too."""
    upstream = OllamaSimulator(small_models())
    await upstream.start()
    port = port_of(upstream.url)
    lan = OllamaSimulator(small_models())
    await lan.start(host=LAN_STAND_IN, port=port)
    monkeypatch.setenv("PBPM_EXPOSURE_ADDRESSES", LAN_STAND_IN)
    service = GatewayService(make_settings(tmp_path, upstream.url))
    seen: asyncio.Queue = asyncio.Queue()
    service.events.subscribe(lambda name, payload: name == ev.EXPOSURE and seen.put_nowait(payload))
    caplog.set_level(logging.WARNING, logger="pbpm_desktop.core.app")
    try:
        await service.start()
        payload = await asyncio.wait_for(seen.get(), 10)
        assert payload["exposed"] == [LAN_STAND_IN] and payload["ok"] is False
        assert service.exposure is not None and not service.exposure.ok
        assert any(
            "SECURITY" in r.message and f"{LAN_STAND_IN}:{port}" in r.message
            for r in caplog.records
        )
        # doctor-style call with an explicit list
        assert (await service.check_exposure(["127.0.0.3"])).ok
    finally:
        await service.stop()
        await lan.stop()
        await upstream.stop()
