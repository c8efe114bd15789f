"""guard.db (+ -wal, -shm) 0600 and the data dir 0700, new and existing installs (issue 9, 14)."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.simulator import OllamaSimulator
from tests.conftest import make_settings

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("install", ["new", "existing"])
async def test_the_database_and_data_dir_are_private(
    sim: OllamaSimulator, tmp_path: Path, http, install: str
) -> None:
    data = tmp_path / "data"
    if install == "existing":  # as older versions left them
        data.mkdir(mode=0o755)
        data.chmod(0o755)
        con = sqlite3.connect(data / "guard.db")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE t (x)")
        for path in data.iterdir():
            path.chmod(0o644)
        for suffix in ("-wal", "-shm"):
            (data / f"guard.db{suffix}").touch(mode=0o644)
        con.close()
    old_umask = os.umask(0o022)
    try:
        service = GatewayService(make_settings(data, sim.url))
        await service.start()
    finally:
        os.umask(old_umask)
    try:
        key = (await service.create_key("t"))["api_key"]
        body = {"model": "llama3.2:3b", "prompt": "hi", "stream": False}
        async with http.post(
            service.url + "/api/generate", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as r:
            assert r.status == 200
        await service.usage_records()  # the audit is written: the WAL exists
        assert mode(data) == 0o700
        for name in ("guard.db", "guard.db-wal", "guard.db-shm"):
            assert mode(data / name) == 0o600, name
    finally:
        await service.stop()
