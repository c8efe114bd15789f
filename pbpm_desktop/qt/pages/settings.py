"""Settings: edit what config.toml holds, save it, and apply it by restarting the gateway.

Only the gateway restarts (a few hundred ms, audit flushed, no data lost), never the app;
desktop-only options (start minimised, start at login) apply without any restart. Values
pinned by environment variables (which win over the file) are shown but not editable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pbpm_desktop.core import dashboard
from pbpm_desktop.core.goduration import keep_alive_for_ollama
from pbpm_desktop.core.settings import (
    DESKTOP_ONLY,
    PAGE_SETTINGS,
    ConfigError,
    Settings,
    default_config_file,
    pinned_by_environment,
    write_user_config,
)
from pbpm_desktop.qt import autostart
from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.errors import describe
from pbpm_desktop.qt.fit import always_on_refusal, on_demand_warnings
from pbpm_desktop.qt.formatting import human_bytes
from pbpm_desktop.qt.i18n import LANGUAGES, ui_locale
from pbpm_desktop.qt.pages.base import Page

#: what may be typed: a Go duration (30m, 1h30m, 1.5h) or whole seconds (1800, 0, -1); the
#: exact check on apply is core.goduration.keep_alive_for_ollama, the one start-up uses
KEEP_ALIVE_RE = r"[+-]?(\d+|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)"
#: editors whose attribute is not the setting's name (the rest are named after the setting)
EDITOR_ATTRS = {
    "always_on_models": "always_on",
    "vram_limit_gb": "vram_limit",
    "max_heavy_models": "max_heavy",
    "heavy_keep_alive": "keep_alive",
}


pinned_settings = pinned_by_environment


def gateway_changed(old: Settings, new: Settings) -> bool:
    return any(
        getattr(old, name) != getattr(new, name)
        for name in Settings.model_fields
        if name not in DESKTOP_ONLY
    )


class SettingsPage(Page):
    icon_name = "nav-settings"
    needs_gateway = False  # settings are editable (and most useful) while stopped
    scrollable = True

    def __init__(self, ctx: UiContext, pinned: dict[str, str] | None = None) -> None:
        super().__init__(
            ctx,
            self.tr("Settings"),
            self.tr("Saved to your user config file; environment variables take precedence."),
        )
        self.pinned = pinned_settings() if pinned is None else pinned
        self.current: Settings | None = None
        self.applying = False

        self.ollama_url = QLineEdit(placeholderText="http://127.0.0.1:11434")
        self.host = QComboBox(editable=True)
        self.host.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.host.setMinimumContentsLength(14)
        self.host.addItem(self.tr("0.0.0.0 (LAN)"), "0.0.0.0")
        self.host.addItem(self.tr("127.0.0.1 (this machine)"), "127.0.0.1")
        self.host.setItemData(
            0,
            self.tr("All interfaces: clients on the LAN can connect"),
            Qt.ItemDataRole.ToolTipRole,
        )
        self.host.setItemData(
            1, self.tr("Only programs on this machine can connect"), Qt.ItemDataRole.ToolTipRole
        )
        self.port = QSpinBox(minimum=0, maximum=65535, specialValueText=self.tr("any free port"))
        self.always_on = QListWidget()
        self.always_on.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.always_on.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.always_on.setUniformItemSizes(True)
        self.always_on.setMinimumHeight(110)
        self.always_on.setMaximumHeight(170)
        self.vram_limit = QDoubleSpinBox(minimum=0.5, maximum=4096, singleStep=0.5, decimals=1)
        self.vram_limit.setSuffix(" GB")
        self.max_heavy = QSpinBox(minimum=0, maximum=64)
        self.keep_alive = QLineEdit(placeholderText="30m")
        self.keep_alive.setValidator(
            QRegularExpressionValidator(QRegularExpression(KEEP_ALIVE_RE), self)
        )
        self.start_minimized = QCheckBox(self.tr("Start minimised to the tray"))
        self.start_at_login = QCheckBox(self.tr("Start PBPM Desktop when I log in"))
        self.login_hint = self._hint("")
        self.language = QComboBox()
        self.language.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.language.setMinimumContentsLength(12)
        for value, name in LANGUAGES:
            self.language.addItem(name or self.tr("System default"), value)
        self.language_hint = self._hint(
            self.tr(
                "System default is {name} here. The language applies the next time PBPM "
                "Desktop starts."
            ).format(name=ui_locale().nativeLanguageName() or "English")
        )
        self.fit_warning = QLabel("", objectName="FitWarning")
        self.fit_warning.setWordWrap(True)
        self.fit_warning.hide()

        upstream = QGroupBox(self.tr("Ollama and network"))
        form = QFormLayout(upstream)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow(self.tr("Ollama URL"), self.ollama_url)
        form.addRow(self.tr("Listen on"), self.host)
        form.addRow(self.tr("Port"), self.port)
        form.addRow(
            self._hint(self.tr("LAN clients need 0.0.0.0; every route but /health needs a key."))
        )
        vram = QGroupBox(self.tr("Models and VRAM"))
        vform = QFormLayout(vram)
        vform.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        vform.addRow(self.tr("VRAM budget"), self.vram_limit)
        vform.addRow(self.tr("Heavy models at once"), self.max_heavy)
        vform.addRow(self.tr("Unload idle after"), self.keep_alive)
        vform.addRow(
            self._hint(
                self.tr(
                    "The budget is what loaded models may use in total; on-demand models are "
                    "unloaded after the idle time (30m, 1h, 0 = at once, -1 = never)."
                )
            )
        )
        vform.addRow(self._hint(self.tr("Always-on models (loaded at start, never evicted):")))
        vform.addRow(self.always_on)
        vform.addRow(self.fit_warning)
        desktop = QGroupBox(self.tr("Desktop"))
        dform = QFormLayout(desktop)
        dform.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        dform.addRow(self.start_minimized)
        dform.addRow(self.start_at_login)
        dform.addRow(self.login_hint)
        dform.addRow(self.tr("Language"), self.language)
        dform.addRow(self.language_hint)
        left = QVBoxLayout()
        left.setSpacing(12)
        left.addWidget(upstream)
        left.addWidget(desktop)
        left.addStretch(1)
        columns = QHBoxLayout()
        columns.setSpacing(12)
        columns.addLayout(left, 1)
        columns.addWidget(vram, 1)
        self.layout_.addLayout(columns)

        self.note = QLabel("", objectName="Muted")
        self.note.setWordWrap(True)
        self.layout_.addWidget(self.note)
        buttons = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.progress_label = QLabel("", objectName="Muted")
        self.revert_button = QPushButton(self.tr("Revert"))
        self.apply_button = QPushButton(self.tr("Save and apply"), objectName="Primary")
        self.revert_button.clicked.connect(self.revert)
        self.apply_button.clicked.connect(self.apply)
        buttons.addWidget(self.progress_label)
        buttons.addWidget(self.progress)
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.apply_button)
        self.layout_.addLayout(buttons)
        self.layout_.addStretch(1)

        #: setting -> its editor, for the settings config.py declares `page=True`
        self.widgets: dict[str, QWidget] = {
            name: getattr(self, EDITOR_ATTRS.get(name, name)) for name in PAGE_SETTINGS
        }
        for attr, env_name in self.pinned.items():
            widget = self.widgets.get(attr)
            if widget is not None:
                widget.setEnabled(False)
                widget.setToolTip(
                    self.tr(
                        "Set by the environment variable {name}; unset it to edit here."
                    ).format(name=env_name)
                )
        self._lock_start_at_login()
        self._show_note()
        self._set_dirty(False)
        for signal in (
            self.ollama_url.textEdited,
            self.host.currentTextChanged,
            self.port.valueChanged,
            self.vram_limit.valueChanged,
            self.max_heavy.valueChanged,
            self.keep_alive.textEdited,
            self.start_minimized.toggled,
            self.start_at_login.toggled,
            self.always_on.itemChanged,
            self.language.currentIndexChanged,
        ):
            signal.connect(lambda *_: self._set_dirty(True))
        for signal in (
            self.vram_limit.valueChanged,
            self.max_heavy.valueChanged,
            self.always_on.itemChanged,
        ):
            signal.connect(lambda *_: self.show_fit())
        ctx.state.vramChanged.connect(self._installed_changed)

    def _lock_start_at_login(self) -> None:
        """Disable "Start at login" where it cannot work, and say why next to it."""
        if self.ctx.demo:
            reason = self.tr(
                "Not available in the demo: it would start the demo, with its simulated "
                "Ollama, every time you log in. Run pbpm-desktop to use it."
            )
        elif not autostart.supported():
            reason = self.tr("Not available on this system (it needs an XDG desktop session).")
        else:
            reason = ""
        if reason:
            self.start_at_login.setEnabled(False)
            self.start_at_login.setToolTip(reason)
        self.login_hint.setText(reason)
        self.login_hint.setVisible(bool(reason))

    def show_fit(self) -> str | None:
        """Refusal (always-on models over budget) or warnings, under the always-on list."""
        installed = self.ctx.state.installed()
        chosen = self.chosen_always_on()
        budget = self.vram_limit.value()
        refusal = always_on_refusal(chosen, installed, budget)
        warnings = (
            [] if refusal else on_demand_warnings(chosen, installed, budget, self.max_heavy.value())
        )
        text = refusal or "\n".join(warnings[:3])
        if len(warnings) > 3:
            text += "\n" + self.tr("…and {n} more.").format(n=len(warnings) - 3)
        self.fit_warning.setText(text)
        self.fit_warning.setProperty("level", "error" if refusal else "warning")
        self.fit_warning.style().unpolish(self.fit_warning)
        self.fit_warning.style().polish(self.fit_warning)
        self.fit_warning.setVisible(bool(text))
        return refusal

    @staticmethod
    def _hint(text: str) -> QLabel:
        label = QLabel(text, objectName="Muted")
        label.setWordWrap(True)
        return label

    # -- loading ----------------------------------------------------------------------------

    def refresh(self) -> None:
        if not self.dirty and not self.applying:
            self.spawn(self._load(), self.tr("Loading settings"))

    async def _load(self) -> None:
        self.current = await self.bridge.call(dashboard.current_settings, self.service)
        self.fill(self.current)

    def fill(self, settings: Settings) -> None:
        self.ollama_url.setText(settings.ollama_url)
        index = self.host.findData(settings.host)
        if index >= 0:
            self.host.setCurrentIndex(index)
        else:
            self.host.setEditText(settings.host)
        self.port.setValue(int(settings.port))
        self.vram_limit.setValue(float(settings.vram_limit_gb))
        self.max_heavy.setValue(int(settings.max_heavy_models))
        self.keep_alive.setText(settings.heavy_keep_alive)
        self.start_minimized.setChecked(settings.start_minimized)
        self.start_at_login.setChecked(
            settings.start_at_login or autostart.is_enabled(self.ctx.autostart_file)
        )
        index = self.language.findData(settings.language)
        self.language.setCurrentIndex(max(index, 0))
        self._fill_always_on(set(settings.always_on_models))
        self.show_fit()
        self._set_dirty(False)

    def _fill_always_on(self, chosen: set[str]) -> None:
        self.always_on.blockSignals(True)
        self.always_on.clear()
        installed = {m["name"]: m for m in self.ctx.state.installed()}
        for name in sorted(set(installed) | chosen):
            item = QListWidgetItem(name)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(name)
            if name in installed:
                item.setText(f"{name}  ({human_bytes(installed[name].get('size'))})")
            else:
                item.setText(self.tr("{name} (not installed)").format(name=name))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in chosen else Qt.CheckState.Unchecked)
            self.always_on.addItem(item)
        self.always_on.blockSignals(False)

    def _installed_changed(self, _snapshot: Any) -> None:
        names = {m["name"] for m in self.ctx.state.installed()}
        listed = {
            self.always_on.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.always_on.count())
        }
        if names - listed:
            self._fill_always_on(set(self.chosen_always_on()))
            self.show_fit()

    def chosen_always_on(self) -> list[str]:
        out = []
        for i in range(self.always_on.count()):
            item = self.always_on.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(str(item.data(Qt.ItemDataRole.UserRole)))
        return out

    def values(self) -> dict[str, Any]:
        """Form values as Settings overrides (raw; `with_overrides` coerces and validates)."""
        host = (
            self.host.currentData()
            if self.host.currentText() == self.host.itemText(self.host.currentIndex())
            else None
        )
        return {
            "ollama_url": self.ollama_url.text().strip().rstrip("/"),
            "host": host or self.host.currentText().strip(),
            "port": self.port.value(),
            "always_on_models": tuple(self.chosen_always_on()),
            "vram_limit_gb": round(self.vram_limit.value(), 1),
            "max_heavy_models": self.max_heavy.value(),
            "heavy_keep_alive": self.keep_alive.text().strip() or "30m",
            "start_minimized": self.start_minimized.isChecked(),
            "start_at_login": self.start_at_login.isChecked(),
            "language": str(self.language.currentData() or ""),
        }

    # -- applying ---------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.ctx.config_file or default_config_file()

    def _show_note(self) -> None:
        if self.ctx.demo:
            self.note.setText(
                self.tr("Demo mode: changes apply to this session only and are not saved.")
            )
        else:
            self.note.setText(
                self.tr("Settings file: {path}").format(path=self.config_path)
                + (
                    "  ·  "
                    + self.tr("Fixed by the environment: {names}").format(
                        names=", ".join(sorted(self.pinned.values()))
                    )
                    if self.pinned
                    else ""
                )
            )

    def _set_dirty(self, dirty: bool) -> None:
        self.dirty = dirty
        self.apply_button.setEnabled(dirty and not self.applying)
        self.revert_button.setEnabled(dirty and not self.applying)

    def revert(self) -> None:
        if self.current is not None:
            self.fill(self.current)

    def apply(self) -> None:
        if not self.applying:
            self.spawn(self._apply(), self.tr("Applying settings"))

    async def _apply(self) -> bool:
        current = self.current or await self.bridge.call(dashboard.current_settings, self.service)
        try:
            keep_alive_for_ollama(self.keep_alive.text().strip() or "30m")
        except ValueError:
            self.ctx.notifier.error(
                self.tr(
                    "Keep-alive must be a duration like 30m, 1h30m or 90s, or whole seconds "
                    "(1800; 0 unloads at once, -1 keeps loaded forever)."
                )
            )
            return False
        try:
            new = current.with_overrides(**self.values())
        except ConfigError as exc:
            self.ctx.notifier.error(describe(exc))
            return False
        refusal = self.show_fit()
        if refusal is not None:  # the gateway would start and fail to load them: say so now
            self.ctx.notifier.error(self.tr("Not applied. {reason}").format(reason=refusal))
            return False
        if new == current:
            self.ctx.notifier.info(self.tr("Nothing changed."))
            self._set_dirty(False)
            return True
        self._busy(True, self.tr("Applying…"))
        try:
            if gateway_changed(current, new):
                self._busy(True, self.tr("Restarting the gateway…"))
                if not await self._restart(current, new):
                    return False
            else:
                await self.bridge.call(dashboard.replace_settings, self.service, new)
            saved = self._persist(new)
        finally:
            self._busy(False)
        self.current = new
        self._set_dirty(False)
        if self.ctx.settings_applied is not None:
            self.ctx.settings_applied(new)
        if saved is not None:
            self.ctx.notifier.success(
                self.tr("Settings saved to {path} and applied.").format(path=saved)
            )
        else:
            self.ctx.notifier.success(self.tr("Settings applied for this session."))
        return True

    def _persist(self, new: Settings) -> Path | None:
        """Write the TOML file and the autostart entry (not in demo mode)."""
        if self.ctx.demo:
            return None
        try:
            path = write_user_config(new, self.config_path, skip=self.pinned)
            if autostart.supported() and new.start_at_login != autostart.is_enabled(
                self.ctx.autostart_file
            ):
                autostart.set_enabled(new.start_at_login, self.ctx.autostart_file)
        except OSError as exc:
            self.ctx.notifier.error(
                self.tr("Could not save the settings: {e}").format(e=describe(exc))
            )
            return None
        return path

    async def _restart(self, current: Settings, new: Settings) -> bool:
        try:
            await self.bridge.call(self.service.restart, new)
        except Exception as exc:
            error = describe(exc)
            try:
                await self.bridge.call(self.service.restart, current)
            except Exception as again:
                self.ctx.notifier.error(
                    self.tr(
                        "The gateway could not start with the new settings ({e}) nor with the "
                        "previous ones ({e2}). Fix the settings and apply again."
                    ).format(e=error, e2=describe(again))
                )
            else:
                self.ctx.notifier.error(
                    self.tr(
                        "The gateway could not start with the new settings: {e}. It is running "
                        "with the previous settings again."
                    ).format(e=error)
                )
            return False
        return True

    def _busy(self, busy: bool, text: str = "") -> None:
        self.applying = busy
        self.progress.setVisible(busy)
        self.progress_label.setText(text if busy else "")
        self._set_dirty(self.dirty)
        for attr, widget in self.widgets.items():
            widget.setEnabled(not busy and attr not in self.pinned)
        self._lock_start_at_login()
