"""The VRAM manager's bookkeeping: what is installed, what is resident, and budget arithmetic.

Kept free of I/O and of asyncio so the policy decisions (does a model fit, which model to
evict, what counts against the budget) are plain functions of state that read top to bottom.
`pbpm_desktop.core.vram.manager` owns the scheduling and the Ollama calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pbpm_desktop.core.settings import Settings
from pbpm_desktop.core.vram.sizes import SizeBook

log = logging.getLogger(__name__)

ALWAYS_ON = "always_on"
ON_DEMAND = "on_demand"

GB = 1024**3


def gb(size: int) -> str:
    """Human size for messages: '4.7 GB'."""
    return f"{size / GB:.1f} GB"


@dataclass
class Resident:
    """A model Ollama holds in memory, as last seen in /api/ps."""

    name: str
    size: int
    size_vram: int
    expires_at: str | None
    #: loaded by something other than the gateway (another Ollama client); adopted in the budget
    external: bool = False
    #: False while /api/ps no longer lists it but our requests still stream from it
    listed: bool = True
    #: the context length Ollama loaded it with (/api/ps `context_length`)
    context_length: int | None = None


def is_cloud_entry(name: str, entry: dict[str, Any]) -> bool:
    """An Ollama cloud model: a `remote_host` stub, or a `:cloud` / `:tag-cloud` name.

    Mirrors ollama internal/modelref parseSourceSuffix; such models run on ollama.com signed
    with the owner's identity (server/routes.go:267, :308), never in local VRAM.
    """
    if entry.get("remote_host"):
        return True
    _, sep, tag = name.rpartition(":")
    tag = tag.strip().lower()
    return bool(sep) and (tag == "cloud" or ("/" not in tag and tag.endswith("-cloud")))


class Ledger:
    """Installed models, resident models, in-flight counts and the budget they imply.

    Budget rule (DESIGN §4): always-on models have their space reserved whether or not they
    are resident right now (they get reloaded), on-demand and external models count while
    resident, and the sum stays within `VRAM_LIMIT_GB`.
    """

    def __init__(self, settings: Settings, sizes: SizeBook | None = None) -> None:
        self.settings = settings
        #: real sizes remembered across restarts, and estimates for never-seen models
        self.sizes = sizes or SizeBook(None)
        self.installed: dict[str, dict[str, Any]] = {}
        #: canonical installed names of the configured always-on models
        self.always_on: frozenset[str] = frozenset()
        #: configured always-on names that are not installed
        self.missing_always_on: list[str] = []
        self.resident: dict[str, Resident] = {}
        self.in_flight: dict[str, int] = {}
        self.last_used: dict[str, float] = {}
        self._real_sizes: dict[str, int] = {}
        #: installed cloud models (never in the plan)
        self.cloud: frozenset[str] = frozenset()
        #: models the gateway asked Ollama to unload (their leaving /api/ps is expected)
        self.expected_gone: set[str] = set()
        #: models that left /api/ps unexpectedly (Ollama evicted them on its own), newest last
        self.unexpected_evictions: list[dict[str, Any]] = []

    # -- names and categories -------------------------------------------------------------

    def canonical(self, name: str) -> str | None:
        """The installed name for `name` ("llama3.2" -> "llama3.2:latest"), or None."""
        if name in self.installed:
            return name
        if ":" not in name and f"{name}:latest" in self.installed:
            return f"{name}:latest"
        # Ollama resolves names case-insensitively (server/routes.go:1222 getExistingName)
        folded = name.casefold()
        for candidate in (folded, f"{folded}:latest" if ":" not in folded else folded):
            for installed in self.installed:
                if installed.casefold() == candidate:
                    return installed
        return None

    def category(self, name: str) -> str:
        if name in self.always_on or name in self.settings.always_on_models:
            return ALWAYS_ON
        canonical = self.canonical(name)
        return ALWAYS_ON if canonical is not None and canonical in self.always_on else ON_DEMAND

    def set_installed(self, models: Iterable[dict[str, Any]]) -> list[str]:
        """Replace the installed list from /api/tags; returns always-on names newly missing."""
        self.installed = {}
        cloud: set[str] = set()
        for entry in models:
            name = entry.get("name") or entry.get("model")
            if name:
                self.installed[str(name)] = entry
                if is_cloud_entry(str(name), entry):
                    cloud.add(str(name))
        self.cloud = frozenset(cloud)
        always_on: set[str] = set()
        missing: list[str] = []
        for configured in self.settings.always_on_models:
            canonical = self.canonical(configured)
            if canonical is None:
                missing.append(configured)
            elif canonical in cloud:
                log.warning("ALWAYS_ON_MODELS: %s is a cloud model, not loaded", canonical)
            else:
                always_on.add(canonical)
        newly_missing = [name for name in missing if name not in self.missing_always_on]
        self.always_on = frozenset(always_on)
        self.missing_always_on = missing
        return newly_missing

    # -- sizes and budget -----------------------------------------------------------------

    def size_of(self, name: str) -> int:
        """Best known memory footprint: /api/ps size once seen loaded, else /api/tags size."""
        resident = self.resident.get(name)
        if resident is not None and resident.size > 0:
            return resident.size
        if name in self._real_sizes:
            return self._real_sizes[name]
        remembered = self.sizes.real(name, self.installed.get(name, {}).get("digest"))
        if remembered is not None:
            return remembered
        if name in self.sizes.estimates:
            return self.sizes.estimates[name]
        return int(self.installed.get(name, {}).get("size") or 0)

    def size_known(self, name: str) -> bool:
        """Whether size_of(name) is more than the file size (seen, remembered or estimated)."""
        digest = self.installed.get(name, {}).get("digest")
        return (
            name in self.resident
            or name in self._real_sizes
            or name in self.sizes.estimates
            or self.sizes.real(name, digest) is not None
        )

    def always_on_bytes(self, exclude: str | None = None) -> int:
        return sum(self.size_of(name) for name in self.always_on if name != exclude)

    def planned_bytes(self, exclude: str | None = None) -> int:
        """Budget in use: reserved always-on space plus every other resident model."""
        others = sum(
            self.size_of(name)
            for name in self.resident
            if name not in self.always_on and name != exclude
        )
        return self.always_on_bytes(exclude) + others

    def resident_bytes(self) -> int:
        """What Ollama actually holds right now (for the dashboard)."""
        return sum(self.size_of(name) for name in self.resident)

    def loaded_count(self, exclude: str | None = None) -> int:
        """Models Ollama counts against OLLAMA_MAX_LOADED_MODELS once the plan is complete:
        every resident model plus always-on models that are about to be reloaded."""
        names = set(self.resident) | set(self.always_on)
        names.discard(exclude or "")
        return len(names)

    def on_demand_resident(self, exclude: str | None = None) -> list[str]:
        return [n for n in self.resident if n not in self.always_on and n != exclude]

    def fits(self, name: str) -> bool:
        """Could `name` be loaded now without breaking MAX_HEAVY_MODELS or VRAM_LIMIT_GB?"""
        if name in self.always_on:
            return self.planned_bytes() <= self.settings.vram_limit_bytes
        if len(self.on_demand_resident(exclude=name)) >= self.settings.max_heavy_models:
            return False
        if self.loaded_count(exclude=name) + 1 > self.settings.max_loaded_models:
            return False  # Ollama would evict one on its own, maybe a pinned one (sched.go:264)
        needed = self.planned_bytes(exclude=name) + self.size_of(name)
        return needed <= self.settings.vram_limit_bytes

    def never_fits_reason(self, name: str) -> str | None:
        """Why an on-demand model can never be loaded under the settings, or None if it can."""
        if self.settings.max_heavy_models < 1:
            return (
                f"model '{name}' cannot be loaded: MAX_HEAVY_MODELS is "
                f"{self.settings.max_heavy_models}, so no on-demand model may be resident. "
                "Set MAX_HEAVY_MODELS to 1 or more."
            )
        pinned = len(self.always_on - {name})
        if pinned + 1 > self.settings.max_loaded_models:
            return (
                f"model '{name}' cannot be loaded: the {pinned} always-on models already use "
                f"MAX_LOADED_MODELS={self.settings.max_loaded_models} (Ollama's "
                "OLLAMA_MAX_LOADED_MODELS); raise both, or shorten ALWAYS_ON_MODELS."
            )
        size = self.size_of(name)
        reserved = self.always_on_bytes(exclude=name)
        limit = self.settings.vram_limit_bytes
        if size + reserved <= limit:
            return None
        always_on = ", ".join(sorted(n for n in self.always_on if n != name)) or "none"
        return (
            f"model '{name}' needs {gb(size)} but VRAM_LIMIT_GB={self.settings.vram_limit_gb:g} "
            f"leaves only {gb(max(limit - reserved, 0))} next to the always-on models "
            f"({always_on}: {gb(reserved)}). Raise VRAM_LIMIT_GB, remove models from "
            "ALWAYS_ON_MODELS, or use a smaller model."
        )

    def pick_victim(self, for_model: str, idle_only: bool = False) -> str | None:
        """The on-demand resident to evict next: least recently used, idle ones first.

        A model with requests in flight is in use right now, so it ranks as the most recently
        used; we would wait for it to drain only if no idle model can go instead.
        """
        candidates = [
            name
            for name in self.on_demand_resident(exclude=for_model)
            if not idle_only or self.in_flight.get(name, 0) == 0
        ]
        if not candidates:
            return None
        return min(
            candidates,
            key=lambda n: (self.in_flight.get(n, 0) > 0, self.last_used.get(n, 0.0)),
        )

    def mark_loaded(self, name: str) -> None:
        """Record a model Ollama just said it loaded, if /api/ps did not show it yet."""
        if name not in self.resident:
            size = self.size_of(name)
            self.resident[name] = Resident(name, size, size, None)

    # -- /api/ps --------------------------------------------------------------------------

    def apply_ps(self, models: Iterable[dict[str, Any]], loading: str | None = None) -> bool:
        """Make the resident set match /api/ps; returns whether anything changed.

        New names are adopted (marked external unless the gateway is loading or using them).
        Names gone from /api/ps are dropped, except while our requests still stream from
        them: Ollama reloads a model to serve a request, so it keeps counting in the budget.
        """
        now = time.monotonic()
        seen: dict[str, dict[str, Any]] = {}
        for entry in models:
            name = entry.get("name") or entry.get("model")
            if name:
                seen[str(name)] = entry
        changed = False
        for name, entry in seen.items():
            size_vram = int(entry.get("size_vram") or 0)
            size = int(entry.get("size") or size_vram)
            expires_at = entry.get("expires_at")
            context_length = entry.get("context_length")
            if size > 0:
                self._real_sizes[name] = size
                digest = self.installed.get(name, {}).get("digest") or entry.get("digest")
                self.sizes.remember(name, digest, size)
            resident = self.resident.get(name)
            if resident is None:
                ours = name == loading or name in self.always_on or name in self.in_flight
                self.resident[name] = Resident(name, size, size_vram, expires_at, not ours)
                self.resident[name].context_length = context_length
                _warn_partial(name, size, size_vram)
                self.last_used.setdefault(name, now)
                if not ours:
                    self.last_used[name] = now
                    log.info("adopted %s (%s) loaded outside the gateway", name, gb(size))
                changed = True
                continue
            if (resident.size, resident.size_vram, resident.listed) != (size, size_vram, True):
                changed = True
                _warn_partial(name, size, size_vram)
            resident.size, resident.size_vram, resident.listed = size, size_vram, True
            resident.expires_at = expires_at
            resident.context_length = context_length
        for name in [n for n in self.resident if n not in seen]:
            if self.in_flight.get(name, 0) > 0:
                self.resident[name].listed = False
                continue
            gone = self.resident.pop(name)
            if name in self.expected_gone or _expired(gone.expires_at):
                log.info("%s is no longer loaded in Ollama", name)
            else:
                # Ollama evicted it on its own (OLLAMA_MAX_LOADED_MODELS, or to fit a load)
                log.warning(
                    "Ollama unloaded %s on its own (the gateway did not ask; its keep-alive ran "
                    "until %s); check that MAX_LOADED_MODELS matches OLLAMA_MAX_LOADED_MODELS "
                    "and that nothing else loads models",
                    name,
                    gone.expires_at,
                )
                self.unexpected_evictions = [
                    *self.unexpected_evictions[-9:],
                    {"model": name, "at": time.time()},
                ]
            self.expected_gone.discard(name)
            changed = True
        return changed


def _warn_partial(name: str, size: int, size_vram: int) -> None:
    if 0 < size_vram < size:
        log.warning(
            "%s is partly on the CPU (%s of %s in VRAM), so it runs slowly: Ollama found too "
            "little free GPU memory; lower VRAM_LIMIT_GB or MODEL_NUM_CTX, or unload others",
            name,
            gb(size_vram),
            gb(size),
        )


def _expired(expires_at: str | None) -> bool:
    """Whether an /api/ps expiry lies in the past (a normal keep-alive unload)."""
    if not expires_at:
        return True
    try:
        when = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        return True
    return when <= datetime.now(UTC) + timedelta(seconds=1)
