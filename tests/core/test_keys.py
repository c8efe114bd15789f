"""Client keys: entropy, hashing, cache that stays correct on revoke."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbpm_desktop.core.keys import KeyService, KeyServiceError, parse_policy
from pbpm_desktop.core.store import Database
from pbpm_desktop.secrets import MasterKey

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
