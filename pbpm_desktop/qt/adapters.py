"""The pages' name for core/dashboard.py (the functions moved into the core, where they run).

Kept so `adapters.overview_info` and friends keep working in the pages; new code imports
`pbpm_desktop.core.dashboard` directly.
"""

from pbpm_desktop.core.dashboard import (
    current_settings,
    gateway_facts,
    overview_info,
    replace_settings,
    usage_report,
    vram_snapshot,
)

__all__ = [
    "current_settings",
    "gateway_facts",
    "overview_info",
    "replace_settings",
    "usage_report",
    "vram_snapshot",
]
