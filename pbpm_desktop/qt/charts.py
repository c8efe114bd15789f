"""pyqtgraph charts: live VRAM per model, tokens over time, rankings by key or model.

All charts follow pyqtgraph's scrolling-plot advice: the plot items are created once and
updated with `setData`/`setOpts`; the live VRAM plot samples into bounded ring buffers
(deques with `maxlen`) on a timer, and drops a model's curve once it has been absent for a
whole window, so the memory used after hours equals the memory used after ten minutes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QFontMetrics
from PySide6.QtWidgets import QWidget

from pbpm_desktop.qt import style
from pbpm_desktop.qt.formatting import GIB, human_bytes, human_count, parse_time

BAR_BUCKET_S = {"hour": 3600, "day": 86400}
#: the widest a ranking label may get (the rest of the chart is for the bars)
MAX_LABEL_PX = 170
#: pixels between the VRAM plot's legend and the top of the view, and again below it
LEGEND_MARGIN = 8


def _colour(index: int, alpha: int = 255) -> QColor:
    colour = QColor(style.SERIES[index % len(style.SERIES)])
    colour.setAlpha(alpha)
    return colour


def _tint(index: int, strength: float = 0.55) -> QColor:
    """An opaque lighter shade: stacked bands must not blend into each other."""
    base = QColor(style.SERIES[index % len(style.SERIES)])
    mix = [
        round(c * strength + 255 * (1 - strength)) for c in (base.red(), base.green(), base.blue())
    ]
    return QColor(*mix)


def short_label(text: str, limit: int = 28) -> str:
    """Long model or key names elided in the middle ('hf.co/bartow…:Q4_K_M') for legends."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: keep - keep // 3] + "…" + text[-(keep // 3) :]


class CountAxis(pg.AxisItem):
    """Token counts as 1.2k / 3.4M."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [human_count(v) for v in values]


class AgoAxis(pg.AxisItem):
    """Seconds relative to now (x <= 0) as '-5:00' … 'now'."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        out = []
        for v in values:
            seconds = round(-v)
            out.append(
                QCoreApplication.translate("charts", "now")
                if seconds <= 0
                else f"-{seconds // 60}:{seconds % 60:02d}"
            )
        return out


class _QuietPlot(pg.PlotWidget):
    """A PlotWidget without mouse zoom, context menu or the 'A' button: dashboards, not tools."""

    def __init__(self, parent: QWidget | None = None, **axes: pg.AxisItem) -> None:
        super().__init__(parent, background=style.CARD, axisItems=axes or None)
        item = self.getPlotItem()
        item.setMouseEnabled(False, False)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.showGrid(x=False, y=True, alpha=0.15)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(style.BORDER))
            axis.setTextPen(pg.mkPen(style.MUTED))
        self.setMinimumHeight(180)


class VramPlot(_QuietPlot):
    """Stacked VRAM used per resident model over the last `window_s` seconds.

    `set_snapshot()` only stores the latest VRAM snapshot; a timer samples it every
    `sample_ms` (so the plot moves even when nothing changes) and redraws while visible.
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        window_s: float = 600.0,
        sample_ms: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        autostart: bool = True,
    ) -> None:
        super().__init__(parent, left=pg.AxisItem("left"), bottom=AgoAxis("bottom"))
        self.window_s = window_s
        self.clock = clock
        self.capacity = int(window_s * 1000 / sample_ms) + 1
        self._times: deque[float] = deque(maxlen=self.capacity)
        self._series: dict[str, deque[float]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._colour_of: dict[str, int] = {}
        self._next_colour = 0
        self._gpu_used: deque[float] = deque(maxlen=self.capacity)
        self._snapshot: dict[str, Any] = {}
        item = self.getPlotItem()
        item.setLabel("left", QCoreApplication.translate("charts", "VRAM (GB)"))
        item.setLabel("bottom", QCoreApplication.translate("charts", "time ago (min:s)"))
        self.legend = item.addLegend(
            offset=(8, LEGEND_MARGIN // 2), colCount=3, labelTextColor=style.TEXT
        )
        self.legend.setBrush(pg.mkBrush(255, 255, 255, 200))
        self.budget_line = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen(style.BAD, width=1.5, style=Qt.PenStyle.DashLine),
            label=QCoreApplication.translate("charts", "budget"),
            # below the line: the legend owns the band above it (the y range leaves room)
            labelOpts={"position": 0.98, "color": style.BAD, "anchors": [(1, 0), (1, 0)]},
        )
        self.gpu_line = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen(style.MUTED, width=1.2, style=Qt.PenStyle.DotLine),
            label=QCoreApplication.translate("charts", "GPU total"),
            labelOpts={"position": 0.75, "color": style.MUTED, "anchors": [(1, 1), (1, 1)]},
        )
        self.gpu_curve = pg.PlotDataItem(
            pen=pg.mkPen(style.TEXT, width=1.2, style=Qt.PenStyle.DashLine),
            stepMode="left",
            name=QCoreApplication.translate("charts", "GPU used"),
        )
        for line in (self.budget_line, self.gpu_line):
            line.setZValue(10)
            item.addItem(line, ignoreBounds=True)
        self.gpu_line.hide()
        self._gpu_curve_added = False
        self.timer = QTimer(self)
        self.timer.setInterval(sample_ms)
        self.timer.timeout.connect(self.tick)
        if autostart:
            self.timer.start()

    # -- data in ----------------------------------------------------------------------------

    def set_snapshot(self, snapshot: dict[str, Any]) -> None:
        self._snapshot = snapshot or {}
        budget = self._snapshot.get("budget_limit_bytes") or self._snapshot.get("budget_bytes")
        if budget:
            self.budget_line.setValue(budget / GIB)
            # the size in the label is formatted like every other size (locale decimals)
            self.budget_line.label.setFormat(
                QCoreApplication.translate("charts", "budget {size}").format(
                    size=human_bytes(budget)
                )
            )

    def tick(self) -> None:
        self.sample()
        if self.isVisible():
            self.redraw()

    def sample(self, now: float | None = None) -> None:
        """Append one point per model (0 for models no longer resident)."""
        now = self.clock() if now is None else now
        resident: dict[str, float] = {}
        for model in self._snapshot.get("resident") or []:
            if isinstance(model, dict) and model.get("name"):
                size = model.get("size_vram") or model.get("size") or 0
                resident[str(model["name"])] = float(size)
        for name in resident:
            if name not in self._series:
                self._add_series(name)
        self._times.append(now)
        for name, values in self._series.items():
            values.append(resident.get(name, 0.0))
        gpu = self._snapshot.get("gpu") or None
        self._gpu_used.append(float(gpu["used_bytes"]) if gpu and "used_bytes" in gpu else np.nan)
        self._drop_absent(resident)

    def _add_series(self, name: str) -> None:
        values: deque[float] = deque([0.0] * len(self._times), maxlen=self.capacity)
        self._series[name] = values
        if name not in self._colour_of:
            self._colour_of[name] = self._next_colour
            self._next_colour += 1
        index = self._colour_of[name]
        curve = pg.PlotDataItem(
            pen=pg.mkPen(_colour(index), width=1.5),
            fillLevel=0,
            brush=pg.mkBrush(_tint(index)),
            stepMode="left",
            name=short_label(name),
        )
        self._curves[name] = curve
        self.getPlotItem().addItem(curve)

    def _drop_absent(self, resident: dict[str, float]) -> None:
        """Forget models that were not resident during the whole window (bounds memory)."""
        for name in [n for n, v in self._series.items() if n not in resident and not any(v)]:
            del self._series[name]
            self.getPlotItem().removeItem(self._curves.pop(name))
            self._colour_of.pop(name, None)

    # -- drawing ----------------------------------------------------------------------------

    @property
    def models(self) -> list[str]:
        """Models with a curve, in stacking order (always-on first, then by name)."""
        always_on = {
            m.get("name")
            for m in (self._snapshot.get("installed") or [])
            if isinstance(m, dict) and m.get("category") == "always_on"
        }
        return sorted(self._series, key=lambda n: (n not in always_on, n))

    def stacked(self) -> dict[str, np.ndarray]:
        """Cumulative GB per model (the top edge of each band)."""
        total = np.zeros(len(self._times))
        out: dict[str, np.ndarray] = {}
        for name in self.models:
            total = total + np.fromiter(self._series[name], float, len(self._times)) / GIB
            out[name] = total
        return out

    def redraw(self) -> None:
        if not self._times:
            return
        now = self._times[-1]
        x = np.fromiter(self._times, float, len(self._times)) - now
        top = 0.0
        for depth, (name, y) in enumerate(self.stacked().items()):
            curve = self._curves[name]
            curve.setData(x, y)
            curve.setZValue(-depth)
            top = max(top, float(y.max(initial=0.0)))
        gpu = self._snapshot.get("gpu") or None
        gpu_total = float(gpu.get("total_bytes") or 0) / GIB if gpu else 0.0
        self.gpu_line.setVisible(gpu_total > 0)
        if gpu_total:
            self.gpu_line.setValue(gpu_total)
            self.gpu_line.label.setFormat(
                QCoreApplication.translate("charts", "GPU total {size}").format(
                    size=human_bytes(gpu_total * GIB)
                )
            )
            if not self._gpu_curve_added:
                self.getPlotItem().addItem(self.gpu_curve)
                self._gpu_curve_added = True
            self.gpu_curve.setData(x, np.fromiter(self._gpu_used, float, len(x)) / GIB)
        budget = float(self.budget_line.value())
        self.setYRange(0, max(top, budget, gpu_total, 1.0) * self._legend_room(), padding=0)
        span = min(self.window_s, max(60.0, float(-x[0])))
        self.setXRange(-span, 0, padding=0.01)

    def _legend_room(self) -> float:
        """How far above the data the y range goes, so that the legend covers none of it.

        The legend owns the band at the top of the view; in a plot too short for it (the
        window at its 900x600 minimum during a swap) it is hidden: the table above names
        the models, and a legend over the bars and the budget line helps nobody.
        """
        view_h = float(self.getPlotItem().getViewBox().height())
        if view_h <= 0:  # not laid out yet
            return 1.25
        band = self.legend.boundingRect().height() + LEGEND_MARGIN
        fits = band < view_h * 0.6
        self.legend.setVisible(fits)
        return max(1.25, view_h / (view_h - band)) if fits else 1.1

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if "_times" in self.__dict__:  # pyqtgraph resizes while __init__ runs
            # the legend's band is a share of the height: redraw once the resize is done
            # (not inside it; bound to this plot, so never after it is gone)
            QTimer.singleShot(0, self, self.redraw)

    @property
    def curve_count(self) -> int:
        return len(self._curves)

    @property
    def sample_count(self) -> int:
        return len(self._times)


class TokenSeriesChart(_QuietPlot):
    """Stacked bars of prompt and completion tokens per hour or day."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, left=CountAxis("left"), bottom=pg.DateAxisItem("bottom"))
        self.prompt_bars = pg.BarGraphItem(
            x=[0], height=[0], width=1, brush=style.PROMPT_COLOR, pen=pg.mkPen(None)
        )
        self.completion_bars = pg.BarGraphItem(
            x=[0], height=[0], width=1, brush=style.COMPLETION_COLOR, pen=pg.mkPen(None)
        )
        for bars in (self.prompt_bars, self.completion_bars):
            self.getPlotItem().addItem(bars)
        self.totals = np.zeros(0)

    def set_series(self, rows: Sequence[dict[str, Any]], bucket: str) -> None:
        step = BAR_BUCKET_S.get(bucket, 3600)
        starts = [parse_time(r.get("start")) for r in rows]
        x = np.array(
            [s.timestamp() + step / 2 for s in starts if isinstance(s, datetime)], dtype=float
        )
        prompt = np.array([r.get("prompt_tokens", 0) for r in rows], dtype=float)[: len(x)]
        completion = np.array([r.get("completion_tokens", 0) for r in rows], dtype=float)[: len(x)]
        self.totals = prompt + completion
        visible = len(x) > 0
        for bars in (self.prompt_bars, self.completion_bars):
            bars.setVisible(visible)
        if not visible:
            return
        width = step * 0.8
        self.prompt_bars.setOpts(x=x, height=prompt, width=width, y0=0)
        self.completion_bars.setOpts(x=x, height=completion, width=width, y0=prompt)
        self.setXRange(x[0] - step, x[-1] + step, padding=0)
        self.setYRange(0, max(float(self.totals.max(initial=0)), 1.0) * 1.1, padding=0)


class RankingChart(_QuietPlot):
    """Horizontal bars, largest on top: tokens by key or by model (top N, then 'others')."""

    def __init__(self, parent: QWidget | None = None, *, top: int = 5) -> None:
        super().__init__(parent, bottom=CountAxis("bottom"))
        self.top = top
        self.getPlotItem().showGrid(x=False, y=False)
        self.bars = pg.BarGraphItem(x0=[0], y=[0], height=0.6, width=[0], pen=pg.mkPen(None))
        self.getPlotItem().addItem(self.bars)
        self._labels: list[pg.TextItem] = []
        for _ in range(top + 1):
            label = pg.TextItem(color=style.TEXT, anchor=(0, 0.5))
            label.setFont(QFont(self.font().family(), 8))
            self._labels.append(label)
            self.getPlotItem().addItem(label, ignoreBounds=True)
        self.items: list[tuple[str, float]] = []
        self.labels: list[str] = []

    def set_items(self, items: Sequence[tuple[str, float]]) -> None:
        ranked = sorted(items, key=lambda kv: kv[1], reverse=True)
        if len(ranked) > self.top + 1:
            rest = sum(v for _, v in ranked[self.top :])
            ranked = [*ranked[: self.top], (QCoreApplication.translate("charts", "others"), rest)]
        self.items = ranked
        n = len(ranked)
        rows = max(n, 4)  # a lone bar stays bar-sized, top-aligned
        ys = (rows - 1 - np.arange(n)).astype(float)
        values = np.array([v for _, v in ranked], dtype=float)
        brushes = [pg.mkBrush(_colour(i, 220)) for i in range(n)]
        self.bars.setVisible(n > 0)
        if n:
            self.bars.setOpts(x0=np.zeros(n), y=ys, height=0.62, width=values, brushes=brushes)
        axis = self.getPlotItem().getAxis("left")
        metrics = QFontMetrics(axis.style.get("tickFont") or self.font())
        # every bar keeps its label: long names are elided to fit the axis, never dropped
        labels = [
            metrics.elidedText(label, Qt.TextElideMode.ElideMiddle, MAX_LABEL_PX)
            for label, _ in ranked
        ]
        axis.setTicks([[(float(y), label) for y, label in zip(ys, labels, strict=True)], []])
        axis.setStyle(hideOverlappingLabels=False)
        widest = max((metrics.horizontalAdvance(label) for label in labels), default=40)
        axis.setWidth(min(widest + 14, MAX_LABEL_PX + 14))
        self.labels = labels
        top = float(values.max(initial=0.0))
        for i, label in enumerate(self._labels):
            if i < n:
                label.setText(human_count(values[i]))
                # long bars carry their number inside (white), short ones just after the end,
                # so the number never runs off a narrow chart
                inside = values[i] >= top * 0.6
                label.setAnchor((1.0, 0.5) if inside else (0.0, 0.5))
                label.setColor("#ffffff" if inside else style.TEXT)
                label.setPos(values[i] + top * (-0.01 if inside else 0.01), ys[i])
                label.show()
            else:
                label.hide()
        self.setXRange(0, max(top, 1.0) * 1.22, padding=0)
        self.setYRange(-0.6, rows - 0.4, padding=0)
