"""The VRAM snapshot: what the dashboard, /admin/status and the VRAM_STATE event show.

Built from the ledger (what is installed and resident), the scheduler (who waits, what is
swapping) and the NUM_PARALLEL gate, in one place so every reader sees the same shape
(`VramSnapshot` in core/contracts.py).
"""

from __future__ import annotations

from typing import Any

from pbpm_desktop.core.contracts import ResidentModel, VramSnapshot
from pbpm_desktop.core.settings import Settings
from pbpm_desktop.core.vram.parallel import ParallelGate
from pbpm_desktop.core.vram.scheduler import SwapScheduler
from pbpm_desktop.core.vram.state import Ledger


def installed_rows(ledger: Ledger) -> list[dict[str, Any]]:
    """Rows for GET /api/available_models: every installed model, its category and size."""
    return [
        {
            "name": name,
            "category": ledger.category(name),
            "size": ledger.size_of(name),
            "loaded": name in ledger.resident,
            "cloud": name in ledger.cloud,
        }
        for name in sorted(ledger.installed)
    ]


def build_snapshot(
    ledger: Ledger,
    scheduler: SwapScheduler,
    parallel: ParallelGate,
    settings: Settings,
    *,
    ollama_up: bool,
    paused: dict[str, Any] | None,
    gpu: dict[str, Any] | None,
) -> VramSnapshot:
    """The whole state as of now; `gpu` is NVML's reading (None without a GPU)."""
    resident: list[ResidentModel] = [
        {
            "name": r.name,
            "category": ledger.category(r.name),
            "size": ledger.size_of(r.name),
            "size_vram": r.size_vram,
            "expires_at": r.expires_at,
            "in_flight": ledger.in_flight.get(r.name, 0),
            "external": r.external,
            # landed partly on CPU (slow): Ollama found too little free VRAM
            "partial_offload": 0 < r.size_vram < r.size,
        }
        for r in sorted(ledger.resident.values(), key=lambda r: r.name)
    ]
    return VramSnapshot(
        installed=installed_rows(ledger),
        resident=resident,
        in_flight=dict(ledger.in_flight),
        waiting=scheduler.waiting(),
        queued=parallel.queued(),
        unloads_waiting=scheduler.unloads_waiting(),
        budget_bytes=settings.vram_limit_bytes,
        budget_limit_bytes=settings.vram_limit_bytes,
        budget_used_bytes=ledger.resident_bytes(),
        budget_planned_bytes=ledger.planned_bytes(),
        max_heavy_models=settings.max_heavy_models,
        swapping=scheduler.swapping(),
        missing_always_on=list(ledger.missing_always_on),
        unexpected_evictions=list(ledger.unexpected_evictions),
        max_loaded_models=settings.max_loaded_models,
        ollama_up=ollama_up,
        paused=paused,
        gpu=gpu,
    )
