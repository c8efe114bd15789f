"""The gateway-thread half of the bridge: plain Python that holds the Bridge only weakly.

Why: whatever the gateway loop keeps (its EventBus subscriber list, the `call_later` handles
that throttle the signals) used to be the Bridge's bound methods, so the gateway loop could
hold the last reference to a QObject and free it on the wrong thread; Qt cannot clean a
QObject up from there, the suspect behind the rare segfaults in QTimerInfoList::activateTimers
of mixed test runs (see qt/gc_guard.py for the other path). Now the loop only ever holds this
outbox. The Bridge is looked up through a weak reference just to emit, under a lock that
`close()` takes too: once the Bridge is detached, no gateway-thread frame holds it. Calls
the other way (`await_gateway`) leave the gateway only weak references to the Qt loop's
waiter, for the same reason.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.contracts import EventName, VramSnapshot

if TYPE_CHECKING:
    from pbpm_desktop.qt.bridge import Bridge

T = TypeVar("T")

#: EventBus events forwarded as they come, each to the Bridge signal named here
FORWARDED = {
    ev.KEYS_CHANGED: "keysChanged",
    ev.GATEWAY_STATE: "gatewayStateChanged",
    ev.OLLAMA_STATE: "ollamaStateChanged",
    ev.SWAP: "swapChanged",
}


class Outbox:
    """Stores, coalesces and batches core events; emits them on the Bridge's signals."""

    def __init__(self, bridge: Bridge, interval: float, max_pending_requests: int) -> None:
        self._bridge = weakref.ref(bridge)
        self.interval = interval
        # re-entrant: without a running loop a flush runs at once, maybe from inside a slot
        self._lock = threading.RLock()
        self._open = True
        self._vram: VramSnapshot | None = None
        self._vram_scheduled = False
        self._vram_last = float("-inf")
        self._requests: deque[Any] = deque(maxlen=max_pending_requests)
        self._requests_scheduled = False
        self.dropped_requests = 0

    @property
    def open(self) -> bool:
        return self._open

    def reopen(self) -> None:
        with self._lock:
            self._open = True

    def close(self) -> None:
        """No more emissions; returns once an emission under way has let go of the Bridge."""
        with self._lock:
            self._open = False

    def _emit(self, signal: str, payload: Any) -> None:
        with self._lock:
            bridge = self._bridge() if self._open else None
            if bridge is not None:
                getattr(bridge, signal).emit(payload)
            del bridge  # under the lock: close() cannot return while this frame holds it

    # -- EventBus subscriber, on the gateway loop -------------------------------------------

    def on_event(self, name: EventName, payload: Any) -> None:
        """Store, schedule, never block."""
        if name == ev.VRAM_STATE:
            self._push_vram(payload)
        elif name == ev.REQUEST_DONE:
            self._push_request(payload)
        elif name in FORWARDED:
            self._emit(FORWARDED[name], payload)

    def _push_vram(self, snapshot: dict[str, Any]) -> None:
        # parsed here, on the gateway thread: the UI only ever sees the typed contract;
        # stamped when taken, so the UI can drop it if a fresher one arrived meanwhile
        typed = VramSnapshot.from_dict(snapshot, taken_at=time.monotonic())
        with self._lock:
            self._vram = typed
            if self._vram_scheduled:
                return
            self._vram_scheduled = True
            delay = max(0.0, self._vram_last + self.interval - time.monotonic())
        later(delay, self._flush_vram)

    def _flush_vram(self) -> None:
        with self._lock:
            snapshot, self._vram = self._vram, None
            self._vram_scheduled = False
            self._vram_last = time.monotonic()
        if snapshot is not None:
            self._emit("vramChanged", snapshot)

    def _push_request(self, entry: Any) -> None:
        with self._lock:
            if len(self._requests) == self._requests.maxlen:
                self.dropped_requests += 1
            self._requests.append(entry)
            if self._requests_scheduled:
                return
            self._requests_scheduled = True
        later(self.interval, self._flush_requests)

    def _flush_requests(self) -> None:
        with self._lock:
            entries = list(self._requests)
            self._requests.clear()
            self._requests_scheduled = False
        if entries:
            rows = [e.to_dict() if hasattr(e, "to_dict") else dict(e) for e in entries]
            self._emit("requestsDone", rows)


def later(delay: float, callback: Callable[[], None]) -> None:
    """Run `callback` after `delay` on the publishing loop (at once if there is none)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        callback()
        return
    loop.call_later(delay, callback)


async def await_gateway(future: concurrent.futures.Future[T]) -> T:
    """Await a gateway-loop future on the running (Qt) loop; cancelling cancels the call.

    Unlike `asyncio.wrap_future`, whose done-callback keeps the waiting loop and its future
    for as long as the gateway side holds the concurrent future, the callback here holds
    both only weakly: plain Python, nothing of the Qt thread's, crosses to the gateway.
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    future.add_done_callback(_Wake(loop, waiter))
    try:
        await waiter
    except asyncio.CancelledError:
        future.cancel()  # run_coroutine_threadsafe then cancels the task on the gateway loop
        raise
    return future.result()


class _Wake:
    """The concurrent future's done-callback: wakes the waiter, through weak references."""

    __slots__ = ("_loop", "_waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]) -> None:
        self._loop = weakref.ref(loop)
        self._waiter = weakref.ref(waiter)

    def __call__(self, _future: concurrent.futures.Future[Any]) -> None:
        loop = self._loop()
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(_set_done, self._waiter)
        del loop


def _set_done(waiter_ref: weakref.ref[asyncio.Future[None]]) -> None:
    waiter = waiter_ref()
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
