"""Small functions the desktop UI runs *on the gateway loop* through `bridge.call(...)`.

They gather what one page needs in one round trip (instead of five cross-thread calls) and
read a few plain attributes of the service that have no method of their own. Core code (no
Qt, only the service's public surface), so it lives here and the Qt layer only calls it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from pbpm_desktop.core.app import since_range
from pbpm_desktop.core.contracts import GatewayFacts, GatewayState, VramSnapshot

if TYPE_CHECKING:
    from pbpm_desktop.core.app import GatewayService
    from pbpm_desktop.core.settings import Settings


def vram_snapshot(service: GatewayService) -> VramSnapshot:
    """The VRAM snapshot, stamped like the bridge's event snapshots (for ordering)."""
    return dataclasses.replace(service.vram_state(), taken_at=time.monotonic())


async def overview_info(service: GatewayService) -> dict[str, Any]:
    """Everything the Overview page shows."""
    master = service.master
    info: dict[str, Any] = {
        "state": service.state,
        "urls": service.urls(),
        "ollama": service.ollama_status(),
        "master": master.describe() if master is not None else None,
        "master_source": getattr(master, "source", None),
        "master_location": getattr(master, "location", None),
        "settings": service.settings,
        "today": None,
        "tls_fingerprint": service.tls_fingerprint,
        "exposure": service.exposure.to_dict() if service.exposure is not None else None,
    }
    if service.state == GatewayState.SERVING:
        info["today"] = await service.today()
    return info


def gateway_facts(service: GatewayService) -> GatewayFacts:
    """State, URLs and settings after a start/stop/restart."""
    return {"state": service.state, "urls": service.urls(), "settings": service.settings}


def current_settings(service: GatewayService) -> Settings:
    return service.settings


def replace_settings(service: GatewayService, settings: Settings) -> None:
    """Apply settings that need no restart (desktop-only ones like start_minimized)."""
    service.settings = settings


async def usage_report(service: GatewayService, range_label: str, bucket: str) -> dict[str, Any]:
    """Series, totals by key, by model and by key+model for the Usage page, in one trip."""
    since = since_range(range_label)
    return {
        "since": since.isoformat(),
        "bucket": bucket,
        "series": await service.usage_series(since, bucket),
        "by_key": await service.usage_totals("key", since=since),
        "by_model": await service.usage_totals("model", since=since),
        "totals": await service.usage_totals("key_model", since=since),
    }
