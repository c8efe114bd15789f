"""Overview: where the gateway listens, whether Ollama answers, today's traffic, the master key."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from pbpm_desktop.core import dashboard
from pbpm_desktop.qt import style
from pbpm_desktop.qt.advice import settings_hint
from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.formatting import grouped, human_bytes, human_count
from pbpm_desktop.qt.pages.base import Page
from pbpm_desktop.qt.state import SERVING, STARTING, STOPPING
from pbpm_desktop.qt.widgets import Card, StatCard, StatusPill

REFRESH_MS = 5000


class UrlRow(QWidget):
    """A selectable URL with a Copy button."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel(caption, objectName="Muted")
        self.caption.setMinimumWidth(44)
        self.url = QLabel("—", objectName="Mono")
        self.url.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy = QPushButton(self.tr("Copy"))
        self.copy.clicked.connect(self._copy)
        layout.addWidget(self.caption)
        layout.addWidget(self.url, 1)
        layout.addWidget(self.copy)

    def set_url(self, url: str | None) -> None:
        self.url.setText(url or "—")
        self.copy.setEnabled(bool(url))

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.url.text())
        self.copy.setText(self.tr("Copied ✓"))
        QTimer.singleShot(1500, self.copy, lambda: self.copy.setText(self.tr("Copy")))


class OverviewPage(Page):
    icon_name = "nav-overview"
    needs_gateway = False  # shows the stopped state too
    scrollable = True

    def __init__(self, ctx: UiContext) -> None:
        super().__init__(
            ctx,
            self.tr("Overview"),
            self.tr("The gateway in front of Ollama: where clients connect and what it serves."),
        )
        self.toggle_button = QPushButton(self.tr("Stop gateway"))
        self.toggle_button.clicked.connect(self._toggle)
        self.header.add_action(self.toggle_button)

        status_row = QHBoxLayout()
        self.pill = StatusPill()
        self.status_text = QLabel("")
        self.status_text.setWordWrap(True)
        status_row.addWidget(self.pill)
        status_row.addWidget(self.status_text, 1)
        self.layout_.addLayout(status_row)
        # issue 13: Ollama reachable on the LAN without the gateway (core/exposure.py)
        self.exposure_warning = QLabel("")
        self.exposure_warning.setWordWrap(True)
        self.exposure_warning.setStyleSheet(f"color: {style.BAD};")
        self.exposure_warning.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.exposure_warning.setVisible(False)
        self.layout_.addWidget(self.exposure_warning)

        grid = QGridLayout()
        grid.setSpacing(12)
        self.endpoint_card = Card(self.tr("Endpoint"))
        self.local_row = UrlRow(self.tr("Local"))
        self.lan_row = UrlRow(self.tr("LAN"))
        self.endpoint_card.body.addWidget(self.local_row)
        self.endpoint_card.body.addWidget(self.lan_row)
        self.endpoint_hint = QLabel("", objectName="Muted")
        self.endpoint_hint.setWordWrap(True)
        self.endpoint_card.body.addWidget(self.endpoint_hint)
        self.tls_label = QLabel("", objectName="Muted")  # issue 13: HTTPS certificate
        self.tls_label.setWordWrap(True)
        self.tls_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.endpoint_card.body.addWidget(self.tls_label)
        self.endpoint_card.body.addStretch(1)
        self.ollama_card = StatCard(self.tr("Ollama"))
        self.requests_card = StatCard(self.tr("Requests today"))
        self.tokens_card = StatCard(self.tr("Tokens today"))
        self.models_card = StatCard(self.tr("Models loaded"))
        self.master_card = Card(self.tr("Master key"))
        self.master_text = QLabel("—")
        self.master_text.setWordWrap(True)
        self.master_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.master_card.body.addWidget(self.master_text)
        master_hint = QLabel(
            self.tr(
                "The master key only manages keys (admin API and this app); "
                "clients get their own keys on the Keys page."
            ),
            objectName="Muted",
        )
        master_hint.setWordWrap(True)
        self.master_card.body.addWidget(master_hint)
        self.master_card.body.addStretch(1)
        grid.addWidget(self.endpoint_card, 0, 0, 1, 2)
        grid.addWidget(self.ollama_card, 0, 2)
        grid.addWidget(self.requests_card, 1, 0)
        grid.addWidget(self.tokens_card, 1, 1)
        grid.addWidget(self.models_card, 1, 2)
        grid.addWidget(self.master_card, 2, 0, 1, 3)
        for column in range(3):
            grid.setColumnStretch(column, 1)
        self.layout_.addLayout(grid)

        self.quick_card = Card(self.tr("Quick start for clients"))
        self.example = QLabel("")
        self.example.setTextFormat(Qt.TextFormat.RichText)
        self.example.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.example.setWordWrap(True)
        self.quick_card.body.addWidget(self.example)
        grid.addWidget(self.quick_card, 3, 0, 1, 3)
        self.layout_.addStretch(1)

        self.info: dict[str, Any] = {}
        self._loading = False
        self._last_gateway = ctx.state.gateway
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self._debounce = QTimer(self, singleShot=True, interval=1000)
        self._debounce.timeout.connect(self.refresh)
        ctx.state.changed.connect(self.show_state)
        ctx.bridge.requestsDone.connect(self._new_requests)
        self.show_state()

    def _new_requests(self, _rows: list[dict[str, Any]]) -> None:
        if self.active and not self._debounce.isActive():
            self._debounce.start()

    # -- life cycle -------------------------------------------------------------------------

    def activate(self) -> None:
        super().activate()
        self.timer.start()

    def deactivate(self) -> None:
        super().deactivate()
        self.timer.stop()

    def refresh(self) -> None:
        if not self._loading:
            self._loading = True
            self.spawn(self._load(), self.tr("Refreshing the overview"))

    async def _load(self) -> None:
        try:
            self.info = await self.bridge.call(dashboard.overview_info, self.service)
        finally:
            self._loading = False
        self.show_info()

    def _toggle(self) -> None:
        if self.ctx.toggle_gateway is not None:
            self.ctx.toggle_gateway()

    # -- display ----------------------------------------------------------------------------

    def show_state(self) -> None:
        """Facts that arrive as events (no round trip needed)."""
        state = self.ctx.state
        gateway = state.gateway
        if gateway != self._last_gateway:
            self._last_gateway = gateway
            if self.active and gateway in (SERVING, "stopped"):
                self.refresh()  # today's counts and the master key appear with the gateway
        up = state.ollama_up
        if gateway == SERVING and state.paused:
            self.pill.set_status(self.tr("Sharing paused"), style.WARN)
            text = self.tr(
                "You paused sharing: clients get '503, the owner paused sharing' until you "
                "resume it from the tray."
            )
        elif gateway == SERVING and up is False:
            self.pill.set_status(self.tr("Ollama unreachable"), style.WARN)
            text = (
                self.tr(
                    "The gateway is serving, but Ollama does not answer at {url}. Clients get "
                    "'502 Ollama unreachable' until it is back. Start Ollama (ollama serve)."
                ).format(url=state.ollama.get("url") or "?")
                + " "
                + settings_hint(
                    "ollama_url", self.tr("If it runs elsewhere, correct the URL in Settings.")
                )
            )
        elif gateway == SERVING:
            self.pill.set_status(self.tr("Serving"), style.GOOD)
            text = self.tr("Clients on this machine and the LAN can connect with their keys.")
        elif gateway == STARTING:
            self.pill.set_status(self.tr("Starting…"), style.ACCENT)
            text = self.tr("Opening the database and contacting Ollama…")
        elif gateway == STOPPING:
            self.pill.set_status(self.tr("Stopping…"), style.MUTED)
            text = self.tr("Finishing requests and flushing the audit…")
        else:
            self.pill.set_status(self.tr("Stopped"), style.MUTED)
            text = state.error or self.tr("The gateway is stopped; clients cannot connect.")
        self.status_text.setText(text)
        self.toggle_button.setText(
            self.tr("Stop gateway") if gateway == SERVING else self.tr("Start gateway")
        )
        self.toggle_button.setEnabled(gateway not in (STARTING, STOPPING))
        self.local_row.set_url(state.url)
        self.lan_row.set_url(state.lan_url)
        self.lan_row.setVisible(state.lan_url is not None or not state.urls)
        if state.url and not state.lan_url:
            self.endpoint_hint.setText(
                self.tr("Listening on this machine only; set the host to 0.0.0.0 for the LAN.")
            )
        else:
            self.endpoint_hint.setText(
                self.tr("Every route except /health needs a key: Authorization: Bearer <key>.")
            )
        ollama = state.ollama
        if up:
            self.ollama_card.set(
                self.tr("Up"),
                self.tr("version {v} at {url}").format(
                    v=ollama.get("version") or "?", url=ollama.get("url") or "?"
                ),
            )
        elif up is False:
            self.ollama_card.set(self.tr("Unreachable"), ollama.get("url") or "")
        else:
            self.ollama_card.set("—", ollama.get("url") or self.tr("not checked yet"))
        self._show_models()
        self.show_example(state.lan_url or state.url)

    def show_example(self, url: str | None) -> None:
        self.quick_card.setVisible(url is not None)
        if url is None:
            return
        native = (
            f"curl {url}/api/chat -H 'Authorization: Bearer &lt;key&gt;' \\\n"
            '     -d \'{"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]}\''
        )
        self.example.setText(
            self.tr("Ollama clients: point them at the gateway and send a key.")
            # pre-wrap: the command wraps in a narrow window instead of widening the page
            + f"<pre style='color:{style.TEXT}; white-space: pre-wrap'>{native}</pre>"
            + self.tr(
                "OpenAI clients: base URL <code>{url}/v1</code>, API key = the client key."
            ).format(url=url)
        )

    def _show_models(self) -> None:
        vram = self.ctx.state.vram
        resident = self.ctx.state.resident()
        installed = self.ctx.state.installed()
        if not vram:
            self.models_card.set("—", "")
            return
        used = vram.get("budget_used_bytes")
        limit = vram.get("budget_limit_bytes") or vram.get("budget_bytes")
        self.models_card.set(
            self.tr("{n} of {total}").format(n=len(resident), total=len(installed)),
            self.tr("{used} of the {limit} VRAM budget").format(
                used=human_bytes(used or 0), limit=human_bytes(limit)
            )
            if limit
            else "",
        )

    def show_info(self) -> None:
        info = self.info
        today = info.get("today")
        if today:
            self.requests_card.set(grouped(today.get("requests", 0)), self.tr("since 00:00 UTC"))
            self.tokens_card.set(
                human_count(today.get("tokens", 0)),
                self.tr("{n} prompt + completion tokens").format(n=grouped(today.get("tokens", 0))),
            )
        else:
            self.requests_card.set("—", self.tr("gateway stopped"))
            self.tokens_card.set("—", "")
        master = info.get("master")
        if master:
            self.master_text.setText(self.tr("Stored in the {where}.").format(where=master))
        else:
            self.master_text.setText(self.tr("Not loaded yet."))
        if info.get("ollama"):
            self.ctx.state.set_ollama(info["ollama"])
        self.show_security(info)

    def show_security(self, info: dict[str, Any]) -> None:
        """The HTTPS certificate's fingerprint, and the exposure warning if Ollama is open."""
        fingerprint = info.get("tls_fingerprint")
        self.tls_label.setText(
            self.tr("HTTPS certificate SHA-256: {fp}").format(fp=fingerprint)
            if fingerprint
            else self.tr("Plain HTTP: keys cross the network readable; see README, TLS.")
        )
        warning = (info.get("exposure") or {}).get("warning")
        self.exposure_warning.setText(self.tr("Security: {w}").format(w=warning) if warning else "")
        self.exposure_warning.setVisible(bool(warning))
