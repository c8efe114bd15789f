"""ALWAYS_ON_MODELS: loaded at start and after every reconcile pass, pinned with no expiry.

The reconcile pass (manager.py) calls `ensure` under the scheduler lock; this module decides
what to load, what idle model to evict for it, and when an always-on model needs re-pinning.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pbpm_desktop.core.settings import Settings
from pbpm_desktop.core.upstream.client import OllamaError, OllamaUnreachable
from pbpm_desktop.core.vram.scheduler import SwapScheduler
from pbpm_desktop.core.vram.state import Ledger, gb

log = logging.getLogger(__name__)


class AlwaysOnKeeper:
    """Keeps the always-on models resident and pinned."""

    def __init__(self, ledger: Ledger, scheduler: SwapScheduler, settings: Settings) -> None:
        self.ledger = ledger
        self.scheduler = scheduler
        self.settings = settings
        self._warned_budget = False

    async def ensure(self) -> None:
        """Load always-on models that are not resident (caller holds the scheduler lock).

        Their space is reserved in the budget, so only models loaded outside the gateway can
        be in the way; idle ones are evicted. A load Ollama refuses is logged and retried on
        the next pass; an unreachable Ollama aborts the pass.
        """
        ledger = self.ledger
        # if the always-on models alone exceed the budget, evicting others cannot help
        can_make_room = ledger.always_on_bytes() <= self.settings.vram_limit_bytes
        if not can_make_room and not self._warned_budget:
            self._warned_budget = True
            log.warning(
                "always-on models need %s, more than VRAM_LIMIT_GB=%g; raise VRAM_LIMIT_GB or "
                "shorten ALWAYS_ON_MODELS",
                gb(ledger.always_on_bytes()),
                self.settings.vram_limit_gb,
            )
        for name in sorted(ledger.always_on - ledger.resident.keys()):
            if can_make_room:
                await self.scheduler.evict_idle_for(name)
            try:
                await self.scheduler.load(name)
            except OllamaUnreachable:
                raise
            except OllamaError as exc:
                log.warning("could not load always-on model %s: %s", name, exc.message)
        for name in sorted(ledger.always_on & ledger.resident.keys()):
            if not pinned_forever(ledger.resident[name].expires_at):
                # Ollama's /v1 routes ignore keep_alive, so a /v1 request resets an always-on
                # model to Ollama's default expiry; re-pin it (a load of a resident model is
                # instant and only refreshes its keep_alive).
                log.info(
                    "re-pinning always-on model %s (expiry was %s)",
                    name,
                    ledger.resident[name].expires_at,
                )
                await self.scheduler.load_request(name)


def pinned_forever(expires_at: str | None) -> bool:
    """True if an /api/ps expiry means "never" (Ollama reports a date centuries ahead)."""
    if not expires_at:
        return True  # unknown: do not churn
    try:
        year = int(expires_at[:4])
    except ValueError:
        return True
    return year >= datetime.now(UTC).year + 5
