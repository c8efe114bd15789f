"""Cloud models (`x:cloud`, run on ollama.com) are named as such, never as "(0 MB)"."""

from __future__ import annotations

from .fakes import fake_ctx, snapshot


def test_cloud_models_are_not_offered_as_always_on(qtbot, qloop):
    """A cloud model has nothing to keep loaded here; the demo listed it as "(0 MB)"."""
    from pbpm_desktop.qt.pages.settings_form import SettingsForm

    ctx = fake_ctx()
    state = snapshot()
    state.installed[2].update(cloud=True, size=0)
    ctx.state.set_vram(state)
    form = SettingsForm(ctx, pinned={})
    qtbot.addWidget(form)
    form.fill(ctx.bridge.service.settings.replace(always_on_models=("llama3.2:3b",)))
    listed = [form.always_on.item(i).text() for i in range(form.always_on.count())]
    assert listed == ["llama3.2:3b  (2.0 GB)", "qwen2.5:7b  (5.0 GB)"]


def test_the_key_dialog_lists_a_cloud_model_as_cloud(qtbot, qloop):
    """Keys may allow cloud models (they are routed), but "(0 MB)" misdescribed them."""
    from pbpm_desktop.qt.dialogs import KeyDialog

    state = snapshot()
    state.installed[2].update(cloud=True, size=0)
    dialog = KeyDialog(state.to_dict()["installed"])
    qtbot.addWidget(dialog)
    models = dialog.form.models
    texts = [models.item(i).text() for i in range(models.count())]
    assert "qwen2.5-coder:32b  (cloud)" in texts and "llama3.2:3b  (2.0 GB)" in texts


def test_the_models_page_offers_no_preload_for_a_cloud_model(qtbot, qloop):
    """Preloading a cloud model is refused by the gateway (400): the button says why instead."""
    from pbpm_desktop.qt.pages.models import ModelsPage

    ctx = fake_ctx()
    state = snapshot()
    state.installed[2].update(cloud=True, size=0)
    ctx.state.set_vram(state)
    page = ModelsPage(ctx)
    qtbot.addWidget(page)
    name = state.installed[2]["name"]
    cell = page.cells[name]
    assert not cell.preload.isEnabled()
    assert "ollama.com" in cell.preload.toolTip()
    row = next(r for r in range(page.table.rowCount()) if page.table.item(r, 0).text() == name)
    assert page.table.item(row, 3).text() == "Runs on ollama.com"
    assert page.cells["qwen2.5:7b"].preload.isEnabled()  # a local model still can
