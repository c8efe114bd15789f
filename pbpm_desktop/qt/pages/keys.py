"""Keys: issue a client key (shown once), see every key's usage, revoke with confirmation."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QDialog, QLabel, QPushButton

from pbpm_desktop.qt import style
from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.dialogs import KeyCreatedDialog, KeyDialog, confirm, run_dialog
from pbpm_desktop.qt.errors import describe
from pbpm_desktop.qt.formatting import ago, grouped, human_count, local_date, local_time
from pbpm_desktop.qt.pages.base import Page
from pbpm_desktop.qt.widgets import cell, make_table

STATUS_COLOURS = {"active": style.GOOD, "revoked": style.BAD, "expired": style.WARN}


class KeysPage(Page):
    icon_name = "nav-keys"

    def __init__(self, ctx: UiContext) -> None:
        super().__init__(
            ctx,
            self.tr("Keys"),
            self.tr(
                "Each person or program gets its own key, so usage is audited per key and a "
                "key can be revoked without affecting the others."
            ),
        )
        self.show_revoked = QCheckBox(self.tr("Show revoked"))
        self.show_revoked.toggled.connect(self.show_keys)
        self.revoke_button = QPushButton(self.tr("Revoke…"), objectName="Danger")
        self.revoke_button.clicked.connect(self.revoke_selected)
        self.edit_button = QPushButton(self.tr("Edit…"))
        self.edit_button.setToolTip(self.tr("Change the key's limits, allowed models or owner"))
        self.edit_button.clicked.connect(self.edit_selected)
        self.issue_button = QPushButton(self.tr("Issue key…"), objectName="Primary")
        self.issue_button.clicked.connect(self.issue)
        for widget in (self.show_revoked, self.revoke_button, self.edit_button, self.issue_button):
            self.header.add_action(widget)
        self.table = make_table(
            [
                self.tr("ID"),
                self.tr("Prefix"),
                self.tr("Name"),
                self.tr("Owner"),
                self.tr("Created"),
                self.tr("Last used"),
                self.tr("Requests"),
                self.tr("Tokens used"),
                self.tr("Status"),
                self.tr("Limits"),
            ],
            elastic=(2, 3, 9),
            priority=(2, 8, 1, 9, 3, 5, 7, 6, 4, 0),
        )
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.cellDoubleClicked.connect(lambda *_: self.edit_selected())
        self.layout_.addWidget(self.table, 1)
        self.empty = QLabel(
            self.tr("No keys yet. Issue one for each person or program that uses the models."),
            objectName="Muted",
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.layout_.addWidget(self.empty)
        self.keys: list[dict[str, Any]] = []
        self.last_created: dict[str, Any] | None = None
        #: the dialog showing a new key (tests and screenshots reach it here)
        self.created_dialog: KeyCreatedDialog | None = None
        self.issue_dialog: KeyDialog | None = None
        self.edit_dialog: KeyDialog | None = None
        self._loading = False
        self._debounce = QTimer(self, singleShot=True, interval=2000)
        self._debounce.timeout.connect(self.refresh)
        ctx.bridge.keysChanged.connect(self._keys_changed)
        ctx.bridge.requestsDone.connect(self._new_requests)
        ctx.state.changed.connect(self._update_buttons)
        self._update_buttons()

    def _keys_changed(self, _payload: object) -> None:
        if self.active:
            self.refresh()

    def _new_requests(self, _rows: list[dict[str, Any]]) -> None:
        if self.active and not self._debounce.isActive():
            self._debounce.start()

    # -- data -------------------------------------------------------------------------------

    def refresh(self) -> None:
        if not self._loading:
            self._loading = True
            self.spawn(self._load(), self.tr("Loading keys"))

    async def _load(self) -> None:
        try:
            self.keys = await self.bridge.call(self.service.list_keys)
        finally:
            self._loading = False
        self.show_keys()

    def show_keys(self) -> None:
        selected = self.selected_key()
        rows = [
            k for k in self.keys if self.show_revoked.isChecked() or k.get("status") != "revoked"
        ]
        rows.sort(key=lambda k: k.get("id", 0), reverse=True)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(rows))
        for row, key in enumerate(rows):
            status = str(key.get("status", ""))
            values = [
                (str(key.get("id", "")), True, ""),
                (f"{key.get('prefix', '')}…", False, ""),
                (str(key.get("name", "")), False, ""),
                (str(key.get("email") or key.get("owner") or ""), False, ""),
                (local_time(key.get("created_at")), False, ""),
                (ago(key.get("last_used")), False, local_time(key.get("last_used"), seconds=True)),
                (grouped(key.get("requests", 0)), True, ""),
                (grouped(key.get("tokens_used", 0)), True, ""),
                (self._status_text(status), False, ""),
                (self._policy_text(key, short=True), False, self._policy_text(key)),
            ]
            for column, (text, right, tip) in enumerate(values):
                item = cell(text, align_right=right, tooltip=tip)
                item.setData(Qt.ItemDataRole.UserRole, key.get("id"))
                self.table.setItem(row, column, item)
            self.table.item(row, 8).setForeground(QColor(STATUS_COLOURS.get(status, style.MUTED)))
            if selected is not None and key.get("id") == selected.get("id"):
                self.table.selectRow(row)
        self.empty.setVisible(not rows)
        self._update_buttons()

    def _status_text(self, status: str) -> str:
        """The API's status word, in the UI language."""
        labels = {"active": self.tr("active"), "revoked": self.tr("revoked")}
        labels["expired"] = self.tr("expired")
        return labels.get(status, status)

    def _policy_text(self, key: dict[str, Any], *, short: bool = False) -> str:
        """The key's limits: short for the table cell, complete for its tooltip."""
        parts = []
        models = key.get("models") or []
        if models:
            if short and len(models) > 1:
                parts.append(self.tr("{n} models").format(n=len(models)))
            else:
                parts.append(self.tr("models: {m}").format(m=", ".join(models)))
        if key.get("rpm"):
            parts.append(self.tr("{n} requests/min").format(n=grouped(key["rpm"])))
        if key.get("tokens_per_day"):
            value = human_count(key["tokens_per_day"]) if short else grouped(key["tokens_per_day"])
            parts.append(self.tr("{n} tokens/day").format(n=value))
        if key.get("max_streams"):
            parts.append(self.tr("{n} at once").format(n=grouped(key["max_streams"])))
        if key.get("expires_at"):
            parts.append(self.tr("until {t}").format(t=local_date(key["expires_at"])))
        return " · ".join(parts) or self.tr("no limits")

    def selected_key(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        key_id = item.data(Qt.ItemDataRole.UserRole) if item else None
        return next((k for k in self.keys if k.get("id") == key_id), None)

    def select_key(self, key_id: int) -> None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == key_id:
                self.table.selectRow(row)
                return

    def _update_buttons(self) -> None:
        key = self.selected_key()
        serving = self.serving
        self.issue_button.setEnabled(serving)
        editable = serving and key is not None and key.get("status") != "revoked"
        self.revoke_button.setEnabled(editable)
        self.edit_button.setEnabled(editable)
        tip = "" if serving else self.tr("Start the gateway to manage keys")
        self.issue_button.setToolTip(tip)

    # -- actions ----------------------------------------------------------------------------

    def issue(self) -> None:
        self.spawn(self._issue(), self.tr("Issuing a key"))

    async def _ask(self, key: dict[str, Any] | None) -> dict[str, Any] | None:
        """Open the issue (key None) or edit dialog; its values, or None when cancelled."""
        dialog = KeyDialog(self.ctx.state.installed(), key, self)
        attr = "issue_dialog" if key is None else "edit_dialog"
        setattr(self, attr, dialog)  # tests and screenshots reach the open dialog here
        try:
            if await run_dialog(dialog) != QDialog.DialogCode.Accepted:
                return None
            return dialog.values()
        finally:
            setattr(self, attr, None)
            dialog.deleteLater()

    async def _issue(self) -> None:
        values = await self._ask(None)
        if values is None:
            return
        name, email = values.pop("name"), values.pop("email")
        values = {k: v for k, v in values.items() if v not in (None, "")}
        self.issue_button.setEnabled(False)
        try:
            created = await self.bridge.call(self.service.create_key, name, email, **values)
        except Exception as exc:
            self.ctx.notifier.error(self.tr("Could not issue the key: {e}").format(e=describe(exc)))
            return
        finally:
            self._update_buttons()
        self.last_created = created
        await self._load()
        self.select_key(created.get("id", -1))
        shown = KeyCreatedDialog(
            created["api_key"],
            created.get("owner") or name,
            self.ctx.state.lan_url or self.ctx.state.url,
            self,
            model=self._example_model(created),
        )
        self.created_dialog = shown
        try:
            await run_dialog(shown)
        finally:
            self.created_dialog = None
            shown.deleteLater()

    def _example_model(self, key: dict[str, Any]) -> str:
        """A model the new key may really use, for its curl example."""
        if key.get("models"):
            return str(sorted(key["models"])[0])
        installed = self.ctx.state.installed()
        chat = [m for m in installed if "embed" not in str(m.get("name"))]
        always_on = [m for m in chat if m.get("category") == "always_on"]
        for choice in (always_on, chat, installed):
            if choice:
                return str(choice[0]["name"])
        return "llama3.2:3b"

    def edit_selected(self) -> None:
        key = self.selected_key()
        if key is not None and self.edit_button.isEnabled():
            self.spawn(self._edit(key), self.tr("Editing a key"))

    async def _edit(self, key: dict[str, Any]) -> None:
        changes = await self._ask(key)
        if changes is None:
            return
        if not changes:
            self.ctx.notifier.info(self.tr("Nothing changed."))
            return
        try:
            await self.bridge.call(self.service.update_key, int(key["id"]), **changes)
        except Exception as exc:
            self.ctx.notifier.error(
                self.tr("Could not change the key: {e}").format(e=describe(exc))
            )
            return
        self.ctx.notifier.success(
            self.tr("Key {prefix}… updated.").format(prefix=key.get("prefix", ""))
        )
        await self._load()
        self.select_key(int(key["id"]))

    def revoke_selected(self) -> None:
        key = self.selected_key()
        if key is not None:
            self.spawn(self._revoke(key), self.tr("Revoking a key"))

    async def _revoke(self, key: dict[str, Any]) -> None:
        question = self.tr(
            "Revoke key {prefix}… of {owner}?\n\nEvery client using it is refused from now on. "
            "This cannot be undone; issue a new key if needed."
        ).format(prefix=key.get("prefix", ""), owner=key.get("owner", ""))
        if not await confirm(self, self.tr("Revoke key"), question, self.tr("Revoke")):
            return
        try:
            await self.bridge.call(self.service.revoke_key, int(key["id"]))
        except Exception as exc:
            self.ctx.notifier.error(
                self.tr("Could not revoke the key: {e}").format(e=describe(exc))
            )
            return
        self.ctx.notifier.success(
            self.tr("Key {prefix}… revoked.").format(prefix=key.get("prefix", ""))
        )
        await self._load()
