"""Requests: a live table of recent requests (newest first), filterable, bounded in memory."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QLabel,
    QLineEdit,
    QTableView,
)

from pbpm_desktop.qt import style
from pbpm_desktop.qt.columns import ColumnFitter
from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.formatting import clock_time, duration_ms, grouped, local_time
from pbpm_desktop.qt.pages.base import Page
from pbpm_desktop.qt.request_detail import RequestDetailDialog

MAX_ROWS = 1000
INITIAL_ROWS = 200

Index = QModelIndex | QPersistentModelIndex


def _status_colour(status: str) -> str:
    if status == "ok":
        return style.GOOD
    if status == "client_closed":
        return style.MUTED
    return style.BAD


class RequestsModel(QAbstractTableModel):
    """Rows are audit dicts; the newest is row 0; at most `max_rows` are kept."""

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        super().__init__()
        self.rows: deque[dict[str, Any]] = deque(maxlen=max_rows)
        self.headers = [
            self.tr("Time"),
            self.tr("Key"),
            self.tr("Owner"),
            self.tr("Model"),
            self.tr("Route"),
            self.tr("Prompt"),
            self.tr("Completion"),
            self.tr("Duration"),
            self.tr("First token"),
            self.tr("Status"),
            self.tr("Client"),
        ]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (5, 6, 7, 8):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column == 9:
            return QColor(_status_colour(str(row.get("status", ""))))
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 0:
                return local_time(row.get("created_at"), seconds=True)
            if column in (2, 3, 10):  # elided free text: the whole of it
                return self._text(row, column)
        return None

    @staticmethod
    def _text(row: dict[str, Any], column: int) -> str:
        match column:
            case 0:
                return clock_time(row.get("created_at"))
            case 1:
                return f"{row.get('key_prefix') or ''}…"
            case 2:
                return str(row.get("owner") or "")
            case 3:
                return str(
                    row.get("model") or QCoreApplication.translate("RequestsModel", "(no model)")
                )
            case 4:
                return str(row.get("route") or "")
            case 5:
                return grouped(row.get("prompt_tokens", 0))
            case 6:
                return grouped(row.get("completion_tokens", 0))
            case 7:
                return duration_ms(row.get("duration_ms"))
            case 8:
                return duration_ms(row.get("ttft_ms"))
            case 9:
                return str(row.get("status") or "")
            case 10:
                return str(row.get("client") or "")
        return ""

    def replace(self, rows: Iterable[dict[str, Any]]) -> None:
        """Newest-first rows, e.g. from usage_records()."""
        self.beginResetModel()
        self.rows.clear()
        self.rows.extend(rows)
        self.endResetModel()

    def prepend(self, rows: list[dict[str, Any]]) -> None:
        """Oldest-first new rows (a bridge batch) go on top, newest first."""
        if not rows:
            return
        rows = rows[-self.rows.maxlen :] if self.rows.maxlen else rows
        overflow = max(0, len(self.rows) + len(rows) - (self.rows.maxlen or 0))
        if overflow and self.rows:
            first = len(self.rows) - min(overflow, len(self.rows))
            self.beginRemoveRows(QModelIndex(), first, len(self.rows) - 1)
            for _ in range(len(self.rows) - first):
                self.rows.pop()
            self.endRemoveRows()
        self.beginInsertRows(QModelIndex(), 0, len(rows) - 1)
        self.rows.extendleft(rows)  # extendleft reverses: the last (newest) ends up first
        self.endInsertRows()


class RequestsPage(Page):
    icon_name = "nav-requests"

    def __init__(self, ctx: UiContext, max_rows: int = MAX_ROWS) -> None:
        super().__init__(
            ctx,
            self.tr("Requests"),
            self.tr("Every request through the gateway, as it finishes (newest first)."),
        )
        self.filter = QLineEdit(placeholderText=self.tr("Filter by key, owner, model, status…"))
        self.filter.setClearButtonEnabled(True)
        self.filter.setMinimumWidth(260)
        self.pause = QCheckBox(self.tr("Pause"))
        self.pause.setToolTip(self.tr("Stop adding rows while you read; new ones are kept"))
        self.pause.toggled.connect(self._pause_toggled)
        for widget in (self.filter, self.pause):
            self.header.add_action(widget)
        self.model = RequestsModel(max_rows)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.filter.textChanged.connect(self._update_count)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setAlternatingRowColors(True)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(26)
        header = self.view.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        # widths follow the rows and the window; the least useful columns go first when the
        # window is narrow (double-click a row for all of them)
        self.fitter = ColumnFitter(
            self.view, elastic=(2, 3), priority=(0, 3, 9, 2, 1, 6, 5, 7, 4, 8, 10)
        )
        self.view.setToolTip(self.tr("Double-click a request for all its details"))
        self.view.doubleClicked.connect(self.show_detail)
        self.layout_.addWidget(self.view, 1)
        self.count_label = QLabel("", objectName="Muted")
        self.layout_.addWidget(self.count_label)
        self.loaded = False
        self.detail: RequestDetailDialog | None = None
        self._loading = False
        self._held: list[dict[str, Any]] = []
        ctx.bridge.requestsDone.connect(self.on_requests)
        self._update_count()

    def refresh(self) -> None:
        if not self.loaded and not self._loading:
            self._loading = True
            self.spawn(self._load(), self.tr("Loading recent requests"))

    async def _load(self) -> None:
        try:
            rows = await self.bridge.call(self.service.usage_records, INITIAL_ROWS)
        finally:
            self._loading = False
        self.loaded = True
        newest = rows[0].get("created_at", "") if rows else ""
        held = [r for r in self._held if str(r.get("created_at", "")) > str(newest)]
        self._held = []
        self.model.replace(rows)
        self.model.prepend(held)
        self._update_count()

    def on_requests(self, rows: list[dict[str, Any]]) -> None:
        if self._loading or self.pause.isChecked():
            self._held = (self._held + rows)[-self.model.rows.maxlen :]  # type: ignore[operator]
        else:
            self.model.prepend(rows)
        self._update_count()

    def _pause_toggled(self, paused: bool) -> None:
        if not paused and self._held:
            held, self._held = self._held, []
            self.model.prepend(held)
            self._update_count()

    def show_detail(self, index: QModelIndex) -> None:
        """The whole row in a dialog (double-click): what the table elides or hides."""
        source = self.proxy.mapToSource(index)
        if not source.isValid():
            return
        if self.detail is not None:
            self.detail.close()
        self.detail = RequestDetailDialog(dict(self.model.rows[source.row()]), self)
        self.detail.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.detail.destroyed.connect(lambda *_: setattr(self, "detail", None))
        self.detail.show()

    def _update_count(self, *_: object) -> None:
        kept, shown = len(self.model.rows), self.proxy.rowCount()
        if self.filter.text().strip():
            text = self.tr("{shown} of {n} requests match “{filter}” (at most {max} kept)").format(
                shown=grouped(shown),
                n=grouped(kept),
                filter=self.filter.text().strip(),
                max=grouped(self.model.rows.maxlen),
            )
        else:
            text = self.tr("{n} requests shown (at most {max} kept)").format(
                n=grouped(kept), max=grouped(self.model.rows.maxlen)
            )
        if self._held and self.pause.isChecked():
            text += " · " + self.tr("{n} new while paused").format(n=len(self._held))
        self.count_label.setText(text)
