"""The app's life cycle: gateway thread, demo backend, bridge, window and tray; start and quit.

Order matters and lives here only. Start: loop thread, (demo simulator), service, bridge
subscribed, window/tray shown, gateway started, (demo traffic attached). Quit (the Quit action,
closing without a tray once the user confirms, SIGINT/SIGTERM): stop the gateway — which
drains HTTP and flushes the audit — then the demo, detach the bridge, join the loop thread,
and only then let Qt exit.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QSystemTrayIcon

from pbpm_desktop.core import dashboard
from pbpm_desktop.core.announce import announce
from pbpm_desktop.core.contracts import GatewayStateEvent
from pbpm_desktop.core.loop_thread import LoopThread
from pbpm_desktop.core.settings import Settings
from pbpm_desktop.qt.bridge import Bridge
from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.errors import describe
from pbpm_desktop.qt.main_window import MainWindow
from pbpm_desktop.qt.model_ops import PRELOAD, UNLOAD, refresh_vram, start_model_op
from pbpm_desktop.qt.notify import Notifier
from pbpm_desktop.qt.pages import all_pages
from pbpm_desktop.qt.state import SERVING, STARTING, STOPPED, STOPPING, AppState
from pbpm_desktop.qt.tasks import TaskRunner
from pbpm_desktop.qt.tray import Tray

if TYPE_CHECKING:
    from pbpm_desktop.core.app import GatewayService
    from pbpm_desktop.demo import DemoBackend

log = logging.getLogger(__name__)

#: how often the VRAM snapshot is re-read (events cover changes; this covers NVML and expiry)
POLL_MS = 2000
#: most seconds a quit waits for the gateway to finish its requests
STOP_TIMEOUT_S = 60.0


class AppController(QObject):
    #: emitted once everything is stopped; carries the exit code
    finished = Signal(int)

    def __init__(
        self,
        settings: Settings,
        *,
        demo: bool = False,
        tray_available: bool | None = None,
        config_file: Path | None = None,
        autostart_file: Path | None = None,
        loop_thread: LoopThread | None = None,
        demo_backend: DemoBackend | None = None,
        poll_ms: int = POLL_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.demo = demo
        self.tray_available = (
            QSystemTrayIcon.isSystemTrayAvailable() if tray_available is None else tray_available
        )
        self.config_file = config_file
        self.autostart_file = autostart_file
        self.loop_thread = loop_thread or LoopThread()
        self.demo_backend = demo_backend
        self.state = AppState(self)
        self.tasks = TaskRunner(self)
        self.notifier = Notifier(self)
        self.tasks.failed.connect(self._task_failed)
        self.service: GatewayService | None = None
        self.bridge: Bridge | None = None
        self.ctx: UiContext | None = None
        self.window: MainWindow | None = None
        self.tray: Tray | None = None
        self.exit_code = 0
        self.quitting = False
        self.done = False
        self._polling = False
        self._told_about_tray = False
        self.poll_timer = QTimer(self, interval=poll_ms)
        self.poll_timer.timeout.connect(self._poll)

    # -- start ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Build everything and start the gateway; a gateway error leaves the UI up."""
        from pbpm_desktop.core.app import GatewayService

        self.loop_thread.start()
        # the bridge is the only crossing to the gateway thread, the demo's start included:
        # it exists before the service, which needs the settings the demo backend returns
        self.bridge = Bridge(self.loop_thread, parent=self)
        if self.demo:
            if self.demo_backend is None:
                from pbpm_desktop.demo import DemoBackend

                self.demo_backend = DemoBackend(self.settings)
            self.settings = await self.bridge.call(self.demo_backend.start)
        self.service = GatewayService(self.settings)
        self.bridge.bind(self.service)
        self.bridge.vramChanged.connect(self.state.set_vram)
        self.bridge.ollamaStateChanged.connect(self.state.set_ollama)
        self.bridge.gatewayStateChanged.connect(self._gateway_event)
        self.bridge.attach()
        self.ctx = UiContext(
            bridge=self.bridge,
            state=self.state,
            tasks=self.tasks,
            notifier=self.notifier,
            demo=self.demo,
            config_file=self.config_file,
            autostart_file=self.autostart_file,
            toggle_gateway=self.toggle_gateway,
            settings_applied=self._settings_applied,
        )
        self.window = MainWindow(self.ctx, all_pages(self.ctx), close_to_tray=self.tray_available)
        self.window.quitRequested.connect(self.request_quit)
        self.window.hiddenToTray.connect(self._hidden_to_tray)
        self.window.keptServing.connect(self._kept_serving)
        if self.tray_available:
            self.tray = Tray(self.state, self, self)
            self.notifier.message.connect(self._tray_message)
            self.tray.show()
        else:
            log.info("no system tray: closing the window asks before it stops the gateway")
        if not (self.tray is not None and self.settings.start_minimized):
            self.window.show()
        if await self.start_gateway() and self.demo_backend is not None:
            try:
                await self.bridge.call(self.demo_backend.attach, self.service)
            except Exception as exc:
                log.exception("demo traffic could not start")
                self.notifier.error(
                    self.tr("Demo traffic did not start: {e}").format(e=describe(exc))
                )
        self.poll_timer.start()

    # -- gateway ----------------------------------------------------------------------------

    async def start_gateway(self) -> bool:
        assert self.bridge is not None and self.ctx is not None
        self.state.set_gateway(STARTING)
        try:
            await self.bridge.call(self.service.start)
        except Exception as exc:
            message = describe(exc)
            log.error("gateway did not start: %s", message, exc_info=exc)
            try:  # undo a half start (database open, VRAM tasks) so a retry starts clean
                await self.bridge.call(self.service.stop)
            except Exception:
                log.exception("cleanup after a failed start")
            self.state.set_gateway(STOPPED, [], error=message)
            self.notifier.error(self.tr("The gateway did not start: {e}").format(e=message))
            return False
        await self._update_facts()
        try:  # the same lines `serve` prints: where it listens, where a new master key went
            await self.bridge.call(announce, self.service)
        except Exception:
            log.debug("could not print the listening URL", exc_info=True)
        await refresh_vram(self.ctx)
        return True

    async def stop_gateway(self) -> None:
        assert self.bridge is not None
        self.state.set_gateway(STOPPING)
        try:
            await self.bridge.call(self.service.stop)
        finally:
            self.state.set_gateway(STOPPED, [])

    def toggle_gateway(self) -> None:
        if self.state.gateway == SERVING:
            self.tasks.spawn(self.stop_gateway(), self.tr("Stopping the gateway"))
        elif self.state.gateway == STOPPED:
            self.tasks.spawn(self.start_gateway(), self.tr("Starting the gateway"))

    async def _update_facts(self) -> None:
        assert self.bridge is not None
        facts = await self.bridge.call(dashboard.gateway_facts, self.service)
        if not self.quitting:
            self.state.set_gateway(facts["state"], facts["urls"])

    def _gateway_event(self, payload: GatewayStateEvent | None) -> None:
        """GATEWAY_STATE from the core (also during a Settings restart)."""
        if self.quitting or self.state.gateway in (STARTING, STOPPING):
            return
        if (payload or {}).get("state") == SERVING:
            self.tasks.spawn(self._update_facts(), self.tr("Reading the gateway address"))
        else:
            self.state.set_gateway(STOPPED, [])

    def _poll(self) -> None:
        if self.state.gateway == SERVING and not self._polling and self.ctx is not None:
            self._polling = True
            self.tasks.spawn(self._poll_once(), "")

    async def _poll_once(self) -> None:
        assert self.ctx is not None
        try:
            await refresh_vram(self.ctx)
        finally:
            self._polling = False

    def _settings_applied(self, settings: Settings) -> None:
        self.settings = settings
        self.tasks.spawn(self._update_facts(), self.tr("Reading the gateway address"))

    # -- tray actions -----------------------------------------------------------------------

    def show_dashboard(self) -> None:
        if self.window is not None:
            self.window.bring_to_front()

    def preload(self, model: str) -> None:
        assert self.ctx is not None
        start_model_op(self.ctx, PRELOAD, model)

    def unload(self, model: str) -> None:
        assert self.ctx is not None
        start_model_op(self.ctx, UNLOAD, model)

    def pause_sharing(self, minutes: int | None) -> None:
        """Tray: stop sharing and unload every model (for `minutes`, or until resumed)."""
        self.tasks.spawn(self._pause_sharing(minutes), self.tr("Pausing sharing"))

    def resume_sharing(self) -> None:
        self.tasks.spawn(self._resume_sharing(), self.tr("Resuming sharing"))

    async def _pause_sharing(self, minutes: int | None) -> None:
        assert self.bridge is not None
        await self.bridge.call(self.service.pause, True, minutes)
        self.notifier.info(
            self.tr("Sharing paused: the GPU is freed as soon as running requests end.")
        )
        if self.ctx is not None:
            await refresh_vram(self.ctx)

    async def _resume_sharing(self) -> None:
        assert self.bridge is not None
        await self.bridge.call(self.service.resume)
        self.notifier.info(self.tr("Sharing resumed; the always-on models are loaded again."))
        if self.ctx is not None:
            await refresh_vram(self.ctx)

    def copy_url(self) -> None:
        url = self.state.lan_url or self.state.url
        if url:
            QGuiApplication.clipboard().setText(url)
            self.notifier.info(self.tr("Copied {url} to the clipboard.").format(url=url))

    # -- messages ---------------------------------------------------------------------------

    def _task_failed(self, what: str, message: str) -> None:
        if what:
            self.notifier.error(
                self.tr("{what} failed: {message}").format(what=what, message=message)
            )
        else:
            log.debug("background task failed: %s", message)

    def _tray_message(self, level: str, text: str) -> None:
        """Balloons only while the window is hidden (otherwise the banner shows it)."""
        hidden = self.window is None or not self.window.isVisible()
        if self.tray is not None and hidden:
            self.tray.notify(level, text)

    def _hidden_to_tray(self) -> None:
        if self.tray is not None and not self._told_about_tray:
            self._told_about_tray = True
            self.tray.notify(
                "info",
                self.tr("PBPM Desktop keeps serving in the tray. Use Quit to stop the gateway."),
            )

    def _kept_serving(self) -> None:
        """No tray, the user closed the window and chose to keep serving: say so on the console."""
        log.info(
            "window minimised; the gateway keeps serving at %s (close the window and choose "
            "Quit to stop it)",
            self.state.lan_url or self.state.url or "its address",
        )

    # -- quit -------------------------------------------------------------------------------

    def request_quit(self, *_args: object) -> None:
        """Quit cleanly (idempotent): stop the gateway, flush the audit, then exit."""
        if self.quitting:
            return
        self.quitting = True
        self.tasks.spawn(self.shutdown(), self.tr("Quitting"))

    async def shutdown(self) -> None:
        self.quitting = True
        self.poll_timer.stop()
        self.tasks.cancel_all()  # in-flight UI calls (a refresh, the demo seeding) go first
        self.state.set_gateway(STOPPING)
        if self.bridge is not None:
            if self.service is not None:  # None: the demo backend failed before it was built
                try:
                    await asyncio.wait_for(self.bridge.call(self.service.stop), STOP_TIMEOUT_S)
                except Exception:
                    log.exception("the gateway did not stop cleanly")
                    self.exit_code = 1
            if self.demo_backend is not None:
                try:
                    await self.bridge.call(self.demo_backend.stop)
                except Exception:
                    log.exception("the demo backend did not stop cleanly")
        self._finish()

    def shutdown_blocking(self) -> None:
        """Last resort when Qt is exiting without `shutdown()` (e.g. the session ends)."""
        if self.done:
            return
        self.quitting = True
        self.poll_timer.stop()
        if self.bridge is not None and self.loop_thread.running:
            try:
                if self.service is not None:
                    self.bridge.call_blocking(self.service.stop, timeout=STOP_TIMEOUT_S)
                if self.demo_backend is not None:
                    self.bridge.call_blocking(self.demo_backend.stop, timeout=10)
            except Exception:
                log.exception("the gateway did not stop cleanly")
                self.exit_code = 1
        self._finish()

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        if self.window is not None:  # first: hidden pages stop refreshing
            self.window.allow_close()
            self.window.close()
        if self.bridge is not None:
            self.bridge.detach()
        self.loop_thread.stop()
        self.tasks.cancel_all()
        self.state.set_gateway(STOPPED, [])
        if self.tray is not None:
            self.tray.hide()
        self.finished.emit(self.exit_code)
