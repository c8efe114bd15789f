"""`Database.bound()`: the database's Tortoise context for the queries of a block, safe when
tasks bind it at the same time and when bindings nest."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tortoise.context import get_current_context

from pbpm_desktop.core.store import Database
from pbpm_desktop.core.store.models import ApiKey


async def test_concurrent_and_nested_bindings_of_two_databases(tmp_path: Path):
    # Tortoise's `with ctx:` keeps one reset token on the context: a second task entering it
    # while the first is inside replaced the first task's token, and the first task's exit
    # failed ("<Token> was created in a different Context")
    one, two = (
        Database(f"sqlite://{tmp_path / 'one.db'}"),
        Database(f"sqlite://{tmp_path / 'two.db'}"),
    )
    await one.open()
    await two.open()
    try:
        with one.bound():
            await ApiKey.create(key_hash="h1", prefix="p", name="in-one")
        inside = asyncio.Barrier(8)

        async def count(db: Database) -> int:
            with db.bound():
                await inside.wait()  # every task is inside its binding at once
                return await ApiKey.all().count()

        counts = await asyncio.gather(*(count(db) for db in (one, two) * 4))
        assert counts == [1, 0] * 4
        with one.bound():
            with one.bound():  # nested: leaves the outer binding in place
                pass
            assert await ApiKey.all().count() == 1
        assert get_current_context() is None  # nothing left bound in this task
    finally:
        await one.close()
        await two.close()
