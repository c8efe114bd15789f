"""`pbpm-desktop doctor` against real things: the simulator, real databases, real sockets."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

from pbpm_desktop import doctor
from pbpm_desktop.cli import main
from pbpm_desktop.core.store import Database
from pbpm_desktop.doctor import FAIL, OK, WARN, check_gpu, check_qt, run_checks

from .conftest import make_settings
from .core.store.old_schema import make_old_sqlite, sqlite_columns
from .core.store.test_schema_lock import backups_in


def closed_port() -> int:
    """A loopback port nothing listens on (bound, never listened: connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def by_name(checks) -> dict[str, doctor.Check]:
    return {c.name: c for c in checks}


async def created_db(url: str) -> None:
    db = Database(url)
    await db.open()
    await db.close()


async def test_healthy_setup_passes_with_versions(sim, tmp_path: Path):
    settings = make_settings(tmp_path, sim.url)
    await created_db(settings.database_url)
    checks = by_name(await run_checks(settings))
    assert checks["ollama"].status == OK
    assert sim.version in checks["ollama"].message
    assert checks["database"].status == OK
    assert "schema version 3, current" in checks["database"].message
    assert "0 keys" in checks["database"].message
    assert checks["port"].status == OK
    assert checks["keyring"].status == OK  # PBPM_NO_KEYRING (tests/conftest.py): the file
    assert checks["gpu"].status in (OK, WARN)  # WARN on machines without an NVIDIA GPU
    assert checks["exposure"].status == OK  # PBPM_EXPOSURE_ADDRESSES="" (tests/conftest.py)
    assert doctor.exit_code(list(checks.values())) == 0


def test_cli_fails_with_exit_1_and_says_what_to_do(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("PBPM_DATA_DIR", str(tmp_path))
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--ollama-url", url, "--port", "0"])
    assert exited.value.code == 1
    out = capsys.readouterr().out
    assert f"FAIL  ollama    Ollama is unreachable at {url}" in out
    assert "Start Ollama" in out
    assert "WARN  database  no database yet at" in out  # and doctor did not create one
    assert not (tmp_path / "guard.db").exists()
    assert "Traceback" not in out


async def test_old_sqlite_schema_is_reported_not_migrated(sim, tmp_path: Path):
    path = tmp_path / "guard.db"
    make_old_sqlite(path)
    checks = by_name(await run_checks(make_settings(tmp_path, sim.url)))
    assert checks["database"].status == WARN
    assert "schema version 1, older than" in checks["database"].message
    assert "migrates" in checks["database"].fix
    assert "cloud" not in sqlite_columns(path, "api_keys")  # untouched: no column added
    with sqlite3.connect(path) as db:  # no version table created
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "schema_version" not in tables
    assert backups_in(tmp_path) == []


async def test_tables_of_no_known_schema_fail_and_stay_untouched(sim, tmp_path: Path):
    # the gateway refuses such a database (UnknownSchema); doctor must not call it "older"
    path = tmp_path / "guard.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE api_keys (id INTEGER PRIMARY KEY, key_hash VARCHAR(64))")
    check = by_name(await run_checks(make_settings(tmp_path, sim.url)))["database"]
    assert check.status == FAIL
    assert "api_keys but no schema version" in check.message
    assert "PBPM_DB_URL" in check.fix
    assert sqlite_columns(path, "api_keys") == {"id", "key_hash"}


async def test_empty_postgres_database_is_reported_as_such(sim, tmp_path: Path, pg_url):
    settings = make_settings(tmp_path, sim.url, db_url=pg_url)
    check = by_name(await run_checks(settings))["database"]
    assert check.status == WARN
    assert "empty (no schema yet)" in check.message
    assert "first start" in check.fix


async def test_postgres_database_reported_with_password_hidden(sim, tmp_path: Path, pg_url):
    await created_db(pg_url)
    settings = make_settings(tmp_path, sim.url, db_url=pg_url)
    check = by_name(await run_checks(settings))["database"]
    assert check.status == OK, check
    assert pg_url in check.message


async def test_unreachable_postgres_fails(sim, tmp_path: Path):
    url = f"postgres://pbpm:secret-pw@127.0.0.1:{closed_port()}/pbpm"
    check = by_name(await run_checks(make_settings(tmp_path, sim.url, db_url=url)))["database"]
    assert check.status == FAIL
    assert "secret-pw" not in check.message and ":***@" in check.message
    assert "PBPM_DB_URL" in check.fix


async def test_port_taken_by_another_program_fails(sim, tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = make_settings(tmp_path, sim.url, port=taken.getsockname()[1])
        check = by_name(await run_checks(settings))["port"]
    assert check.status == FAIL
    assert "PBPM_PORT" in check.fix


async def test_port_taken_by_a_running_gateway_is_a_warning(gateway, tmp_path: Path):
    settings = make_settings(tmp_path, gateway.sim.url, port=gateway.service.port)
    check = by_name(await run_checks(settings))["port"]
    assert check.status == WARN
    assert "running PBPM Desktop gateway" in check.message


class BrokenNvml:
    """NVML as on a machine without the NVIDIA driver: nvmlInit raises."""

    def nvmlInit(self) -> None:
        raise OSError("NVML Shared Library Not Found")


def test_gpu_missing_is_a_warning_not_a_failure():
    check = check_gpu(BrokenNvml())
    assert check.status == WARN
    assert "NVML Shared Library Not Found" in check.message


@pytest.mark.parametrize(
    ("version", "python", "status"),
    [
        ("6.12.0", (3, 11), WARN),  # the None-refcount leak
        ("6.12.1", (3, 11), WARN),
        ("6.12.0", (3, 12), OK),
        ("6.11.2", (3, 11), OK),
        ("6.10.0", (3, 13), OK),
    ],
)
def test_pyside6_python_combinations(version, python, status):
    check = check_qt(version, python)
    assert check.status == status
    if status == WARN:
        assert f"!={version}" in check.fix


def test_headless_install_without_pyside6_is_fine(monkeypatch):
    monkeypatch.setattr(doctor, "pyside6_version", lambda: None)
    check = check_qt()
    assert check.status == OK
    assert "`serve` works" in check.message


async def test_ollama_reachable_on_a_lan_address_fails(tmp_path: Path, monkeypatch):
    """127.0.0.2 stands in for this machine's LAN address (no traffic leaves loopback)."""
    from pbpm_desktop.simulator import OllamaSimulator

    exposed = OllamaSimulator([])  # as OLLAMA_HOST=0.0.0.0 would make it, on the stand-in
    await exposed.start(host="127.0.0.2")
    port = exposed.url.rsplit(":", 1)[1]
    try:
        monkeypatch.setenv("PBPM_EXPOSURE_ADDRESSES", "127.0.0.2")
        settings = make_settings(tmp_path, f"http://127.0.0.1:{port}")
        check = await doctor.check_ollama_exposure(settings)
    finally:
        await exposed.stop()
    assert check.status == FAIL and "127.0.0.2" in check.message
    assert "OLLAMA_HOST=127.0.0.1" in check.fix
