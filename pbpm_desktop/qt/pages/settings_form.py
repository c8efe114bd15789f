"""The Settings page's form: one editor per setting config.py declares `page=True`.

Why a module of its own: the form (editors, their layout, pinned fields, the always-on list
and its fit warnings, Settings in and overrides out) is one concern; saving and applying it
(restarting the gateway, writing the TOML) is another, in pages/settings.py.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, Signal
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
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pbpm_desktop.core.settings import PAGE_SETTINGS, Settings
from pbpm_desktop.qt import autostart
from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.fit import always_on_refusal, on_demand_warnings
from pbpm_desktop.qt.formatting import human_bytes
from pbpm_desktop.qt.i18n import LANGUAGES, ui_locale
from pbpm_desktop.qt.pages.base import PageBody

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


def hint(text: str) -> QLabel:
    """A muted, word-wrapped explanation under a field."""
    label = QLabel(text, objectName="Muted")
    label.setWordWrap(True)
    return label


def group(title: str) -> tuple[QGroupBox, QFormLayout]:
    """A titled group of rows; long rows wrap their field below the label."""
    box = QGroupBox(title)
    form = QFormLayout(box)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    return box, form


class SettingsForm(PageBody):
    """The editors in three groups; `edited` fires on any change the user makes.

    A PageBody so that it, too, answers height-for-width with its layout's minimum: the
    page then scrolls only when the form does not fit at its minimum.
    """

    edited = Signal()

    def __init__(self, ctx: UiContext, pinned: dict[str, str]) -> None:
        super().__init__()
        self.ctx = ctx
        self.pinned = pinned
        self._build_editors()
        self._lay_out()
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
        self.lock_start_at_login()
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
            signal.connect(lambda *_: self.edited.emit())
        for signal in (
            self.vram_limit.valueChanged,
            self.max_heavy.valueChanged,
            self.always_on.itemChanged,
        ):
            signal.connect(lambda *_: self.show_fit())
        ctx.state.vramChanged.connect(self._installed_changed)

    def _build_editors(self) -> None:
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
        self.login_hint = hint("")
        self.language = QComboBox()
        self.language.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.language.setMinimumContentsLength(12)
        for value, name in LANGUAGES:
            self.language.addItem(name or self.tr("System default"), value)
        self.language_hint = hint(
            self.tr(
                "System default is {name} here. The language applies the next time PBPM "
                "Desktop starts."
            ).format(name=ui_locale().nativeLanguageName() or "English")
        )
        self.fit_warning = QLabel("", objectName="FitWarning")
        self.fit_warning.setWordWrap(True)
        self.fit_warning.hide()

    def _lay_out(self) -> None:
        """Network and desktop on the left, models and VRAM (the tall list) on the right."""
        upstream, form = group(self.tr("Ollama and network"))
        form.addRow(self.tr("Ollama URL"), self.ollama_url)
        form.addRow(self.tr("Listen on"), self.host)
        form.addRow(self.tr("Port"), self.port)
        form.addRow(hint(self.tr("LAN clients need 0.0.0.0; every route but /health needs a key.")))
        vram, vform = group(self.tr("Models and VRAM"))
        vform.addRow(self.tr("VRAM budget"), self.vram_limit)
        vform.addRow(self.tr("Heavy models at once"), self.max_heavy)
        vform.addRow(self.tr("Unload idle after"), self.keep_alive)
        vform.addRow(
            hint(
                self.tr(
                    "The budget is what loaded models may use in total; on-demand models are "
                    "unloaded after the idle time (30m, 1h, 0 = at once, -1 = never)."
                )
            )
        )
        vform.addRow(hint(self.tr("Always-on models (loaded at start, never evicted):")))
        vform.addRow(self.always_on)
        vform.addRow(self.fit_warning)
        desktop, dform = group(self.tr("Desktop"))
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
        columns = QHBoxLayout(self)
        columns.setContentsMargins(0, 0, 0, 0)
        columns.setSpacing(12)
        columns.addLayout(left, 1)
        columns.addWidget(vram, 1)

    def lock_start_at_login(self) -> None:
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

    def set_editable(self, editable: bool) -> None:
        """While applying nothing is editable; pinned fields and a locked login never are."""
        for attr, widget in self.widgets.items():
            widget.setEnabled(editable and attr not in self.pinned)
        self.lock_start_at_login()

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

    # -- Settings in, overrides out ---------------------------------------------------------

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

    def _fill_always_on(self, chosen: set[str]) -> None:
        self.always_on.blockSignals(True)
        self.always_on.clear()
        # cloud models run on ollama.com: nothing to keep loaded here (unless already chosen)
        installed = {m["name"]: m for m in self.ctx.state.installed() if not m.get("cloud")}
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
        names = {m["name"] for m in self.ctx.state.installed() if not m.get("cloud")}
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
