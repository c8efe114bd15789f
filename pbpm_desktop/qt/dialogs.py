"""Dialogs: issue a key, show a new key once, confirm. All awaitable, none blocking.

`exec()` would start a nested event loop inside a coroutine; instead `run_dialog` opens the
dialog window-modally and awaits its `finished` signal, so the qasync loop (and tests) keep
running normally while it is open.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pbpm_desktop.qt.tasks import qt_loop


async def run_dialog(dialog: QDialog | QMessageBox) -> int:
    """Open `dialog` window-modally and wait for its result code."""
    future: asyncio.Future[int] = qt_loop().create_future()

    def finished(code: int) -> None:
        if not future.done():
            future.set_result(code)

    dialog.finished.connect(finished)
    dialog.open()
    try:
        return await future
    finally:
        dialog.finished.disconnect(finished)


async def confirm(parent: QWidget | None, title: str, text: str, action: str) -> bool:
    """Ask a yes/no question; True if the user chose `action`."""
    box = QMessageBox(
        QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Cancel, parent
    )
    ok = box.addButton(action, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.setObjectName("ConfirmBox")
    await run_dialog(box)
    chosen = box.clickedButton() is ok
    box.deleteLater()
    return chosen


class IssueKeyDialog(QDialog):
    """Name and email (required name), plus optional limits the gateway enforces."""

    def __init__(self, installed_models: list[str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(self.tr("Issue a client key"))
        self.setObjectName("IssueKeyDialog")
        self.setMinimumWidth(440)
        layout = QVBoxLayout(self)
        intro = QLabel(
            self.tr(
                "A client key lets one person or program use the models on this workstation. "
                "The key is shown once, right after it is created."
            )
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.name = QLineEdit(placeholderText=self.tr("e.g. alice-laptop"))
        self.email = QLineEdit(placeholderText=self.tr("optional, shown as the owner"))
        self.models = QLineEdit(placeholderText=self.tr("all models"))
        if installed_models:
            self.models.setToolTip(
                self.tr("Comma-separated. Installed: {models}").format(
                    models=", ".join(installed_models)
                )
            )
        self.rpm = QSpinBox(maximum=100_000, specialValueText=self.tr("unlimited"))
        self.tokens_per_day = QSpinBox(
            maximum=2_000_000_000, singleStep=10_000, specialValueText=self.tr("unlimited")
        )
        self.tokens_per_day.setGroupSeparatorShown(True)
        self.max_streams = QSpinBox(maximum=1000, specialValueText=self.tr("unlimited"))
        self.expires_days = QSpinBox(
            maximum=3650, suffix=self.tr(" days"), specialValueText=self.tr("never")
        )
        form.addRow(self.tr("Name"), self.name)
        form.addRow(self.tr("Email"), self.email)
        form.addRow(self.tr("Allowed models"), self.models)
        form.addRow(self.tr("Requests per minute"), self.rpm)
        form.addRow(self.tr("Tokens per day"), self.tokens_per_day)
        form.addRow(self.tr("Concurrent requests"), self.max_streams)
        form.addRow(self.tr("Expires after"), self.expires_days)
        layout.addLayout(form)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText(self.tr("Issue key"))
        self.ok.setObjectName("Primary")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self._validate)
        self._validate()

    def _validate(self) -> None:
        self.ok.setEnabled(bool(self.name.text().strip()))

    def values(self) -> dict[str, Any]:
        """Arguments for `service.create_key(name, email, **policy)`."""
        out: dict[str, Any] = {"name": self.name.text().strip(), "email": self.email.text().strip()}
        models = [m.strip() for m in self.models.text().split(",") if m.strip()]
        if models:
            out["models"] = ",".join(models)
        if self.rpm.value():
            out["rpm"] = self.rpm.value()
        if self.tokens_per_day.value():
            out["tokens_per_day"] = self.tokens_per_day.value()
        if self.max_streams.value():
            out["max_streams"] = self.max_streams.value()
        if self.expires_days.value():
            expires = datetime.now(UTC) + timedelta(days=self.expires_days.value())
            out["expires_at"] = expires.isoformat(timespec="seconds")
        return out


class KeyCreatedDialog(QDialog):
    """Shows a new client key exactly once, with a Copy button and a usage example."""

    def __init__(
        self, api_key: str, owner: str, endpoint: str | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Key created"))
        self.setObjectName("KeyCreatedDialog")
        self.setMinimumWidth(640)
        self.api_key = api_key
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        title = QLabel(self.tr("Key for <b>{owner}</b> created").format(owner=owner))
        layout.addWidget(title)
        warning = QLabel(
            self.tr(
                "Copy it now and give it to its owner: it is <b>shown only once</b>. "
                "Only a hash is stored; if it is lost, revoke it and issue a new one."
            )
        )
        warning.setWordWrap(True)
        layout.addWidget(warning)
        row = QHBoxLayout()
        self.key_field = QLineEdit(api_key, objectName="SecretKey")
        self.key_field.setReadOnly(True)
        self.key_field.setCursorPosition(0)
        self.copy_button = QPushButton(self.tr("Copy"), objectName="Primary")
        self.copy_button.clicked.connect(self.copy)
        row.addWidget(self.key_field, 1)
        row.addWidget(self.copy_button)
        layout.addLayout(row)
        if endpoint:
            snippet = (
                f"curl {endpoint}/api/chat \\\n"
                f"  -H 'Authorization: Bearer {api_key}' \\\n"
                '  -d \'{"model": "llama3.2:3b", "messages": [...]}\''
            )
            example = QLabel(self.tr("Use it like this:") + f"<pre>{snippet}</pre>")
            example.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            example.setObjectName("Muted")
            example.setTextFormat(Qt.TextFormat.RichText)
            layout.addWidget(example)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.api_key)
        self.copy_button.setText(self.tr("Copied ✓"))
        QTimer.singleShot(2000, self.copy_button, lambda: self.copy_button.setText(self.tr("Copy")))
