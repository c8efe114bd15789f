"""Page behaviour with a fake bridge: display, errors in words, settings, CSV export."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from pbpm_desktop.core.settings import read_toml
from pbpm_desktop.qt.main_window import MainWindow
from pbpm_desktop.qt.pages import all_pages
from pbpm_desktop.qt.pages.models import ModelsPage
from pbpm_desktop.qt.pages.overview import OverviewPage
from pbpm_desktop.qt.pages.requests import RequestsModel
from pbpm_desktop.qt.pages.settings import SettingsPage
from pbpm_desktop.qt.pages.usage import UsagePage

from .fakes import FakeService, fake_ctx


def test_overview_shows_urls_status_and_counts(qtbot, qloop):
    ctx = fake_ctx()
    page = OverviewPage(ctx)
    qtbot.addWidget(page)
    page.activate()
    qtbot.waitUntil(lambda: page.requests_card.value.text() == "12", timeout=3000)
    assert page.tokens_card.value.text() == "3.46k"
    assert page.local_row.url.text() == "http://127.0.0.1:8123"
    assert page.pill.text() == "Serving"
    assert "file /tmp/master.key" in page.master_text.text()
    ctx.state.set_ollama({"up": False, "version": None, "url": "http://sim:11434"})
    assert page.pill.text() == "Ollama unreachable"
    ctx.state.set_gateway("stopped", [])
    assert page.pill.text() == "Stopped" and page.toggle_button.text() == "Start gateway"
    page.deactivate()


def test_window_pages_and_readable_errors(qtbot, qloop):
    service = FakeService()
    service.fail["preload"] = RuntimeError("model 'x' needs 40 GB but VRAM_LIMIT_GB=24")
    ctx = fake_ctx(service)
    window = MainWindow(ctx, all_pages(ctx), close_to_tray=False)
    qtbot.addWidget(window)
    window.show()
    assert [p.title for p in window.pages] == [
        "Overview",
        "Models & VRAM",
        "Keys",
        "Usage",
        "Requests",
        "Settings",
    ]
    for page in window.pages:
        window.show_page(type(page))
        assert window.current_page is page and page.active
    models = window.show_page(ModelsPage)
    assert models.table.rowCount() == 3
    models.cells["qwen2.5-coder:32b"].preload.click()
    qtbot.waitUntil(lambda: window.banner.is_error, timeout=3000)
    assert window.banner.text.startswith("Could not load qwen2.5-coder:32b: model 'x' needs")
    assert "Traceback" not in window.banner.text
    assert "qwen2.5-coder:32b" not in ctx.state.pending


def test_models_page_preload_shows_progress_then_success(qtbot, qloop):
    ctx = fake_ctx()
    page = ModelsPage(ctx)
    qtbot.addWidget(page)
    page.show()
    assert not page.cells["llama3.2:3b"].unload.isEnabled()  # always-on
    ctx.state.set_pending("qwen2.5:7b", "preload")
    assert page.table.item(1, 3).text() == "Loading…"
    assert page.cells["qwen2.5:7b"].busy.isVisible()
    ctx.state.set_pending("qwen2.5:7b", None)
    page.start_op("preload", "qwen2.5:7b")
    qtbot.waitUntil(lambda: bool(ctx.notifier.history), timeout=3000)
    assert ctx.notifier.history[-1] == ("success", "qwen2.5:7b is loaded (5 ms).")
    assert ("preload", ("qwen2.5:7b",)) in ctx.bridge.service.calls


def test_requests_model_is_bounded_newest_first(qtbot):
    model = RequestsModel(max_rows=5)
    model.replace([{"model": "old", "created_at": "2026-01-01T00:00:00+00:00"}])
    model.prepend([{"model": f"m{i}"} for i in range(7)])
    assert model.rowCount() == 5
    names = [model.data(model.index(r, 3)) for r in range(5)]
    assert names == ["m6", "m5", "m4", "m3", "m2"]
    assert model.data(model.index(0, 9), Qt.ItemDataRole.ForegroundRole) is not None


def test_settings_page_apply_without_restart_and_pinned_fields(qtbot, qloop, tmp_path: Path):
    applied = []
    ctx = fake_ctx(
        config_file=tmp_path / "config.toml",
        autostart_file=tmp_path / "auto" / "pbpm.desktop",
        settings_applied=applied.append,
    )
    page = SettingsPage(ctx, pinned={"ollama_url": "OLLAMA_URL"})
    qtbot.addWidget(page)
    page.activate()
    qtbot.waitUntil(lambda: page.current is not None, timeout=3000)
    assert not page.form.ollama_url.isEnabled() and "OLLAMA_URL" in page.form.ollama_url.toolTip()
    assert page.form.port.value() == 8123
    page.form.start_minimized.setChecked(True)  # desktop-only: no gateway restart
    assert page.apply_button.isEnabled()
    page.apply()
    qtbot.waitUntil(lambda: bool(applied), timeout=3000)
    assert applied[0].start_minimized is True
    assert not any(name == "restart" for name, _ in ctx.bridge.service.calls)
    assert read_toml(tmp_path / "config.toml")["start_minimized"] is True
    page.form.vram_limit.setValue(12.5)  # a gateway setting: restart
    page.apply()
    qtbot.waitUntil(lambda: len(applied) == 2, timeout=3000)
    assert ctx.bridge.service.settings.vram_limit_gb == 12.5
    assert read_toml(tmp_path / "config.toml")["vram_limit_gb"] == 12.5


def test_usage_export_uses_the_chosen_path(qtbot, qloop, tmp_path: Path):
    ctx = fake_ctx()
    target = tmp_path / "out.csv"
    page = UsagePage(ctx, save_as=lambda _parent, suggested: target)
    qtbot.addWidget(page)
    page.report = {"totals": [{"owner": "a", "model": "m", "total_tokens": 9}]}
    page.export_csv()
    assert "a,m" in target.read_text().replace(",,", ",")
    assert ctx.notifier.history[-1][0] == "success"
    page.save_as = lambda _p, _s: None  # cancelled: nothing happens
    page.export_csv()
    assert len(ctx.notifier.history) == 1


def test_models_page_explains_an_empty_table(qtbot, qloop):
    from .fakes import snapshot

    ctx = fake_ctx()
    page = ModelsPage(ctx)
    qtbot.addWidget(page)
    page.show()
    assert page.notice.isHidden()  # models listed: nothing to explain
    ctx.state.set_ollama({"up": False, "version": None, "url": "http://sim:11434"})
    ctx.state.set_vram(snapshot({}, installed=[], ollama_up=False))
    assert page.table.rowCount() == 0 and page.notice.isVisible()
    assert "Ollama does not answer at http://sim:11434" in page.notice.text()
    assert "ollama serve" in page.notice.text()
    ctx.state.set_ollama({"up": True, "version": "0.12.6", "url": "http://sim:11434"})
    ctx.state.set_vram(snapshot({}, installed=[], ollama_up=True))
    assert "no models installed" in page.notice.text()
    ctx.state.set_gateway("stopped", [])
    assert "gateway is stopped" in page.notice.text()


def test_vram_plot_axes_have_units(qtbot):
    from pbpm_desktop.qt.charts import VramPlot

    plot = VramPlot(autostart=False)
    qtbot.addWidget(plot)
    item = plot.getPlotItem()
    assert item.getAxis("left").labelText == "VRAM (GB)"
    assert item.getAxis("bottom").labelText == "time ago (min:s)"
