"""The only crossing between the Qt thread and the gateway thread (DESIGN.md §6).

Calls go in as `await bridge.call(service.method, *args)`: the call runs on the gateway loop
(`LoopThread.submit`) and its `concurrent.futures.Future` is wrapped for the qasync loop, so
the UI awaits without blocking and the gateway never waits for the UI.

Events come out as Qt signals. The EventBus callback (qt/bridge_outbox.py, which holds this
QObject only weakly) runs on the gateway loop and does almost nothing: it stores the payload
and, at most every `interval`, emits a signal, which Qt queues to the UI thread. VRAM
snapshots are coalesced (only the latest matters) and finished requests are batched into
lists with a bounded backlog, so a burst of thousands of requests per second costs the UI
a few signals per second, and a stalled UI can never grow memory without bound.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, overload

from PySide6.QtCore import QObject, Signal, SignalInstance

from pbpm_desktop.core.loop_thread import LoopThread
from pbpm_desktop.qt.bridge_outbox import Outbox, await_gateway

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
        #: what the gateway loop holds (subscriber, timers): plain Python, this only weakly
        self._outbox = Outbox(self, interval, max_pending_requests)

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
        return await await_gateway(self.loop_thread.submit(_invoke(fn, args, kwargs)))

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
            self._outbox.reopen()
            self._unsubscribe = self.service.events.subscribe(self._outbox.on_event)

    def detach(self) -> None:
        """Stop emitting: call before the bridge or the UI goes away.

        Returns once no gateway-thread frame holds the bridge any more (Outbox.close), so
        dropping it afterwards frees it here, on the thread that owns it.
        """
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._outbox.close()

    @property
    def attached(self) -> bool:
        return self._unsubscribe is not None

    @property
    def dropped_requests(self) -> int:
        """Finished requests dropped because the UI had not taken the backlog."""
        return self._outbox.dropped_requests
