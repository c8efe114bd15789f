"""Dialogs: issue a key, show a new key once, confirm. All awaitable, none blocking.

`exec()` would start a nested event loop inside a coroutine; instead `run_dialog` opens the
dialog window-modally and awaits its `finished` signal, so the qasync loop (and tests) keep
running normally while it is open.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pbpm_desktop.qt.key_form import KeyPolicyForm
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


class KeyDialog(QDialog):
    """Issue a key (`key` None) or edit one: the shared form, an intro and OK/Cancel."""

    def __init__(
        self,
        installed: list[dict[str, Any]],
        key: dict[str, Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.editing = key is not None
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        if self.editing:
            self.setWindowTitle(self.tr("Edit key"))
            self.setObjectName("EditKeyDialog")
            intro_text = self.tr(
                "Key {prefix}… of {owner}. Changes apply to its next request; the key itself "
                "(the secret) stays the same."
            ).format(prefix=key.get("prefix", ""), owner=key.get("owner", ""))
        else:
            self.setWindowTitle(self.tr("Issue a client key"))
            self.setObjectName("IssueKeyDialog")
            intro_text = self.tr(
                "A client key lets one person or program use the models on this workstation. "
                "The key is shown once, right after it is created."
            )
        intro = QLabel(intro_text)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.form = KeyPolicyForm(installed, key, self)
        layout.addWidget(self.form)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText(self.tr("Save changes") if self.editing else self.tr("Issue key"))
        self.ok.setObjectName("Primary")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self._validate)
        self._validate()

    @property
    def name(self) -> QLineEdit:
        return self.form.name

    @property
    def email(self) -> QLineEdit:
        return self.form.email

    def _validate(self) -> None:
        self.ok.setEnabled(bool(self.name.text().strip()))

    def values(self) -> dict[str, Any]:
        """Issuing: every field for `create_key`; editing: only the changed ones."""
        return self.form.changes() if self.editing else self.form.values()


#: the issuing dialog keeps its old name (tests and screenshots use it)
IssueKeyDialog = KeyDialog


class KeyCreatedDialog(QDialog):
    """Shows a new client key exactly once, with Copy buttons and a runnable example."""

    def __init__(
        self,
        api_key: str,
        owner: str,
        endpoint: str | None,
        parent: QWidget | None = None,
        *,
        model: str = "llama3.2:3b",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Key created"))
        self.setObjectName("KeyCreatedDialog")
        self.setMinimumWidth(620)
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
        self.command = curl_example(endpoint, api_key, model) if endpoint else ""
        self.example: QPlainTextEdit | None = None
        if endpoint:
            layout.addWidget(QLabel(self.tr("Try it from a terminal:")))
            # a text box, not a label: it wraps instead of clipping, and selects as plain text
            self.example = QPlainTextEdit(self.command, objectName="Command")
            self.example.setReadOnly(True)
            self.example.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
            # three lines, the two long ones wrapping once at the minimum width, plus air
            lines = self.command.count("\n") + 4
            self.example.setFixedHeight(self.example.fontMetrics().lineSpacing() * lines + 16)
            layout.addWidget(self.example)
            self.copy_command = QPushButton(self.tr("Copy command"))
            self.copy_command.clicked.connect(
                lambda: QGuiApplication.clipboard().setText(self.command)
            )
            layout.addWidget(self.copy_command, 0, Qt.AlignmentFlag.AlignLeft)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.api_key)
        self.copy_button.setText(self.tr("Copied ✓"))
        QTimer.singleShot(2000, self.copy_button, lambda: self.copy_button.setText(self.tr("Copy")))


def curl_example(endpoint: str, api_key: str, model: str) -> str:
    """A complete command a shell runs as is (non-streaming, so the answer is one JSON)."""
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Hello!"}], "stream": False}
    )
    return f"curl {endpoint}/api/chat \\\n  -H 'Authorization: Bearer {api_key}' \\\n  -d '{body}'"
