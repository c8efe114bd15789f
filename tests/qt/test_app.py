"""The whole app end to end: controller, real gateway thread, tray fallback, quit, signals."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QTimer
from PySide6.QtWidgets import QApplication

from pbpm_desktop.core.loop_thread import LoopThread
from pbpm_desktop.core.settings import Settings
from pbpm_desktop.qt.app import launch_gui
from pbpm_desktop.qt.controller import AppController
from pbpm_desktop.qt.main_window import MainWindow
from pbpm_desktop.qt.pages.overview import OverviewPage
from pbpm_desktop.qt.signals import SignalWaker

from .conftest import drive


def audit_rows(settings: Settings) -> list[tuple[str, str, int]]:
    with sqlite3.connect(settings.data_dir / "guard.db") as db:
        return db.execute("SELECT owner, model, completion_tokens FROM usage_records").fetchall()


def make_controller(settings: Settings, tmp_path: Path, **options) -> AppController:
    return AppController(
        settings,
        loop_thread=LoopThread(),
        config_file=tmp_path / "config.toml",
        autostart_file=tmp_path / "autostart.desktop",
        **options,
    )


def stream_chat(url: str, key: str, stamps: list[float], done: threading.Event) -> None:
    """A LAN client: stream a chat through the gateway, noting when each chunk arrives."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "tell me"}]}
    conn.request(
        "POST",
        "/api/chat",
        body=json.dumps(body),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    assert response.status == 200
    while line := response.readline():
        stamps.append(time.monotonic())
        if json.loads(line).get("done"):
            break
    conn.close()
    done.set()


@pytest.fixture
def controllers(qtbot, qloop, tmp_path, simulator):
    """Make controllers; whatever a failing test leaves running is shut down afterwards."""
    made: list[AppController] = []

    def make(settings: Settings, **options) -> AppController:
        controller = make_controller(settings, tmp_path, **options)
        made.append(controller)
        return controller

    yield make
    for controller in made:
        if not controller.done:
            drive(qtbot, controller.shutdown(), timeout=30)
    # Delete the windows and controllers here, on the GUI thread. Left to the cyclic GC, they
    # may be freed on another thread (whichever allocates when a collection is due, e.g. a
    # gateway loop thread): Qt cannot stop their timers from there (a banner's 6 s timer, say)
    # and the next processEvents() after the timer is due dereferences a freed object.
    for controller in made:
        if controller.window is not None:
            controller.window.deleteLater()
        controller.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def started(qtbot, controllers, gateway_settings):
    controller = controllers(gateway_settings, tray_available=False)
    drive(qtbot, controller.start(), timeout=15)
    return controller


def test_without_tray_the_dashboard_opens_and_closing_quits_cleanly(qtbot, started, simulator):
    controller = started
    window = controller.window
    assert window is not None and window.isVisible()  # no system tray offscreen
    assert controller.tray is None
    assert controller.state.gateway == "serving"
    overview = window.page(OverviewPage)
    assert overview.local_row.url.text() == controller.state.url
    qtbot.waitUntil(lambda: overview.requests_card.value.text() == "0", timeout=5000)
    # a LAN client's request, then quit at once: its audit record must be in the database
    service, bridge = controller.service, controller.bridge
    key = drive(qtbot, bridge.call(service.create_key, "lan", "lan@x"))["api_key"]
    stamps: list[float] = []
    done = threading.Event()
    stream_chat(controller.state.url, key, stamps, done)
    finished: list[int] = []
    controller.finished.connect(finished.append)
    window.close()  # no tray: closing asks first
    answer(qtbot, window, "Quit and stop the gateway")
    qtbot.waitUntil(lambda: finished == [0], timeout=15000)
    assert not window.isVisible() and not controller.loop_thread.running
    assert service.state == "stopped"
    rows = audit_rows(controller.settings)
    assert rows == [("lan@x", "llama3.2:3b", simulator[0].response_tokens)]


def answer(qtbot, window: MainWindow, button_text: str) -> None:
    """Click `button_text` in the window's open "stop the gateway?" question."""
    qtbot.waitUntil(lambda: window.close_prompt is not None and window.close_prompt.isVisible())
    box = window.close_prompt
    button = next(b for b in box.buttons() if b.text() == button_text)
    button.click()
    qtbot.waitUntil(lambda: window.close_prompt is None)


def test_without_tray_closing_never_stops_the_gateway_silently(qtbot, started):
    controller = started
    window = controller.window
    window.close()
    assert window.close_prompt is not None and controller.state.gateway == "serving"
    assert "Stop the gateway" in window.close_prompt.text()
    answer(qtbot, window, "Cancel")
    assert window.isVisible() and not window.isMinimized() and not controller.quitting
    window.close()
    answer(qtbot, window, "Keep serving (minimise)")  # the default button
    assert window.isMinimized() and not controller.quitting
    assert "Still serving" in window.banner.label.text()
    assert controller.state.gateway == "serving" and controller.service.state == "serving"
    health = http.client.HTTPConnection(urlsplit(controller.state.url).netloc, timeout=5)
    health.request("GET", "/health")
    assert health.getresponse().status == 200  # LAN clients still reach it
    health.close()
    controller.show_dashboard()  # e.g. a second launch raises it again
    assert not window.isMinimized()


def test_a_lan_stream_keeps_flowing_while_the_ui_thread_is_blocked(qtbot, started, simulator):
    controller = started
    sim, _ = simulator
    sim.token_delay, sim.response_tokens = 0.02, 150  # a 3-second stream
    key = drive(qtbot, controller.bridge.call(controller.service.create_key, "lan", ""))["api_key"]
    stamps: list[float] = []
    done = threading.Event()
    client = threading.Thread(
        target=stream_chat, args=(controller.state.url, key, stamps, done), daemon=True
    )
    client.start()
    qtbot.waitUntil(lambda: len(stamps) >= 3, timeout=5000)
    blocked_from = time.monotonic()
    time.sleep(1.0)  # the UI thread is busy: no Qt events, no qasync callbacks
    blocked_until = time.monotonic()
    during = [t for t in stamps if blocked_from + 0.05 < t < blocked_until - 0.05]
    assert len(during) >= 20, f"only {len(during)} chunks while the UI was blocked"
    assert done.wait(10)
    client.join(5)


def test_with_a_tray_closing_hides_and_the_tray_quits(qtbot, controllers, gateway_settings):
    controller = controllers(gateway_settings, tray_available=True)
    drive(qtbot, controller.start(), timeout=15)
    window, tray = controller.window, controller.tray
    assert tray is not None and window.isVisible()
    window.close()
    assert not window.isVisible() and not controller.quitting
    assert controller.state.gateway == "serving"  # still serving from the tray
    tray.menu.open_action.trigger()
    assert window.isVisible()
    tray.menu.toggle_action.trigger()  # stop the gateway
    qtbot.waitUntil(lambda: controller.state.gateway == "stopped", timeout=10000)
    assert tray.menu.toggle_action.text() == "Start gateway"
    assert controller.service.state == "stopped"
    tray.menu.toggle_action.trigger()  # and start it again
    qtbot.waitUntil(lambda: controller.state.gateway == "serving", timeout=10000)

    def opened_with_qwen() -> bool:
        tray.menu.models_menu.aboutToShow.emit()  # the user opens the Models submenu
        return "qwen2.5:7b" in tray.menu.model_actions

    qtbot.waitUntil(opened_with_qwen, timeout=5000)
    tray.menu.model_actions["qwen2.5:7b"].trigger()  # one-click preload from the tray
    qtbot.waitUntil(lambda: "qwen2.5:7b" in controller.state.resident_names(), timeout=5000)
    tray.menu.copy_action.trigger()
    assert QApplication.clipboard().text() == controller.state.url
    finished: list[int] = []
    controller.finished.connect(finished.append)
    tray.menu.quit_action.trigger()
    qtbot.waitUntil(lambda: finished == [0], timeout=15000)
    assert controller.service.state == "stopped" and not controller.loop_thread.running


def test_sigterm_quits_as_cleanly_as_quit(qtbot, started):
    controller = started
    waker = SignalWaker(lambda _signum: controller.request_quit())
    assert waker.install()
    finished: list[int] = []
    controller.finished.connect(finished.append)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: finished == [0], timeout=15000)
    finally:
        waker.close()
    assert controller.service.state == "stopped" and not controller.loop_thread.running


def test_a_gateway_that_cannot_start_shows_why(qtbot, controllers, gateway_settings):
    import socket

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        settings = gateway_settings.with_overrides(port=blocker.getsockname()[1])
        controller = controllers(settings, tray_available=False)
        drive(qtbot, controller.start(), timeout=15)
    finally:
        blocker.close()
    assert controller.state.gateway == "stopped"
    assert "cannot listen on" in controller.window.banner.text
    assert "Traceback" not in controller.window.banner.text
    drive(qtbot, controller.shutdown(), timeout=15)


def _seeded(data_dir: Path) -> bool:
    try:
        with sqlite3.connect(data_dir / "guard.db") as db:
            return db.execute("SELECT COUNT(*) FROM usage_records").fetchone()[0] > 100
    except sqlite3.Error:
        return False


def _sigterm_when_serving(check: list[str], seeded_in: Path | None) -> None:
    """Poll for the app's window; once it serves (and the demo seeded), send SIGTERM."""

    existing = {id(w) for w in QApplication.topLevelWidgets()}

    def poll() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        live = [w for w in windows if w.isVisible() and id(w) not in existing]
        ready = seeded_in is None or _seeded(seeded_in)
        if (
            live
            and live[0].ctx.state.gateway == "serving"
            and live[0].ctx.state.installed()
            and ready
        ):
            check.append(live[0].windowTitle())
            check.append(str(len(live[0].ctx.state.installed())))
            os.kill(os.getpid(), signal.SIGTERM)
        else:
            QTimer.singleShot(50, poll)

    QTimer.singleShot(50, poll)


@pytest.mark.parametrize("demo", [False, True], ids=["gui", "demo"])
def test_launch_gui_runs_until_sigterm(qapp, gateway_settings, demo):
    seen: list[str] = []
    _sigterm_when_serving(seen, gateway_settings.data_dir / "demo" if demo else None)
    before = signal.getsignal(signal.SIGTERM)
    assert launch_gui(gateway_settings, demo=demo) == 0
    assert signal.getsignal(signal.SIGTERM) == before
    # the simulator's five models; the demo's simulator adds a cloud stub (demo_models)
    assert seen[1] == ("6" if demo else "5")
    assert ("demo" in seen[0]) is demo
    if demo:
        rows = audit_rows(
            gateway_settings.with_overrides(data_dir=gateway_settings.data_dir / "demo")
        )
        assert len(rows) > 100  # the seeded week of history
