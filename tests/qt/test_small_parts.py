"""Autostart entry, CSV export, error wording, app state, SIGTERM wake-up."""

from __future__ import annotations

import csv
import os
import signal
from dataclasses import replace
from pathlib import Path

from pbpm_desktop.core.access.keys import KeyServiceError
from pbpm_desktop.qt import autostart
from pbpm_desktop.qt.csv_export import write_usage_csv
from pbpm_desktop.qt.errors import describe
from pbpm_desktop.qt.signals import SignalWaker
from pbpm_desktop.qt.state import AppState

from .fakes import snapshot


def test_autostart_entry_is_written_and_removed(tmp_path: Path):
    path = tmp_path / "autostart" / "pbpm-desktop.desktop"
    assert not autostart.is_enabled(path)
    autostart.set_enabled(True, path)
    text = path.read_text()
    assert "[Desktop Entry]" in text and "-m pbpm_desktop gui" in text
    assert autostart.is_enabled(path)
    autostart.set_enabled(False, path)
    assert not path.exists()


def test_csv_export(tmp_path: Path):
    path = tmp_path / "u.csv"
    rows = [
        {
            "key_id": 1,
            "key_prefix": "pbpm-x",
            "owner": "a",
            "model": "m",
            "requests": 2,
            "prompt_tokens": 3,
            "completion_tokens": 4,
            "total_tokens": 7,
            "last_used": "t",
        }
    ]
    assert write_usage_csv(path, rows) == 1
    with path.open() as fh:
        read = list(csv.DictReader(fh))
    assert read[0]["total_tokens"] == "7" and read[0]["owner"] == "a"


def test_errors_are_sentences_not_tracebacks():
    assert describe(KeyServiceError(404, "no key with id 9")) == "no key with id 9"
    assert describe(OSError(98, "address already in use")) == "address already in use"
    assert describe(RuntimeError("the gateway is stopped")) == "the gateway is stopped"
    assert "timed out" in describe(TimeoutError())
    assert "Traceback" not in describe(ZeroDivisionError())


def test_state_health_and_swapping():
    state = AppState()
    assert state.health == "stopped"
    state.set_gateway("serving", ["http://127.0.0.1:1", "http://192.168.1.2:1"])
    state.set_vram(snapshot())
    assert state.health == "serving" and state.lan_url == "http://192.168.1.2:1"
    state.set_ollama({"up": False, "version": None, "url": "u"})
    assert state.health == "degraded"
    # a "loading" swap for a model that is resident already is finished, not in progress
    state.set_vram(snapshot(swapping={"phase": "loading", "model": "llama3.2:3b"}))
    assert state.swapping() is None
    state.set_vram(snapshot(swapping={"phase": "loading", "model": "qwen2.5:7b"}))
    assert state.swapping() == {"phase": "loading", "model": "qwen2.5:7b"}


def test_sigterm_wakes_qt_and_calls_back(qtbot):
    received: list[int] = []
    before = signal.getsignal(signal.SIGTERM)
    waker = SignalWaker(received.append)
    assert waker.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: received == [signal.SIGTERM], timeout=3000)
    finally:
        waker.close()
    assert signal.getsignal(signal.SIGTERM) == before


def test_state_ignores_a_late_stale_snapshot():
    state = AppState()
    state.set_vram(replace(snapshot({"llama3.2:3b": 1}), taken_at=2.0))
    state.set_vram(replace(snapshot({}), taken_at=1.0))  # throttled event, taken earlier
    assert state.resident_names() == ["llama3.2:3b"]
    state.set_vram(replace(snapshot({}), taken_at=3.0))
    assert state.resident_names() == []


async def test_csv_export_neutralises_formulas_from_client_model_names(
    sim, http, tmp_path: Path
) -> None:
    # model names come from clients, and 404s are audited too (issue 9, item 11)
    from pbpm_desktop.core.app import GatewayService
    from tests.conftest import make_settings

    hostile = [
        '=HYPERLINK("http://x","y")',
        "+1+cmd|' /C calc'!A0",
        "@SUM(1)",
        "-2+3",
    ]
    service = GatewayService(make_settings(tmp_path / "data", sim.url))
    await service.start()
    try:
        auth = {"Authorization": f"Bearer {(await service.create_key('t'))['api_key']}"}
        for name in hostile:
            body = {"model": name, "prompt": "x"}
            async with http.post(service.url + "/api/generate", json=body, headers=auth) as r:
                assert r.status == 404
        rows = await service.usage_totals("key_model")
    finally:
        await service.stop()
    path = tmp_path / "u.csv"
    assert write_usage_csv(path, rows) == len(hostile)
    with path.open(newline="", encoding="utf-8") as fh:
        read = list(csv.DictReader(fh))
    assert sorted(r["model"] for r in read) == sorted("'" + name for name in hostile)
    assert all(r["prompt_tokens"] == "0" for r in read)  # numbers stay numbers
    # a leading tab or CR (the gateway strips them from model names; other cells may carry them)
    write_usage_csv(path, [{"owner": "\tx", "model": "\r=1", "requests": -1}])
    with path.open(newline="", encoding="utf-8") as fh:
        [row] = list(csv.DictReader(fh))
    assert (row["owner"], row["model"], row["requests"]) == ("'\tx", "'\r=1", "-1")


def test_gui_errors_give_gui_advice_not_cli_flags():
    from pbpm_desktop.qt.advice import for_gui, settings_hint

    port = (
        "cannot listen on 0.0.0.0:8000 (address in use); is another gateway running? "
        "Choose another port with PBPM_PORT or --port"
    )
    assert for_gui(port, {}).endswith("Choose another port in Settings.")
    assert "--port" not in for_gui(port, {})
    locked = for_gui(port, {"port": "PBPM_PORT"})
    assert "PBPM_PORT is set in the environment" in locked and "in Settings." not in locked
    ollama = (
        "Ollama is unreachable at http://x (refused). Start Ollama (`ollama serve`) "
        "or set OLLAMA_URL to where it runs."
    )
    assert for_gui(ollama, {}).endswith("or correct the Ollama URL in Settings.")
    assert "OLLAMA_URL is set in the environment" in for_gui(ollama, {"ollama_url": "OLLAMA_URL"})
    big = (
        "model 'x' needs 40.0 GB but VRAM_LIMIT_GB=24 leaves only 22.0 GB next to the always-on "
        "models (a: 2.0 GB). Raise VRAM_LIMIT_GB, remove models from ALWAYS_ON_MODELS, or use a "
        "smaller model."
    )
    assert "VRAM_LIMIT_GB" not in for_gui(big, {}) and "the 24 GB VRAM budget" in for_gui(big, {})
    assert settings_hint("ollama_url", "fix it here", {}) == "fix it here"
    assert "OLLAMA_URL" in settings_hint("ollama_url", "fix it here", {"ollama_url": "OLLAMA_URL"})
    # describe() applies it to every error shown in the GUI
    assert "--port" not in describe(OSError(98, port))
