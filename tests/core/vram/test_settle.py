"""Waiting for GPU memory to settle after an unload (core/vram/settle.py)."""

from __future__ import annotations

from pbpm_desktop.core.vram.gpu import GpuReader
from pbpm_desktop.core.vram.settle import MemorySettler
from tests.core.vram.test_manager import GIB, FakeNvml


class LaggingNvml(FakeNvml):
    """A GPU whose used memory drops by `step` bytes on every reading after an unload."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.gpus = [("NVIDIA H200", 140 * GIB, 60 * GIB)]
        self.step = step
        self.unloaded = False
        self.reads = 0

    def nvmlDeviceGetMemoryInfo(self, handle: int):  # type: ignore[no-untyped-def]
        self.reads += 1
        if self.unloaded:
            name, total, used = self.gpus[0]
            self.gpus[0] = (name, total, max(used - self.step, 0))
        return super().nvmlDeviceGetMemoryInfo(handle)


async def test_settle_waits_until_most_of_the_freed_memory_shows() -> None:
    nvml = LaggingNvml(step=4 * GIB)
    settler = MemorySettler(GpuReader(nvml, ttl_s=60), fallback_s=0)
    baseline = settler.baseline()
    assert baseline == 80 * GIB
    nvml.unloaded = True  # 20 GiB unloaded: 75% (15 GiB) shows after four 4 GiB steps
    reads_before = nvml.reads
    await settler.settle(20 * GIB, baseline)
    assert nvml.reads - reads_before == 4
    assert settler.gpu.read(fresh=True)["free_bytes"] >= baseline + 15 * GIB


async def test_settle_without_nvml_uses_the_fixed_wait() -> None:
    settler = MemorySettler(GpuReader(FakeNvml(fail_init=True)), fallback_s=0)
    assert settler.baseline() is None
    await settler.settle(20 * GIB, None)  # returns (no NVML, no wait configured)
