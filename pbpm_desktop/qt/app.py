"""Entry point of the desktop app: QApplication + qasync loop + controller (DESIGN.md §6).

`launch_gui(settings, demo=...)` is what `pbpm-desktop` / `pbpm-desktop demo` call; it returns
the process exit code once the gateway has stopped and the audit is flushed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import qasync
from PySide6.QtCore import QCoreApplication, QEvent, QLocale
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from pbpm_desktop.core.settings import Settings
from pbpm_desktop.qt import i18n
from pbpm_desktop.qt.binding_check import binding_problem
from pbpm_desktop.qt.controller import AppController
from pbpm_desktop.qt.errors import describe
from pbpm_desktop.qt.gc_guard import GuiThreadCollector
from pbpm_desktop.qt.icons import app_icon
from pbpm_desktop.qt.signals import SignalWaker
from pbpm_desktop.qt.single_instance import SingleInstance
from pbpm_desktop.qt.state import SERVING
from pbpm_desktop.qt.style import apply_style

log = logging.getLogger(__name__)

#: Set only by packaging/test_bundle.sh (and its test): quit on our own once the window and the
#: gateway are up, so CI can prove a built bundle's GUI starts and stops cleanly with nobody
#: there to press Quit. The exit code says whether the gateway started.
QUIT_AFTER_START_ENV = "PBPM_QUIT_AFTER_START"


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
    problem = None if os.environ.get("PBPM_ALLOW_LEAKY_QT") else binding_problem()
    if problem:  # it would abort within minutes, taking every client's stream with it
        print(f"error: {problem}", file=sys.stderr)
        return 1
    app = make_app(language=settings.language)
    collector = GuiThreadCollector(app)  # Qt objects in cycles are freed on this thread only
    app.aboutToQuit.connect(collector.stop)
    instance = SingleInstance(_own_data_dir(settings, demo))
    if not instance.acquire():
        return hand_over(instance)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    controller = AppController(settings, demo=demo)
    instance.on_raise(controller.show_dashboard)
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
            return
        if os.environ.get(QUIT_AFTER_START_ENV):
            _quit_after_start(controller)

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
        instance.release()
        _delete_here(controller)
    return controller.exit_code


def _delete_here(controller: AppController) -> None:
    """Free the window and the controller now, on the GUI thread.

    Left to the cyclic GC they may be freed on whichever thread allocates when a collection is
    due (a gateway loop thread, say): Qt cannot stop their timers from there, and the next
    processEvents() after such a timer is due dereferences a freed object (a segfault, seen
    in the test suite after `launch_gui` had returned; tests/qt/test_app.py does the same).
    """
    if controller.window is not None:
        controller.window.deleteLater()
    controller.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def _quit_after_start(controller: AppController) -> None:
    """The self-check's ending: say what started, then quit the normal way (flushing the audit)."""
    served = controller.state.gateway == SERVING
    urls = " ".join(controller.state.urls) if served else "-"
    print(f"{QUIT_AFTER_START_ENV}: gui started, gateway {controller.state.gateway} on {urls}")
    if not served:
        controller.exit_code = 1
    controller.request_quit()


def _own_data_dir(settings: Settings, demo: bool) -> Path:
    """The data directory this launch will use (the demo has its own)."""
    if demo:
        from pbpm_desktop.demo import demo_settings

        return demo_settings(settings).data_dir
    return settings.data_dir


def hand_over(instance: SingleInstance) -> int:
    """A second launch: raise the running app's window and exit 0, or say why not."""
    where = instance.data_dir
    if instance.ask_holder_to_raise():
        print(f"PBPM Desktop is already running for {where}: brought its window to the front.")
        return 0
    pid = instance.holder_pid()
    print(
        f"error: PBPM Desktop is already running for {where} (process {pid or '?'}) but did not "
        "answer; it may still be starting. Try again in a moment, or stop that process.",
        file=sys.stderr,
    )
    return 1


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Let cancelled UI tasks finish so none is destroyed while pending."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
