"""Settings: edit what config.toml holds, save it, and apply it by restarting the gateway.

Only the gateway restarts (a few hundred ms, audit flushed, no data lost), never the app;
desktop-only options (start minimised, start at login) apply without any restart. Values
pinned by environment variables (which win over the file) are shown but not editable.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton

from pbpm_desktop.core import dashboard
from pbpm_desktop.core.goduration import keep_alive_for_ollama
from pbpm_desktop.core.settings import (
    DESKTOP_ONLY,
    ConfigError,
    Settings,
    default_config_file,
    pinned_by_environment,
    write_user_config,
)
from pbpm_desktop.qt import autostart
from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.errors import describe
from pbpm_desktop.qt.pages.base import Page
from pbpm_desktop.qt.pages.settings_form import SettingsForm

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

        #: the editors; `form.widgets` maps each page setting to its editor
        self.form = SettingsForm(ctx, self.pinned)
        self.layout_.addWidget(self.form)

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

        self._show_note()
        self._set_dirty(False)
        self.form.edited.connect(lambda: self._set_dirty(True))

    # -- loading ----------------------------------------------------------------------------

    def refresh(self) -> None:
        if not self.dirty and not self.applying:
            self.spawn(self._load(), self.tr("Loading settings"))

    async def _load(self) -> None:
        self.current = await self.bridge.call(dashboard.current_settings, self.service)
        self.fill(self.current)

    def fill(self, settings: Settings) -> None:
        self.form.fill(settings)
        self._set_dirty(False)

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
            keep_alive_for_ollama(self.form.keep_alive.text().strip() or "30m")
        except ValueError:
            self.ctx.notifier.error(
                self.tr(
                    "Keep-alive must be a duration like 30m, 1h30m or 90s, or whole seconds "
                    "(1800; 0 unloads at once, -1 keeps loaded forever)."
                )
            )
            return False
        try:
            new = current.with_overrides(**self.form.values())
        except ConfigError as exc:
            self.ctx.notifier.error(describe(exc))
            return False
        refusal = self.form.show_fit()
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
        self.form.set_editable(not busy)
