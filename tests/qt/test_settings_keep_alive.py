"""Settings page: the keep-alive field takes what Ollama accepts (issue 10, item 2)."""

from __future__ import annotations

from PySide6.QtGui import QValidator

from pbpm_desktop.qt.pages.settings import SettingsPage
from tests.qt.conftest import Gateway


def test_keep_alive_field_accepts_go_durations_and_whole_seconds(qtbot, ctx, gateway: Gateway):
    page = SettingsPage(ctx, pinned={})
    qtbot.addWidget(page)
    validator = page.form.keep_alive.validator()
    for text in ("30m", "1h30m", "1.5h", "90s", "1800", "0", "-1", "-1m"):
        assert validator.validate(text, len(text))[0] == QValidator.State.Acceptable, text
    for text in ("30x", "m", "1 h", "soon"):
        assert validator.validate(text, len(text))[0] != QValidator.State.Acceptable, text


def test_keep_alive_in_seconds_is_applied_and_sent_as_a_number(qtbot, ctx, gateway: Gateway):
    page = SettingsPage(ctx, pinned={})
    qtbot.addWidget(page)
    page.activate()
    qtbot.waitUntil(lambda: page.current is not None, timeout=3000)
    page.form.keep_alive.setText("1.5")  # no unit: Ollama would refuse it
    page.apply()
    qtbot.waitUntil(lambda: bool(ctx.notifier.history) and not page.applying, timeout=10000)
    assert ctx.notifier.history[-1][0] == "error" and "1800" in ctx.notifier.history[-1][1]
    page.form.keep_alive.setText("1800")
    page.apply()
    qtbot.waitUntil(lambda: ctx.notifier.history[-1][0] == "success", timeout=10000)
    assert gateway.service.settings.keep_alive_value == 1800
    assert gateway.service.state == "serving"
