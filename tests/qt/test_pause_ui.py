"""Pause sharing from the tray (real controller, gateway and simulator), the paused tray
icon, and the Overview's certificate fingerprint and exposure warning."""

from __future__ import annotations

from PySide6.QtGui import QIcon

from pbpm_desktop.core.exposure import ExposureReport
from pbpm_desktop.qt.icons import tray_icon
from pbpm_desktop.qt.pages.overview import OverviewPage
from pbpm_desktop.qt.state import PAUSED
from pbpm_desktop.qt.tray import TrayMenu, status_text

from .conftest import ALWAYS_ON, drive
from .fakes import FakeService, fake_ctx, snapshot
from .test_app import controllers as controllers_fixture
from .test_tray import Actions, serving_state

controllers = controllers_fixture  # the app tests' fixture: real controllers, shut down after


class PauseActions(Actions):
    def pause_sharing(self, minutes: int | None) -> None:
        self.calls.append(("pause", minutes))

    def resume_sharing(self) -> None:
        self.calls.append(("resume",))


def test_tray_pause_items_and_paused_state(qtbot) -> None:
    state, actions = serving_state(), PauseActions()
    menu = TrayMenu(state, actions)
    assert menu.pause_action.text() == "Pause sharing and free the GPU"
    menu.pause_action.trigger()
    menu.pause_for_actions[30].trigger()
    paused = {"paused": True, "free_vram": True, "until": None}
    state.set_vram(snapshot({}, paused=paused))
    assert state.health == PAUSED and status_text(state) == "Sharing paused"
    assert menu.pause_action.text() == "Resume sharing"
    assert not menu.pause_for_menu.isEnabled()
    menu.pause_action.trigger()
    assert actions.calls == [("pause", None), ("pause", 30), ("resume",)]
    icon = tray_icon(PAUSED)
    assert isinstance(icon, QIcon) and not icon.pixmap(22, 22).isNull()
    state.set_gateway("stopped", [])
    assert not menu.pause_action.isEnabled()


def test_pause_from_the_tray_frees_the_gpu_and_resume_reloads(
    qtbot, controllers, gateway_settings
) -> None:
    controller = controllers(gateway_settings, tray_available=True)
    drive(qtbot, controller.start(), timeout=15)
    tray, state = controller.tray, controller.state
    assert tray is not None
    qtbot.waitUntil(lambda: ALWAYS_ON[0] in state.resident_names(), timeout=10000)
    tray.menu.pause_action.trigger()
    qtbot.waitUntil(lambda: state.paused is not None, timeout=10000)
    qtbot.waitUntil(lambda: state.resident_names() == [], timeout=10000)  # always-on too
    assert tray._health == PAUSED
    overview = next(p for p in controller.window.pages if isinstance(p, OverviewPage))
    assert overview.pill.text() == "Sharing paused"
    assert tray.menu.pause_action.text() == "Resume sharing"
    tray.menu.pause_action.trigger()
    qtbot.waitUntil(lambda: state.paused is None, timeout=10000)
    qtbot.waitUntil(lambda: ALWAYS_ON[0] in state.resident_names(), timeout=10000)
    assert tray._health == "serving"
    tray.menu.pause_for_actions[15].trigger()
    qtbot.waitUntil(lambda: state.paused is not None, timeout=10000)
    assert state.paused["until"] is not None


def test_overview_shows_fingerprint_and_exposure_warning(qtbot, qloop) -> None:
    service = FakeService()
    service.tls_fingerprint = "AB:CD:" + "00:" * 29 + "EF"
    service.exposure = ExposureReport("http://127.0.0.1:11434", 11434, ["192.168.1.5"])
    ctx = fake_ctx(service)
    page = OverviewPage(ctx)
    qtbot.addWidget(page)
    page.activate()
    qtbot.waitUntil(lambda: "SHA-256" in page.tls_label.text(), timeout=3000)
    assert service.tls_fingerprint in page.tls_label.text()
    assert page.exposure_warning.isHidden()
    service.exposure.exposed = ["192.168.1.5"]
    page.refresh()
    qtbot.waitUntil(lambda: not page.exposure_warning.isHidden(), timeout=3000)
    assert "192.168.1.5:11434" in page.exposure_warning.text()
    assert "OLLAMA_HOST" in page.exposure_warning.text()
    page.deactivate()
