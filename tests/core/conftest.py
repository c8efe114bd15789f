"""Fixtures for the core tests: a real PostgreSQL server where one can be started."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.postgres import NO_SERVER, PostgresServer, find_bindir, fresh_database


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server for this session (PBPM_TEST_PG_URL, or one started here)."""
    external = os.environ.get("PBPM_TEST_PG_URL")
    if external:
        yield external
        return
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(NO_SERVER)
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server_url: str) -> str:
    """An empty database of its own on the session's PostgreSQL server."""
    return fresh_database(postgres_server_url)
