"""The gateway's own loop thread and the event bus."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pbpm_desktop.core.events import EventBus
from pbpm_desktop.core.loop_thread import LoopThread


def test_submit_runs_on_the_loop_thread_and_stop_joins() -> None:
    lt = LoopThread()
    lt.start()
    try:

        async def where() -> str:
            await asyncio.sleep(0)
            return threading.current_thread().name

        assert lt.submit(where()).result(5) == "pbpm-gateway"
        assert lt.start() is lt.loop  # idempotent
    finally:
        lt.stop()
    assert not lt.running
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="not running"):
        lt.submit(coro)


def test_stop_cancels_leftover_tasks() -> None:
    lt = LoopThread()
    lt.start()
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def spawn() -> None:
        asyncio.get_running_loop().create_task(forever())

    lt.submit(spawn()).result(5)
    lt.stop()
    assert cancelled.is_set()


def test_event_bus_survives_a_broken_subscriber() -> None:
    bus = EventBus()
    seen: list[tuple[str, object]] = []

    def broken(name: str, payload: object) -> None:
        raise ValueError("boom")

    bus.subscribe(broken)
    unsubscribe = bus.subscribe(lambda n, p: seen.append((n, p)))
    bus.publish("x", 1)
    unsubscribe()
    bus.publish("y", 2)
    assert seen == [("x", 1)]
