"""The batched audit writer: off the response path, nothing lost on busy DB or shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from pbpm_desktop.core.accounting import audit as audit_module
from pbpm_desktop.core.accounting.audit import AuditEntry, AuditWriter
from pbpm_desktop.core.store import Database
from pbpm_desktop.core.store.models import UsageRecord
from tests.core.store.old_schema import make_old_sqlite


def entry(i: int = 0) -> AuditEntry:
    return AuditEntry(1, "pbpm-abc", "me", "m", "chat", prompt_tokens=i, completion_tokens=2)


async def count(db: Database) -> int:
    with db.bound():
        return await UsageRecord.all().count()


async def test_record_never_waits_and_stop_flushes(tmp_path: Path) -> None:
    db = Database(f"sqlite://{tmp_path}/a.db")
    await db.open()
    writer = AuditWriter(db, interval=60)  # the timer never fires during this test
    await writer.start()
    for i in range(1234):
        writer.record(entry(i))
    assert writer.pending <= 1234
    await writer.stop()
    assert await count(db) == 1234 and writer.pending == 0
    await db.close()


async def test_busy_database_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    db = Database(f"sqlite://{path}")
    await db.open()
    with db.bound():
        await db.client().execute_script("PRAGMA busy_timeout=50;")
    writer = AuditWriter(db, interval=0.05)
    await writer.start()
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    for i in range(10):
        writer.record(entry(i))
    for _ in range(500):  # until a flush has hit the lock (not a fixed wait: CI may be slow)
        if writer.failed_flushes >= 1:
            break
        await asyncio.sleep(0.02)
    assert writer.failed_flushes >= 1 and writer.pending == 10
    blocker.rollback()
    blocker.close()
    for _ in range(100):
        if writer.pending == 0:
            break
        await asyncio.sleep(0.05)
    await writer.stop()
    assert await count(db) == 10
    await db.close()


async def test_tokens_today_counter(tmp_path: Path) -> None:
    db = Database(f"sqlite://{tmp_path}/t.db")
    await db.open()
    writer = AuditWriter(db)
    assert writer.tokens_today(1) is None
    writer.seed_tokens_today(1, 100)
    writer.record(entry(5))
    assert writer.tokens_today(1) == 107
    await writer.stop()
    await db.close()


async def test_schema_upgrade_keeps_data_and_adds_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_old_sqlite(path)  # the schema as of 96a3f6e, one key and one record
    db = Database(f"sqlite://{path}")
    await db.open()
    with db.bound():
        rows = await UsageRecord.all()
    assert len(rows) == 1 and rows[0].model == "llama3" and rows[0].ttft_ms is None
    assert (rows[0].owner, rows[0].estimated) == ("alice", False)
    await db.close()
    journal = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"


# -- serialized flushes, clipped strings, cancellation ----------------------------------------


def rows_on_disk(path: Path) -> list[tuple]:
    """(prompt_tokens, model, owner, route, key_prefix, client, status) of each committed row.

    Read through a connection of its own, so rows left in an uncommitted transaction of the
    writer's connection do not count.
    """
    con = sqlite3.connect(path)
    try:
        return con.execute(
            "SELECT prompt_tokens, model, owner, route, key_prefix, client, status "
            "FROM usage_records ORDER BY id"
        ).fetchall()
    finally:
        con.close()


async def test_concurrent_flushes_racing_the_background_writer_write_each_record_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "race.db"
    db = Database(f"sqlite://{path}")
    await db.open()
    # small batches and a writer that wakes constantly: many interleavings of the two paths
    writer = AuditWriter(db, interval=0.001, batch_size=7)
    await writer.start()
    flushes = []
    for i in range(300):
        writer.record(entry(i))
        if i % 25 == 0:  # the API's flush-before-read, several at once
            flushes += [asyncio.create_task(writer.flush()) for _ in range(3)]
        if i % 10 == 0:
            await asyncio.sleep(0)
    results = await asyncio.gather(*flushes)
    assert all(results)
    await writer.stop()
    assert writer.pending == 0 and writer.written == 300 and writer.failed_flushes == 0
    await db.close()
    tokens = [row[0] for row in rows_on_disk(path)]
    assert len(tokens) == 300
    assert sorted(tokens) == list(range(300))  # each record exactly once, none dropped


async def test_over_long_strings_are_clipped_and_do_not_block_later_records(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long.db"
    db = Database(f"sqlite://{path}")
    await db.open()
    writer = AuditWriter(db, interval=60)
    writer.record(entry(0))
    writer.record(
        AuditEntry(
            1,
            "pbpm-" + "p" * 50,
            "o" * 500,
            "é" * 1000,  # a model name from a client: any length, any characters
            "r" * 100,
            prompt_tokens=1,
            status="s" * 40,
            client="c" * 100,
        )
    )
    for i in range(2, 10):
        writer.record(entry(i))
    assert await writer.flush()
    writer.record(entry(10))  # and later flushes keep working
    assert await writer.flush()
    assert writer.failed_flushes == 0 and writer.pending == 0
    await db.close()
    rows = rows_on_disk(path)
    assert [row[0] for row in rows] == list(range(11))
    _, model, owner, route, key_prefix, client, status = rows[1]
    assert model == "é" * 200  # VARCHAR(200), cut by characters
    assert owner == "o" * 200
    assert route == "r" * 64
    assert key_prefix == ("pbpm-" + "p" * 50)[:16]
    assert client == "c" * 64
    assert status == "s" * 32
    assert rows[2][1:] == ("m", "me", "chat", "pbpm-abc", "", "ok")


@pytest.mark.parametrize("cancelled", ["during-the-write", "after-the-commit"])
async def test_a_cancelled_flush_neither_loses_nor_duplicates_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cancelled: str
) -> None:
    path = tmp_path / "cancel.db"
    db = Database(f"sqlite://{path}")
    await db.open()
    writer = AuditWriter(db, interval=60)
    for i in range(50):
        writer.record(entry(i))
    in_write, written = asyncio.Event(), asyncio.Event()
    insert_many = audit_module._insert_many

    async def observed_insert(batch: list[AuditEntry]) -> None:
        in_write.set()  # the write is under way: its first await is the BEGIN
        await insert_many(batch)
        written.set()  # committed; the flush has not recorded it yet
        await asyncio.sleep(0)

    monkeypatch.setattr(audit_module, "_insert_many", observed_insert)
    flush = asyncio.create_task(writer.flush())  # e.g. /admin/usage, whose client went away
    await (in_write if cancelled == "during-the-write" else written).wait()
    flush.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await flush
    monkeypatch.setattr(audit_module, "_insert_many", insert_many)
    try:
        assert await writer.flush()  # the next flush (or stop) writes what is left
    finally:
        await db.close()
    assert sorted(row[0] for row in rows_on_disk(path)) == list(range(50))


# -- an unpoisonable writer (issue 9, item 1) ---------------------------------------------------


async def usage_via_http(http, gateway_url: str, master: dict[str, str]) -> list[dict]:
    async with http.get(gateway_url + "/admin/usage?limit=100", headers=master) as r:
        assert r.status == 200
        return (await r.json())["records"]


async def admin_status(http, gateway_url: str, master: dict[str, str]) -> dict:
    async with http.get(gateway_url + "/admin/status", headers=master) as r:
        assert r.status == 200
        return await r.json()


async def test_a_lone_surrogate_model_name_does_not_stop_the_audit(gateway, http) -> None:
    # raw JSON bytes: "\ud800" is valid JSON, a lone surrogate once decoded
    body = b'{"model": "\\ud800", "messages": [{"role": "user", "content": "hi"}]}'
    async with http.post(gateway.url + "/api/chat", data=body, headers=gateway.auth()) as r:
        assert r.status == 404
    chat = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(
        gateway.url + "/api/chat", json={**chat, "stream": False}, headers=gateway.auth()
    ) as r:
        assert r.status == 200
    records = await usage_via_http(http, gateway.url, gateway.master)
    assert [(r["model"], r["status"]) for r in records] == [
        ("llama3.2:3b", "ok"),
        ("\\ud800", "404"),  # stored, escaped: the client's name stays readable
    ]
    audit = (await admin_status(http, gateway.url, gateway.master))["audit"]
    assert audit["pending"] == 0 and audit["rejected"] == 0 and audit["dropped"] == 0


async def test_an_absurd_token_count_from_upstream_does_not_stop_the_audit(
    tmp_path: Path, http
) -> None:
    from aiohttp import web

    from pbpm_desktop.core.app import GatewayService
    from tests.conftest import MASTER, make_settings
    from tests.fake_upstream import MODEL, fake_ollama

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        absurd = 10**30 if body["messages"][0]["content"] == "absurd" else 3
        return web.json_response(
            {
                "model": MODEL,
                "message": {"role": "assistant", "content": "ok"},
                "done": True,
                "total_duration": 1,
                "prompt_eval_count": absurd,
                "eval_count": absurd,
            }
        )

    async with fake_ollama(chat) as url:
        service = GatewayService(make_settings(tmp_path, url))
        await service.start()
        try:
            key = (await service.create_key("t"))["api_key"]
            auth = {"Authorization": f"Bearer {key}"}
            master = {"Authorization": f"Bearer {MASTER}"}
            for content in ("absurd", "normal"):
                body = {"model": MODEL, "messages": [{"role": "user", "content": content}]}
                async with http.post(
                    service.url + "/api/chat", json={**body, "stream": False}, headers=auth
                ) as r:
                    assert r.status == 200
            records = await usage_via_http(http, service.url, master)
            assert [(r["prompt_tokens"], r["completion_tokens"]) for r in records] == [
                (3, 3),
                (2**63 - 1, 2**63 - 1),  # clamped to what a 64-bit column holds
            ]
        finally:
            await service.stop()


async def test_a_row_the_database_refuses_is_set_aside_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "poison.db"
    db = Database(f"sqlite://{path}")
    await db.open()
    writer = AuditWriter(db, interval=60)
    for i in range(5):
        writer.record(entry(i))
    insert_many = audit_module._insert_many

    async def refuses_token_count_2(batch: list[AuditEntry], **options: bool) -> None:
        if any(e.prompt_tokens == 2 for e in batch):  # a value no sanitising foresaw
            raise ValueError("refused")
        await insert_many(batch, **options)

    monkeypatch.setattr(audit_module, "_insert_many", refuses_token_count_2)
    assert await writer.flush()
    writer.record(entry(5))
    assert await writer.flush()
    await db.close()
    assert [row[0] for row in rows_on_disk(path)] == [0, 1, 3, 4, 5]
    assert writer.rejected == 1 and writer.pending == 0 and writer.written == 5


async def test_the_queue_is_bounded_and_counts_what_it_drops(tmp_path: Path) -> None:
    path = tmp_path / "bounded.db"
    db = Database(f"sqlite://{path}")
    await db.open()
    writer = AuditWriter(db, interval=60, max_pending=100)
    for i in range(250):  # the database is down, say: nothing is written meanwhile
        writer.record(entry(i))
    assert writer.pending == 100 and writer.dropped == 150
    assert writer.stats()["dropped"] == 150
    assert await writer.flush()
    await db.close()
    assert [row[0] for row in rows_on_disk(path)] == list(range(100))  # the oldest kept


async def test_the_journal_replays_what_the_database_missed_and_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite://{tmp_path}/j.db")
    await db.open()
    journal = tmp_path / "audit-journal.ndjson"
    first = AuditWriter(db, interval=60, journal=journal)
    await first.start()
    for i in range(10):
        first.record(entry(i))
    # killed between a commit and the journal's cut: the journal still lists all ten
    monkeypatch.setattr(first._journal, "reset", lambda still_queued: None)
    assert await first.flush()
    first._journal.close()
    first._task.cancel()
    second = AuditWriter(db, interval=60, journal=journal)
    await second.start()
    assert second.replayed == 0 and await count(db) == 10  # nothing written twice
    body = AuditEntry(2, "pbpm-x", "o", "\ud800", "chat", prompt_tokens=10**30)
    for record in (entry(100), entry(101), body):
        second.record(record)
    second._journal.close()  # killed before any flush
    second._task.cancel()
    third = AuditWriter(db, interval=60, journal=journal)
    await third.start()
    assert third.replayed == 3 and await count(db) == 13
    await third.stop()
    assert journal.read_bytes() == b""  # all committed: the journal is cut back to nothing
    await db.close()
