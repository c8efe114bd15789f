"""An asyncio event loop on its own thread, for the desktop app's embedded gateway.

The gateway must keep streaming to LAN clients whatever the UI thread is doing (a modal
dialog, a slow repaint), so it never shares the Qt thread's loop. Other threads reach it only
through `submit()`, i.e. `asyncio.run_coroutine_threadsafe`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where installed (faster sockets), else the standard loop."""
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


class LoopThread:
    def __init__(self, name: str = "pbpm-gateway") -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> asyncio.AbstractEventLoop:
        if self.running:
            assert self.loop is not None
            return self.loop
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait()
        assert self.loop is not None
        return self.loop

    def _run(self) -> None:
        loop = new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        loop.call_soon(self._ready.set)
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run `coro` on the gateway loop; returns a thread-safe future."""
        if self.loop is None or not self.running:
            coro.close()
            raise RuntimeError("the gateway loop is not running")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self, timeout: float = 10.0) -> None:
        if self.loop is not None and self.running:
            self.loop.call_soon_threadsafe(self.loop.stop)
            assert self._thread is not None
            self._thread.join(timeout)
        self._thread = None
