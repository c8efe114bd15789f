"""Fixtures for the desktop app tests: offscreen Qt, a qasync loop, a real gateway + simulator.

`qloop` makes a qasync loop the *running* loop of the main thread for one test, without
entering `app.exec()`: tasks then advance whenever pytest-qt processes events
(`qtbot.waitUntil`), which is how `drive()` runs a coroutine to completion. The loop is
unset afterwards, so pytest-asyncio tests elsewhere in the session are unaffected.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PBPM_NO_KEYRING", "1")

import asyncio
import gc
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.core.loop_thread import LoopThread
from pbpm_desktop.core.settings import Settings
from pbpm_desktop.qt.bridge import Bridge
from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.gc_guard import GuiThreadCollector
from pbpm_desktop.qt.notify import Notifier
from pbpm_desktop.qt.state import AppState
from pbpm_desktop.qt.style import apply_style
from pbpm_desktop.qt.tasks import TaskRunner
from pbpm_desktop.simulator import OllamaSimulator, default_models

GIB = 1024**3
ALWAYS_ON = ("llama3.2:3b",)


@pytest.fixture(autouse=True)
def _qt_objects_die_in_the_qt_thread(qapp: QApplication) -> Iterator[None]:
    """Every Qt object a test leaves behind is destroyed here, on the Qt thread.

    pytest-qt closes registered widgets with `deleteLater()`, which needs an event loop to
    run; until then only their Python wrappers keep them, and the cyclic garbage collector
    may free those from whichever thread allocates next — often a gateway LoopThread. A
    QObject destroyed there cannot stop its timers ("Timers cannot be stopped from another
    thread"), and the next timer event crashed the run. So during the test the app's own
    guard runs (qt/gc_guard.py: no automatic collection, collections on the Qt thread), and
    afterwards deferred deletes are flushed and a last collection runs here.
    """
    collector = GuiThreadCollector(qapp) if gc.isenabled() else None
    try:
        yield
    finally:
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        if collector is not None:
            collector.stop()  # collects, then gives collection back to Python
            collector.deleteLater()
        else:
            gc.collect()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    apply_style(qapp)
    loop = qasync.QEventLoop(qapp)
    asyncio.events._set_running_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        for _ in range(20):
            if all(t.done() for t in pending):
                break
            qapp.processEvents()
        asyncio.events._set_running_loop(None)
        loop.close()


def drive(qtbot: Any, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
    """Run `coro` on the qasync loop until done (processing Qt events), return its result."""
    task = asyncio.get_running_loop().create_task(coro)
    qtbot.waitUntil(task.done, timeout=int(timeout * 1000))
    return task.result()


@dataclass
class Gateway:
    """A real GatewayService on its own LoopThread, in front of a simulator on another."""

    thread: LoopThread
    service: GatewayService
    sim: OllamaSimulator
    sim_thread: LoopThread
    settings: Settings

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 15.0) -> Any:
        """Run a coroutine on the gateway loop from the test (blocking)."""
        return self.thread.submit(coro).result(timeout)

    def call(self, fn: Any, *args: Any) -> Any:
        async def invoke() -> Any:
            return fn(*args)

        return self.run(invoke())

    @property
    def url(self) -> str:
        assert self.service.url is not None
        return self.service.url


@pytest.fixture
def simulator() -> Iterator[tuple[OllamaSimulator, LoopThread]]:
    thread = LoopThread("sim")
    thread.start()
    sim = OllamaSimulator(
        default_models(), vram_capacity=24 * GIB, load_delay=0.05, unload_delay=0.02
    )
    thread.submit(sim.start()).result(10)
    yield sim, thread
    thread.submit(sim.stop()).result(10)
    thread.stop()


@pytest.fixture
def gateway_settings(tmp_path: Path, simulator: tuple[OllamaSimulator, LoopThread]) -> Settings:
    sim, _ = simulator
    return Settings(
        data_dir=tmp_path / "data",
        host="127.0.0.1",
        port=0,
        ollama_url=sim.url,
        master_api_key="test-master-key-for-the-qt-tests-0123",
        always_on_models=ALWAYS_ON,
        vram_limit_gb=24.0,
        max_heavy_models=1,
        memory_settle_s=0,  # the simulator's memory lag is off
    )


@pytest.fixture
def gateway(
    gateway_settings: Settings, simulator: tuple[OllamaSimulator, LoopThread]
) -> Iterator[Gateway]:
    sim, sim_thread = simulator
    thread = LoopThread()
    thread.start()
    service = GatewayService(gateway_settings)
    thread.submit(service.start()).result(15)
    gw = Gateway(thread, service, sim, sim_thread, gateway_settings)
    yield gw
    if thread.running:
        thread.submit(service.stop()).result(30)
        thread.stop()


@pytest.fixture
def ctx(qloop: qasync.QEventLoop, gateway: Gateway, tmp_path: Path) -> Iterator[UiContext]:
    """A UiContext over the real gateway, the way the controller builds it."""
    bridge = Bridge(gateway.thread, gateway.service)
    state = AppState()
    bridge.vramChanged.connect(state.set_vram)
    bridge.ollamaStateChanged.connect(state.set_ollama)
    bridge.attach()
    state.set_gateway("serving", gateway.service.urls())
    state.set_vram(gateway.call(gateway.service.vram_snapshot))
    context = UiContext(
        bridge=bridge,
        state=state,
        tasks=TaskRunner(),
        notifier=Notifier(),
        config_file=tmp_path / "config.toml",
        autostart_file=tmp_path / "autostart" / "pbpm-desktop.desktop",
    )
    yield context
    bridge.detach()
    context.tasks.cancel_all()
