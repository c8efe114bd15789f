"""Models page: what Ollama did on its own (issue 10): evictions, partial offload, queues."""

from __future__ import annotations

from pbpm_desktop.qt.pages.models import COLUMNS, ModelsPage

from .fakes import GIB, fake_ctx, snapshot


def test_models_page_shows_evictions_partial_offload_queue_and_cloud(qtbot, qloop):
    ctx = fake_ctx()
    page = ModelsPage(ctx)
    qtbot.addWidget(page)
    page.show()
    assert page.eviction_label.isHidden()
    state = snapshot({"llama3.2:3b": 2 * GIB, "qwen2.5:7b": 5 * GIB})
    state.resident[1].update(size_vram=3 * GIB, partial_offload=True)
    state.installed[2]["cloud"] = True
    state.queued = {"qwen2.5:7b": 2}
    state.waiting = {"qwen2.5:7b": 1}
    state.unexpected_evictions = [{"model": "llama3.2:3b", "at": 0}]
    ctx.state.set_vram(state)
    page.update_rows()
    assert not page.eviction_label.isHidden()
    assert "llama3.2:3b" in page.eviction_label.text()
    assert "OLLAMA_MAX_LOADED_MODELS" in page.eviction_label.text()
    vram, waiting, category, size = (
        COLUMNS.index(c) for c in ("vram", "waiting", "category", "size")
    )
    assert page.table.item(1, vram).text().endswith("(partly on CPU)")
    assert page.table.item(1, waiting).text() == "3"  # 1 for a swap + 2 for a NUM_PARALLEL slot
    assert page.table.item(2, category).text() == "cloud"
    assert page.table.item(2, size).text() == "—"  # runs on ollama.com: no local size
