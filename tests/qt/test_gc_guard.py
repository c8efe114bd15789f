"""Reference cycles holding Qt objects are freed on the GUI thread, never on the gateway's."""

from __future__ import annotations

import gc
import threading
from typing import ClassVar

from PySide6.QtCore import QObject, QTimer

from pbpm_desktop.qt.gc_guard import GuiThreadCollector


class _Cycle:
    """A Qt object with a running timer, kept alive only by a reference cycle."""

    freed_on: ClassVar[list[str]] = []

    def __init__(self) -> None:
        self.me = self
        self.owner = QObject()
        self.timer = QTimer(self.owner)
        self.timer.start(60_000)

    def __del__(self) -> None:
        _Cycle.freed_on.append(threading.current_thread().name)


def _allocate_on_another_thread() -> list[object]:
    """What the gateway loop does all day: allocate container objects (kept, so the
    collector's count passes its threshold, as steady traffic keeps it passing)."""
    kept: list[object] = []

    def churn() -> None:
        kept.extend([] for _ in range(20_000))

    worker = threading.Thread(target=churn, name="gateway-loop")
    worker.start()
    worker.join()
    return kept


def test_without_the_guard_another_thread_frees_the_cycle(qapp) -> None:
    """The hazard itself, so the test below can fail: Python collects on the allocating thread."""
    gc.enable()  # as Python runs by default (the autouse fixture turned it off)
    try:
        _Cycle.freed_on.clear()
        _Cycle()
        _allocate_on_another_thread()
        assert _Cycle.freed_on == ["gateway-loop"]
    finally:
        gc.disable()


def test_the_guard_frees_cycles_on_the_gui_thread_only(qapp, qtbot) -> None:
    collector = GuiThreadCollector(interval_ms=10)
    try:
        assert not gc.isenabled()
        _Cycle.freed_on.clear()
        _Cycle()
        kept = _allocate_on_another_thread()
        assert _Cycle.freed_on == []  # nothing collected off the GUI thread
        qtbot.waitUntil(lambda: _Cycle.freed_on == [threading.current_thread().name])
        del kept
    finally:
        collector.stop()
