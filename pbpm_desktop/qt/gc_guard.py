"""Cyclic garbage collection on the GUI thread only.

CPython runs its cyclic collector on whichever thread allocates when a collection is due; in
this app that is often the gateway's loop thread. A Qt object caught in a reference cycle (a
window, a menu, a banner with its QTimer) is then freed on that thread: Qt cannot stop the
object's timers from there, and the next event pass on the GUI thread touches freed memory.
That was a segfault in `QTimerInfoList::activateTimers`, seen at random points of the test
suite, and the same can happen to the running app.

So while the desktop app runs, automatic collection is off and a timer on the GUI thread
collects whenever the collector's own thresholds say a collection is due (the pattern
PyQt/PySide applications use for this; see pyqtgraph's `GarbageCollector` recipe). Objects
without cycles are freed by reference counting as before; only cycles wait, at most
`INTERVAL_MS`. `serve` and `demo --headless` never load Qt and keep Python's default.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

#: how often the GUI thread checks whether a collection is due
INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    """Turns automatic collection off and collects from a QTimer on the thread that made it."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        self._thresholds = gc.get_threshold()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect_if_due)
        self._timer.start(interval_ms)

    def collect_if_due(self) -> int:
        """Collect the generations whose counts passed their thresholds; the objects found."""
        counts = gc.get_count()
        generation = -1
        for level in range(3):
            if counts[level] > self._thresholds[level]:
                generation = level
        return gc.collect(generation) if generation >= 0 else 0

    def stop(self) -> None:
        """Collect once more here, then give collection back to Python."""
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
