"""Per-model request slots matching Ollama's OLLAMA_NUM_PARALLEL.

Why: Ollama serves at most OLLAMA_NUM_PARALLEL (default 1, envconfig/config.go:275) requests
per loaded model and queues the rest inside the runner; a queued request gets its response
headers only when its generation starts. Sent straight on, the time it waits there would count
against the gateway's first-byte deadline and fail healthy requests with 504 behind a long
answer. So the gateway holds the request until a slot is free and sends it then: the deadline
covers only Ollama's own work, and the dashboard can show how many requests wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["ParallelGate"]


class ParallelGate:
    """`slot = await gate.acquire(model)` before sending a request to Ollama, `slot.release()`
    when its answer is relayed (core/http/proxy.py)."""

    def __init__(self, slots: int, on_change: Callable[[], None] = lambda: None) -> None:
        self.slots = max(slots, 1)
        self._on_change = on_change
        self._free: dict[str, asyncio.Semaphore] = {}
        self._queued: dict[str, int] = {}

    async def acquire(self, model: str) -> asyncio.Semaphore:
        """Wait for a free slot of `model` (counted as queued meanwhile); the caller releases
        the returned semaphore when its request ends. No context manager: on the proxy's hot
        path a generator-based one costs a few microseconds a request."""
        free = self._free.get(model)
        if free is None:
            free = self._free[model] = asyncio.Semaphore(self.slots)
        if free.locked():
            self._queued[model] = self._queued.get(model, 0) + 1
            self._on_change()
            try:
                await free.acquire()
            finally:
                left = self._queued[model] - 1
                if left:
                    self._queued[model] = left
                else:
                    del self._queued[model]
                self._on_change()
        else:
            await free.acquire()
        return free

    def queued(self) -> dict[str, int]:
        """Requests waiting for a slot, per model (only models with any)."""
        return dict(self._queued)
