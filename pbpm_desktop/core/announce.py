"""The lines `serve` and the desktop app print at start: where the gateway listens, and where
a newly generated master key went (never the key itself).

In the core, not in `cli`, so the Qt controller can print them without importing the CLI
(which imports the Qt app: that was an import circle).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pbpm_desktop.core.access.secrets import MasterKey
    from pbpm_desktop.core.app import GatewayService


def announce(service: GatewayService) -> None:
    """Print where the gateway listens and, on first start only, where the master key is."""
    print(f"PBPM Desktop gateway listening on {' and '.join(service.urls())}", flush=True)
    print(f"upstream Ollama: {service.settings.ollama_url}", flush=True)
    if service.master is not None:
        announce_master_key(service.master)


def announce_master_key(master: MasterKey) -> None:
    """On the start that generated it, say where the master key is (never the key itself)."""
    if master.created:
        # stderr: `--json` output on stdout stays machine-readable
        print(
            f"a new master key was generated and stored in the {master.describe()}", file=sys.stderr
        )
        if master.source == "file":
            print(f"  read it with: cat {master.location}", file=sys.stderr)
