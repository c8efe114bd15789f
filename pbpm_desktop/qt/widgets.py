"""Small reusable widgets: page header, card, status pill, message banner, table helpers."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pbpm_desktop.qt import style
from pbpm_desktop.qt.columns import ColumnFitter
from pbpm_desktop.qt.notify import ERROR, INFO, SUCCESS


class PageHeader(QWidget):
    """Title, one line of explanation, and room on the right for the page's main buttons."""

    def __init__(self, title: str, subtitle: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        texts = QVBoxLayout()
        texts.setSpacing(2)
        self.title = QLabel(title, objectName="PageTitle")
        self.subtitle = QLabel(subtitle, objectName="PageSubtitle")
        self.subtitle.setWordWrap(True)
        texts.addWidget(self.title)
        if subtitle:
            texts.addWidget(self.subtitle)
        layout.addLayout(texts, 1)
        self.actions = QHBoxLayout()
        self.actions.setSpacing(6)
        layout.addLayout(self.actions)

    def add_action(self, widget: QWidget) -> QWidget:
        self.actions.addWidget(widget, 0, Qt.AlignmentFlag.AlignBottom)
        return widget


class Card(QFrame):
    """A white rounded box with a small caps title."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="Card")
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(14, 10, 14, 12)
        self.body.setSpacing(4)
        self.title = QLabel(title.upper(), objectName="CardTitle")
        self.body.addWidget(self.title)


class StatCard(Card):
    """A card with one big number and a caption."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.value = QLabel("—", objectName="CardValue")
        self.caption = QLabel("", objectName="Muted")
        self.caption.setWordWrap(True)
        self.body.addWidget(self.value)
        self.body.addWidget(self.caption)
        self.body.addStretch(1)

    def set(self, value: str, caption: str = "") -> None:
        self.value.setText(value)
        self.caption.setText(caption)


class StatusPill(QLabel):
    """A coloured rounded label: 'Serving', 'Ollama unreachable', 'Stopped'."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="Pill")
        self.set_status("", style.MUTED)

    def set_status(self, text: str, colour: str) -> None:
        self.setText(text)
        self.setStyleSheet(f"background: {colour};")
        self.setVisible(bool(text))


class MessageBanner(QFrame):
    """A dismissible message floating over the top of the page (errors stay until closed).

    It is an overlay, not a layout item: showing it must not push the page down under the
    pointer (a click aimed at a button would land on whatever moved there). `attach(host)`
    makes it a child of `host`, keeps it across the top of `host` when `host` resizes, and
    raises it above the page.
    """

    closed = Signal()

    def __init__(self, parent: QWidget | None = None, *, info_timeout_ms: int = 6000) -> None:
        super().__init__(parent, objectName="Banner")
        self.info_timeout_ms = info_timeout_ms
        self.host: QWidget | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        layout.setSpacing(8)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton(objectName="BannerClose")
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip(self.tr("Dismiss"))
        self.close_button.setAccessibleName(self.tr("Dismiss"))
        self.close_button.clicked.connect(self.dismiss)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self.dismiss)
        self.level = INFO
        self.hide()

    def attach(self, host: QWidget) -> None:
        """Float over the top edge of `host` (the page stack)."""
        self.host = host
        self.setParent(host)
        host.installEventFilter(self)
        self._place()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.host and event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        if self.host is None:
            return
        margin = 8
        width = max(self.host.width() - 2 * margin, 100)
        layout = self.layout()
        height = layout.heightForWidth(width) if layout.hasHeightForWidth() else -1
        height = max(height, self.sizeHint().height())
        self.setGeometry(margin, 4, width, height)
        self.raise_()

    def show_message(self, level: str, text: str) -> None:
        self.level = level
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(text)
        self.show()
        self._place()
        if level in (INFO, SUCCESS):
            self._timer.start(self.info_timeout_ms)
        else:
            self._timer.stop()

    def dismiss(self) -> None:
        self._timer.stop()
        self.hide()
        self.closed.emit()

    @property
    def text(self) -> str:
        return self.label.text()

    @property
    def is_error(self) -> bool:
        return self.isVisible() and self.level == ERROR


def make_table(
    headers: list[str],
    parent: QWidget | None = None,
    *,
    elastic: Sequence[int] = (),
    priority: Sequence[int] | None = None,
) -> QTableWidget:
    """A read-only, row-selecting table whose columns always fit (see `ColumnFitter`)."""
    table = QTableWidget(0, len(headers), parent)
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)  # one line per row, long names elided (full text in the tooltip)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(30)
    header = table.horizontalHeader()
    header.setHighlightSections(False)
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    table.fitter = ColumnFitter(table, elastic=elastic, priority=priority)  # type: ignore[attr-defined]
    return table


def cell(text: str, *, align_right: bool = False, tooltip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if tooltip:
        item.setToolTip(tooltip)
    return item
