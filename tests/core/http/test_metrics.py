"""GET /metrics after real traffic through the gateway, parsed with prometheus_client's parser."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client.parser import text_string_to_metric_families

from pbpm_desktop.core.accounting.metrics import GatewayMetrics
from pbpm_desktop.core.events import EventBus
from pbpm_desktop.core.http.app import create_app
from pbpm_desktop.core.http.auth import auth_middleware
from pbpm_desktop.core.http.errors import ApiError
from tests.conftest import GB, Gateway

CHAT = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi there"}]}


async def scrape(gateway: Gateway, http: aiohttp.ClientSession, **kw: Any) -> dict[str, Any]:
    """Metric families by name, from a real scrape (no key: the test runs on loopback)."""
    async with http.get(gateway.url + "/metrics", **kw) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/plain; version=")
        text = await r.text()
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(families: dict[str, Any], sample: str, **labels: str) -> float | None:
    for family in families.values():
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


async def test_metrics_after_real_traffic(gateway: Gateway, http: aiohttp.ClientSession) -> None:
    auth = gateway.auth()
    prefix = (await gateway.service.list_keys())[0]["prefix"]
    async with http.post(gateway.url + "/api/chat", json=CHAT, headers=auth) as r:
        assert r.status == 200
        lines = [line async for line in r.content]
    async with http.post(
        gateway.url + "/api/chat", json={**CHAT, "stream": False}, headers=auth
    ) as r:
        final = await r.json()
    async with http.post(
        gateway.url + "/v1/chat/completions", json={**CHAT, "stream": True}, headers=auth
    ) as r:
        assert r.status == 200
        await r.read()
    # a made-up model name must not become a label (unbounded cardinality): it is "other"
    async with http.post(
        gateway.url + "/api/chat", json={**CHAT, "model": "no-such-model-x1"}, headers=auth
    ) as r:
        assert r.status == 404
    async with http.get(gateway.url + "/api/tags", headers=gateway.auth("pbpm-wrong")) as r:
        assert r.status == 401
    async with http.get(gateway.url + "/api/tags") as r:
        assert r.status == 401
    await gateway.service.context.audit.flush()

    families = await scrape(gateway, http)
    model = "llama3.2:3b"
    ok = {"key": prefix, "model": model, "route": "chat", "status": "ok"}
    assert value(families, "pbpm_requests_total", **ok) == 2
    assert value(families, "pbpm_requests_total", **{**ok, "route": "v1/chat"}) == 1
    assert value(families, "pbpm_requests_total", model="other", status="404") == 1
    assert not any("no-such-model" in str(s.labels) for f in families.values() for s in f.samples)
    completion = value(
        families, "pbpm_tokens_total", key=prefix, model=model, route="chat", kind="completion"
    )
    assert completion == 2 * final["eval_count"] and len(lines) == final["eval_count"] + 1
    prompt = value(
        families, "pbpm_tokens_total", key=prefix, model=model, route="chat", kind="prompt"
    )
    assert prompt == 2 * final["prompt_eval_count"]
    assert value(families, "pbpm_request_duration_seconds_count", model=model, route="chat") == 2
    assert value(families, "pbpm_time_to_first_token_seconds_count", model=model) == 2
    assert value(families, "pbpm_auth_failures_total", reason="invalid") == 1
    assert value(families, "pbpm_auth_failures_total", reason="missing") == 1
    assert value(families, "pbpm_model_resident", model=model, category="on_demand") == 1
    assert value(families, "pbpm_models_resident") == 1
    assert value(families, "pbpm_model_size_bytes", model=model) == 2 * GB
    assert value(families, "pbpm_vram_used_bytes") == 2 * GB
    assert value(families, "pbpm_vram_budget_bytes") == 26 * GB
    assert value(families, "pbpm_model_loads_total", model=model) == 1
    assert value(families, "pbpm_audit_records_written_total") == 4  # 3 ok + the 404
    assert value(families, "pbpm_audit_queue_depth") == 0
    assert value(families, "pbpm_audit_records_dropped_total") == 0
    assert value(families, "pbpm_requests_waiting") is None  # nobody waits: no series
    assert value(families, "pbpm_sharing_paused") == 0
    assert value(families, "pbpm_ollama_up") == 1


async def test_swaps_are_counted_with_their_duration(gateway: Gateway, http) -> None:
    await gateway.service.preload("qwen2.5:7b")
    await gateway.service.preload("llama3.2:3b")  # MAX_HEAVY_MODELS=1: qwen goes first
    families = await scrape(gateway, http)
    assert value(families, "pbpm_swaps_total", model="llama3.2:3b") == 1
    assert value(families, "pbpm_swaps_total", model="qwen2.5:7b") is None
    assert value(families, "pbpm_swap_duration_seconds_count", model="llama3.2:3b") == 1
    assert value(families, "pbpm_model_loads_total", model="qwen2.5:7b") == 1


async def test_metrics_access_master_or_loopback_never_a_client_key(
    gateway: Gateway, http: aiohttp.ClientSession
) -> None:
    families = await scrape(gateway, http, headers=gateway.master)
    assert "pbpm_requests" in families
    async with http.get(gateway.url + "/metrics", headers=gateway.auth()) as r:
        assert r.status == 403
        assert "master key" in (await r.json())["error"]
    async with http.get(gateway.url + "/metrics", headers=gateway.auth("pbpm-nope")) as r:
        assert r.status == 401
    secret = gateway.client_key
    async with http.get(gateway.url + "/metrics") as r:
        text = await r.text()
    assert secret not in text and secret[12:] not in text


async def test_metrics_need_the_master_key_from_another_address(gateway: Gateway) -> None:
    """The LAN case, without sending LAN traffic: a request whose peer is a LAN address."""
    app = create_app(gateway.service.context)

    async def handler(_request: web.Request) -> web.Response:
        return web.Response(text="metrics")

    class Transport:
        def __init__(self, peer: str) -> None:
            self.peer = peer

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return (self.peer, 50000) if name == "peername" else default

        def is_closing(self) -> bool:
            return False

    def request_from(peer: str) -> web.Request:
        request = make_mocked_request("GET", "/metrics", app=app, transport=Transport(peer))
        assert request.remote == peer
        return request

    try:
        await auth_middleware(request_from("192.168.1.20"), handler)
    except ApiError as exc:
        assert exc.status == 401
    else:
        raise AssertionError("a LAN scrape without a key was let in")
    for peer in ("127.0.0.1", "::1"):
        assert (await auth_middleware(request_from(peer), handler)).text == "metrics"


def test_two_gateways_in_one_process_do_not_collide() -> None:
    bus = EventBus()
    first = GatewayMetrics(bus, lambda: None, lambda: ())
    second = GatewayMetrics(bus, lambda: None, lambda: ())  # the global registry would raise
    first.auth_failures.labels("invalid").inc()
    assert b'pbpm_auth_failures_total{reason="invalid"} 1.0' in first.exposition()
    assert b"pbpm_auth_failures_total{" not in second.exposition()
    first.close()
    second.close()
