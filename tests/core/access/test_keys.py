"""Client keys: entropy, hashing, cache that stays correct on revoke."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pbpm_desktop.core.access import keys as keys_module
from pbpm_desktop.core.access.keys import (
    KeyInfo,
    KeyService,
    KeyServiceError,
    hash_key,
    parse_policy,
)
from pbpm_desktop.core.access.secrets import MasterKey
from pbpm_desktop.core.store import Database
from pbpm_desktop.core.store.models import ApiKey

MASTER = MasterKey("master-secret", "environment", "MASTER_API_KEY", created=False)


@pytest.fixture
async def keys(tmp_path: Path):
    db = Database(f"sqlite://{tmp_path}/k.db")
    await db.open()
    yield KeyService(db, MASTER, cache_ttl=60)
    await db.close()


async def test_keys_are_long_random_and_shown_once(keys: KeyService) -> None:
    info, secret = await keys.create("a", "a@x")
    _, other = await keys.create("b")
    assert secret.startswith("pbpm-") and len(secret) >= 48 and secret != other
    assert info.prefix == secret[:12]
    assert "secret" not in repr(info).lower() or secret not in repr(info)
    assert (await keys.lookup(secret)).id == info.id
    assert await keys.lookup(secret + "x") is None


async def test_master_comparison(keys: KeyService) -> None:
    assert keys.is_master("master-secret")
    assert not keys.is_master("master-secre")
    assert not keys.is_master("")


async def test_revoke_invalidates_cache(keys: KeyService) -> None:
    info, secret = await keys.create("a")
    assert (await keys.lookup(secret)).revoked_at is None  # now cached for 60 s
    await keys.revoke(info.id)
    assert (await keys.lookup(secret)).revoked_at is not None


async def test_revoke_by_another_process_is_seen_after_ttl(keys: KeyService) -> None:
    info, secret = await keys.create("a")
    other_process = KeyService(keys.db, MASTER)
    keys.cache_ttl = 0  # expire at once, as 5 s later would
    await keys.lookup(secret)
    await other_process.revoke(info.id)
    assert (await keys.lookup(secret)).revoked_at is not None


async def test_policy_parsing() -> None:
    assert parse_policy({"models": "b, a,,a"}) == {"models": "a,b"}
    assert parse_policy({"models": ["x"]}) == {"models": "x"}
    assert parse_policy({"rpm": "5", "max_streams": ""}) == {"rpm": 5, "max_streams": None}
    assert parse_policy({"expires_at": "2030-01-01"})["expires_at"].tzinfo is not None
    for bad in ({"rpm": "-1"}, {"tokens_per_day": "many"}, {"expires_at": "soon"}):
        with pytest.raises(KeyServiceError) as err:
            parse_policy(bad)
        assert err.value.status == 400


async def test_create_requires_a_name(keys: KeyService) -> None:
    with pytest.raises(KeyServiceError):
        await keys.create("  ")


# -- background refresh and races with revokes -------------------------------------------------


async def test_key_in_use_is_refreshed_in_the_background_and_sees_a_remote_revoke(
    keys: KeyService,
) -> None:
    ttl = 0.3
    service = KeyService(keys.db, MASTER, cache_ttl=ttl)  # the gateway
    other_process = KeyService(keys.db, MASTER)  # the CLI on the same database
    info, secret = await service.create("busy")
    assert (await service.lookup(secret)).revoked_at is None
    loads: list[bool] = []  # one per database read: True if it ran in a background refresh
    load = service._load

    async def observed_load(token: str) -> KeyInfo | None:
        loads.append(asyncio.current_task() in service._tasks)
        return await load(token)

    service._load = observed_load  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    started = loop.time()
    revoked_at = seen_at = None
    while seen_at is None and loop.time() - started < 4 * ttl:
        # what the auth middleware does on every request: a cache hit, no database
        for hit in (service.cached(secret), await service.lookup(secret)):
            assert hit is not None and hit.id == info.id  # never expired while in use
            if hit.revoked_at is not None:
                seen_at = loop.time()
        if revoked_at is None and loop.time() - started > 1.3 * ttl:  # past the first TTL
            assert any(loads), "no background refresh during the first TTL"
            await other_process.revoke(info.id)
            revoked_at = loop.time()
        await asyncio.sleep(0.005)
    assert revoked_at is not None and seen_at is not None, "the revoke was never seen"
    assert seen_at - revoked_at <= ttl + 0.1
    assert loads and all(loads)  # every read was a background refresh: no request waited
    await asyncio.gather(*service._tasks)


async def test_lookup_racing_a_revoke_does_not_cache_the_key_as_active(
    keys: KeyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    info, secret = await keys.create("a")
    read_old, gate = asyncio.Event(), asyncio.Event()
    get_or_none = ApiKey.get_or_none

    async def slow_read(**filters: object) -> ApiKey | None:
        row = await get_or_none(**filters)
        if "key_hash" in filters and not gate.is_set():
            read_old.set()  # read before the revoke: the row still says "active"...
            await gate.wait()  # ...and is only handled after the revoke has finished
        return row

    monkeypatch.setattr(ApiKey, "get_or_none", slow_read)
    lookup = asyncio.create_task(keys.lookup(secret))  # a cache miss: reads the database
    await read_old.wait()
    await keys.revoke(info.id)
    gate.set()
    found = await lookup
    assert found is not None and found.revoked_at is not None  # re-read after the race
    cached = keys.cached(secret)
    assert cached is None or cached.revoked_at is not None  # no stale "active" entry
    assert (await keys.lookup(secret)).revoked_at is not None


async def test_lookup_racing_changes_that_never_stop_is_answered_but_not_cached(
    keys: KeyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    info, secret = await keys.create("a")
    neighbour, _ = await keys.create("b")
    get_or_none = ApiKey.get_or_none
    reads = 0

    async def read_during_a_change(**filters: object) -> ApiKey | None:
        nonlocal reads
        row = await get_or_none(**filters)
        if "key_hash" in filters:
            reads += 1
            await keys.update(neighbour.id, rpm=reads)  # a policy change lands meanwhile
        return row

    monkeypatch.setattr(ApiKey, "get_or_none", read_during_a_change)
    found = await keys.lookup(secret)
    assert found is not None and found.id == info.id
    assert reads == 3  # retried, then gave up caching
    assert keys.cached(secret) is None


async def test_lookup_at_the_moment_of_expiry_does_not_report_a_valid_key_unknown(
    keys: KeyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    info, secret = await keys.create("a")
    assert await keys.lookup(secret) is not None
    expires = keys._cache[hash_key(secret)][0]
    readings = iter([expires - 1e-6, expires])  # the entry expires between the two readings

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return next(readings, expires + 1.0)

    monkeypatch.setattr(keys_module, "time", Clock)
    found = await keys.lookup(secret)
    assert found is not None and found.id == info.id
