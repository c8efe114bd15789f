"""The bridge: calls run on the gateway thread; events arrive as throttled, bounded signals."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.accounting.audit import AuditEntry
from pbpm_desktop.core.contracts import VramSnapshot
from pbpm_desktop.core.events import EventBus
from pbpm_desktop.core.loop_thread import LoopThread
from pbpm_desktop.qt.bridge import Bridge

from .conftest import drive


class Service:
    def __init__(self) -> None:
        self.events = EventBus()

    def where(self) -> str:
        return threading.current_thread().name

    async def awhere(self, suffix: str) -> str:
        return threading.current_thread().name + suffix

    async def boom(self) -> None:
        raise RuntimeError("the gateway is stopped; start it first")


@pytest.fixture
def loop_thread():
    thread = LoopThread("bridge-test")
    thread.start()
    yield thread
    thread.stop()


@pytest.fixture
def bridge(qloop, loop_thread):
    service = Service()
    b = Bridge(loop_thread, service, interval=0.05, max_pending_requests=10)
    b.attach()
    yield b
    b.detach()


def publish(loop_thread: LoopThread, bus: EventBus, items: list[tuple[str, Any]]) -> None:
    async def go() -> None:
        for name, payload in items:
            bus.publish(name, payload)

    loop_thread.submit(go()).result(5)


def test_calls_run_on_the_gateway_thread(qtbot, bridge):
    assert drive(qtbot, bridge.call(bridge.service.where)) == "bridge-test"
    assert drive(qtbot, bridge.call(bridge.service.awhere, "!")) == "bridge-test!"
    with pytest.raises(RuntimeError, match="stopped"):
        drive(qtbot, bridge.call(bridge.service.boom))
    assert bridge.call_blocking(bridge.service.where) == "bridge-test"


def test_vram_snapshots_are_coalesced_to_the_latest(qtbot, bridge, loop_thread):
    received: list[VramSnapshot] = []
    bridge.vramChanged.connect(received.append)
    snaps = [(ev.VRAM_STATE, {"budget_used_bytes": i}) for i in range(200)]
    publish(loop_thread, bridge.service.events, snaps)
    qtbot.waitUntil(lambda: bool(received) and received[-1].budget_used_bytes == 199, timeout=3000)
    assert received[-1].taken_at is not None  # stamped on the gateway thread, for ordering
    assert len(received) <= 3  # 200 publishes, at most a leading and a trailing emission


def test_requests_are_batched_and_bounded(qtbot, bridge, loop_thread):
    batches: list[list[dict[str, Any]]] = []
    bridge.requestsDone.connect(batches.append)
    entries = [AuditEntry(1, "pbpm-abc", "me", f"m{i}", "chat") for i in range(25)]
    publish(loop_thread, bridge.service.events, [(ev.REQUEST_DONE, e) for e in entries])
    qtbot.waitUntil(lambda: bool(batches), timeout=3000)
    time.sleep(0.1)
    qtbot.wait(50)
    rows = [r for batch in batches for r in batch]
    assert [r["model"] for r in rows] == [f"m{i}" for i in range(15, 25)]  # newest 10 kept
    assert bridge.dropped_requests == 15
    assert isinstance(rows[0]["created_at"], str)


def test_other_events_are_forwarded_and_detach_stops_them(qtbot, bridge, loop_thread):
    got: dict[str, Any] = {}
    bridge.keysChanged.connect(lambda p: got.setdefault("keys", p))
    bridge.gatewayStateChanged.connect(lambda p: got.setdefault("gateway", p))
    bridge.ollamaStateChanged.connect(lambda p: got.setdefault("ollama", p))
    bridge.swapChanged.connect(lambda p: got.setdefault("swap", p))
    bus = bridge.service.events
    publish(
        loop_thread,
        bus,
        [
            (ev.KEYS_CHANGED, {"id": 1, "action": "created"}),
            (ev.GATEWAY_STATE, {"state": "serving", "url": "http://x"}),
            (ev.OLLAMA_STATE, {"up": False}),
            (ev.SWAP, {"phase": "loading", "model": "m"}),
        ],
    )
    qtbot.waitUntil(lambda: len(got) == 4, timeout=3000)
    assert got["keys"]["action"] == "created" and got["ollama"] == {"up": False}
    bridge.detach()
    late: list[Any] = []
    bridge.keysChanged.connect(late.append)
    publish(loop_thread, bus, [(ev.KEYS_CHANGED, {"id": 2})])
    qtbot.wait(100)
    assert late == []


def _held_by(root: object, depth: int = 3) -> list[object]:
    """Everything reachable from `root` in `depth` steps through data (closures included)."""
    import gc
    import types

    seen, frontier, out = {id(root)}, [root], []
    for _ in range(depth):
        nxt = []
        for obj in frontier:
            if isinstance(obj, types.ModuleType | type):
                continue
            # a function holds data in its closure; its globals are its module's
            refs = (
                [*(obj.__closure__ or ()), *(obj.__defaults__ or ())]
                if isinstance(obj, types.FunctionType)
                else gc.get_referents(obj)
            )
            for ref in refs:
                if id(ref) not in seen:
                    seen.add(id(ref))
                    out.append(ref)
                    nxt.append(ref)
        frontier = nxt
    return out


@pytest.mark.parametrize("detach", [True, False], ids=["detached", "still-subscribed"])
def test_the_gateway_loop_never_keeps_the_bridge_alive(qtbot, qloop, loop_thread, detach):
    """A pending flush (a `call_later` on the gateway loop) and the EventBus subscription
    hold no strong reference to the Bridge: dropping it here frees it here, on the Qt thread,
    instead of leaving its last reference to the gateway thread."""
    import gc
    import weakref

    service = Service()
    bridge = Bridge(loop_thread, service, interval=3600.0)  # the flush stays pending
    bridge.attach()
    entry = AuditEntry(1, "pbpm-abc", "me", "m", "chat")
    publish(loop_thread, service.events, [(ev.REQUEST_DONE, entry)])
    if detach:
        bridge.detach()
    ref = weakref.ref(bridge)
    del bridge
    gc.collect()
    assert ref() is None


def test_a_finished_call_leaves_the_gateway_nothing_of_the_qt_loop(
    qtbot, qloop, bridge, loop_thread
):
    """The gateway-side future of a call keeps neither the Qt loop nor its waiting future
    (asyncio.wrap_future's done-callback kept both for as long as the future lived)."""
    import asyncio

    from PySide6.QtCore import QObject

    submitted = []
    submit = loop_thread.submit

    def recording(coro):
        future = submit(coro)
        submitted.append(future)
        return future

    loop_thread.submit = recording
    try:
        assert drive(qtbot, bridge.call(bridge.service.where)) == "bridge-test"
    finally:
        loop_thread.submit = submit
    held = _held_by(submitted[0], depth=6)
    qt_loop = qloop
    assert not [o for o in held if o is qt_loop]
    assert not [o for o in held if isinstance(o, asyncio.Future) and o.get_loop() is qt_loop]
    assert not [o for o in held if isinstance(o, QObject)]


def test_cancelling_a_call_cancels_it_on_the_gateway_loop(qtbot, bridge, loop_thread):
    import asyncio

    started, cancelled = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.ensure_future(bridge.call(forever))
    qtbot.waitUntil(started.is_set, timeout=3000)
    task.cancel()
    qtbot.waitUntil(cancelled.is_set, timeout=3000)
    qtbot.waitUntil(task.done, timeout=3000)
    assert task.cancelled()
