"""GPU memory totals from NVML, for the VRAM dashboard (DESIGN.md §4, last bullet).

NVML is optional: machines without an NVIDIA GPU or driver (and CI) simply report `None`.
Every NVML call is guarded because a driver problem must never break the gateway, and the
reading is cached briefly because snapshots are published often while NVML calls cost
around a millisecond each.
"""

from __future__ import annotations

import logging
import time
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)


def read_gpu_totals(nvml: Any) -> dict[str, Any] | None:
    """Memory totals over every GPU an initialised NVML module reports, or None if none.

    `nvml` is the `pynvml` module (package nvidia-ml-py) or a test double with the same
    functions. Returns `{"count", "total_bytes", "used_bytes", "free_bytes", "devices": [...]}`.
    """
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except Exception:
        log.debug("NVML device count failed", exc_info=True)
        return None
    devices: list[dict[str, Any]] = []
    for index in range(count):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            name = nvml.nvmlDeviceGetName(handle)
        except Exception:
            log.debug("NVML reading of GPU %d failed", index, exc_info=True)
            continue
        if isinstance(name, bytes):  # older bindings answer bytes
            name = name.decode("utf-8", "replace")
        devices.append(
            {
                "index": index,
                "name": str(name),
                "total_bytes": int(memory.total),
                "used_bytes": int(memory.used),
                "free_bytes": int(memory.free),
            }
        )
    if not devices:
        return None
    return {
        "count": len(devices),
        "total_bytes": sum(d["total_bytes"] for d in devices),
        "used_bytes": sum(d["used_bytes"] for d in devices),
        "free_bytes": sum(d["free_bytes"] for d in devices),
        "devices": devices,
    }


class GpuReader:
    """Initialises NVML once (lazily), then serves cached totals at most every `ttl_s` seconds.

    If NVML cannot be imported or initialised (no GPU, no driver) it stops trying, so machines
    without a GPU pay nothing after the first attempt.
    """

    def __init__(self, nvml: ModuleType | Any | None = None, ttl_s: float = 1.0) -> None:
        self._nvml = nvml
        self._ttl_s = ttl_s
        self._initialised = False
        self._unavailable = False
        self._cached: dict[str, Any] | None = None
        self._cached_at = float("-inf")

    def read(self, fresh: bool = False) -> dict[str, Any] | None:
        """Totals, from the cache unless `fresh` (waiting for memory to settle needs it)."""
        if self._unavailable:
            return None
        now = time.monotonic()
        if not fresh and now - self._cached_at < self._ttl_s:
            return self._cached
        if not self._initialised and not self._init():
            return None
        self._cached = read_gpu_totals(self._nvml)
        self._cached_at = now
        return self._cached

    def close(self) -> None:
        if self._initialised and self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                log.debug("NVML shutdown failed", exc_info=True)
            self._initialised = False

    def _init(self) -> bool:
        try:
            if self._nvml is None:
                import pynvml

                self._nvml = pynvml
            self._nvml.nvmlInit()
        except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, driver errors...
            log.info("no GPU totals: NVML unavailable (%s)", exc)
            self._unavailable = True
            return False
        self._initialised = True
        return True
