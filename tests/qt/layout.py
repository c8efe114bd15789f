"""Geometry checks computed from the widgets (not from pixels): what a user would see clipped.

`layout_problems(page)` lists every visible widget that sticks out of its page, every control
squeezed below the size it needs to show its text, and every table column narrower than its
header (or, for fixed-content columns, than its content), plus any horizontal scrollbar.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QComboBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QTableView,
    QWidget,
)

from pbpm_desktop.qt.columns import ColumnFitter

#: controls whose text is clipped when they are narrower than their minimum size hint
SQUEEZABLE = (QAbstractButton, QComboBox, QLineEdit)


def _inside_item_view(widget: QWidget, page: QWidget) -> bool:
    """Cell widgets scroll inside their view's viewport; the view itself is checked instead."""
    parent = widget.parentWidget()
    while parent is not None and parent is not page:
        if isinstance(parent, QAbstractItemView) and parent.viewport().isAncestorOf(widget):
            return True
        parent = parent.parentWidget()
    return False


def _frame(widget: QWidget, page: QWidget) -> QWidget:
    """What `widget` must fit in: its page, or the content of the page's scroll area."""
    parent = widget.parentWidget()
    while parent is not None and parent is not page:
        inner = parent.widget() if isinstance(parent, QScrollArea) else None
        if inner is not None and inner.isAncestorOf(widget):
            return inner
        parent = parent.parentWidget()
    return page


def _name(widget: QWidget) -> str:
    text = ""
    if isinstance(widget, QAbstractButton | QLabel):
        text = widget.text()[:40]
    return f"{type(widget).__name__}({widget.objectName() or ''}{text!r})"


def layout_problems(page: QWidget) -> list[str]:
    problems: list[str] = []
    need = page.minimumSizeHint()
    if need.width() > page.width() or need.height() > page.height():
        problems.append(f"the page needs {need.toTuple()}, it has {page.size().toTuple()}")
    for widget in page.findChildren(QWidget):
        if not widget.isVisibleTo(page) or widget.isWindow():
            continue
        if _inside_item_view(widget, page):
            # cell widgets scroll with their view: only their own width is checked
            if isinstance(widget, SQUEEZABLE) and widget.width() < widget.minimumSizeHint().width():
                problems.append(f"{_name(widget)} in a table is squeezed to {widget.width()} px")
            continue
        frame = _frame(widget, page)
        rect = QRect(widget.mapTo(frame, QPoint(0, 0)), widget.size())
        if not frame.rect().contains(rect):
            problems.append(f"{_name(widget)} at {rect.getRect()} outside {frame.size().toTuple()}")
        if isinstance(widget, QScrollArea) and widget.widget() is not None:
            inner = widget.widget().minimumSizeHint().width()
            if inner > widget.viewport().width():
                problems.append(f"{_name(widget)} content needs {inner} px of width")
        if isinstance(widget, SQUEEZABLE) and widget.width() < widget.minimumSizeHint().width():
            problems.append(
                f"{_name(widget)} is {widget.width()} px wide, needs "
                f"{widget.minimumSizeHint().width()}"
            )
        if isinstance(widget, QLabel) and widget.text() and not widget.property("elided"):
            if widget.wordWrap():
                tall = widget.heightForWidth(widget.width())
                if widget.height() < tall:
                    problems.append(f"{_name(widget)} is {widget.height()} px high, needs {tall}")
            elif widget.width() < (wide := widget.sizeHint().width()):
                problems.append(f"{_name(widget)} is {widget.width()} px wide, needs {wide}")
        if isinstance(widget, QTableView):
            problems += [f"{_name(widget)} column {p}" for p in table_problems(widget)]
        elif isinstance(widget, QAbstractItemView) and widget.horizontalScrollBar().isVisible():
            problems.append(f"{_name(widget)} has a horizontal scrollbar")
    return problems


def table_problems(view: QTableView) -> list[str]:
    out = []
    fitter = view.findChild(ColumnFitter)
    header = view.horizontalHeader()
    if fitter is None:
        out.append("has no ColumnFitter")
        for c in range(view.model().columnCount()):
            if not header.isSectionHidden(c) and header.sectionSize(c) < header.sectionSizeHint(c):
                out.append(f"{c} narrower than its header")
    else:
        out += fitter.too_narrow()
    shown = sum(
        header.sectionSize(c)
        for c in range(view.model().columnCount())
        if not header.isSectionHidden(c)
    )
    if shown > view.viewport().width():
        out.append(f"columns need {shown} px, the view shows {view.viewport().width()}")
    return out
