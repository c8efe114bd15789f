"""Shared fixtures: a real Ollama simulator and a real gateway, both on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

os.environ.setdefault("PBPM_NO_KEYRING", "1")  # never touch the developer's real keyring
# the exposure self-check at start-up probes no address (tests never send LAN traffic)
os.environ.setdefault("PBPM_EXPOSURE_ADDRESSES", "")

from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.core.settings import Settings
from pbpm_desktop.simulator import OllamaSimulator, SimModel
from tests.postgres import NO_SERVER, PostgresServer, find_bindir, fresh_database

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
        memory_settle_s=0,  # the simulator's memory lag is off unless a test turns it on
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


# -- PostgreSQL (tests/postgres.py): a real server where one can be started, else a skip --
@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server for this session (PBPM_TEST_PG_URL, or one started here)."""
    external = os.environ.get("PBPM_TEST_PG_URL")
    if external:
        yield external
        return
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("PBPM_REQUIRE_POSTGRES"):  # CI (.ci/run): a skip would hide them
            pytest.fail(NO_SERVER + " PBPM_REQUIRE_POSTGRES is set, so this is an error.")
        pytest.skip(NO_SERVER)
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server_url: str) -> str:
    """An empty database of its own on the session's PostgreSQL server."""
    return fresh_database(postgres_server_url)
