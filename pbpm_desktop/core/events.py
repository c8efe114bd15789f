"""A tiny publish/subscribe bus for core events (VRAM snapshots, requests, key changes).

Publishing happens on the gateway loop and is synchronous and cheap: subscribers must not
block. The Qt bridge subscribes with a callback that only emits a queued Qt signal, which is
how events cross to the UI thread without the UI ever stalling the gateway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Subscriber = Callable[[str, Any], None]

#: event names, so publishers and subscribers agree
VRAM_STATE = "vram.state"  # payload: VramManager.snapshot() dict
REQUEST_DONE = "request.done"  # payload: audit.AuditEntry (call .to_dict())
KEYS_CHANGED = "keys.changed"  # payload: {"id": key id, "action": "created"|"revoked"|"updated"}
GATEWAY_STATE = "gateway.state"  # payload: {"state": "serving"|"stopped", "url": ...}
OLLAMA_STATE = "ollama.state"  # payload: {"up": bool, "version": str|None, "url": ...}
PAUSE_STATE = "gateway.pause"  # payload: PauseController.status() dict
AUTH_FAILED = "auth.failed"  # payload: {"reason": "missing"|"invalid"|…, "client": address}
EXPOSURE = "ollama.exposure"  # payload: exposure.ExposureReport.to_dict()
SWAP = "vram.swap"  # payload: {"phase": "unloading"|"loading"|"loaded"|"failed", "model": ...}


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def publish(self, name: str, payload: Any = None) -> None:
        for callback in tuple(self._subscribers):
            try:
                callback(name, payload)
            except Exception:  # a broken subscriber must not break the gateway
                log.exception("event subscriber failed on %s", name)
