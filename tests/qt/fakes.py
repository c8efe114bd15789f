"""A fake bridge and service for widget tests that need no gateway thread."""

from __future__ import annotations

import inspect
from typing import Any

from PySide6.QtCore import QObject, Signal

from pbpm_desktop.config import Settings
from pbpm_desktop.core.contracts import GatewayState, VramSnapshot
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
        return []

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
