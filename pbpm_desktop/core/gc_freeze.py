"""Keep the cyclic GC from re-scanning everything loaded at start (headless serve only)."""

from __future__ import annotations

import gc
import threading

_frozen = False


def freeze_startup_objects() -> None:
    """Freeze the objects alive after start-up, once per process, on the main thread only.

    Measured: with ~60,000 long-lived objects (aiohttp, Tortoise, pypika) an occasional full
    collection paused the gateway for about 16 ms, a request or a stream chunk held up that
    long. Frozen objects are skipped by later collections, so those pauses shrink to about a
    millisecond. Once per process and only on the main thread, i.e. `serve`: the desktop app
    runs the gateway on a thread and keeps the GC as it is, since freezing Qt's objects could
    keep garbage alive there.
    """
    global _frozen
    if _frozen or threading.current_thread() is not threading.main_thread():
        return
    _frozen = True
    gc.collect()
    gc.freeze()
