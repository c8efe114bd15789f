"""What the UI knows about the gateway, kept on the Qt thread and fed by bridge signals.

The tray, the status bar and several pages all show the same few facts (serving or not,
URLs, Ollama up, the latest VRAM snapshot). Keeping them in one QObject means one source of
truth and one `changed` signal instead of every widget listening to every core event.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from pbpm_desktop.core.contracts import GatewayState, OllamaStatus, VramSnapshot

#: gateway life-cycle states as the UI sees them ("starting"/"stopping" exist only here)
STARTING, SERVING, STOPPING, STOPPED = (
    GatewayState.STARTING,
    GatewayState.SERVING,
    GatewayState.STOPPING,
    GatewayState.STOPPED,
)
#: tray colours
HEALTHY, DEGRADED, DOWN = "serving", "degraded", "stopped"
#: tray state while the owner paused sharing (core/pause.py)
PAUSED = "paused"


class AppState(QObject):
    changed = Signal()
    vramChanged = Signal(object)
    #: a preload/unload started or finished (see `pending`)
    opsChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.gateway = STARTING
        self.urls: list[str] = []
        self.error: str | None = None
        self.ollama: OllamaStatus | dict[str, Any] = {}
        #: the latest snapshot, typed; `vram` is its JSON shape, which the pages read
        self.snapshot: VramSnapshot | None = None
        self.vram: dict[str, Any] = {}
        self._vram_taken = float("-inf")
        #: model -> "preload" | "unload" while the UI waits for that operation
        self.pending: dict[str, str] = {}

    # -- updates ----------------------------------------------------------------------------

    def set_gateway(
        self, state: str, urls: list[str] | None = None, error: str | None = None
    ) -> None:
        self.gateway = state
        if urls is not None:
            self.urls = list(urls)
        if state in (STOPPED, STOPPING):
            self.urls = [] if urls is None else self.urls
        self.error = error
        self.changed.emit()

    def set_ollama(self, status: OllamaStatus) -> None:
        if status != self.ollama:
            self.ollama = dict(status)
            self.changed.emit()

    def set_vram(self, snapshot: VramSnapshot | dict[str, Any] | None) -> None:
        """Take a VRAM snapshot unless a fresher one is already shown.

        Event snapshots are throttled and reach the UI up to a quarter second late; a
        snapshot read directly after a preload may be newer. Both carry the gateway-side
        `time.monotonic()` at which they were taken, so a late, stale one is ignored.
        A dict (the JSON shape) is parsed into the contract first, so a malformed one fails here.
        """
        if isinstance(snapshot, dict):
            snapshot = VramSnapshot.from_dict(snapshot)
        taken = snapshot.taken_at if snapshot is not None else None
        if taken is not None:
            if taken < self._vram_taken:
                return
            self._vram_taken = taken
        previous = self.resident_names()
        self.snapshot = snapshot
        self.vram = snapshot.to_dict() if snapshot is not None else {}
        self.vramChanged.emit(self.vram)
        if self.resident_names() != previous or "ollama_up" in self.vram:
            self.changed.emit()

    def set_pending(self, model: str, op: str | None) -> None:
        if op is None:
            self.pending.pop(model, None)
        else:
            self.pending[model] = op
        self.opsChanged.emit()

    # -- derived facts ----------------------------------------------------------------------

    @property
    def url(self) -> str | None:
        return self.urls[0] if self.urls else None

    @property
    def lan_url(self) -> str | None:
        return self.urls[1] if len(self.urls) > 1 else None

    @property
    def ollama_up(self) -> bool | None:
        if "up" in self.ollama and self.ollama["up"] is not None:
            return bool(self.ollama["up"])
        up = self.vram.get("ollama_up")
        return None if up is None else bool(up)

    @property
    def health(self) -> str:
        """Tray colour: serving and Ollama reachable / serving but Ollama down / stopped."""
        if self.gateway != SERVING:
            return DOWN
        if self.paused:
            return PAUSED
        return DEGRADED if self.ollama_up is False else HEALTHY

    @property
    def paused(self) -> dict[str, Any] | None:
        """The pause status while sharing is paused (it rides on the VRAM snapshot), else None."""
        paused = self.vram.get("paused")
        return paused if isinstance(paused, dict) and paused.get("paused") else None

    def installed(self) -> list[dict[str, Any]]:
        return [m for m in self.vram.get("installed") or [] if isinstance(m, dict) and "name" in m]

    def resident(self) -> list[dict[str, Any]]:
        return [m for m in self.vram.get("resident") or [] if isinstance(m, dict) and "name" in m]

    def resident_names(self) -> list[str]:
        return [m["name"] for m in self.resident()]

    def swapping(self) -> dict[str, Any] | None:
        """The swap in progress, or None.

        A "loading" phase for a model that is already resident is a finished load whose
        state was not cleared yet (or a keep_alive refresh): not worth a progress bar.
        """
        swap = self.vram.get("swapping")
        if not isinstance(swap, dict) or not swap.get("model"):
            return None
        if swap.get("phase") == "loading" and swap["model"] in self.resident_names():
            return None
        if swap.get("phase") not in ("loading", "unloading"):
            return None
        return swap
