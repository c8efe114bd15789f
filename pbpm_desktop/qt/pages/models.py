"""Models & VRAM: installed models, what is loaded, one-click preload/unload, live VRAM plot."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from pbpm_desktop.qt import style
from pbpm_desktop.qt.advice import settings_hint
from pbpm_desktop.qt.charts import VramPlot
from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.fit import never_fits_now
from pbpm_desktop.qt.formatting import expires_in, human_bytes
from pbpm_desktop.qt.model_ops import PRELOAD, UNLOAD, refresh_vram, start_model_op
from pbpm_desktop.qt.pages.base import Page
from pbpm_desktop.qt.pages.model_actions import ActionCell
from pbpm_desktop.qt.widgets import cell, make_table

COLUMNS = (
    "model",
    "category",
    "size",
    "state",
    "vram",
    "expires",
    "in_flight",
    "waiting",
    "action",
)


class ModelsPage(Page):
    icon_name = "nav-models"

    def __init__(self, ctx: UiContext) -> None:
        super().__init__(
            ctx,
            self.tr("Models & VRAM"),
            self.tr(
                "Always-on models stay loaded; on-demand models are swapped in when a request "
                "needs them and unloaded when idle or to make room."
            ),
        )
        refresh = QPushButton(self.tr("Refresh"))
        refresh.clicked.connect(self.refresh)
        self.header.add_action(refresh)

        self.swap_bar = QFrame(objectName="Card")
        swap_layout = QHBoxLayout(self.swap_bar)
        swap_layout.setContentsMargins(12, 6, 12, 6)
        self.swap_label = QLabel("")
        self.swap_label.setWordWrap(True)  # long model names: wrap, never widen the page
        self.swap_progress = QProgressBar()
        self.swap_progress.setRange(0, 0)
        self.swap_progress.setTextVisible(False)
        self.swap_progress.setMaximumWidth(160)
        swap_layout.addWidget(self.swap_label, 1)
        swap_layout.addWidget(self.swap_progress)
        self.swap_bar.hide()
        self.layout_.addWidget(self.swap_bar)

        budget_row = QHBoxLayout()
        budget_row.addWidget(QLabel(self.tr("VRAM budget")))
        self.budget_bar = QProgressBar()
        self.budget_bar.setRange(0, 1000)
        self.budget_bar.setTextVisible(False)
        self.budget_bar.setMaximumHeight(12)
        budget_row.addWidget(self.budget_bar, 1)
        self.budget_label = QLabel("")
        budget_row.addWidget(self.budget_label)
        self.gpu_label = QLabel("", objectName="Muted")
        budget_row.addWidget(self.gpu_label)
        self.layout_.addLayout(budget_row)
        # Ollama unloaded a model on its own (its OLLAMA_MAX_LOADED_MODELS, or memory)
        self.eviction_label = QLabel("", objectName="Warning")
        self.eviction_label.setWordWrap(True)
        self.eviction_label.hide()
        self.layout_.addWidget(self.eviction_label)

        self.table = make_table(
            [
                self.tr("Model"),
                self.tr("Category"),
                self.tr("Size"),
                self.tr("State"),
                self.tr("VRAM"),
                self.tr("Expires"),
                self.tr("In flight"),
                self.tr("Waiting"),
                "",
            ],
            elastic=(0,),
            priority=(0, 8, 3, 2, 1, 4, 5, 6, 7),
        )
        self.table.setSelectionMode(self.table.SelectionMode.NoSelection)
        self.table.verticalHeader().setDefaultSectionSize(34)
        self.plot = VramPlot()
        # room for its legend and axes, and at 900x600 still room for a swap bar and an
        # eviction warning above the table (tests/qt/test_layout.py)
        self.plot.setMinimumHeight(140)
        plot_box = QWidget()
        plot_layout = QVBoxLayout(plot_box)
        plot_layout.setContentsMargins(0, 6, 0, 0)
        plot_title = QLabel(
            self.tr("VRAM used per model (last 10 minutes), against the budget"),
            objectName="CardTitle",
        )
        plot_layout.addWidget(plot_title)
        plot_layout.addWidget(self.plot, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(plot_box)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.layout_.addWidget(self.splitter, 1)

        # why the table is empty, in words (Ollama down, nothing installed, gateway stopped)
        self.notice = QLabel("", objectName="Notice")
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.hide()
        self.layout_.insertWidget(self.layout_.indexOf(self.swap_bar), self.notice)
        self.rows: list[str] = []
        self._table_wanted = 0
        self._table_fitted = False
        self.cells: dict[str, ActionCell] = {}
        self.tick = QTimer(self, interval=1000)  # expiry countdowns
        self.tick.timeout.connect(self.update_rows)
        ctx.state.vramChanged.connect(self.on_snapshot)
        ctx.state.opsChanged.connect(self.update_rows)
        ctx.state.changed.connect(self.update_rows)
        self.on_snapshot(ctx.state.vram)

    # -- life cycle -------------------------------------------------------------------------

    def activate(self) -> None:
        super().activate()
        self.tick.start()

    def deactivate(self) -> None:
        super().deactivate()
        self.tick.stop()

    def refresh(self) -> None:
        self.spawn(refresh_vram(self.ctx), self.tr("Reading the VRAM state"))

    def start_op(self, op: str, model: str) -> None:
        start_model_op(self.ctx, op, model)

    # -- display ----------------------------------------------------------------------------

    def on_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.plot.set_snapshot(snapshot)
        self.update_rows()

    def update_rows(self) -> None:
        state = self.ctx.state
        installed = state.installed()
        names = [m["name"] for m in installed]
        if names != self.rows:
            self._rebuild(names)
        resident = {m["name"]: m for m in state.resident()}
        waiting = dict(state.vram.get("waiting") or {})
        for name, count in (state.vram.get("queued") or {}).items():  # NUM_PARALLEL queue
            waiting[name] = waiting.get(name, 0) + count
        swap = state.swapping()
        serving = state.gateway == "serving"
        for row, model in enumerate(installed):
            name = model["name"]
            live = resident.get(name)
            always_on = model.get("category") == "always_on"
            pending = state.pending.get(name)
            vram_text = human_bytes(live.get("size_vram") or live.get("size")) if live else "—"
            if live and live.get("partial_offload"):
                vram_text = self.tr("{size} (partly on CPU)").format(size=vram_text)
            too_big = None if live is not None else never_fits_now(name, state.vram)
            if swap and swap.get("model") == name:
                pending = pending or (PRELOAD if swap.get("phase") == "loading" else UNLOAD)
            texts = {
                "model": name,
                "category": self.tr("cloud")
                if model.get("cloud")
                else (self.tr("always-on") if always_on else self.tr("on-demand")),
                "size": "—" if model.get("cloud") else human_bytes(model.get("size")),
                "state": self.tr("Runs on ollama.com")
                if model.get("cloud") and live is None
                else self.tr("Too large for the budget")
                if too_big and pending is None
                else self._state_text(live is not None, pending, int(waiting.get(name, 0))),
                "vram": vram_text,
                "expires": expires_in(live.get("expires_at")) if live else "—",
                "in_flight": str(live.get("in_flight", 0)) if live else "—",
                "waiting": str(waiting.get(name, 0) or "—"),
            }
            for column, key in enumerate(COLUMNS[:-1]):
                item = self.table.item(row, column)
                numeric = key in ("size", "vram", "in_flight", "waiting")
                if item is None:
                    item = cell(texts[key], align_right=numeric)
                    self.table.setItem(row, column, item)
                elif item.text() != texts[key]:
                    item.setText(texts[key])
                tip = name if key == "model" else ((too_big or "") if key == "state" else "")
                if item.toolTip() != tip:
                    item.setToolTip(tip)
            self.cells[name].set_state(
                loaded=live is not None,
                always_on=always_on,
                pending=pending,
                serving=serving,
                never_fits=too_big,
                cloud=bool(model.get("cloud")),
            )
        self._show_notice(bool(installed))
        self._show_budget(state.vram)
        self._show_swap(swap)
        self._show_evictions(state.vram.get("unexpected_evictions") or [])

    def _show_evictions(self, evictions: list[dict[str, Any]]) -> None:
        if not evictions:
            self.eviction_label.hide()
            return
        names = ", ".join(dict.fromkeys(e.get("model", "?") for e in evictions[-3:]))
        self.eviction_label.setText(
            self.tr(
                "Ollama unloaded {names} on its own. Make MAX_LOADED_MODELS match Ollama's "
                "OLLAMA_MAX_LOADED_MODELS, and check that nothing else loads models."
            ).format(names=names)
        )
        self.eviction_label.show()

    def _show_notice(self, any_installed: bool) -> None:
        state = self.ctx.state
        url = state.ollama.get("url") or state.vram.get("ollama_url") or ""
        if state.gateway != "serving":
            text = self.tr("The gateway is stopped: start it on the Overview page to see models.")
        elif state.ollama_up is False or state.vram.get("ollama_up") is False:
            text = (
                self.tr(
                    "Ollama does not answer at {url}, so there is no model list and nothing "
                    "can be loaded. Start Ollama (ollama serve); this page fills in by itself "
                    "when it answers."
                ).format(url=url or "?")
                + " "
                + settings_hint(
                    "ollama_url", self.tr("If it runs elsewhere, correct the URL in Settings.")
                )
            )
        elif not any_installed and state.vram:
            text = self.tr(
                "Ollama answers but has no models installed. Pull one on the Ollama host, e.g. "
                "ollama pull llama3.2:3b, then press Refresh."
            )
        else:
            text = ""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def _state_text(self, loaded: bool, pending: str | None, waiting: int) -> str:
        if pending == PRELOAD:
            return self.tr("Loading…")
        if pending == UNLOAD:
            return self.tr("Unloading…")
        if loaded:
            return self.tr("Loaded")
        if waiting:
            return self.tr("Queued")
        return self.tr("Not loaded")

    def _rebuild(self, names: list[str]) -> None:
        self.table.setRowCount(0)
        self.table.setRowCount(len(names))
        self.cells = {}
        for row, name in enumerate(names):
            action = ActionCell(name, self.start_op)
            self.cells[name] = action
            self.table.setCellWidget(row, len(COLUMNS) - 1, action)
        self.rows = names
        header = self.table.horizontalHeader().sizeHint().height()
        row_height = self.table.verticalHeader().defaultSectionSize()
        # at least three rows, which is what a 900x600 window has room for next to the plot
        # (tests/qt/test_layout.py); where there is room, up to seven before it scrolls: the
        # splitter gives the table that height and the plot the rest (stretch 0 and 1)
        self.table.setMinimumHeight(header + row_height * min(len(names), 3) + 6)
        self._table_wanted = header + row_height * min(len(names), 7) + 6
        self._fit_table()

    def _fit_table(self) -> None:
        """Give the table the height it wants, if the splitter has been laid out yet."""
        total = sum(self.splitter.sizes())
        if total > 0:
            wanted = min(
                self._table_wanted, total - self.splitter.widget(1).minimumSizeHint().height()
            )
            self.splitter.setSizes([wanted, total - wanted])

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._table_fitted:  # the first time: the splitter has its size only now
            self._table_fitted = True
            self._fit_table()

    def _show_budget(self, vram: dict[str, Any]) -> None:
        used = int(vram.get("budget_used_bytes") or 0)
        limit = int(vram.get("budget_limit_bytes") or vram.get("budget_bytes") or 0)
        if limit:
            self.budget_bar.setValue(min(1000, int(used * 1000 / limit)))
            self.budget_label.setText(
                self.tr("{used} of {limit} used").format(
                    used=human_bytes(used), limit=human_bytes(limit)
                )
            )
        else:
            self.budget_bar.setValue(0)
            self.budget_label.setText(self.tr("no VRAM state yet"))
        gpu = vram.get("gpu") or None
        if gpu and gpu.get("total_bytes"):
            self.gpu_label.setText(
                self.tr("· GPU: {used} of {total}").format(
                    used=human_bytes(gpu.get("used_bytes")), total=human_bytes(gpu["total_bytes"])
                )
            )
        else:
            self.gpu_label.setText(self.tr("· GPU totals: no NVML"))
        missing = vram.get("missing_always_on") or []
        self.budget_bar.setToolTip(
            self.tr("Always-on models not installed: {names}").format(names=", ".join(missing))
            if missing
            else ""
        )

    def _show_swap(self, swap: dict[str, Any] | None) -> None:
        if not swap:
            self.swap_bar.hide()
            return
        model = swap.get("model")
        reason = swap.get("for")
        if swap.get("phase") == "unloading":
            text = (
                self.tr("Unloading {model} to make room for {other}…").format(
                    model=model, other=reason
                )
                if reason
                else self.tr("Unloading {model}…").format(model=model)
            )
            if swap.get("in_flight"):
                text += " " + self.tr("(waiting for {n} request(s) to finish)").format(
                    n=swap["in_flight"]
                )
        else:
            text = self.tr("Loading {model} into VRAM…").format(model=model)
        self.swap_label.setText(text)
        self.swap_label.setStyleSheet(f"color: {style.TEXT}; font-weight: 600;")
        self.swap_bar.show()
