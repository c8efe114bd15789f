"""Brute force and junk keys (issue 9, items 8 and 9), through the real HTTP stack."""

from __future__ import annotations

import secrets
import tracemalloc

import aiohttp

from pbpm_desktop.core.access.guard import AuthGuard
from tests.conftest import MASTER, Gateway

CHAT = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}], "stream": False}


async def status_of(session: aiohttp.ClientSession, method: str, url: str, key: str) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    async with session.request(method, url, json=CHAT, headers=headers) as r:
        await r.read()
        return r.status


async def test_ten_failed_master_keys_lock_out_that_address_only(gateway: Gateway) -> None:
    url = gateway.url + "/admin/keys"
    async with aiohttp.ClientSession() as attacker:
        statuses = [await status_of(attacker, "GET", url, f"guess-{i}") for i in range(10)]
        assert statuses == [401] * 10
        async with attacker.get(url, headers={"Authorization": f"Bearer {MASTER}"}) as r:
            assert r.status == 429  # even the right key: a correct guess must look the same
            assert 1 <= int(r.headers["Retry-After"]) <= 60
            assert "failed authentications" in (await r.json())["error"]
        assert await status_of(attacker, "POST", gateway.url + "/api/chat", gateway.client_key) == (
            429
        )
        async with attacker.get(gateway.url + "/health") as r:
            assert r.status == 200  # the open route stays open
    # another address is not affected
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as neighbour:
        async with neighbour.get(url, headers={"Authorization": f"Bearer {MASTER}"}) as r:
            assert r.status == 200


async def test_wrong_client_keys_are_counted_too(gateway: Gateway) -> None:
    url = gateway.url + "/api/chat"
    async with aiohttp.ClientSession() as attacker:
        guesses = ["pbpm-" + secrets.token_urlsafe(32) for _ in range(5)] + ["junk"] * 5
        assert [await status_of(attacker, "POST", url, g) for g in guesses] == [401] * 10
        assert await status_of(attacker, "POST", url, gateway.client_key) == 429


async def test_revoked_keys_count_as_failures(gateway: Gateway) -> None:
    created = await gateway.service.create_key("gone")
    await gateway.service.revoke_key(created["id"])
    url = gateway.url + "/api/chat"
    async with aiohttp.ClientSession() as session:
        assert [await status_of(session, "POST", url, created["api_key"]) for _ in range(10)] == [
            401
        ] * 10
        assert await status_of(session, "POST", url, gateway.client_key) == 429


def test_the_guard_stays_bounded_whatever_the_number_of_addresses() -> None:
    guard = AuthGuard()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100_000):
            guard.failed(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
        for i in range(20_000):  # IPv6: one /64 is one address
            guard.failed(f"2001:db8::{i:x}")
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(guard) == guard.max_addresses
    assert guard.retry_after("2001:db8::1") is not None  # 20,000 failures from one /64
    assert grown < 8 * 1024 * 1024, grown  # measured ~3 MB for 4,096 addresses


async def test_junk_keys_cost_no_lookup_and_no_memory(gateway: Gateway) -> None:
    ctx = gateway.service.context
    assert ctx is not None
    ctx.guard.limit = 10**9  # measure the key path itself, not the guard
    keys = ctx.keys
    lookups = keys.db_lookups
    junk = "pbpm-" + "A" * 15_000  # 15 KB: under the 16 KB header limit
    url = gateway.url + "/api/chat"
    async with aiohttp.ClientSession() as session:
        await status_of(session, "POST", url, junk)  # warm up the connection and the routes
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(300):
                assert await status_of(session, "POST", url, junk + str(i)) == 401
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert keys.db_lookups == lookups  # refused by shape, before the database
    assert len(keys._cache) == 0
    assert grown < 1024 * 1024, grown  # was +139 MB for a few seconds of such keys


async def test_the_key_cache_is_bounded_and_keyed_by_digest(gateway: Gateway) -> None:
    ctx = gateway.service.context
    assert ctx is not None
    ctx.guard.limit = 10**9
    ctx.keys.max_entries = 50
    url = gateway.url + "/api/chat"
    async with aiohttp.ClientSession() as session:
        for _ in range(120):  # well-shaped, unknown: one lookup each, cached as unknown
            assert await status_of(session, "POST", url, "pbpm-" + secrets.token_urlsafe(32)) == 401
        assert await status_of(session, "POST", url, gateway.client_key) == 200
    assert len(ctx.keys._cache) <= 50
    assert gateway.client_key not in ctx.keys._cache  # no secret kept in memory
