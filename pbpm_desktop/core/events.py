"""A tiny publish/subscribe bus for core events (VRAM snapshots, requests, key changes).

Publishing happens on the gateway loop and is synchronous and cheap: subscribers must not
block. The Qt bridge subscribes with a callback that only emits a queued Qt signal, which is
how events cross to the UI thread without the UI ever stalling the gateway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pbpm_desktop.core.contracts import EventName

log = logging.getLogger(__name__)

Subscriber = Callable[[EventName, Any], None]

#: event names, so publishers and subscribers agree (payload shapes: core/contracts.py)
VRAM_STATE = EventName.VRAM_STATE
REQUEST_DONE = EventName.REQUEST_DONE
KEYS_CHANGED = EventName.KEYS_CHANGED
GATEWAY_STATE = EventName.GATEWAY_STATE
OLLAMA_STATE = EventName.OLLAMA_STATE
PAUSE_STATE = EventName.PAUSE_STATE
AUTH_FAILED = EventName.AUTH_FAILED
EXPOSURE = EventName.EXPOSURE
SWAP = EventName.SWAP


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def publish(self, name: EventName, payload: Any = None) -> None:
        for callback in tuple(self._subscribers):
            try:
                callback(name, payload)
            except Exception:  # a broken subscriber must not break the gateway
                log.exception("event subscriber failed on %s", name)
