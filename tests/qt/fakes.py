"""A fake bridge and service for widget tests that need no gateway thread."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QObject, Signal

from pbpm_desktop.core.contracts import GatewayState, VramSnapshot
from pbpm_desktop.core.settings import Settings
from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.notify import Notifier
from pbpm_desktop.qt.state import AppState
from pbpm_desktop.qt.tasks import TaskRunner

GIB = 1024**3


def snapshot(resident: dict[str, int] | None = None, **extra: Any) -> VramSnapshot:
    """A VRAM snapshot built from the contract VramManager.state() returns: a field the core
    renames or drops fails here, not silently in a page."""
    resident = {"llama3.2:3b": 2 * GIB} if resident is None else resident
    installed = [
        ("llama3.2:3b", "always_on", 2 * GIB),
        ("qwen2.5:7b", "on_demand", 5 * GIB),
        ("qwen2.5-coder:32b", "on_demand", 19 * GIB),
    ]
    fields: dict[str, Any] = {
        "installed": [
            {"name": n, "category": c, "size": s, "loaded": n in resident} for n, c, s in installed
        ],
        "resident": [
            {
                "name": n,
                "category": "always_on" if n == "llama3.2:3b" else "on_demand",
                "size": size,
                "size_vram": size,
                "expires_at": "2319-01-01T00:00:00+00:00",
                "in_flight": 0,
            }
            for n, size in resident.items()
        ],
        "budget_bytes": 24 * GIB,
        "budget_limit_bytes": 24 * GIB,
        "budget_used_bytes": sum(resident.values()),
        "ollama_up": True,
        "max_heavy_models": 1,  # MAX_HEAVY_MODELS' default
        **extra,
    }
    return VramSnapshot(**fields)


class FakeMaster:
    source = "file"
    location = "/tmp/master.key"

    def describe(self) -> str:
        return "file /tmp/master.key (no OS keyring backend available)"


class FakeService:
    """Just enough of GatewayService; `fail` makes the named method raise."""

    def __init__(self) -> None:
        self.state = GatewayState.SERVING
        self.tls_fingerprint: str | None = None
        self.exposure: Any = None
        self.settings = Settings(host="127.0.0.1", port=8123, ollama_url="http://sim:11434")
        self.master = FakeMaster()
        self.keys: list[dict[str, Any]] = []
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail: dict[str, Exception] = {}
        self.records: list[dict[str, Any]] = []
        self.totals: dict[str, list[dict[str, Any]]] = {}
        self.series: list[dict[str, Any]] = []
        self.snapshot = snapshot()

    def _check(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if name in self.fail:
            raise self.fail[name]

    def urls(self) -> list[str]:
        return ["http://127.0.0.1:8123"]

    def ollama_status(self) -> dict[str, Any]:
        return {"up": True, "version": "0.12.6", "url": "http://sim:11434"}

    async def today(self) -> dict[str, int]:
        self._check("today")
        return {"requests": 12, "tokens": 3456}

    async def list_keys(self) -> list[dict[str, Any]]:
        self._check("list_keys")
        return list(self.keys)

    async def usage_records(self, limit: int = 100, **_: Any) -> list[dict[str, Any]]:
        self._check("usage_records", limit)
        return list(self.records[:limit])

    async def usage_totals(self, group_by: str, **_: Any) -> list[dict[str, Any]]:
        self._check("usage_totals", group_by)
        return list(self.totals.get(group_by, []))

    async def usage_series(self, since: Any, bucket: str = "hour", **_: Any) -> list[dict]:
        self._check("usage_series", bucket)
        return list(self.series)

    async def update_key(self, key_id: int, **changes: Any) -> dict[str, Any]:
        self._check("update_key", key_id, changes)
        key = next(k for k in self.keys if k["id"] == key_id)
        key.update(changes)
        return dict(key)

    def populate(self, rows: int, *, long_names: bool = True) -> None:
        """`rows` keys, requests and usage rows, with long names when asked (layout tests)."""
        now = datetime.now(UTC)
        long = "-with-a-really-long-descriptive-name-for-the-lab" if long_names else ""
        model = f"hf.co/bartowski/Qwen2.5-Coder-32B-Instruct-GGUF{long}:Q4_K_M"
        self.keys = [
            {
                "id": i + 1,
                "prefix": f"pbpm-{i:04x}ab",
                "name": f"notebook-{i}{long}",
                "email": f"person{i}{long}@lab.example.org",
                "owner": f"person{i}@lab.example.org",
                "status": ("active", "revoked", "expired")[i % 3],
                "created_at": (now - timedelta(days=i)).isoformat(),
                "last_used": (now - timedelta(minutes=i)).isoformat(),
                "requests": 1000 * i,
                "tokens_used": 1_234_567 * i,
                "models": ["llama3.2:3b", model] if i % 2 else [],
                "rpm": 60 if i % 2 else None,
                "tokens_per_day": 1_000_000 if i % 2 else None,
                "max_streams": 2 if i % 2 else None,
                "expires_at": (now + timedelta(days=30)).isoformat() if i % 2 else None,
            }
            for i in range(rows)
        ]
        self.records = [
            {
                "id": i,
                "created_at": (now - timedelta(days=i % 3, seconds=i)).isoformat(),
                "key_prefix": f"pbpm-{i % 7:04x}ab",
                "key_id": i % 7,
                "owner": f"person{i % 7}{long}@lab.example.org",
                "model": model,
                "route": "/v1/chat/completions",
                "prompt_tokens": 123_456,
                "completion_tokens": 654_321,
                "duration_ms": 123_456.0,
                "ttft_ms": 12_345.0,
                "status": ("ok", "client_closed", "upstream_error")[i % 3],
                "client": f"192.168.100.{i % 250}",
            }
            for i in range(rows)
        ]
        total = {
            "key_id": 1,
            "key_prefix": "pbpm-0001ab",
            "owner": f"person1{long}@lab.example.org",
            "model": model,
            "requests": 1_234_567,
            "prompt_tokens": 98_765_432,
            "completion_tokens": 12_345_678,
            "total_tokens": 111_111_110,
            "failed": 12,
            "last_used": now.isoformat(),
        }
        self.totals = {g: [dict(total) for _ in range(rows)] for g in ("key", "model", "key_model")}
        self.series = [
            {
                "start": (now - timedelta(hours=h)).isoformat(),
                "prompt_tokens": 1000 * h,
                "completion_tokens": 500 * h,
            }
            for h in range(min(rows, 168))
        ]

    async def preload(self, model: str) -> dict[str, Any]:
        self._check("preload", model)
        return {"model": model, "loaded": True, "unloaded": [], "load_ms": 5.0}

    async def unload(self, model: str) -> dict[str, Any]:
        self._check("unload", model)
        return {"model": model, "unloaded": True}

    def vram_snapshot(self) -> dict[str, Any]:
        return self.snapshot.to_dict()

    def vram_state(self) -> VramSnapshot:
        return self.snapshot

    async def restart(self, settings: Settings) -> None:
        self._check("restart", settings)
        self.settings = settings


class FakeBridge(QObject):
    vramChanged = Signal(object)
    requestsDone = Signal(list)
    keysChanged = Signal(object)
    gatewayStateChanged = Signal(object)
    ollamaStateChanged = Signal(object)
    swapChanged = Signal(object)

    def __init__(self, service: FakeService | None = None) -> None:
        super().__init__()
        self.service = service or FakeService()

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result


def fake_ctx(service: FakeService | None = None, **options: Any) -> UiContext:
    bridge = FakeBridge(service)
    state = AppState()
    state.set_gateway("serving", bridge.service.urls())
    state.set_vram(bridge.service.snapshot)
    return UiContext(bridge=bridge, state=state, tasks=TaskRunner(), notifier=Notifier(), **options)
