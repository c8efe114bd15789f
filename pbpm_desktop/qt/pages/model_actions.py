"""The Models page's action column: Preload/Reload and Unload, or a busy bar meanwhile.

Its own module: the table (pages/models.py) says what each model's state is; this cell
decides which actions that state allows and why not (tooltips), and starts them through the
callback it is given (ModelsPage.start_op, i.e. qt/model_ops.py).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from pbpm_desktop.qt.advice import settings_hint
from pbpm_desktop.qt.model_ops import PRELOAD, UNLOAD


class ActionCell(QWidget):
    """Preload / Unload buttons, replaced by a busy bar while the operation runs."""

    def __init__(self, model: str, start_op: Callable[[str, str], None]) -> None:
        super().__init__()
        self.model = model
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 1, 4, 1)
        layout.setSpacing(4)
        self.preload = QPushButton(self.tr("Preload"))
        self.unload = QPushButton(self.tr("Unload"))
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumHeight(18)
        self.busy.setTextVisible(False)
        self.busy_label = QLabel("", objectName="Muted")
        # wide enough for the longest of their texts (in any language), so the cell keeps
        # its width when Preload turns into Reload
        wide = max(
            self.preload.fontMetrics().horizontalAdvance(text)
            for text in (self.tr("Preload"), self.tr("Reload"), self.tr("Unload"))
        )
        for button in (self.preload, self.unload):
            button.setMinimumWidth(wide + 28)
        self.busy.setFixedWidth(80)
        for widget in (self.preload, self.unload, self.busy_label, self.busy):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.preload.clicked.connect(lambda: start_op(PRELOAD, model))
        self.unload.clicked.connect(lambda: start_op(UNLOAD, model))
        self.set_state(loaded=False, always_on=False, pending=None, serving=True)

    def set_state(
        self,
        *,
        loaded: bool,
        always_on: bool,
        pending: str | None,
        serving: bool,
        never_fits: str | None = None,
        cloud: bool = False,
    ) -> None:
        """`never_fits`: why this model can never be loaded (Preload is then disabled);
        `cloud`: it runs on ollama.com, so there is nothing to preload (the gateway says 400)."""
        busy = pending is not None
        self.busy.setVisible(busy)
        self.busy_label.setVisible(busy)
        self.busy_label.setText(
            self.tr("Loading…") if pending == PRELOAD else self.tr("Unloading…")
        )
        self.preload.setVisible(not busy)
        self.unload.setVisible(not busy)
        self.preload.setEnabled(serving and not cloud and (loaded or never_fits is None))
        self.preload.setText(self.tr("Reload") if loaded else self.tr("Preload"))
        if cloud:
            tip = self.tr("Cloud models run on ollama.com: there is nothing to load here")
        elif loaded:
            tip = self.tr("Refresh its keep-alive")
        elif never_fits:
            tip = never_fits
        else:
            tip = self.tr("Load it into VRAM now")
        self.preload.setToolTip(tip)
        self.unload.setEnabled(serving and loaded and not always_on)
        self.unload.setToolTip(
            self.tr("Always-on models stay loaded.")
            + " "
            + settings_hint(
                "always_on_models", self.tr("Untick it under Always-on models in Settings.")
            )
            if always_on
            else self.tr("Unload once its requests have finished")
        )
