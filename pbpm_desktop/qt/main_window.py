"""The dashboard window: sidebar navigation, message banner, one page at a time.

Closing the window only hides it when a tray icon exists (the gateway keeps serving). Without
a tray there would be no way back to a hidden window, so closing asks: keep serving with the
window minimised (the default, and the banner says so), or quit and stop the gateway for every
client on the LAN. It never stops the gateway silently. Hidden pages are deactivated so they
stop polling.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from pbpm_desktop import __version__
from pbpm_desktop.qt import style
from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.icons import app_icon, icon
from pbpm_desktop.qt.notify import ERROR
from pbpm_desktop.qt.pages.base import Page
from pbpm_desktop.qt.state import SERVING, STARTING, STOPPING
from pbpm_desktop.qt.widgets import MessageBanner


class MainWindow(QMainWindow):
    #: the user closed the window and there is no tray to keep the app in
    quitRequested = Signal()
    #: the window was closed to the tray (the app keeps running)
    hiddenToTray = Signal()
    #: no tray: the user chose to keep serving with the window minimised
    keptServing = Signal()

    def __init__(self, ctx: UiContext, pages: list[Page], *, close_to_tray: bool) -> None:
        super().__init__()
        self.ctx = ctx
        self.pages = pages
        self.close_to_tray = close_to_tray
        self._may_close = False
        #: the open "stop the gateway?" question, if any (no tray only)
        self.close_prompt: QMessageBox | None = None
        self.setWindowTitle(self.tr("PBPM Desktop") + (self.tr(" — demo") if ctx.demo else ""))
        self.setWindowIcon(app_icon())
        self.resize(1180, 780)
        self.setMinimumSize(900, 600)

        central = QWidget()
        root = QHBoxLayout(central)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        sidebar = QWidget(objectName="Sidebar")
        sidebar.setFixedWidth(200)
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(0, 14, 0, 10)
        brand = QHBoxLayout()
        brand.setContentsMargins(14, 0, 10, 10)
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(28, 28))
        brand.addWidget(logo)
        brand.addWidget(QLabel(self.tr("PBPM Desktop"), objectName="Brand"), 1)
        side.addLayout(brand)
        self.nav = QListWidget(objectName="Nav")
        self.nav.setIconSize(QSize(18, 18))
        for page in pages:
            QListWidgetItem(icon(page.icon_name), page.title, self.nav)
        side.addWidget(self.nav, 1)
        self.side_status = QLabel("", objectName="Muted")
        self.side_status.setWordWrap(True)
        self.side_status.setContentsMargins(14, 0, 10, 0)
        side.addWidget(self.side_status)
        version = QLabel(
            f"v{__version__}" + (self.tr(" · demo") if ctx.demo else ""), objectName="Muted"
        )
        version.setContentsMargins(14, 4, 10, 0)
        side.addWidget(version)
        root.addWidget(sidebar)

        content = QVBoxLayout()
        content.setContentsMargins(16, 10, 16, 0)
        content.setSpacing(0)
        self.stack = QStackedWidget()
        for page in pages:
            self.stack.addWidget(page)
        content.addWidget(self.stack, 1)
        self.banner = MessageBanner()
        self.banner.attach(self.stack)  # floats over the page: showing it moves nothing
        root.addLayout(content, 1)
        self.setCentralWidget(central)

        self.nav.currentRowChanged.connect(self._switch)
        ctx.notifier.message.connect(self.banner.show_message)
        ctx.state.changed.connect(self._show_state)
        self._current: Page | None = None
        self.nav.setCurrentRow(0)
        self._show_state()

    # -- navigation -------------------------------------------------------------------------

    def page(self, cls: type[Page]) -> Page:
        return next(p for p in self.pages if isinstance(p, cls))

    def show_page(self, cls: type[Page]) -> Page:
        page = self.page(cls)
        self.nav.setCurrentRow(self.pages.index(page))
        return page

    @property
    def current_page(self) -> Page | None:
        return self._current

    def _switch(self, row: int) -> None:
        if self._current is not None:
            self._current.deactivate()
        self.stack.setCurrentIndex(row)
        self._current = self.pages[row] if 0 <= row < len(self.pages) else None
        if self._current is not None and self.isVisible():
            self._current.activate()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._current is not None and not self._current.active:
            self._current.activate()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        if self._current is not None and not event.spontaneous():
            self._current.deactivate()

    # -- state ------------------------------------------------------------------------------

    def _show_state(self) -> None:
        state = self.ctx.state
        if state.gateway == SERVING:
            colour = style.WARN if state.ollama_up is False else style.GOOD
            text = self.tr("Ollama unreachable") if state.ollama_up is False else self.tr("Serving")
        elif state.gateway in (STARTING, STOPPING):
            colour, text = (
                style.ACCENT,
                (self.tr("Starting…") if state.gateway == STARTING else self.tr("Stopping…")),
            )
        else:
            colour, text = style.MUTED, self.tr("Stopped")
        self.side_status.setText(f"<span style='color:{colour}'>●</span> {text}")
        self.side_status.setToolTip(state.url or "")

    # -- closing ----------------------------------------------------------------------------

    def allow_close(self) -> None:
        """After shutdown: let closeEvent really close."""
        self._may_close = True

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._may_close:
            event.accept()
            return
        event.ignore()
        if self.close_to_tray:
            self.hide()
            self.hiddenToTray.emit()
        else:
            self.ask_before_stopping()

    def ask_before_stopping(self) -> None:
        """No tray: ask whether closing should stop the gateway (window-modal, non-blocking)."""
        if self.close_prompt is not None:
            self.close_prompt.raise_()
            return
        box = QMessageBox(self)
        box.setObjectName("ClosePrompt")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(self.tr("PBPM Desktop"))
        box.setText(self.tr("Stop the gateway for everyone?"))
        box.setInformativeText(
            self.tr(
                "This desktop has no system tray, so the window cannot hide there. "
                "Keep serving with the window minimised, or quit: quitting stops the gateway "
                "and every client on the LAN loses access."
            )
        )
        keep = box.addButton(self.tr("Keep serving (minimise)"), QMessageBox.ButtonRole.AcceptRole)
        box.addButton(self.tr("Quit and stop the gateway"), QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(keep)
        box.setEscapeButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.buttonClicked.connect(self._close_answered)
        box.finished.connect(self._close_prompt_done)
        self.close_prompt = box
        box.open()

    def _close_answered(self, button: QAbstractButton) -> None:
        box = self.close_prompt
        if box is None:
            return
        role = box.buttonRole(button)
        if role == QMessageBox.ButtonRole.DestructiveRole:
            self.quitRequested.emit()
        elif role == QMessageBox.ButtonRole.AcceptRole:
            self.showMinimized()
            self.keptServing.emit()
            self.ctx.notifier.info(
                self.tr(
                    "Still serving: the window is minimised because this desktop has no "
                    "tray. To stop the gateway, close the window and choose Quit."
                )
            )

    def _close_prompt_done(self, _result: int) -> None:
        if self.close_prompt is not None:
            self.close_prompt.deleteLater()
            self.close_prompt = None

    def show_error(self, text: str) -> None:
        self.banner.show_message(ERROR, text)

    def bring_to_front(self) -> None:
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()
