"""VramManager (DESIGN.md §4) against the real Ollama simulator on loopback: no Ollama mocks.

Sizes are in GiB so the settings read naturally: a 6 GiB budget holds the 1 GiB always-on
model plus one 4 GiB heavy model, never two. The simulator enforces the same capacity and
refuses (counts an OOM for) any load that does not fit, so "zero oom_failures" proves the
manager did its own admission control.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from pbpm_desktop.core import events as ev
from pbpm_desktop.core.events import EventBus
from pbpm_desktop.core.settings import Settings
from pbpm_desktop.core.upstream.client import OllamaClient, OllamaError, OllamaUnreachable
from pbpm_desktop.core.vram import manager as vram_module
from pbpm_desktop.core.vram.gpu import GpuReader, read_gpu_totals
from pbpm_desktop.core.vram.manager import (
    ModelNotInstalled,
    ModelTooLarge,
    SwapTimeout,
    VramError,
    VramManager,
)
from pbpm_desktop.simulator import OllamaSimulator, SimModel

GIB = 1024**3
LIGHT = "light:latest"
HEAVY_A = "heavy-a:latest"
HEAVY_B = "heavy-b:latest"
SMALL = "small:latest"
HUGE = "huge:latest"
EMBED = "embed:latest"


def vram_models() -> list[SimModel]:
    return [
        SimModel(LIGHT, 1 * GIB),
        SimModel(HEAVY_A, 4 * GIB),
        SimModel(HEAVY_B, 4 * GIB),
        SimModel(SMALL, 1 * GIB),
        SimModel(HUGE, 8 * GIB),
        SimModel(EMBED, GIB // 4, family="nomic-bert", embedding=True),
    ]


def vram_settings(url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "ollama_url": url,
        "always_on_models": (LIGHT,),
        "vram_limit_gb": 6,
        "max_heavy_models": 1,
        "heavy_keep_alive": "30m",
        "reconcile_interval_s": 30,
        "swap_timeout_s": 5,
        "memory_settle_s": 0,  # the simulator's memory lag is off unless a test turns it on
    }
    base.update(overrides)
    return Settings().with_overrides(**base)


@pytest.fixture
async def vram_sim() -> AsyncIterator[OllamaSimulator]:
    sim = OllamaSimulator(
        vram_models(),
        vram_capacity=6 * GIB,
        token_delay=0.005,
        load_delay=0.03,
        unload_delay=0.03,
        response_tokens=6,
    )
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def vram_client(vram_sim: OllamaSimulator) -> AsyncIterator[OllamaClient]:
    client = OllamaClient(vram_sim.url, connect_timeout=2, first_byte_timeout=10, idle_timeout=10)
    await client.start()
    yield client
    await client.close()


@pytest.fixture
async def vram_make(
    vram_client: OllamaClient,
) -> AsyncIterator[Callable[..., Awaitable[VramManager]]]:
    """Factory: a started VramManager with settings overrides; stopped at teardown."""
    managers: list[VramManager] = []

    async def make(
        client: OllamaClient | None = None, events: EventBus | None = None, **overrides: Any
    ) -> VramManager:
        client = client or vram_client
        vm = VramManager(client, vram_settings(client.base_url, **overrides), events or EventBus())
        managers.append(vm)
        await vm.start()
        return vm

    yield make
    for vm in managers:
        await vm.stop()


async def chat(client: OllamaClient, model: str, keep_alive: int | str = "30m") -> str:
    """A real streamed /api/chat to the simulator, read to the end; returns the text."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "keep_alive": keep_alive,
    }
    headers = {"Content-Type": "application/json"}
    async with client.open(
        "POST", "/api/chat", data=json.dumps(body).encode(), headers=headers
    ) as r:
        assert r.status == 200, await r.text()
        raw = b""
        while chunk := await client.read_chunk(r):
            raw += chunk
    lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
    assert lines[-1]["done"] is True
    return "".join(line["message"]["content"] for line in lines)


async def request(vm: VramManager, client: OllamaClient, model: str) -> str:
    """What the proxy does: pass the gate, then stream the real request with policy keep_alive."""
    async with vm.use(model):
        return await chat(client, model, vm.keep_alive_for(model))


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- scheduling ----------------------------------------------------------------------------


async def test_alternating_burst_costs_two_swaps_and_never_overfills(
    vram_make: Callable[..., Awaitable[VramManager]],
    vram_sim: OllamaSimulator,
    vram_client: OllamaClient,
) -> None:
    vm = await vram_make()
    assert set(vram_sim.resident()) == {LIGHT}
    loads_before = vram_sim.stats.loads

    samples: list[set[str]] = []
    stop_sampling = asyncio.Event()

    async def sample_ps() -> None:
        while not stop_sampling.is_set():
            samples.append({m["name"] for m in await vram_client.ps()})
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample_ps())
    heavy = [HEAVY_A if i % 2 == 0 else HEAVY_B for i in range(12)]
    results = await asyncio.gather(
        *(request(vm, vram_client, m) for m in heavy),
        *(request(vm, vram_client, LIGHT) for _ in range(4)),
    )
    stop_sampling.set()
    await sampler

    assert all(results)
    stats = vram_sim.stats
    assert stats.loads - loads_before == 2, "a burst of alternating requests costs two swaps"
    assert stats.oom_failures == 0
    assert stats.busy_unload_requests == 0
    assert stats.max_resident_bytes <= 6 * GIB
    assert stats.requests[HEAVY_A] == 6 and stats.requests[HEAVY_B] == 6
    assert samples and all(LIGHT in s for s in samples), "the always-on model stayed resident"
    snap = vm.snapshot()
    assert snap["waiting"] == {} and snap["in_flight"] == {} and snap["swapping"] is None


async def test_second_heavy_model_is_not_starved_by_steady_traffic(
    vram_make: Callable[..., Awaitable[VramManager]],
    vram_sim: OllamaSimulator,
    vram_client: OllamaClient,
) -> None:
    vm = await vram_make()
    await vm.preload(HEAVY_A)
    stop = asyncio.Event()
    served_a = 0

    async def steady_a() -> None:
        nonlocal served_a
        while not stop.is_set():
            await request(vm, vram_client, HEAVY_A)
            served_a += 1

    workers = [asyncio.create_task(steady_a()) for _ in range(4)]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await request(vm, vram_client, HEAVY_B)
    waited = time.monotonic() - started
    served_before = served_a
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*workers)

    # one in-flight A request to drain (~30 ms) + unload + load + B's own stream
    assert waited < 1.0, f"B waited {waited:.2f}s behind steady A traffic"
    assert served_a > served_before, "A traffic resumed after B was served"
    assert vram_sim.stats.oom_failures == 0
    assert vram_sim.stats.busy_unload_requests == 0


async def test_hot_path_makes_no_ollama_calls(
    vram_make: Callable[..., Awaitable[VramManager]], vram_client: OllamaClient
) -> None:
    vm = await vram_make()
    await vm.preload(HEAVY_A)
    calls: list[str] = []
    original = vram_client.call

    async def spy(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(path)
        return await original(method, path, *args, **kwargs)

    vram_client.call = spy  # type: ignore[method-assign]
    for model in (HEAVY_A, LIGHT, HEAVY_A):
        async with vm.use(model):
            assert vm.snapshot()["in_flight"] == {model: 1}
    assert calls == []
    assert vm.snapshot()["in_flight"] == {}


async def test_cancelled_waiter_leaves_the_queue(
    vram_make: Callable[..., Awaitable[VramManager]], vram_sim: OllamaSimulator
) -> None:
    vm = await vram_make()
    await vm.preload(HEAVY_A)
    entered = asyncio.Event()

    async def want_b() -> None:
        async with vm.use(HEAVY_B):
            entered.set()

    async with vm.use(HEAVY_A):
        waiter = asyncio.create_task(want_b())
        await wait_until(lambda: vm.snapshot()["waiting"] == {HEAVY_B: 1})
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert vm.snapshot()["waiting"] == {}
        for _ in range(5):  # the cancel wakes the drain at once: no poll interval to wait out
            await asyncio.sleep(0)
        assert vm.snapshot()["swapping"] is None, "the drain for nobody is still running"
    assert not entered.is_set()
    async with asyncio.timeout(0.5), vm.use(HEAVY_A):  # A admits again, was never evicted
        pass
    assert HEAVY_A in vram_sim.resident() and HEAVY_B not in vram_sim.resident()
    assert vram_sim.stats.unloads == 0


async def test_swap_timeout_when_the_resident_model_stays_busy(
    vram_make: Callable[..., Awaitable[VramManager]], vram_sim: OllamaSimulator
) -> None:
    vm = await vram_make(swap_timeout_s=0.3)
    await vm.preload(HEAVY_A)
    async with vm.use(HEAVY_A):
        started = time.monotonic()
        with pytest.raises(SwapTimeout) as info:
            async with vm.use(HEAVY_B):
                pass
        assert 0.25 < time.monotonic() - started < 1.5
    assert info.value.status == 503
    assert "SWAP_TIMEOUT_S" in info.value.message
    async with asyncio.timeout(0.5), vm.use(HEAVY_A):  # A is open to newcomers again
        pass
    assert vm.snapshot()["waiting"] == {}
    assert vram_sim.stats.busy_unload_requests == 0


async def test_model_too_large_is_refused_without_trying(
    vram_make: Callable[..., Awaitable[VramManager]], vram_sim: OllamaSimulator
) -> None:
    vm = await vram_make()
    loads = vram_sim.stats.loads
    with pytest.raises(ModelTooLarge) as info:
        async with vm.use(HUGE):
            pass
    assert info.value.status == 507
    assert "8.0 GB" in info.value.message and "VRAM_LIMIT_GB=6" in info.value.message
    with pytest.raises(ModelTooLarge):
        await vm.preload("huge")
    assert vram_sim.stats.loads == loads and vram_sim.stats.oom_failures == 0


# -- preload / unload ----------------------------------------------------------------------


async def test_preload_and_unload_results_and_events(
    vram_make: Callable[..., Awaitable[VramManager]], vram_sim: OllamaSimulator
) -> None:
    events = EventBus()
    seen: list[tuple[str, Any]] = []
    events.subscribe(lambda name, payload: seen.append((name, payload)))
    vm = await vram_make(events=events)

    first = await vm.preload("heavy-a")
    assert first["model"] == HEAVY_A and first["loaded"] is True
    assert first["unloaded"] == [] and first["category"] == "on_demand"
    assert first["load_ms"] >= 25  # the simulator's load_delay is 30 ms

    second = await vm.preload(HEAVY_B)
    assert second["unloaded"] == [HEAVY_A] and second["loaded"] is True
    assert set(vram_sim.resident()) == {LIGHT, HEAVY_B}

    light = await vm.preload("light")
    assert light["category"] == "always_on" and light["unloaded"] == []

    result = await vm.unload(HEAVY_B)
    assert result["model"] == HEAVY_B and result["unloaded"] is True and result["waited_ms"] >= 0
    assert set(vram_sim.resident()) == {LIGHT}

    with pytest.raises(VramError) as info:
        await vm.unload(LIGHT)
    assert info.value.status == 409 and "ALWAYS_ON_MODELS" in info.value.message

    phases = [p["phase"] for name, p in seen if name == ev.SWAP]
    assert {"loading", "loaded", "unloading"} <= set(phases)
    states = [p for name, p in seen if name == ev.VRAM_STATE]
    assert states and json.dumps(states[-1])  # JSON-serialisable
    assert vram_sim.stats.oom_failures == 0 and vram_sim.stats.busy_unload_requests == 0


async def test_embedding_only_models_are_loaded_through_embed(
    vram_make: Callable[..., Awaitable[VramManager]],
    vram_sim: OllamaSimulator,
    vram_client: OllamaClient,
) -> None:
    vm = await vram_make()
    async with vm.use("embed"):  # /api/generate refuses embedding models: loaded via /api/embed
        data = await vram_client.call("POST", "/api/embed", {"model": EMBED, "input": ["a b"]})
    assert len(data["embeddings"]) == 1
    assert EMBED in vram_sim.resident()
    assert (await vm.preload(EMBED))["loaded"] is True  # keep_alive refresh, same way
    assert (await vm.unload(EMBED))["unloaded"] is True
    assert EMBED not in vram_sim.resident()


async def test_unload_waits_for_in_flight_requests(
    vram_make: Callable[..., Awaitable[VramManager]],
    vram_sim: OllamaSimulator,
    vram_client: OllamaClient,
) -> None:
    vm = await vram_make()
    await vm.preload(HEAVY_A)
    async with vm.use(HEAVY_A):
        unloading = asyncio.create_task(vm.unload(HEAVY_A))
        # the unload is draining (waiting for this request), not done: a state, not a delay
        await wait_until(lambda: (vm.snapshot()["swapping"] or {}).get("phase") == "unloading")
        assert not unloading.done()
        assert HEAVY_A in vram_sim.resident()
        await chat(vram_client, HEAVY_A)  # still served while the unload waits
        assert not unloading.done(), "the unload must wait for the request in flight"
    result = await unloading
    assert result["waited_ms"] > 0
    assert HEAVY_A not in vram_sim.resident()
    assert vram_sim.stats.busy_unload_requests == 0


async def test_keep_alive_policy(
    vram_make: Callable[..., Awaitable[VramManager]], vram_sim: OllamaSimulator
) -> None:
    vm = await vram_make()
    assert vm.category(LIGHT) == "always_on" and vm.category("light") == "always_on"
    assert vm.category(HEAVY_A) == "on_demand"
    assert vm.keep_alive_for(LIGHT) == -1
    assert vm.keep_alive_for(HEAVY_A) == "30m"
    await vm.preload(HEAVY_A)
    resident = vram_sim.resident()
    assert resident[LIGHT].keep_alive < 0  # loaded forever
    assert resident[HEAVY_A].keep_alive == 30 * 60


# -- discovery -----------------------------------------------------------------------------


async def test_resolve_names_and_rate_limited_refresh(
    vram_make: Callable[..., Awaitable[VramManager]],
    vram_sim: OllamaSimulator,
    vram_client: OllamaClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vm = await vram_make()
    assert await vm.resolve("heavy-a") == HEAVY_A
    assert await vm.resolve(HEAVY_A) == HEAVY_A

    tag_calls = 0
    original = vram_client.tags

    async def counting_tags() -> list[dict[str, Any]]:
        nonlocal tag_calls
        tag_calls += 1
        return await original()

    monkeypatch.setattr(vram_client, "tags", counting_tags)
    for _ in range(3):
        with pytest.raises(ModelNotInstalled) as info:
            await vm.resolve("nope")
    assert info.value.status == 404 and "ollama pull nope" in info.value.message
    assert tag_calls == 0, "tags were refreshed at start less than a second ago"

    vram_sim.models["fresh:latest"] = SimModel("fresh:latest", GIB)
    monkeypatch.setattr(vram_module, "TAGS_MISS_REFRESH_S", 0.0)
    assert await vm.resolve("fresh") == "fresh:latest"  # pulled after start: found on a miss
    assert tag_calls == 1
    with pytest.raises(ModelNotInstalled):
        async with vm.use("nope"):
            pass


async def test_available_models_and_missing_always_on(
    vram_make: Callable[..., Awaitable[VramManager]],
) -> None:
    vm = await vram_make(always_on_models="light,ghost")
    rows = {row["name"]: row for row in vm.available_models()}
    assert rows[LIGHT] == {
        "name": LIGHT,
        "category": "always_on",
        "size": GIB,
        "loaded": True,
        "cloud": False,
    }
    assert rows[HEAVY_A] == {
        "name": HEAVY_A,
        "category": "on_demand",
        "size": 4 * GIB,
        "loaded": False,
        "cloud": False,
    }
    snap = vm.snapshot()
    assert snap["missing_always_on"] == ["ghost"]
    assert snap["ollama_up"] is True
    assert snap["budget_limit_bytes"] == 6 * GIB and snap["budget_used_bytes"] == GIB
    assert snap["max_heavy_models"] == 1
    assert [r["name"] for r in snap["resident"]] == [LIGHT]
    assert snap["resident"][0]["category"] == "always_on"
    assert snap["resident"][0]["expires_at"]
    json.dumps(snap)


# -- reconcile -----------------------------------------------------------------------------


async def test_reconcile_reloads_always_on_after_external_unload(
    vram_make: Callable[..., Awaitable[VramManager]], vram_sim: OllamaSimulator
) -> None:
    vm = await vram_make(reconcile_interval_s=0.1)
    loads = vram_sim.stats.loads
    await vram_sim.external_unload(LIGHT)
    assert LIGHT not in vram_sim.resident()
    # the periodic pass notices and reloads it
    await wait_until(lambda: vram_sim.stats.loads == loads + 1 and LIGHT in vram_sim.resident())
    assert vram_sim.resident()[LIGHT].keep_alive < 0
    await wait_until(lambda: [r["name"] for r in vm.snapshot()["resident"]] == [LIGHT])


async def test_reconcile_re_pins_an_always_on_model_whose_expiry_was_reset(
    vram_make: Callable[..., Awaitable[VramManager]],
    vram_sim: OllamaSimulator,
    vram_client: OllamaClient,
) -> None:
    vm = await vram_make()
    # an OpenAI-style /v1 request cannot carry keep_alive: Ollama resets it to its default
    await chat(vram_client, LIGHT, keep_alive="5m")
    assert vram_sim.resident()[LIGHT].keep_alive == 300
    await vm.reconcile()
    assert vram_sim.resident()[LIGHT].keep_alive < 0


async def test_external_load_counts_in_budget_and_is_evicted_when_needed(
    vram_make: Callable[..., Awaitable[VramManager]],
    vram_sim: OllamaSimulator,
    vram_client: OllamaClient,
) -> None:
    vm = await vram_make()
    await vram_sim.external_load(SMALL)
    await vram_sim.external_load(HEAVY_B)  # 1 + 1 + 4 GiB: loaded behind the gateway's back
    snap = await vm.reconcile()
    external = {r["name"] for r in snap["resident"] if r["external"]}
    assert external == {SMALL, HEAVY_B}
    assert snap["budget_used_bytes"] == 6 * GIB

    # A (4 GiB) needs room under MAX_HEAVY_MODELS=1 and the budget: both adopted models go
    assert await request(vm, vram_client, HEAVY_A)
    assert set(vram_sim.resident()) == {LIGHT, HEAVY_A}
    assert vram_sim.stats.oom_failures == 0


async def test_ollama_restart_mid_run_recovers(
    vram_make: Callable[..., Awaitable[VramManager]],
    vram_sim: OllamaSimulator,
    vram_client: OllamaClient,
) -> None:
    vm = await vram_make()
    await vm.preload(HEAVY_A)
    vram_sim.token_delay = 0.05

    async def long_request() -> None:
        await request(vm, vram_client, HEAVY_A)

    streaming = asyncio.create_task(long_request())
    await wait_until(lambda: vm.snapshot()["in_flight"] == {HEAVY_A: 1})
    await asyncio.sleep(0.05)
    await vram_sim.restart()
    with pytest.raises(OllamaError):
        await streaming
    assert vram_sim.resident() == {}
    vram_sim.token_delay = 0.005

    snap = await vm.reconcile()
    assert snap["ollama_up"] is True
    assert [r["name"] for r in snap["resident"]] == [LIGHT]  # A dropped, always-on reloaded
    assert await request(vm, vram_client, HEAVY_B)
    assert await request(vm, vram_client, HEAVY_A)
    assert set(vram_sim.resident()) == {LIGHT, HEAVY_A}
    assert vram_sim.stats.oom_failures == 0


async def test_ollama_down_at_start_is_not_fatal() -> None:
    port = free_port()
    client = OllamaClient(f"http://127.0.0.1:{port}", connect_timeout=1)
    await client.start()
    settings = vram_settings(client.base_url, reconcile_interval_s=0.1)
    states: list[dict[str, Any]] = []
    events = EventBus()

    def on_event(name: str, payload: Any) -> None:
        if name == ev.VRAM_STATE:
            states.append(payload)

    events.subscribe(on_event)
    vm = VramManager(client, settings, events)
    sim = OllamaSimulator(vram_models(), vram_capacity=6 * GIB, load_delay=0.01)
    try:
        await vm.start()  # must not raise
        assert vm.snapshot()["ollama_up"] is False and states[-1]["ollama_up"] is False
        with pytest.raises(OllamaUnreachable):  # not "model not installed": Ollama is down
            await vm.resolve(HEAVY_A)

        await sim.start(port=port)  # Ollama comes up: the reconcile loop picks it up
        await wait_until(lambda: LIGHT in sim.resident())
        await wait_until(lambda: vm.snapshot()["ollama_up"])
        assert await vm.resolve("heavy-a") == HEAVY_A
    finally:
        await vm.stop()
        await client.close()
        await sim.stop()


# -- GPU totals ----------------------------------------------------------------------------


class FakeNvml:
    """The few pynvml functions the reader uses, for two GPUs."""

    def __init__(self, fail_init: bool = False) -> None:
        self.fail_init = fail_init
        self.inits = 0
        self.shutdowns = 0
        self.gpus: list[tuple[str | bytes, int, int]] = [
            ("NVIDIA RTX 4090", 24 * GIB, 10 * GIB),
            (b"NVIDIA RTX 3090", 24 * GIB, 2 * GIB),
        ]

    def nvmlInit(self) -> None:
        self.inits += 1
        if self.fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str | bytes:
        return self.gpus[handle][0]

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        _, total, used = self.gpus[handle]
        return SimpleNamespace(total=total, used=used, free=total - used)


def test_nvml_reader_with_a_fake_returns_totals() -> None:
    fake = FakeNvml()
    totals = read_gpu_totals(fake)
    assert totals is not None
    assert totals["count"] == 2
    assert totals["total_bytes"] == 48 * GIB
    assert totals["used_bytes"] == 12 * GIB
    assert totals["free_bytes"] == 36 * GIB
    assert [d["name"] for d in totals["devices"]] == ["NVIDIA RTX 4090", "NVIDIA RTX 3090"]

    reader = GpuReader(fake, ttl_s=60)
    assert reader.read() == totals
    assert reader.read() == totals and fake.inits == 1  # initialised once, then cached
    reader.close()
    assert fake.shutdowns == 1


def test_nvml_reader_without_gpu_returns_none() -> None:
    broken = FakeNvml(fail_init=True)
    reader = GpuReader(broken)
    assert reader.read() is None
    assert reader.read() is None and broken.inits == 1  # gave up after the first failure
    empty = FakeNvml()
    empty.gpus = []
    assert read_gpu_totals(empty) is None
