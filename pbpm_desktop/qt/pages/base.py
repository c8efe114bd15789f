"""The page base class: layout defaults and the activate/deactivate hooks.

Pages load their data when shown (`activate`) rather than at construction, so starting the
app costs one page's queries, not six, and hidden pages do not poll.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QVBoxLayout, QWidget

from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.state import SERVING
from pbpm_desktop.qt.widgets import PageHeader

if TYPE_CHECKING:
    from pbpm_desktop.core.service import GatewayService
    from pbpm_desktop.qt.bridge import BridgeLike


class Page(QWidget):
    #: resources/<icon_name>.svg in the sidebar
    icon_name = ""
    #: the page's data comes from the running gateway: refresh only while it serves, and
    #: again when it comes back (a stopped gateway has no database open)
    needs_gateway = True

    def __init__(self, ctx: UiContext, title: str, subtitle: str = "") -> None:
        super().__init__()
        self.ctx = ctx
        self.title = title
        self.active = False
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
