"""One request in full (double-click a row on the Requests page): what the table elides."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from pbpm_desktop.qt.formatting import duration_ms, grouped, local_time


class RequestDetailDialog(QDialog):
    """Key, owner, model, route, tokens, timings, status and client of one audit row."""

    def __init__(self, row: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Request details"))
        self.setObjectName("RequestDetailDialog")
        self.setMinimumWidth(460)
        self.row = row
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        prompt = int(row.get("prompt_tokens") or 0)
        completion = int(row.get("completion_tokens") or 0)
        key = f"{row.get('key_prefix') or ''}…" if row.get("key_prefix") else "—"
        if row.get("key_id") is not None:
            key += " " + self.tr("(key #{id})").format(id=row["key_id"])
        self.fields: dict[str, str] = {
            self.tr("Time"): local_time(row.get("created_at"), seconds=True),
            self.tr("Key"): key,
            self.tr("Owner"): str(row.get("owner") or "—"),
            self.tr("Model"): str(row.get("model") or self.tr("(no model)")),
            self.tr("Route"): str(row.get("route") or "—"),
            self.tr("Prompt tokens"): grouped(prompt),
            self.tr("Completion tokens"): grouped(completion),
            self.tr("Total tokens"): grouped(prompt + completion),
            self.tr("Duration"): duration_ms(row.get("duration_ms")),
            self.tr("First token after"): duration_ms(row.get("ttft_ms")),
            self.tr("Status"): str(row.get("status") or "—"),
            self.tr("Client"): str(row.get("client") or "—"),
        }
        for label, value in self.fields.items():
            # read-only line edits: selectable and copyable, and a long model name scrolls
            # inside its field instead of being cut off when the dialog is made small
            text = QLineEdit(value, objectName="DetailValue")
            text.setReadOnly(True)
            text.setFrame(False)
            text.setCursorPosition(0)
            text.setToolTip(value)
            text.setMinimumWidth(text.fontMetrics().horizontalAdvance(value[:40]) + 12)
            form.addRow(label, text)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
