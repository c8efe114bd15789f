"""The only crossing between the Qt thread and the gateway thread (DESIGN.md §6).

Calls go in as `await bridge.call(service.method, *args)`: the call runs on the gateway loop
(`LoopThread.submit`) and its `concurrent.futures.Future` is wrapped for the qasync loop, so
the UI awaits without blocking and the gateway never waits for the UI.

Events come out as Qt signals. The EventBus callback runs on the gateway loop and does almost
nothing: it stores the payload and, at most every `interval`, emits a signal, which Qt queues
to the UI thread. VRAM snapshots are coalesced (only the latest matters) and finished requests
are batched into lists with a bounded backlog, so a burst of thousands of requests per second
costs the UI a few signals per second, and a stalled UI can never grow memory without bound.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, overload

from PySide6.QtCore import QObject, Signal, SignalInstance

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.contracts import EventName, VramSnapshot
from pbpm_desktop.core.loop_thread import LoopThread

if TYPE_CHECKING:
    from pbpm_desktop.core.app import GatewayService

log = logging.getLogger(__name__)

#: minimum seconds between two VRAM snapshots / request batches sent to the UI
EMIT_INTERVAL_S = 0.25
#: most finished requests kept while the UI has not taken them (older ones are dropped)
MAX_PENDING_REQUESTS = 1000

P = ParamSpec("P")
T = TypeVar("T")


class BridgeLike(Protocol):
    """What pages need from a bridge; tests provide a fake with the same surface."""

    @property
    def service(self) -> GatewayService: ...

    vramChanged: SignalInstance
    requestsDone: SignalInstance
    keysChanged: SignalInstance
    gatewayStateChanged: SignalInstance
    ollamaStateChanged: SignalInstance
    swapChanged: SignalInstance

    @overload
    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T: ...
    @overload
    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...


async def _invoke(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run `fn` on the gateway loop; await its result when it is a coroutine."""
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


class Bridge(QObject):
    """Awaitable calls into the gateway thread; core events out as queued Qt signals."""

    #: latest VramSnapshot (coalesced, at most every `interval`; stamped with `taken_at`)
    vramChanged = Signal(object)
    #: list of finished-request dicts (AuditEntry.to_dict()), oldest first
    requestsDone = Signal(list)
    #: {"id", "action"}
    keysChanged = Signal(object)
    #: {"state": "serving"|"stopped", "url"}
    gatewayStateChanged = Signal(object)
    #: {"up", "version", "url"}
    ollamaStateChanged = Signal(object)
    #: {"phase": "unloading"|"loading"|"loaded"|"failed", "model", …}
    swapChanged = Signal(object)

    def __init__(
        self,
        loop_thread: LoopThread,
        service: GatewayService | None = None,
        *,
        interval: float = EMIT_INTERVAL_S,
        max_pending_requests: int = MAX_PENDING_REQUESTS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.loop_thread = loop_thread
        self._service = service
        self.interval = interval
        self._unsubscribe: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._vram: VramSnapshot | None = None
        self._vram_scheduled = False
        self._vram_last = float("-inf")
        self._requests: deque[Any] = deque(maxlen=max_pending_requests)
        self._requests_scheduled = False
        self.dropped_requests = 0

    # -- calls in ---------------------------------------------------------------------------

    @property
    def service(self) -> GatewayService:
        """The gateway the pages talk to (bound once the controller has built it)."""
        if self._service is None:
            raise RuntimeError("the bridge has no gateway yet")
        return self._service

    def bind(self, service: GatewayService) -> None:
        """Give the bridge its gateway: calls work before (the demo backend starts first)."""
        self._service = service

    @overload
    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T: ...
    @overload
    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...
    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn(*args, **kwargs)` (sync or async) on the gateway loop and await its result.

        Cancelling the awaiting task cancels the call on the gateway loop too.
        """
        future = self.loop_thread.submit(_invoke(fn, args, kwargs))
        return await asyncio.wrap_future(future, loop=asyncio.get_running_loop())

    def call_blocking(
        self, fn: Callable[..., Awaitable[T]] | Callable[..., T], *args: Any, timeout: float = 30.0
    ) -> T:
        """Synchronous variant for shutdown paths where the Qt loop no longer runs."""
        result: T = self.loop_thread.submit(_invoke(fn, args, {})).result(timeout)
        return result

    # -- events out -------------------------------------------------------------------------

    def attach(self) -> None:
        """Subscribe to the service's event bus (idempotent)."""
        if self._unsubscribe is None:
            self._unsubscribe = self.service.events.subscribe(self._on_event)

    def detach(self) -> None:
        """Stop emitting: call before the bridge or the UI goes away."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    @property
    def attached(self) -> bool:
        return self._unsubscribe is not None

    def _on_event(self, name: EventName, payload: Any) -> None:
        """EventBus subscriber, called on the gateway loop: store, schedule, never block."""
        if name == ev.VRAM_STATE:
            self._push_vram(payload)
        elif name == ev.REQUEST_DONE:
            self._push_request(payload)
        elif name == ev.KEYS_CHANGED:
            self.keysChanged.emit(payload)
        elif name == ev.GATEWAY_STATE:
            self.gatewayStateChanged.emit(payload)
        elif name == ev.OLLAMA_STATE:
            self.ollamaStateChanged.emit(payload)
        elif name == ev.SWAP:
            self.swapChanged.emit(payload)

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
        self._later(delay, self._flush_vram)

    def _flush_vram(self) -> None:
        with self._lock:
            snapshot, self._vram = self._vram, None
            self._vram_scheduled = False
            self._vram_last = time.monotonic()
        if snapshot is not None and self.attached:
            self.vramChanged.emit(snapshot)

    def _push_request(self, entry: Any) -> None:
        with self._lock:
            if len(self._requests) == self._requests.maxlen:
                self.dropped_requests += 1
            self._requests.append(entry)
            if self._requests_scheduled:
                return
            self._requests_scheduled = True
        self._later(self.interval, self._flush_requests)

    def _flush_requests(self) -> None:
        with self._lock:
            entries = list(self._requests)
            self._requests.clear()
            self._requests_scheduled = False
        if entries and self.attached:
            rows = [e.to_dict() if hasattr(e, "to_dict") else dict(e) for e in entries]
            self.requestsDone.emit(rows)

    @staticmethod
    def _later(delay: float, callback: Callable[[], None]) -> None:
        """Run `callback` after `delay` on the publishing loop (at once if there is none)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            callback()
            return
        loop.call_later(delay, callback)
