"""Entry point of the desktop app: QApplication + qasync loop + controller (DESIGN.md §6).

`launch_gui(settings, demo=...)` is what `pbpm-desktop` / `pbpm-desktop demo` call; it returns
the process exit code once the gateway has stopped and the audit is flushed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

import qasync
from PySide6.QtCore import QLocale
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from pbpm_desktop.config import Settings
from pbpm_desktop.qt import i18n, pyside_fix  # noqa: F401  (first)
from pbpm_desktop.qt.controller import AppController
from pbpm_desktop.qt.errors import describe
from pbpm_desktop.qt.icons import app_icon
from pbpm_desktop.qt.signals import SignalWaker
from pbpm_desktop.qt.style import apply_style

log = logging.getLogger(__name__)


def make_app(argv: Sequence[str] | None = None, language: str = "") -> QApplication:
    """The QApplication with our name, icon, style and translation (reused if one exists).

    `language`: Settings.language ("" follows the system locale, see qt/i18n.py)."""
    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv[:1]))
    assert isinstance(app, QApplication)
    app.setApplicationName("PBPM Desktop")
    app.setOrganizationName("pbpm-desktop")
    app.setDesktopFileName("pbpm-desktop")
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)  # closing the window keeps the tray app running
    apply_style(app)
    install_translator(app, language)
    return app


def install_translator(app: QApplication, language: str = "") -> QLocale:
    """Load resources/i18n/pbpm_desktop_<locale>.qm (e.g. pt_BR) and set the UI locale."""
    return i18n.install(app, language)


def launch_gui(settings: Settings, demo: bool = False) -> int:
    app = make_app(language=settings.language)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    controller = AppController(settings, demo=demo)
    waker = SignalWaker(lambda _signum: controller.request_quit())
    waker.install()
    controller.finished.connect(lambda _code: loop.stop())
    app.aboutToQuit.connect(controller.shutdown_blocking)

    async def start() -> None:
        try:
            await controller.start()
        except Exception as exc:  # nothing to show yet: say it in words, then exit
            log.exception("PBPM Desktop could not start")
            message = describe(exc)
            print(f"error: {message}", file=sys.stderr)
            if QGuiApplication.platformName() != "offscreen":  # nobody could close it there
                QMessageBox.critical(None, "PBPM Desktop", message)
            controller.exit_code = 1
            controller.shutdown_blocking()

    loop.call_soon(lambda: controller.tasks.spawn(start(), ""))
    try:
        loop.run_forever()
    finally:
        waker.close()
        app.aboutToQuit.disconnect(controller.shutdown_blocking)
        controller.shutdown_blocking()
        _drain(loop)
        loop.close()
        asyncio.set_event_loop(None)
    return controller.exit_code


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Let cancelled UI tasks finish so none is destroyed while pending."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
