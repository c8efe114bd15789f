"""User-facing messages: pages report, the main window (banner) and tray (balloon) show.

Pages should not know how a message is displayed; they call `notifier.error(...)` and the
window decides (an inline banner, never a modal traceback dialog).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

INFO, SUCCESS, ERROR = "info", "success", "error"


class Notifier(QObject):
    #: (level, text)
    message = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.history: list[tuple[str, str]] = []

    def _send(self, level: str, text: str) -> None:
        self.history = [*self.history[-49:], (level, text)]
        self.message.emit(level, text)

    def info(self, text: str) -> None:
        self._send(INFO, text)

    def success(self, text: str) -> None:
        self._send(SUCCESS, text)

    def error(self, text: str) -> None:
        self._send(ERROR, text)
