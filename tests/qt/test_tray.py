"""Tray menu actions and state, without a system tray (TrayMenu needs none)."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QPoint
from PySide6.QtGui import QIcon

from pbpm_desktop.qt.icons import tray_icon
from pbpm_desktop.qt.state import AppState
from pbpm_desktop.qt.tray import Tray, TrayMenu, tooltip_text

from .fakes import GIB, snapshot


class Actions:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def show_dashboard(self) -> None:
        self.calls.append(("show",))

    def preload(self, model: str) -> None:
        self.calls.append(("preload", model))

    def unload(self, model: str) -> None:
        self.calls.append(("unload", model))

    def copy_url(self) -> None:
        self.calls.append(("copy",))

    def toggle_gateway(self) -> None:
        self.calls.append(("toggle",))

    def request_quit(self) -> None:
        self.calls.append(("quit",))


def open_models(tray: TrayMenu) -> None:
    """What opening the Models submenu does (without a pointer to hover it)."""
    tray.models_menu.aboutToShow.emit()


def serving_state() -> AppState:
    state = AppState()
    state.set_gateway("serving", ["http://127.0.0.1:8000", "http://192.168.1.5:8000"])
    state.set_vram(snapshot({"llama3.2:3b": 2 * GIB, "qwen2.5:7b": 5 * GIB}))
    return state


def test_menu_actions_call_the_controller(qtbot):
    state, actions = serving_state(), Actions()
    tray = TrayMenu(state, actions)
    open_models(tray)
    tray.open_action.trigger()
    tray.copy_action.trigger()
    tray.toggle_action.trigger()
    tray.model_actions["qwen2.5-coder:32b"].trigger()
    tray.model_actions["qwen2.5:7b"].trigger()
    tray.quit_action.trigger()
    assert actions.calls == [
        ("show",),
        ("copy",),
        ("toggle",),
        ("preload", "qwen2.5-coder:32b"),
        ("unload", "qwen2.5:7b"),
        ("quit",),
    ]


def test_models_submenu_reflects_state(qtbot):
    state = serving_state()
    tray = TrayMenu(state, Actions())
    open_models(tray)
    texts = {name: a.text() for name, a in tray.model_actions.items()}
    assert texts["qwen2.5:7b"].startswith("Unload qwen2.5:7b")
    assert texts["qwen2.5-coder:32b"].startswith("Preload qwen2.5-coder:32b")
    assert texts["llama3.2:3b"].startswith("llama3.2:3b stays loaded")
    assert "always-on" in texts["llama3.2:3b"]
    assert not tray.model_actions["llama3.2:3b"].isEnabled()  # always-on: no unload
    assert tray.model_actions["qwen2.5:7b"].isChecked()
    state.set_pending("qwen2.5-coder:32b", "preload")
    open_models(tray)
    action = tray.model_actions["qwen2.5-coder:32b"]
    assert action.text() == "Loading qwen2.5-coder:32b…" and not action.isEnabled()


def test_models_submenu_is_built_when_it_opens_and_never_while_open(qtbot):
    """A swap while the submenu is open leaves its entries (and what they do) alone."""
    state, actions = serving_state(), Actions()
    tray = TrayMenu(state, actions)
    assert tray.models_menu.actions() == []  # nothing built before it is opened
    tray.models_menu.popup(QPoint(0, 0))  # really opened: Qt emits aboutToShow
    qtbot.waitUntil(tray.models_menu.isVisible)
    entries = tray.models_menu.actions()
    texts = [a.text() for a in entries]
    assert any(t.startswith("Unload qwen2.5:7b") for t in texts)
    # a swap happens under the pointer: qwen2.5:7b goes, qwen2.5-coder:32b comes
    state.set_vram(snapshot({"llama3.2:3b": 2 * GIB, "qwen2.5-coder:32b": 19 * GIB}))
    state.set_pending("qwen2.5:7b", "unload")
    assert tray.models_menu.actions() == entries
    assert [a.text() for a in entries] == texts
    unload = next(a for a in entries if a.text().startswith("Unload qwen2.5:7b"))
    unload.trigger()
    assert actions.calls == [("unload", "qwen2.5:7b")]  # what the entry said, to that model
    tray.models_menu.hide()
    tray.models_menu.popup(QPoint(0, 0))  # opened again: the new state
    qtbot.waitUntil(tray.models_menu.isVisible)
    texts = [a.text() for a in tray.models_menu.actions()]
    assert any(t.startswith("Unload qwen2.5-coder:32b") for t in texts)
    assert "Unloading qwen2.5:7b…" in texts
    tray.models_menu.hide()
    tray.menu.deleteLater()  # on this thread, with its popup timers (see test_app.controllers)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def test_menu_follows_gateway_state(qtbot):
    state = serving_state()
    tray = TrayMenu(state, Actions())
    assert tray.toggle_action.text() == "Stop gateway"
    assert "192.168.1.5" in tray.status_action.text()
    state.set_gateway("stopped", [])
    assert tray.toggle_action.text() == "Start gateway"
    assert not tray.copy_action.isEnabled() and not tray.models_menu.isEnabled()
    state.set_gateway("stopping")
    assert not tray.toggle_action.isEnabled()


def test_tray_icon_and_tooltip_show_health(qtbot):
    state = serving_state()
    tray = Tray(state, Actions())
    assert "Loaded: llama3.2:3b, qwen2.5:7b" in tray.icon.toolTip()
    assert "http://192.168.1.5:8000" in tooltip_text(state)
    assert tray._health == "serving"
    state.set_ollama({"up": False, "url": "http://x"})
    assert tray._health == "degraded" and "Ollama unreachable" in tray.icon.toolTip()
    state.set_gateway("stopped", [])
    assert tray._health == "stopped" and "stopped" in tray.icon.toolTip()
    for health in ("serving", "degraded", "stopped"):
        icon = tray_icon(health)
        assert isinstance(icon, QIcon) and not icon.isNull()
        assert not icon.pixmap(22, 22).isNull()


def test_a_model_that_can_never_fit_is_not_offered_for_preload(qtbot):
    state, actions = AppState(), Actions()
    state.set_gateway("serving", ["http://127.0.0.1:8000"])
    # a 12 GB budget: the 19 GB model can never load next to the 2 GB always-on one
    state.set_vram(snapshot({"llama3.2:3b": 2 * GIB}, budget_limit_bytes=12 * GIB))
    tray = TrayMenu(state, actions)
    open_models(tray)
    big = tray.model_actions["qwen2.5-coder:32b"]
    assert "can never fit" in big.text() and not big.isEnabled()
    assert "19" in big.toolTip()  # the sizes say why
    assert tray.model_actions["qwen2.5:7b"].isEnabled()  # 5 GB fits
    big.trigger()
    assert actions.calls == []


def test_a_cloud_model_says_cloud_not_zero_bytes(qtbot):
    state = serving_state()
    snap = snapshot({"llama3.2:3b": 2 * GIB})
    snap.installed[2].update(cloud=True, size=0)
    state.set_vram(snap)
    tray = TrayMenu(state, Actions())
    open_models(tray)
    action = tray.model_actions["qwen2.5-coder:32b"]
    # nothing to preload: it runs on ollama.com (the gateway would answer 400)
    assert action.text() == "qwen2.5-coder:32b runs on ollama.com (cloud)"
    assert not action.isEnabled()
