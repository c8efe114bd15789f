"""Table columns that always fit their view: no clipped headers, no horizontal scrollbar.

Qt's own resize modes each fail somewhere: `ResizeToContents` overflows into a horizontal
scrollbar once the window is narrow, `Stretch` squeezes a column below its header ("Statu"),
fixed pixel widths are wrong for every font and language. `ColumnFitter` instead measures
each column from the widgets (the header's `sectionSizeHint`, the view's
`sizeHintForColumn`) whenever the viewport or the rows change, and then:

* gives every *fixed* column (times, prefixes, numbers, states) the width of its widest
  visible content, so those are never elided;
* lets *elastic* columns (owner, model, client: free text of any length) share what is left,
  never narrower than their header, eliding the rest (the full text is in the tooltip and in
  the detail view);
* when even the minimum does not fit (the 900×600 window), hides the least important columns
  first (`priority` order), rather than clipping all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

#: the narrowest an elastic column may get before a column is hidden instead
ELASTIC_MIN_PX = 110
#: a little air between columns' content and the next column
SLACK_PX = 4


class ColumnFitter(QObject):
    """Keeps `view`'s columns inside its viewport (see the module docstring)."""

    #: something changed that may change the widths (model signals are forwarded here)
    changed = Signal()

    def __init__(
        self,
        view: QTableView,
        *,
        elastic: Sequence[int] = (),
        priority: Sequence[int] | None = None,
    ) -> None:
        super().__init__(view)
        self.view = view
        self.elastic = tuple(elastic)
        count = view.model().columnCount()
        #: most important first; the last ones are hidden first when space runs out
        self.priority = tuple(priority) if priority is not None else tuple(range(count))
        self.hidden: set[int] = set()
        header = view.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header.setMinimumSectionSize(24)
        view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self.fit)
        view.viewport().installEventFilter(self)
        model = view.model()
        # signal-to-signal and signal-to-C++-slot connections only: Qt drops them itself when
        # the view is torn down (model signals fire while a table is destroyed, and a Python
        # slot on the half-destroyed fitter crashed the test run)
        for signal in (
            model.modelReset,
            model.rowsInserted,
            model.rowsRemoved,
            model.dataChanged,
            model.layoutChanged,
            # fixed columns fit the rows in view: scrolling can bring wider ones in
            view.verticalScrollBar().valueChanged,
        ):
            signal.connect(self.changed)
        self.changed.connect(self._timer.start)
        self.schedule()

    def schedule(self) -> None:
        """Refit soon (coalesces bursts of row inserts into one measurement)."""
        self._timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.schedule()
        return False

    # -- measuring --------------------------------------------------------------------------

    def header_width(self, column: int) -> int:
        """What the header needs to show its label unclipped."""
        return self.view.horizontalHeader().sectionSizeHint(column)

    def content_width(self, column: int) -> int:
        """What the visible rows (and any cell widgets) need in `column`."""
        return max(self.view.sizeHintForColumn(column), 0) + SLACK_PX

    def minimum(self, column: int) -> int:
        if column in self.elastic:
            return max(self.header_width(column), min(self.content_width(column), ELASTIC_MIN_PX))
        return max(self.header_width(column), self.content_width(column))

    def desired(self, column: int) -> int:
        return max(self.header_width(column), self.content_width(column))

    def available(self) -> int:
        return self.view.viewport().width()

    # -- fitting ----------------------------------------------------------------------------

    def fit(self) -> None:
        view = self.view
        if not shiboken6.isValid(view):
            return
        header = view.horizontalHeader()
        count = view.model().columnCount()
        columns = [c for c in self.priority if c < count]
        columns += [c for c in range(count) if c not in columns]
        available = self.available()
        # hidden sections measure as 0: show them all while measuring (nothing paints between)
        for c in range(count):
            header.setSectionHidden(c, False)
        minimum = {c: self.minimum(c) for c in columns}
        desired = {c: self.desired(c) for c in columns}
        shown = list(columns)
        while len(shown) > 1 and sum(minimum[c] for c in shown) > available:
            shown.pop()  # the least important goes first
        self.hidden = set(columns) - set(shown)
        widths = {c: minimum[c] for c in shown}
        spare = available - sum(widths.values())
        growable = [c for c in shown if c in self.elastic]
        # elastic columns grow towards their content, then share whatever is still left
        for c in growable:
            extra = min(spare, desired[c] - widths[c])
            if extra > 0:
                widths[c] += extra
                spare -= extra
        receivers = growable or shown[-1:]
        for i, c in enumerate(receivers):
            share = spare // (len(receivers) - i) if spare > 0 else 0
            widths[c] += share
            spare -= share
        for c in range(count):
            header.setSectionHidden(c, c in self.hidden)
        for c, width in widths.items():
            if header.sectionSize(c) != width:
                header.resizeSection(c, width)

    def too_narrow(self) -> list[str]:
        """Shown columns narrower than their header or (fixed ones) their content."""
        header = self.view.horizontalHeader()
        out = []
        for c in range(self.view.model().columnCount()):
            if header.isSectionHidden(c):
                continue
            need = self.minimum(c) if c not in self.elastic else self.header_width(c)
            if header.sectionSize(c) < need:
                label = self.view.model().headerData(c, Qt.Orientation.Horizontal)
                out.append(f"{label!r}: {header.sectionSize(c)} < {need}")
        return out
