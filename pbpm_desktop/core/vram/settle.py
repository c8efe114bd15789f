"""Waiting for GPU memory to settle after an unload, before the next load.

Why: Ollama drops an unloaded model from /api/ps at once, but the GPU's free-memory reading
catches up only later (Ollama's own evictions wait up to 5 s for it, server/sched.go:101 and
:1441 waitForVRAMRecovery, "typical convergence is 0.5-1.5s"). A load sent inside that lag
finds too little free memory: Ollama then evicts another loaded model to fit it -- the idle
always-on one -- or, with nothing else loaded, puts part of it on the CPU. So after each
unload the gateway waits: with NVML until the free memory has grown by most of what was
unloaded (as Ollama does, at most 5 s); without NVML for MEMORY_SETTLE_S.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pbpm_desktop.core.vram.gpu import GpuReader

log = logging.getLogger(__name__)

#: Ollama's waitForRecovery bound and its convergence threshold (sched.go:101, :1487)
NVML_LIMIT_S = 5.0
RECOVERED_SHARE = 0.75
POLL_S = 0.1

__all__ = ["MemorySettler"]


class MemorySettler:
    """`baseline()` before an unload, `await settle(freed_bytes, baseline)` after it."""

    def __init__(self, gpu: GpuReader, fallback_s: float) -> None:
        self.gpu = gpu
        self.fallback_s = fallback_s

    def baseline(self) -> int | None:
        """Free GPU bytes now (NVML), or None where NVML is not available."""
        totals = self.gpu.read(fresh=True)
        return None if totals is None else int(totals["free_bytes"])

    async def settle(self, freed_bytes: int, baseline: int | None) -> None:
        if baseline is None:
            if self.fallback_s > 0:
                await asyncio.sleep(self.fallback_s)
            return
        deadline = time.monotonic() + NVML_LIMIT_S
        while time.monotonic() < deadline:
            totals = self.gpu.read(fresh=True)
            if totals is None or totals["free_bytes"] - baseline >= RECOVERED_SHARE * freed_bytes:
                return
            await asyncio.sleep(POLL_S)
        log.info("GPU free memory did not recover within %gs after an unload", NVML_LIMIT_S)
