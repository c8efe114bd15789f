"""The page base class: layout defaults and the activate/deactivate hooks.

Pages load their data when shown (`activate`) rather than at construction, so starting the
app costs one page's queries, not six, and hidden pages do not poll.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.state import SERVING
from pbpm_desktop.qt.widgets import PageHeader

if TYPE_CHECKING:
    from pbpm_desktop.core.app import GatewayService
    from pbpm_desktop.qt.bridge import BridgeLike


class PageBody(QWidget):
    """The scrolled content of a `scrollable` page.

    QScrollArea sizes a height-for-width widget (any page with a word-wrapped label) to its
    *preferred* height for the width, so the page scrolled even when everything fitted at
    its minimum. Answering with the layout's *minimum* height for the width instead makes
    the page fill the window when it fits and scroll only when it does not.
    """

    def heightForWidth(self, width: int) -> int:
        layout = self.layout()
        return layout.minimumHeightForWidth(width) if layout is not None else -1


class Page(QWidget):
    #: resources/<icon_name>.svg in the sidebar
    icon_name = ""
    #: the page's data comes from the running gateway: refresh only while it serves, and
    #: again when it comes back (a stopped gateway has no database open)
    needs_gateway = True
    #: the page's content scrolls vertically when the window is too short for it (pages of
    #: cards and forms); table pages instead fit their tables to whatever height is left
    scrollable = False

    def __init__(self, ctx: UiContext, title: str, subtitle: str = "") -> None:
        super().__init__()
        self.ctx = ctx
        self.title = title
        self.active = False
        if self.scrollable:
            outer = QVBoxLayout(self)
            outer.setContentsMargins(0, 0, 0, 0)
            self.scroll = QScrollArea(objectName="PageScroll")
            self.scroll.setWidgetResizable(True)
            self.scroll.setFrameShape(QFrame.Shape.NoFrame)
            self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            body = PageBody(objectName="PageBody")
            self.scroll.setWidget(body)
            outer.addWidget(self.scroll)
            self.layout_ = QVBoxLayout(body)
        else:
            self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(20, 16, 20, 16)
        self.layout_.setSpacing(12)
        self.header = PageHeader(title, subtitle)
        self.layout_.addWidget(self.header)
        self._was_serving = self.serving
        ctx.state.changed.connect(self._gateway_maybe_changed)

    @property
    def serving(self) -> bool:
        return self.ctx.state.gateway == SERVING

    def _gateway_maybe_changed(self) -> None:
        serving = self.serving
        if serving and not self._was_serving and self.active and self.needs_gateway:
            self.refresh()
        self._was_serving = serving

    @property
    def bridge(self) -> BridgeLike:
        return self.ctx.bridge

    @property
    def service(self) -> GatewayService:
        return self.ctx.bridge.service

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str = "") -> Any:
        return self.ctx.tasks.spawn(coro, what or self.title)

    def activate(self) -> None:
        """The page became visible: refresh it."""
        self.active = True
        if self.serving or not self.needs_gateway:
            self.refresh()

    def deactivate(self) -> None:
        self.active = False

    def refresh(self) -> None:
        """Reload the page's data (asynchronously)."""
