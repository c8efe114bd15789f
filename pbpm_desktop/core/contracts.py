"""The typed shapes that cross the core/UI boundary (and the event bus).

The core publishes events and answers the UI's calls with these; the Qt layer and the test
fakes build the same types, so a field added or renamed here shows up as a type error (mypy)
or a constructor error (tests) instead of a silently missing dict key in a page.

Two kinds of shapes, chosen by where the data goes next:
- `VramSnapshot` is a dataclass: the UI keeps it in `AppState` and orders snapshots by
  `taken_at`. `to_dict()` gives the JSON shape (`/admin/status`, the pages' `dict.get` reads).
- Rows that are JSON on the admin API as well (keys, usage) are `TypedDict`s: the same dict
  is served by HTTP and shown by a page, so a dataclass would only add a conversion each way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, TypedDict


class EventName(StrEnum):
    """Names on the EventBus (core/events.py). A `StrEnum`, so `"vram.state"` compares equal."""

    VRAM_STATE = "vram.state"  # payload: VramSnapshot.to_dict()
    REQUEST_DONE = "request.done"  # payload: audit.AuditEntry (call .to_dict())
    KEYS_CHANGED = "keys.changed"  # payload: KeysChanged
    GATEWAY_STATE = "gateway.state"  # payload: GatewayStateEvent
    OLLAMA_STATE = "ollama.state"  # payload: OllamaStatus
    PAUSE_STATE = "gateway.pause"  # payload: PauseController.status() dict
    AUTH_FAILED = "auth.failed"  # payload: {"reason": "missing"|"invalid"|…, "client": address}
    EXPOSURE = "ollama.exposure"  # payload: exposure.ExposureReport.to_dict()
    SWAP = "vram.swap"  # payload: {"phase": SwapPhase, "model": ...}


class GatewayState(StrEnum):
    """The gateway's life cycle. The core uses SERVING/STOPPED; the UI adds the transitions."""

    STARTING = "starting"
    SERVING = "serving"
    STOPPING = "stopping"
    STOPPED = "stopped"


class SwapPhase(StrEnum):
    UNLOADING = "unloading"
    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"


class KeyAction(StrEnum):
    CREATED = "created"
    REVOKED = "revoked"
    UPDATED = "updated"


class GatewayStateEvent(TypedDict):
    state: str  # a GatewayState value
    url: str | None


class KeysChanged(TypedDict):
    id: int
    action: str  # a KeyAction value


class OllamaStatus(TypedDict):
    up: bool | None  # None: not checked yet
    version: str | None
    url: str


class GatewayFacts(TypedDict):
    """What the UI re-reads after a start, stop or restart."""

    state: str
    urls: list[str]
    settings: Any  # pbpm_desktop.core.settings.Settings (config is outside core; kept opaque here)


class KeyRow(TypedDict):
    """One row of the key table: KeyInfo.to_dict() plus its usage (GET /admin/keys too)."""

    id: int
    prefix: str
    name: str
    email: str
    owner: str
    created_at: str | None
    revoked_at: str | None
    status: str  # "active" | "revoked" | "expired"
    models: list[str]
    expires_at: str | None
    rpm: int | None
    tokens_per_day: int | None
    max_streams: int | None
    cloud: bool | None
    requests: int
    tokens_used: int
    last_used: str | None


class UsageTotalRow(TypedDict, total=False):
    """One group of `usage_totals` (the grouping columns present depend on `group_by`)."""

    key_id: int | None
    key_prefix: str | None
    owner: str | None
    model: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    last_used: str | None


class UsageBucket(TypedDict):
    """One time bucket of `usage_series`."""

    start: str
    prompt_tokens: int
    completion_tokens: int
    requests: int


class ResidentModel(TypedDict, total=False):
    """A model Ollama holds in memory, as the VRAM manager sees it."""

    name: str
    category: str
    size: int
    size_vram: int
    expires_at: str | None
    in_flight: int
    external: bool
    partial_offload: bool  # landed partly on CPU: Ollama found too little free VRAM
    loaded: bool


@dataclass(slots=True)
class VramSnapshot:
    """The VRAM manager's state: what is installed, resident, waiting, and the budget.

    `taken_at` is `time.monotonic()` on the gateway thread when the UI's copy was taken, so
    a throttled event snapshot that arrives after a fresher direct read can be dropped
    (AppState.set_vram). It is not part of the JSON shape.
    """

    installed: list[dict[str, Any]] = field(default_factory=list)
    resident: list[ResidentModel] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)
    queued: dict[str, int] = field(default_factory=dict)
    unloads_waiting: int = 0
    budget_bytes: int = 0
    budget_limit_bytes: int = 0
    budget_used_bytes: int = 0
    budget_planned_bytes: int = 0
    max_heavy_models: int = 0
    swapping: dict[str, Any] | None = None
    missing_always_on: list[str] = field(default_factory=list)
    unexpected_evictions: list[dict[str, Any]] = field(default_factory=list)
    max_loaded_models: int = 0
    ollama_up: bool | None = None
    paused: dict[str, Any] | None = None
    gpu: dict[str, Any] | None = None
    taken_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (VRAM_STATE payload, /admin/status, the pages' reads)."""
        out = asdict(self)
        del out["taken_at"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, taken_at: float | None = None) -> VramSnapshot:
        """Parse a VRAM_STATE payload; an unknown key is a contract break, not a typo to hide."""
        unknown = set(data) - _SNAPSHOT_FIELDS
        if unknown:
            raise TypeError(f"unknown VRAM snapshot fields: {sorted(unknown)}")
        values = dict(data)
        if taken_at is not None:
            values["taken_at"] = taken_at
        return cls(**values)


_SNAPSHOT_FIELDS = {f.name for f in fields(VramSnapshot)}
