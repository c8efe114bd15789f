"""One desktop app per data directory, through the real `pbpm-desktop demo` entry point.

A second launch must raise the first one's window and exit 0 (no second tray icon, no
failed bind, no traceback); a lock left by a killed app must not block the next start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbpm_desktop.qt.single_instance import SingleInstance


def gui_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBPM_", "OLLAMA", "MASTER"))}
    env.update(
        PBPM_DATA_DIR=str(tmp_path),
        PBPM_NO_KEYRING="1",
        PBPM_CONFIG_FILE=str(tmp_path / "config.toml"),
        QT_QPA_PLATFORM="offscreen",
        PYTHONUNBUFFERED="1",
    )
    return env


DEMO = [sys.executable, "-m", "pbpm_desktop", "demo", "--host", "127.0.0.1", "--port", "0"]


def wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    """Wait until the log file `path` contains `text` (the process must stay alive)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = path.read_text(errors="replace") if path.exists() else ""
        if text in out:
            return out
        assert proc.poll() is None, f"exited with {proc.returncode}:\n{out[-3000:]}"
        time.sleep(0.1)
    raise AssertionError(f"{text!r} did not appear:\n{out[-3000:]}")


@pytest.fixture
def first_app(tmp_path: Path):
    log = tmp_path / "first.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(DEMO, env=gui_env(tmp_path), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(log, "demo client key", proc)
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def test_a_second_launch_raises_the_first_and_exits_0(tmp_path: Path, first_app) -> None:
    proc, log = first_app
    second = subprocess.run(DEMO, env=gui_env(tmp_path), capture_output=True, text=True, timeout=60)
    out = second.stdout + second.stderr
    assert second.returncode == 0, out
    assert "already running" in out and "brought its window to the front" in out
    assert "Traceback" not in out and "listening on" not in out  # it never started a gateway
    wait_for(log, "another launch asked for the window", proc)
    assert proc.poll() is None  # the first one keeps serving
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert "Traceback" not in log.read_text()


def test_a_lock_left_by_a_killed_app_does_not_block_the_next_start(qapp, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)],
        env=gui_env(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    mine = SingleInstance(tmp_path)
    assert not mine.acquire()  # held by a live process
    assert mine.holder_pid() == holder.pid
    holder.kill()  # no clean exit: the lock file stays behind
    holder.wait(10)
    assert (tmp_path / "pbpm-desktop.lock").exists()
    assert mine.acquire()  # the dead holder's lock is stale
    mine.release()


HOLD_LOCK = """
import sys, time
from pathlib import Path
from PySide6.QtCore import QCoreApplication
from pbpm_desktop.qt.single_instance import SingleInstance
app = QCoreApplication([])
instance = SingleInstance(Path(sys.argv[1]))
assert instance.acquire()
print("locked", flush=True)
time.sleep(120)
"""
