"""The form behind "Issue key…" and "Edit key…": who the key is for, and what it may do.

Allowed models are ticked in a list of the *installed* models (free text let a typo through,
and a key allowed only a model that does not exist can do nothing). A model the key already
allows but Ollama no longer has stays in the list, ticked and marked, so editing a key never
drops part of its policy silently.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QWidget,
)

from pbpm_desktop.qt.formatting import human_bytes, parse_time

#: the spin boxes' 0 means "no limit"; the API's None does too
LIMIT_FIELDS = ("rpm", "tokens_per_day", "max_streams")


class KeyPolicyForm(QWidget):
    """Name, email, allowed models, rate/token/stream limits and expiry of one key."""

    def __init__(
        self,
        installed: list[dict[str, Any]],
        key: dict[str, Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.key = key or {}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.name = QLineEdit(placeholderText=self.tr("e.g. alice-laptop"))
        self.email = QLineEdit(placeholderText=self.tr("optional, shown as the owner"))
        self.models = QListWidget(objectName="AllowedModels")
        self.models.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.models.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.models.setMinimumHeight(96)
        self.models.setMaximumHeight(150)
        self.models_hint = QLabel(objectName="Muted")
        self.models_hint.setWordWrap(True)
        self.rpm = QSpinBox(maximum=100_000, specialValueText=self.tr("unlimited"))
        self.tokens_per_day = QSpinBox(
            maximum=2_000_000_000, singleStep=10_000, specialValueText=self.tr("unlimited")
        )
        self.tokens_per_day.setGroupSeparatorShown(True)
        self.max_streams = QSpinBox(maximum=1000, specialValueText=self.tr("unlimited"))
        self.expires = QCheckBox(self.tr("Expires on"))
        self.expires_date = QDateEdit(calendarPopup=True)
        self.expires_date.setMinimumDate(QDate.currentDate().addDays(1))
        self.expires_date.setDate(QDate.currentDate().addDays(30))
        self.expires.toggled.connect(self.expires_date.setEnabled)
        expiry = QHBoxLayout()
        expiry.addWidget(self.expires)
        expiry.addWidget(self.expires_date, 1)
        form.addRow(self.tr("Name"), self.name)
        form.addRow(self.tr("Email"), self.email)
        form.addRow(self.tr("Allowed models"), self.models)
        form.addRow("", self.models_hint)
        form.addRow(self.tr("Requests per minute"), self.rpm)
        form.addRow(self.tr("Tokens per day"), self.tokens_per_day)
        form.addRow(self.tr("Concurrent requests"), self.max_streams)
        form.addRow(self.tr("Expiry"), expiry)
        self._fill_models(installed, set(self.key.get("models") or []))
        self.models.itemChanged.connect(self._show_models_hint)
        self._fill(self.key)

    def _fill_models(self, installed: list[dict[str, Any]], allowed: set[str]) -> None:
        sizes = {str(m["name"]): m.get("size") for m in installed if m.get("name")}
        cloud = {str(m["name"]) for m in installed if m.get("cloud")}
        for name in sorted(set(sizes) | allowed):
            if name in cloud:  # runs on ollama.com: its size (0) says nothing
                text = "{name}  ({cloud})".format(name=name, cloud=self.tr("cloud"))
            elif name in sizes:
                text = f"{name}  ({human_bytes(sizes[name])})"
            else:
                text = self.tr("{name} (not installed)").format(name=name)
            item = QListWidgetItem(text, self.models)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if name in allowed else Qt.CheckState.Unchecked
            )
        if not sizes and not allowed:
            self.models.setEnabled(False)
        self._show_models_hint()

    def _show_models_hint(self, *_: object) -> None:
        if self.models.count() == 0:
            text = self.tr("No model list yet (is Ollama running?): the key may use all models.")
        elif self.chosen_models():
            text = self.tr("Only the ticked models; every other model is refused (403).")
        else:
            text = self.tr("None ticked: the key may use every installed model.")
        self.models_hint.setText(text)

    def _fill(self, key: dict[str, Any]) -> None:
        self.name.setText(str(key.get("name") or ""))
        self.email.setText(str(key.get("email") or ""))
        for field in LIMIT_FIELDS:
            getattr(self, field).setValue(int(key.get(field) or 0))
        when = parse_time(key.get("expires_at"))
        self.expires.setChecked(when is not None)
        self.expires_date.setEnabled(when is not None)
        if when is not None:
            local = when.astimezone()
            self.expires_date.setMinimumDate(min(self.expires_date.minimumDate(), _qdate(local)))
            self.expires_date.setDate(_qdate(local))

    def chosen_models(self) -> list[str]:
        return [
            str(self.models.item(i).data(Qt.ItemDataRole.UserRole))
            for i in range(self.models.count())
            if self.models.item(i).checkState() == Qt.CheckState.Checked
        ]

    def expires_at(self) -> str | None:
        """The end of the chosen local day, in UTC ISO 8601 (None: never expires)."""
        if not self.expires.isChecked():
            return None
        day = self.expires_date.date().toPython()
        end = datetime.combine(day, time(23, 59, 59)).astimezone()
        return end.astimezone(UTC).isoformat(timespec="seconds")

    def values(self) -> dict[str, Any]:
        """Every field, the way `create_key` / `update_key` take them (None = no limit)."""
        out: dict[str, Any] = {
            "name": self.name.text().strip(),
            "email": self.email.text().strip(),
            "models": ",".join(self.chosen_models()),
            "expires_at": self.expires_at(),
        }
        for field in LIMIT_FIELDS:
            out[field] = getattr(self, field).value() or None
        return out

    def changes(self) -> dict[str, Any]:
        """Only what differs from the key being edited (an unchanged expiry is not resent)."""
        out = {}
        for field, value in self.values().items():
            old = self.key.get(field)
            if field == "models":
                old = ",".join(sorted(old or []))
                value = ",".join(sorted(value.split(","))) if value else ""
            elif field == "expires_at":
                before, after = parse_time(old), parse_time(value)
                same_day = (
                    before is not None
                    and after is not None
                    and before.astimezone().date() == after.astimezone().date()
                )
                if same_day or (before is None and after is None):
                    continue
            elif field in LIMIT_FIELDS:
                old = old or None
            elif field == "email":
                old = old or ""
            if value != old:
                out[field] = value
        return out


def _qdate(when: datetime) -> QDate:
    return QDate(when.year, when.month, when.day)


def days_from_now(days: int) -> QDate:
    """The date `days` from today (tests and defaults)."""
    today = datetime.now().date() + timedelta(days=days)
    return QDate(today.year, today.month, today.day)
