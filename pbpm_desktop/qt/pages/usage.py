"""Usage: token charts from the audit database, by time, key and model; totals and CSV export."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from pbpm_desktop.core import dashboard
from pbpm_desktop.qt import style
from pbpm_desktop.qt.charts import RankingChart, TokenSeriesChart
from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.csv_export import write_usage_csv
from pbpm_desktop.qt.errors import describe
from pbpm_desktop.qt.formatting import ago, grouped, human_count
from pbpm_desktop.qt.pages.base import Page
from pbpm_desktop.qt.widgets import Card, cell, make_table

RANGES = (("24h", "hour"), ("7d", "hour"), ("30d", "day"))
AUTO_REFRESH_MS = 15_000

#: asks where to save the CSV; returns None when cancelled (tests inject their own)
SaveAsFn = Callable[[QWidget, str], Path | None]


def ask_save_path(parent: QWidget, suggested: str) -> Path | None:
    path, _ = QFileDialog.getSaveFileName(
        parent,
        QCoreApplication.translate("UsagePage", "Export usage"),
        suggested,
        QCoreApplication.translate("UsagePage", "CSV files (*.csv)"),
    )
    return Path(path) if path else None


def key_label(row: dict[str, Any]) -> str:
    """'alice@lab (pbpm-ab12…)'; a call made without a valid key has neither."""
    owner = row.get("owner") or ""
    prefix = row.get("key_prefix") or ""
    if not owner and not prefix:
        return QCoreApplication.translate("UsagePage", "(no key)")
    return f"{owner or '?'} ({prefix[:9]}…)" if prefix else str(owner)


def model_label(row: dict[str, Any]) -> str:
    return str(row.get("model") or QCoreApplication.translate("UsagePage", "(no model)"))


class UsagePage(Page):
    icon_name = "nav-usage"
    scrollable = True  # three charts and a table: below ~700 px of height, scroll

    def __init__(self, ctx: UiContext, save_as: SaveAsFn = ask_save_path) -> None:
        super().__init__(
            ctx,
            self.tr("Usage"),
            self.tr("Tokens used through the gateway, from the audit database."),
        )
        self.save_as = save_as
        self.range_box = QComboBox()
        for label, text in zip(
            RANGES,
            (self.tr("Last 24 hours"), self.tr("Last 7 days"), self.tr("Last 30 days")),
            strict=True,
        ):
            self.range_box.addItem(text, label[0])
        self.range_box.setCurrentIndex(1)
        self.bucket_box = QComboBox()
        self.bucket_box.addItem(self.tr("Hourly"), "hour")
        self.bucket_box.addItem(self.tr("Daily"), "day")
        self.range_box.currentIndexChanged.connect(self._range_changed)
        self.bucket_box.currentIndexChanged.connect(self.refresh)
        self.export_button = QPushButton(self.tr("Export CSV…"))
        self.export_button.clicked.connect(self.export_csv)
        refresh = QPushButton(self.tr("Refresh"))
        refresh.clicked.connect(self.refresh)
        for widget in (self.range_box, self.bucket_box, refresh, self.export_button):
            self.header.add_action(widget)

        summary = QHBoxLayout()
        self.summary = QLabel("", objectName="PageSubtitle")
        self.summary.setWordWrap(True)
        prompt, completion = self.tr("prompt"), self.tr("completion")  # lupdate skips f-strings
        legend = QLabel(
            f"<span style='color:{style.PROMPT_COLOR}'>■</span> {prompt} &nbsp; "
            f"<span style='color:{style.COMPLETION_COLOR}'>■</span> {completion}"
        )
        summary.addWidget(self.summary, 1)
        summary.addWidget(legend)
        self.layout_.addLayout(summary)
        self.counting = QLabel(
            self.tr(
                "Requests counts every call through the gateway, including refused and failed "
                "ones (401, 429, 502…) and calls without a model (such as /api/tags, shown as "
                "“(no model)”). Tokens are what Ollama reported for completed generations."
            ),
            objectName="Muted",
        )
        self.counting.setWordWrap(True)
        self.layout_.addWidget(self.counting)

        grid = QGridLayout()
        grid.setSpacing(12)
        self.series_chart = TokenSeriesChart()
        self.key_chart = RankingChart()
        self.model_chart = RankingChart()
        # small enough that the default window (1180×780) shows the whole page unscrolled;
        # below that the page scrolls rather than squashing the axes
        self.series_chart.setMinimumHeight(150)
        for chart in (self.key_chart, self.model_chart):
            chart.setMinimumHeight(130)
        grid.addWidget(self._boxed(self.tr("Tokens over time"), self.series_chart), 0, 0, 1, 2)
        grid.addWidget(self._boxed(self.tr("By key"), self.key_chart), 1, 0)
        grid.addWidget(self._boxed(self.tr("By model"), self.model_chart), 1, 1)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        self.layout_.addLayout(grid, 3)

        self.table = make_table(
            [
                self.tr("Owner"),
                self.tr("Key"),
                self.tr("Model"),
                self.tr("Requests"),
                self.tr("Prompt"),
                self.tr("Completion"),
                self.tr("Total"),
                self.tr("Last used"),
            ],
            elastic=(0, 2),
            priority=(0, 2, 6, 3, 1, 7, 5, 4),
        )
        self.table.setMinimumHeight(130)
        self.layout_.addWidget(self.table, 2)
        self.report: dict[str, Any] = {}
        self._loading = False
        # live updates at most every AUTO_REFRESH_MS: a 30-day report reads every row of the
        # range on the gateway loop, which must stay free for streaming
        self._debounce = QTimer(self, singleShot=True, interval=AUTO_REFRESH_MS)
        self._debounce.timeout.connect(self.refresh)
        ctx.bridge.requestsDone.connect(self._new_requests)

    def _new_requests(self, _rows: list[dict[str, Any]]) -> None:
        if self.active and not self._debounce.isActive():
            self._debounce.start()

    @staticmethod
    def _boxed(title: str, chart: QWidget) -> QWidget:
        card = Card(title)
        card.body.addWidget(chart, 1)
        return card

    @property
    def range_label(self) -> str:
        return str(self.range_box.currentData())

    @property
    def bucket(self) -> str:
        return str(self.bucket_box.currentData())

    def _range_changed(self) -> None:
        default_bucket = dict(RANGES)[self.range_label]
        self.bucket_box.blockSignals(True)
        self.bucket_box.setCurrentIndex(self.bucket_box.findData(default_bucket))
        self.bucket_box.blockSignals(False)
        self.refresh()

    # -- data -------------------------------------------------------------------------------

    def refresh(self) -> None:
        if not self._loading:
            self._loading = True
            self.spawn(self._load(), self.tr("Loading usage"))

    async def _load(self) -> None:
        try:
            self.report = await self.bridge.call(
                dashboard.usage_report, self.service, self.range_label, self.bucket
            )
        finally:
            self._loading = False
        self.show_report()

    def show_report(self) -> None:
        report = self.report
        self.series_chart.set_series(report.get("series") or [], report.get("bucket", "hour"))
        self.key_chart.set_items(
            [(key_label(r), float(r.get("total_tokens", 0))) for r in report.get("by_key") or []]
        )
        self.model_chart.set_items(
            [
                (model_label(r), float(r.get("total_tokens", 0)))
                for r in report.get("by_model") or []
            ]
        )
        totals = report.get("totals") or []
        requests = sum(int(r.get("requests", 0)) for r in totals)
        tokens = sum(int(r.get("total_tokens", 0)) for r in totals)
        self.summary.setText(
            self.tr(
                "{tokens} tokens in {requests} requests · keys: {keys} · models: {models}"
            ).format(
                tokens=human_count(tokens),
                requests=grouped(requests),
                keys=len(report.get("by_key") or []),
                models=len(report.get("by_model") or []),
            )
        )
        self.table.setRowCount(len(totals))
        for row, r in enumerate(totals):
            values = [
                (str(r.get("owner") or ""), False),
                (f"{r.get('key_prefix') or ''}…", False),
                (model_label(r), False),
                (grouped(r.get("requests", 0)), True),
                (grouped(r.get("prompt_tokens", 0)), True),
                (grouped(r.get("completion_tokens", 0)), True),
                (grouped(r.get("total_tokens", 0)), True),
                (ago(r.get("last_used")), False),
            ]
            for column, (text, right) in enumerate(values):
                tip = text if column in (0, 2) else ""
                self.table.setItem(row, column, cell(text, align_right=right, tooltip=tip))

    # -- export -----------------------------------------------------------------------------

    def export_csv(self) -> None:
        rows = self.report.get("totals") or []
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        path = self.save_as(self, f"pbpm-usage-{self.range_label}-{stamp}.csv")
        if path is None:
            return
        try:
            count = write_usage_csv(path, rows)
        except OSError as exc:
            self.ctx.notifier.error(
                self.tr("Could not write {path}: {e}").format(path=path, e=describe(exc))
            )
            return
        self.ctx.notifier.success(
            self.tr("Exported {n} rows to {path}.").format(n=count, path=path)
        )
