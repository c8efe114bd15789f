"""SIGINT/SIGTERM under Qt: quit as cleanly as the Quit action.

While Qt sits in its C++ event loop the interpreter runs no bytecode, so Python signal
handlers would wait until the next UI event. `signal.set_wakeup_fd` makes the C-level handler
write a byte to a socket; a QSocketNotifier on the other end wakes the Qt loop, Python then
runs the real handler, which schedules `on_signal` on the event loop (not inside the handler).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, QTimer

log = logging.getLogger(__name__)

HANDLED = (signal.SIGINT, signal.SIGTERM)


class SignalWaker(QObject):
    def __init__(self, on_signal: Callable[[int], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.on_signal = on_signal
        self.received: list[int] = []
        self._previous: dict[int, Any] = {}
        self._previous_fd: int | None = None
        self._read, self._write = socket.socketpair()
        for sock in (self._read, self._write):
            sock.setblocking(False)
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)
        self.installed = False

    def install(self) -> bool:
        """Route SIGINT/SIGTERM to `on_signal`; False where not possible (not main thread)."""
        try:
            self._previous_fd = signal.set_wakeup_fd(
                self._write.fileno(), warn_on_full_buffer=False
            )
            for sig in HANDLED:
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread
            log.debug("signal handlers not installed: not on the main thread")
            return False
        self.installed = True
        return True

    def uninstall(self) -> None:
        if not self.installed:
            return
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        signal.set_wakeup_fd(self._previous_fd if self._previous_fd is not None else -1)
        self._previous.clear()
        self.installed = False

    def close(self) -> None:
        self.uninstall()
        self._notifier.setEnabled(False)
        for sock in (self._read, self._write):
            sock.close()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        log.info("received %s: quitting", signal.Signals(signum).name)
        QTimer.singleShot(0, lambda: self.on_signal(signum))

    def _drain(self) -> None:
        with contextlib.suppress(OSError):
            while self._read.recv(512):
                pass
