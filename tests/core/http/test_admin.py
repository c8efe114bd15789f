"""Admin routes with the master key, and per-key policy enforcement."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from pbpm_desktop.core.access.keys import hash_key
from pbpm_desktop.core.store.models import ApiKey
from tests.conftest import Gateway

CHAT = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}], "stream": False}


async def test_create_key_with_query_params_like_the_seed_api(gateway: Gateway, http) -> None:
    url = gateway.url + "/admin/create_key?name=Ana&email=ana@example.com"
    async with http.post(url, headers=gateway.master) as r:
        assert r.status == 201
        data = await r.json()
    assert data["api_key"].startswith("pbpm-") and len(data["api_key"]) >= 5 + 43  # 256 bits
    assert data["owner"] == "ana@example.com" and "message" in data and data["id"]
    # stored hashed, never in clear
    with gateway.service.db.bound():
        row = await ApiKey.get(id=data["id"])
    assert row.key_hash == hash_key(data["api_key"]) and data["api_key"] not in row.key_hash
    async with http.post(
        gateway.url + "/api/chat", json=CHAT, headers=gateway.auth(data["api_key"])
    ) as r:
        assert r.status == 200


async def test_create_key_with_json_body_and_policy(gateway: Gateway, http) -> None:
    body = {"name": "bot", "models": ["qwen2.5:7b"], "rpm": 100, "max_streams": 2}
    async with http.post(gateway.url + "/admin/create_key", json=body, headers=gateway.master) as r:
        data = await r.json()
    assert data["models"] == ["qwen2.5:7b"] and data["rpm"] == 100
    async with http.post(
        gateway.url + "/api/chat", json=CHAT, headers=gateway.auth(data["api_key"])
    ) as r:
        assert r.status == 403
        assert "may not use model" in (await r.json())["error"]


async def test_create_key_errors(gateway: Gateway, http) -> None:
    async with http.post(gateway.url + "/admin/create_key", headers=gateway.master) as r:
        assert r.status == 400 and "name" in (await r.json())["error"]
    url = gateway.url + "/admin/create_key?name=x&rpm=lots"
    async with http.post(url, headers=gateway.master) as r:
        assert r.status == 400 and "rpm" in (await r.json())["error"]


async def test_list_keys_has_no_secrets_and_shows_usage(gateway: Gateway, http) -> None:
    async with http.post(gateway.url + "/api/chat", json=CHAT, headers=gateway.auth()) as r:
        assert r.status == 200
    async with http.get(gateway.url + "/admin/keys", headers=gateway.master) as r:
        keys = (await r.json())["keys"]
    assert len(keys) == 1
    text = str(keys)
    assert gateway.client_key not in text and "key_hash" not in text
    assert keys[0]["tokens_used"] > 0 and keys[0]["requests"] == 1 and keys[0]["last_used"]


async def test_revoke_unknown_and_bad_ids(gateway: Gateway, http) -> None:
    async with http.post(gateway.url + "/admin/keys/999/revoke", headers=gateway.master) as r:
        assert r.status == 404
    async with http.post(gateway.url + "/admin/keys/abc/revoke", headers=gateway.master) as r:
        assert r.status == 400


async def test_patch_changes_policy(gateway: Gateway, http) -> None:
    url = f"{gateway.url}/admin/keys/{gateway.client_id}"
    async with http.patch(url, json={"rpm": 1}, headers=gateway.master) as r:
        assert r.status == 200 and (await r.json())["rpm"] == 1
    async with http.patch(url, json={"prefix": "x"}, headers=gateway.master) as r:
        assert r.status == 400 and "editable fields" in (await r.json())["error"]
    async with http.patch(url, json={"name": " "}, headers=gateway.master) as r:
        assert r.status == 400  # a key keeps a name
    async with http.patch(url, json={"models": "nope:1b"}, headers=gateway.master) as r:
        assert r.status == 400 and "not installed" in (await r.json())["error"]
    body = {"name": "renamed", "email": "new@lab", "models": "llama3.2:3b"}
    async with http.patch(url, json=body, headers=gateway.master) as r:
        key = await r.json()
        assert r.status == 200 and key["owner"] == "new@lab" and key["name"] == "renamed"
        assert key["models"] == ["llama3.2:3b"]
    async with http.post(gateway.url + "/api/chat", json=CHAT, headers=gateway.auth()) as r:
        assert r.status == 200
    async with http.post(gateway.url + "/api/chat", json=CHAT, headers=gateway.auth()) as r:
        assert r.status == 429
        assert int(r.headers["Retry-After"]) >= 1


async def test_max_streams_limits_concurrency(gateway: Gateway, http) -> None:
    gateway.sim.token_delay = 0.05
    created = await gateway.service.create_key("one-at-a-time", max_streams=1)
    headers = gateway.auth(created["api_key"])
    body = {"model": "llama3.2:3b", "prompt": "x"}
    first = await http.post(gateway.url + "/api/generate", json=body, headers=headers)
    await first.content.readline()
    async with http.post(gateway.url + "/api/generate", json=body, headers=headers) as r:
        assert r.status == 429
    await first.read()
    first.release()
    async with http.post(gateway.url + "/api/generate", json=body, headers=headers) as r:
        assert r.status == 200


async def test_tokens_per_day_quota(gateway: Gateway, http) -> None:
    created = await gateway.service.create_key("small", tokens_per_day=10)
    headers = gateway.auth(created["api_key"])
    async with http.post(gateway.url + "/api/chat", json=CHAT, headers=headers) as r:
        assert r.status == 200  # 5 prompt + 8 completion tokens: over the quota now
    async with http.post(gateway.url + "/api/chat", json=CHAT, headers=headers) as r:
        assert r.status == 429 and "quota" in (await r.json())["error"]
        assert int(r.headers["Retry-After"]) > 0


async def test_usage_filters(gateway: Gateway, http) -> None:
    other = await gateway.service.create_key("other")
    for key in (gateway.client_key, other["api_key"]):
        async with http.post(gateway.url + "/api/chat", json=CHAT, headers=gateway.auth(key)) as r:
            assert r.status == 200
    url = f"{gateway.url}/admin/usage?key_id={other['id']}"
    async with http.get(url, headers=gateway.master) as r:
        records = (await r.json())["records"]
    assert len(records) == 1 and records[0]["key_id"] == other["id"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    async with http.get(
        gateway.url + "/admin/usage", params={"since": future}, headers=gateway.master
    ) as r:
        assert (await r.json())["records"] == []
    async with http.get(
        gateway.url + "/admin/usage?limit=1&model=llama3.2:3b", headers=gateway.master
    ) as r:
        assert len((await r.json())["records"]) == 1
    async with http.get(gateway.url + "/admin/usage?since=yesterday", headers=gateway.master) as r:
        assert r.status == 400


async def test_admin_status_snapshot(gateway: Gateway, http) -> None:
    async with http.get(gateway.url + "/admin/status", headers=gateway.master) as r:
        snap = await r.json()
    assert {m["name"] for m in snap["installed"]} >= {"llama3.2:3b"}
    assert "budget_limit_bytes" in snap


async def test_preload_and_unload_routes(gateway: Gateway, http) -> None:
    async with http.post(
        gateway.url + "/preload", json={"model": "qwen2.5:7b"}, headers=gateway.auth()
    ) as r:
        assert r.status == 200
        data = await r.json()
    assert data["loaded"] is True and "load_ms" in data
    assert "qwen2.5:7b" in gateway.sim.resident()
    async with http.post(
        gateway.url + "/unload", json={"model": "qwen2.5:7b"}, headers=gateway.auth()
    ) as r:
        assert r.status == 200
    for _ in range(50):
        if "qwen2.5:7b" not in gateway.sim.resident():
            break
        await asyncio.sleep(0.02)
    assert "qwen2.5:7b" not in gateway.sim.resident()
    async with http.post(
        gateway.url + "/preload", json={"model": "big:70b"}, headers=gateway.auth()
    ) as r:
        assert r.status == 507  # 40 GB never fits the 26 GB budget
        assert "VRAM_LIMIT_GB" in (await r.json())["error"]


# -- malformed admin input is a 400 with a clear message, never a 500 (issue 9, item 13) -------


async def test_malformed_admin_input_is_a_clear_400(gateway: Gateway, http) -> None:
    cases = [
        ("POST", "/admin/create_key", {"name": "n" * 201}, "'name' is 201 characters"),
        ("POST", "/admin/create_key", {"name": "a", "email": "e" * 300}, "'email'"),
        ("POST", "/admin/create_key", {"name": "a", "rpm": 2**63}, "'rpm' must be"),
        ("POST", "/admin/create_key", {"name": "a", "tokens_per_day": 2**31}, "up to"),
        (
            "POST",
            "/admin/create_key",
            {"name": "a", "expires_at": "0001-01-01T00:00:00+05:00"},
            "'expires_at'",
        ),
        ("PATCH", f"/admin/keys/{gateway.client_id}", {"max_streams": 10**30}, "'max_streams'"),
        ("POST", f"/admin/keys/{2**64}/revoke", None, "key id must be a whole number"),
        ("PATCH", f"/admin/keys/{2**70}", {"rpm": 1}, "key id must be a whole number"),
        ("GET", f"/admin/usage?key_id={2**64}", None, "'key_id' must be a whole number"),
    ]
    for method, path, body, message in cases:
        async with http.request(method, gateway.url + path, json=body, headers=gateway.master) as r:
            data = await r.json()
            assert r.status == 400, (path, body, data)
            assert message in data["error"], (path, data)


async def test_an_expiry_in_year_one_is_refused_in_any_offset(gateway: Gateway, http) -> None:
    for when in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00-05:00", "9999-12-31T23:59:59-05:00"):
        body = {"name": "old", "expires_at": when}
        url = gateway.url + "/admin/create_key"
        async with http.post(url, json=body, headers=gateway.master) as r:
            assert r.status == 400, await r.text()
            assert "between 1970 and 9998" in (await r.json())["error"]
