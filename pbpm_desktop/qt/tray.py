"""The tray icon and its menu.

`TrayMenu` builds and updates the QMenu from `AppState` and calls an actions object; it
needs no system tray, so tests exercise every action offscreen. `Tray` puts that menu on a
QSystemTrayIcon whose picture shows the health: serving / paused / Ollama unreachable / stopped.

The Models submenu is built when it opens (`aboutToShow`) and never while it is open: a swap
under the pointer must not turn the "Unload qwen2.5:7b" being clicked into another model's
"Preload". Every entry says what it does to which model.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QCoreApplication, QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from pbpm_desktop.qt.fit import never_fits_now
from pbpm_desktop.qt.formatting import human_bytes
from pbpm_desktop.qt.icons import app_icon, icon, tray_icon
from pbpm_desktop.qt.model_ops import PRELOAD
from pbpm_desktop.qt.notify import ERROR
from pbpm_desktop.qt.state import SERVING, STARTING, STOPPING, AppState

#: the "Pause sharing for…" submenu
PAUSE_MINUTES = (15, 30, 60, 120)


class TrayActions(Protocol):
    def show_dashboard(self) -> None: ...
    def preload(self, model: str) -> None: ...
    def unload(self, model: str) -> None: ...
    def copy_url(self) -> None: ...
    def toggle_gateway(self) -> None: ...
    def pause_sharing(self, minutes: int | None) -> None: ...
    def resume_sharing(self) -> None: ...
    def request_quit(self) -> None: ...


def status_text(state: AppState) -> str:
    if state.gateway == SERVING:
        if state.paused:
            return QCoreApplication.translate("tray", "Sharing paused")
        if state.ollama_up is False:
            return QCoreApplication.translate("tray", "Serving — Ollama unreachable")
        return QCoreApplication.translate("tray", "Serving at {url}").format(
            url=state.lan_url or state.url or "?"
        )
    if state.gateway == STARTING:
        return QCoreApplication.translate("tray", "Starting…")
    if state.gateway == STOPPING:
        return QCoreApplication.translate("tray", "Stopping…")
    return QCoreApplication.translate("tray", "Gateway stopped")


def tooltip_text(state: AppState) -> str:
    """Tray tooltip: state, URL and resident models."""
    lines = [QCoreApplication.translate("tray", "PBPM Desktop"), status_text(state)]
    if state.gateway == SERVING:
        if state.url and state.lan_url:
            lines.append(QCoreApplication.translate("tray", "Local: {url}").format(url=state.url))
        names = state.resident_names()
        lines.append(
            QCoreApplication.translate("tray", "Loaded: {names}").format(names=", ".join(names))
            if names
            else QCoreApplication.translate("tray", "No model loaded")
        )
    return "\n".join(lines)


class TrayMenu(QObject):
    def __init__(self, state: AppState, actions: TrayActions, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.actions = actions
        self.menu = QMenu()
        self.menu.setObjectName("TrayMenu")
        self.status_action = self.menu.addAction("")
        self.status_action.setEnabled(False)
        self.menu.addSeparator()
        self.open_action = self.menu.addAction(app_icon(), self.tr("Open dashboard"))
        self.open_action.triggered.connect(actions.show_dashboard)
        self.models_menu = self.menu.addMenu(icon("nav-models"), self.tr("Models"))
        self.copy_action = self.menu.addAction(self.tr("Copy endpoint URL"))
        self.copy_action.triggered.connect(actions.copy_url)
        self._add_pause_items(actions)
        self.menu.addSeparator()
        self.toggle_action = self.menu.addAction(self.tr("Stop gateway"))
        self.toggle_action.triggered.connect(actions.toggle_gateway)
        self.quit_action = self.menu.addAction(self.tr("Quit"))
        self.quit_action.triggered.connect(actions.request_quit)
        #: model name -> its Preload/Unload action, as of the last time the submenu opened
        self.model_actions: dict[str, QAction] = {}
        self.menu.aboutToShow.connect(self.refresh)
        self.models_menu.aboutToShow.connect(self.build_models)
        state.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        state = self.state
        self.status_action.setText(status_text(state))
        serving = state.gateway == SERVING
        self.toggle_action.setText(self.tr("Stop gateway") if serving else self.tr("Start gateway"))
        self.toggle_action.setEnabled(state.gateway not in (STARTING, STOPPING))
        self.copy_action.setEnabled(serving and state.url is not None)
        self.models_menu.setEnabled(serving)
        self._refresh_pause()

    # -- pause sharing (issue 13) -----------------------------------------------------------

    def _add_pause_items(self, actions: TrayActions) -> None:
        """ "Pause sharing and free the GPU" (or "Resume sharing") and a "for N minutes" menu."""
        self.pause_action = self.menu.addAction(self.tr("Pause sharing and free the GPU"))
        self.pause_action.triggered.connect(self._pause_or_resume)
        self.pause_for_menu = self.menu.addMenu(self.tr("Pause sharing for…"))
        self.pause_for_actions: dict[int, QAction] = {}
        for minutes in PAUSE_MINUTES:
            action = self.pause_for_menu.addAction(self.tr("{n} minutes").format(n=minutes))
            action.triggered.connect(lambda _=False, m=minutes: actions.pause_sharing(m))
            self.pause_for_actions[minutes] = action

    def _pause_or_resume(self) -> None:
        if self.state.paused:
            self.actions.resume_sharing()
        else:
            self.actions.pause_sharing(None)

    def _refresh_pause(self) -> None:
        serving = self.state.gateway == SERVING
        self.pause_action.setText(
            self.tr("Resume sharing")
            if self.state.paused
            else self.tr("Pause sharing and free the GPU")
        )
        self.pause_action.setEnabled(serving)
        self.pause_for_menu.setEnabled(serving and not self.state.paused)

    def build_models(self) -> None:
        """Fill the Models submenu as it opens: one click preloads or unloads each model.

        Connected to `aboutToShow` only, so an open submenu keeps its entries (and what each
        entry's click does) until it closes, whatever swaps happen meanwhile.
        """
        installed = self.state.installed()
        resident = set(self.state.resident_names())
        serving = self.state.gateway == SERVING
        self.models_menu.clear()
        self.model_actions = {}
        if not installed:
            empty = self.models_menu.addAction(self.tr("No models (is Ollama running?)"))
            empty.setEnabled(False)
        for model in installed:
            name = model["name"]
            loaded = name in resident
            always_on = model.get("category") == "always_on"
            pending = self.state.pending.get(name)
            # a cloud model runs on ollama.com: its "size" (0) says nothing here
            size = self.tr("cloud") if model.get("cloud") else human_bytes(model.get("size"))
            too_big = None if loaded or always_on else never_fits_now(name, self.state.vram)
            cloud = bool(model.get("cloud")) and not loaded  # runs on ollama.com: no preload
            if pending:
                text = (
                    self.tr("Loading {name}…")
                    if pending == PRELOAD
                    else self.tr("Unloading {name}…")
                ).format(name=name)
            elif always_on:
                text = self.tr("{name} stays loaded ({size}, always-on)").format(
                    name=name, size=size
                )
            elif cloud:
                text = self.tr("{name} runs on ollama.com (cloud)").format(name=name)
            elif loaded:
                text = self.tr("Unload {name} ({size})").format(name=name, size=size)
            elif too_big:
                text = self.tr("{name} ({size}) can never fit the VRAM budget").format(
                    name=name, size=size
                )
            else:
                text = self.tr("Preload {name} ({size})").format(name=name, size=size)
            action = self.models_menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(loaded)
            action.setEnabled(
                serving and not pending and not always_on and not too_big and not cloud
            )
            if too_big:
                action.setToolTip(too_big)  # the sizes, and what to change in Settings
            action.setData(name)
            if loaded:
                action.triggered.connect(lambda _=False, n=name: self.actions.unload(n))
            else:
                action.triggered.connect(lambda _=False, n=name: self.actions.preload(n))
            self.model_actions[name] = action


class Tray(QObject):
    """QSystemTrayIcon + TrayMenu; only created when the desktop has a system tray."""

    def __init__(self, state: AppState, actions: TrayActions, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.actions = actions
        self.menu = TrayMenu(state, actions, self)
        self.icon = QSystemTrayIcon(tray_icon(state.health), self)
        self.icon.setContextMenu(self.menu.menu)
        self.icon.activated.connect(self._activated)
        state.changed.connect(self.refresh)
        state.vramChanged.connect(self.refresh)
        self._health = ""
        self.refresh()

    def refresh(self, *_args: object) -> None:
        if self.state.health != self._health:
            self._health = self.state.health
            self.icon.setIcon(tray_icon(self._health))
        self.icon.setToolTip(tooltip_text(self.state))

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.actions.show_dashboard()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def notify(self, level: str, text: str) -> None:
        kind = (
            QSystemTrayIcon.MessageIcon.Warning
            if level == ERROR
            else QSystemTrayIcon.MessageIcon.Information
        )
        self.icon.showMessage(self.tr("PBPM Desktop"), text, kind, 6000)
