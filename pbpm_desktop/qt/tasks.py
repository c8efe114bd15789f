"""Fire-and-forget coroutines on the Qt thread's qasync loop, with errors turned into messages.

Button handlers start coroutines (`tasks.spawn(self._preload(name))`) instead of awaiting in
a slot, so the UI stays responsive. The runner keeps a strong reference to each task (asyncio
only keeps weak ones), logs unexpected exceptions with their traceback and reports a readable
sentence through `failed`, never a traceback dialog.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal

from pbpm_desktop.qt.errors import describe

log = logging.getLogger(__name__)


def qt_loop() -> asyncio.AbstractEventLoop:
    """The qasync loop: the running one inside Qt callbacks, else the thread's set loop."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


class TaskRunner(QObject):
    #: (what was being done, readable error message)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str = "") -> asyncio.Task[Any]:
        task = qt_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, what))
        return task

    def _done(self, task: asyncio.Task[Any], what: str) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("%s failed", what or "UI task", exc_info=exc)
            self.failed.emit(what, describe(exc))

    def cancel_all(self) -> None:
        """Cancel every task but the caller's own (a shutdown task cancels the rest)."""
        try:
            current = asyncio.current_task()
        except RuntimeError:
            current = None
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
