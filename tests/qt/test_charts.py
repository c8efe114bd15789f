"""Charts: the live VRAM plot stays bounded over hours; usage charts show the rows given."""

from __future__ import annotations

import numpy as np

from pbpm_desktop.qt.charts import RankingChart, TokenSeriesChart, VramPlot

from .fakes import GIB, snapshot


def test_vram_plot_is_bounded_over_hours_of_churn(qtbot):
    plot = VramPlot(window_s=60, sample_ms=1000, autostart=False)
    qtbot.addWidget(plot)
    plot.show()
    # three simulated hours at one sample a second, a new on-demand model every 5 minutes
    for second in range(3 * 3600):
        if second % 300 == 0:
            model = f"model-{second // 300}"
            plot.set_snapshot(snapshot({"llama3.2:3b": 2 * GIB, model: 5 * GIB}).to_dict())
        plot.sample(float(second))
        if second % 600 == 0:
            plot.redraw()
    plot.redraw()
    assert plot.sample_count == plot.capacity == 61
    assert plot.curve_count == 2  # the always-on model and the current one; old ones dropped
    assert len(plot.getPlotItem().listDataItems()) == 2
    stacked = plot.stacked()
    assert list(stacked) == ["llama3.2:3b", "model-35"]  # always-on at the bottom
    assert np.allclose(stacked["model-35"][-1], 7.0)


def test_vram_plot_draws_budget_and_gpu(qtbot):
    plot = VramPlot(autostart=False)
    qtbot.addWidget(plot)
    gpu = {"total_bytes": 48 * GIB, "used_bytes": 10 * GIB}
    plot.set_snapshot(snapshot({"llama3.2:3b": 2 * GIB, "qwen2.5:7b": 5 * GIB}, gpu=gpu).to_dict())
    for t in range(5):
        plot.sample(float(t))
    plot.redraw()
    assert plot.budget_line.value() == 24.0
    assert plot.gpu_line.isVisible() is not False and plot.gpu_line.value() == 48.0
    _, y = plot.gpu_curve.getData()
    assert y[-1] == 10.0


def test_token_series_chart_heights_follow_rows(qtbot):
    chart = TokenSeriesChart()
    qtbot.addWidget(chart)
    rows = [
        {"start": "2026-01-01T10:00:00+00:00", "prompt_tokens": 10, "completion_tokens": 5},
        {"start": "2026-01-01T11:00:00+00:00", "prompt_tokens": 0, "completion_tokens": 0},
        {"start": "2026-01-01T12:00:00+00:00", "prompt_tokens": 7, "completion_tokens": 3},
    ]
    chart.set_series(rows, "hour")
    assert chart.totals.tolist() == [15, 0, 10]
    assert list(chart.completion_bars.opts["y0"]) == [10, 0, 7]
    chart.set_series([], "day")
    assert not chart.prompt_bars.isVisible()


def test_ranking_chart_keeps_top_and_sums_the_rest(qtbot):
    chart = RankingChart(top=3)
    qtbot.addWidget(chart)
    chart.set_items([("a", 5), ("b", 50), ("c", 7), ("d", 1), ("e", 2)])
    assert chart.items == [("b", 50), ("c", 7), ("a", 5), ("others", 3)]
    assert list(chart.bars.opts["width"]) == [50, 7, 5, 3]


def test_the_legend_never_covers_the_budget_line_in_a_short_plot(qtbot):
    """At 900x600 the plot is ~140 px tall and its legend wraps to two rows: the y range
    leaves the legend its band above the budget line (the models-900x600 screenshot showed
    the legend over the bars and the budget label)."""
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    plot = VramPlot(autostart=False)
    qtbot.addWidget(plot)
    plot.resize(628, 140)
    plot.show()
    four = {
        "llama3.2:3b": 2 * GIB,
        "nomic-embed-text:latest": GIB // 4,
        "qwen2.5:7b": 5 * GIB,
        "qwen2.5-coder:32b": 15 * GIB,
    }
    plot.set_snapshot(snapshot(four).to_dict())
    for t in range(5):
        plot.sample(float(t))
    for _ in range(3):  # the legend lays out its rows, then the next redraw uses its height
        plot.redraw()
        QApplication.processEvents()

    def budget_y() -> float:
        view = plot.getPlotItem().getViewBox()
        return view.mapViewToScene(QPointF(0, plot.budget_line.value())).y()

    # too short for a two-row legend over the data: it makes way
    assert not plot.legend.isVisible() or plot.legend.sceneBoundingRect().bottom() < budget_y()
    plot.resize(628, 260)  # the default window: the legend shows, above the budget line
    for _ in range(3):
        QApplication.processEvents()
    assert plot.legend.isVisible()
    assert plot.legend.sceneBoundingRect().bottom() < budget_y()
