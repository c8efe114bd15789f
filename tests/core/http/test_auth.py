"""Who may call what: keys, master vs client, revoked/expired keys, open routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import Gateway

CHAT = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}], "stream": False}


async def test_health_is_open_and_reveals_little(gateway: Gateway, http) -> None:
    async with http.get(gateway.url + "/health") as r:
        assert r.status == 200
        assert await r.json() == {"status": "ok", "ollama": "up"}


async def test_missing_key_is_401_with_challenge(gateway: Gateway, http) -> None:
    async with http.post(gateway.url + "/api/chat", json=CHAT) as r:
        assert r.status == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in (await r.json())["error"]


async def test_unknown_route_without_key_is_401_not_404(gateway: Gateway, http) -> None:
    async with http.get(gateway.url + "/api/secret-stuff") as r:
        assert r.status == 401


async def test_unknown_key_is_401(gateway: Gateway, http) -> None:
    async with http.post(gateway.url + "/api/chat", json=CHAT, headers=gateway.auth("pbpm-x")) as r:
        assert r.status == 401
        assert "invalid API key" in (await r.json())["error"]


async def test_master_key_never_serves_inference(gateway: Gateway, http) -> None:
    async with http.post(gateway.url + "/api/chat", json=CHAT, headers=gateway.master) as r:
        assert r.status == 403
        assert "client key" in (await r.json())["error"]
    assert gateway.sim is not None and gateway.sim.stats.requests == {}


async def test_client_key_cannot_use_admin_routes(gateway: Gateway, http) -> None:
    async with http.get(gateway.url + "/admin/keys", headers=gateway.auth()) as r:
        assert r.status == 403
        assert "master key" in (await r.json())["error"]


async def test_revoked_key_is_refused_immediately(gateway: Gateway, http) -> None:
    async with http.post(gateway.url + "/api/chat", json=CHAT, headers=gateway.auth()) as r:
        assert r.status == 200  # cached as valid now
    url = f"{gateway.url}/admin/keys/{gateway.client_id}/revoke"
    async with http.post(url, headers=gateway.master) as r:
        assert r.status == 200
    async with http.post(gateway.url + "/api/chat", json=CHAT, headers=gateway.auth()) as r:
        assert r.status == 401
        assert "revoked" in (await r.json())["error"]


async def test_expired_key_is_401(gateway: Gateway, http) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    created = await gateway.service.create_key("old", expires_at=past)
    headers = gateway.auth(created["api_key"])
    async with http.post(gateway.url + "/api/chat", json=CHAT, headers=headers) as r:
        assert r.status == 401
        assert "expired" in (await r.json())["error"]


async def test_management_routes_are_unreachable_for_clients(gateway: Gateway, http) -> None:
    for method, path in [
        ("POST", "/api/pull"),
        ("POST", "/api/push"),
        ("POST", "/api/create"),
        ("POST", "/api/copy"),
        ("DELETE", "/api/delete"),
        ("POST", "/api/blobs/sha256:abc"),
        ("GET", "/api/me"),
    ]:
        async with http.request(method, gateway.url + path, json={}, headers=gateway.auth()) as r:
            assert r.status == 403, path
            assert "not available through the gateway" in (await r.json())["error"]


async def test_openai_routes_answer_openai_shaped_errors(gateway: Gateway, http) -> None:
    async with http.post(gateway.url + "/v1/chat/completions", json={}) as r:
        assert r.status == 401
        error = (await r.json())["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "authentication_error"
