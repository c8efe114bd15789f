"""Shared fixtures: a real Ollama simulator and a real gateway, both on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

os.environ.setdefault("PBPM_NO_KEYRING", "1")  # never touch the developer's real keyring

from pbpm_desktop.config import Settings
from pbpm_desktop.core.service import GatewayService
from pbpm_desktop.simulator import OllamaSimulator, SimModel

MASTER = "test-master-key-0123456789-abcdefghij"  # >= 32 characters (secrets.py)
GB = 1024**3


def small_models() -> list[SimModel]:
    return [
        SimModel("llama3.2:3b", 2 * GB),
        SimModel("qwen2.5:7b", 5 * GB, family="qwen2", parameter_size="7.6B"),
        SimModel("big:70b", 40 * GB, parameter_size="70B"),
        SimModel("nomic-embed-text:latest", GB // 4, family="nomic-bert", embedding=True),
    ]


@pytest.fixture
async def sim() -> AsyncIterator[OllamaSimulator]:
    simulator = OllamaSimulator(small_models(), vram_capacity=30 * GB, response_tokens=8)
    await simulator.start()
    yield simulator
    await simulator.stop()


def make_settings(tmp_path: Path, ollama_url: str, **overrides: object) -> Settings:
    base = Settings(
        ollama_url=ollama_url,
        master_api_key=MASTER,
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path,
        vram_limit_gb=26,
        reconcile_interval_s=60,
    )
    return base.with_overrides(**overrides) if overrides else base


@dataclass
class Gateway:
    service: GatewayService
    url: str
    sim: OllamaSimulator | None
    client_key: str
    client_id: int

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.client_key}"}

    @property
    def master(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {MASTER}"}


@pytest.fixture
async def gateway(sim: OllamaSimulator, tmp_path: Path) -> AsyncIterator[Gateway]:
    service = GatewayService(make_settings(tmp_path, sim.url))
    await service.start()
    created = await service.create_key("tester", "tester@example.com")
    yield Gateway(service, service.url or "", sim, created["api_key"], created["id"])
    await service.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
