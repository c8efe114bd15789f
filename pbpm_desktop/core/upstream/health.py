"""Is Ollama answering, and which version: polled while the gateway serves, published on change.

The desktop's status pill, the tray icon and the Overview page read this (an `OLLAMA_STATE`
event when it changes); the VRAM manager keeps its own reachability flag for its snapshot.
"""

from __future__ import annotations

import asyncio

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.contracts import OllamaStatus
from pbpm_desktop.core.events import EventBus
from pbpm_desktop.core.upstream.client import OllamaClient, OllamaError

POLL_S = 5.0


class OllamaHealth:
    """The last answer to "is Ollama up?" (None: not asked yet) and its version."""

    def __init__(self, url: str, events: EventBus) -> None:
        self.url = url
        self.events = events
        self.up: bool | None = None
        self.version: str | None = None

    async def check(self, ollama: OllamaClient) -> OllamaStatus:
        try:
            version: str | None = await ollama.version()
            up = True
        except (OllamaError, KeyError, ValueError):
            version, up = None, False
        if up != self.up or version != self.version:
            self.up, self.version = up, version
            self.events.publish(ev.OLLAMA_STATE, self.status())
        return self.status()

    def status(self) -> OllamaStatus:
        return {"up": self.up, "version": self.version, "url": self.url}

    async def watch(self, ollama: OllamaClient) -> None:
        """Check every POLL_S until cancelled (the gateway's stop cancels it)."""
        while True:
            await self.check(ollama)
            await asyncio.sleep(POLL_S)
