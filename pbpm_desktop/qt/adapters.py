"""Small functions the UI runs *on the gateway loop* through `bridge.call(...)`.

They gather what one page needs in one round trip (instead of five cross-thread calls) and
read a few plain attributes of the service that have no method of their own. They import no
Qt and touch only the service's public methods and attributes.
"""

from __future__ import annotations

import time
from typing import Any

from pbpm_desktop.core.service import since_range

#: key added to VRAM snapshots: `time.monotonic()` on the gateway thread when taken, so the
#: UI can tell a late event snapshot from a fresher direct read (see AppState.set_vram)
SNAPSHOT_TIME = "_taken_at"


def vram_snapshot(service: Any) -> dict[str, Any]:
    """The VRAM snapshot, stamped like the bridge's event snapshots (for ordering)."""
    return {**service.vram_snapshot(), SNAPSHOT_TIME: time.monotonic()}


async def overview_info(service: Any) -> dict[str, Any]:
    """Everything the Overview page shows."""
    master = getattr(service, "master", None)
    info: dict[str, Any] = {
        "state": service.state,
        "urls": service.urls(),
        "ollama": service.ollama_status(),
        "master": master.describe() if master is not None else None,
        "master_source": getattr(master, "source", None),
        "master_location": getattr(master, "location", None),
        "settings": service.settings,
        "today": None,
        "tls_fingerprint": getattr(service, "tls_fingerprint", None),
        "exposure": _exposure(service),
    }
    if service.state == "serving":
        info["today"] = await service.today()
    return info


def _exposure(service: Any) -> dict[str, Any] | None:
    report = getattr(service, "exposure", None)
    return report.to_dict() if report is not None else None


def gateway_facts(service: Any) -> dict[str, Any]:
    """State, URLs and settings after a start/stop/restart."""
    return {"state": service.state, "urls": service.urls(), "settings": service.settings}


def current_settings(service: Any) -> Any:
    return service.settings


def replace_settings(service: Any, settings: Any) -> None:
    """Apply settings that need no restart (desktop-only ones like start_minimized)."""
    service.settings = settings


async def usage_report(service: Any, range_label: str, bucket: str) -> dict[str, Any]:
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
