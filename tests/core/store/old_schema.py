"""A database as pbpm-desktop 96a3f6e left it (before versioning, `cloud` and `estimated`),
written with raw SQL: what Tortoise's generate_schemas made from that version's models.

A copy of migration 1's tables on purpose, not imported from core/store/migrations.py: the old
database must stay what the old version wrote even if someone edits that migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg

_TABLES = """
CREATE TABLE "api_keys" (
    "id" {serial},
    "key_hash" VARCHAR(64) NOT NULL UNIQUE,
    "prefix" VARCHAR(16) NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "email" VARCHAR(200) NOT NULL,
    "created_at" {ts} NOT NULL,
    "revoked_at" {ts},
    "models" TEXT NOT NULL,
    "expires_at" {ts},
    "rpm" INT,
    "tokens_per_day" INT,
    "max_streams" INT
);
CREATE TABLE "usage_records" (
    "id" {serial},
    "key_id" INT,
    "key_prefix" VARCHAR(16) NOT NULL,
    "owner" VARCHAR(200) NOT NULL,
    "model" VARCHAR(200) NOT NULL,
    "route" VARCHAR(64) NOT NULL,
    "prompt_tokens" INT NOT NULL,
    "completion_tokens" INT NOT NULL,
    "status" VARCHAR(32) NOT NULL,
    "duration_ms" {real} NOT NULL,
    "ttft_ms" {real},
    "client" VARCHAR(64) NOT NULL,
    "created_at" {ts} NOT NULL
);
CREATE INDEX "idx_usage_recor_key_id_30f9ae" ON "usage_records" ("key_id");
CREATE INDEX "idx_usage_recor_created_abe4dd" ON "usage_records" ("created_at");
"""
_ROWS = """
INSERT INTO api_keys (key_hash, prefix, name, email, created_at, models, rpm)
VALUES ('h1', 'pbpm_abc', 'alice', 'a@example.org', '2025-01-02 03:04:05+00:00', 'llama3', 30);
INSERT INTO usage_records (key_id, key_prefix, owner, model, route, prompt_tokens,
    completion_tokens, status, duration_ms, ttft_ms, client, created_at)
VALUES (1, 'pbpm_abc', 'alice', 'llama3', '/api/chat', 11, 22, 'ok', 1.5, NULL, '127.0.0.1',
    '2025-01-02 03:05:00+00:00');
"""
SQLITE = _TABLES.format(
    serial="INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL", ts="TIMESTAMP", real="REAL"
)
POSTGRES = _TABLES.format(
    serial="SERIAL NOT NULL PRIMARY KEY", ts="TIMESTAMPTZ", real="DOUBLE PRECISION"
)
#: the columns added since
NEW_COLUMNS = {"api_keys": {"cloud"}, "usage_records": {"estimated"}}


def make_old_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(SQLITE + _ROWS)


async def make_old_postgres(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(POSTGRES + _ROWS)
    finally:
        await conn.close()


def sqlite_columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
