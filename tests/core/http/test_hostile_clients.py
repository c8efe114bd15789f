"""Hostile clients against the real gateway: idle and trickling connections, too many from one
address, unfinished bodies, compressed bodies, protocol garbage and JSON that breaks parsers.

Raw sockets where the trick is below HTTP; aiohttp's client where it is a request.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from pbpm_desktop.core.app import GatewayService
from pbpm_desktop.core.http import body as body_module
from tests.conftest import Gateway, make_settings

CHAT = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}], "stream": False}


@pytest.fixture
async def strict(sim, tmp_path: Path) -> AsyncIterator[Gateway]:
    """A gateway with short connection limits, so a missing limit fails instead of hanging."""
    settings = make_settings(
        tmp_path,
        sim.url,
        keepalive_timeout_s=0.3,
        request_body_timeout_s=0.3,
        max_connections_per_client=8,
    )
    service = GatewayService(settings)
    await service.start()
    created = await service.create_key("tester", "tester@example.com")
    yield Gateway(service, service.url or "", sim, created["api_key"], created["id"])
    await service.stop()


async def connect(gw: Gateway) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = gw.url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(10):  # the gateway's limits are 0.3 s; 3630 s was aiohttp's
        return await reader.read()


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


# -- idle and unfinished connections ------------------------------------------------------------


async def test_idle_connection_is_closed(strict: Gateway) -> None:
    reader, writer = await connect(strict)
    assert await read_until_closed(reader) == b""  # closed without a byte sent either way
    writer.close()


async def test_trickled_request_head_is_closed(strict: Gateway) -> None:
    """A head sent a byte at a time never completes: the keep-alive timer is not reset by it."""
    reader, writer = await connect(strict)
    closed = asyncio.ensure_future(read_until_closed(reader))
    head = b"GET /api/tags HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    for byte in head:
        if closed.done():
            break
        writer.write(bytes([byte]))
        await asyncio.sleep(0.02)
    assert await closed == b""
    writer.close()


async def test_idle_keep_alive_connection_is_closed_after_a_response(strict: Gateway) -> None:
    reader, writer = await connect(strict)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = split_response(await reader.readuntil(b"\r\n\r\n"))
    assert status == 200
    await reader.readexactly(int(headers["content-length"]))
    assert await read_until_closed(reader) == b""
    writer.close()


async def test_unfinished_body_is_408_and_closed(strict: Gateway) -> None:
    reader, writer = await connect(strict)
    writer.write(
        b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Authorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{"model":'
        % strict.client_key.encode()
    )
    status, headers, body = split_response(await read_until_closed(reader))
    assert status == 408 and headers["content-type"].startswith("application/json")
    assert "REQUEST_BODY_TIMEOUT_S" in json.loads(body)["error"]
    writer.close()


async def test_connections_from_one_address_are_capped(strict: Gateway, http) -> None:
    held = [await connect(strict) for _ in range(8)]
    for reader, _ in held:  # all eight are open: none was refused
        assert not reader.at_eof()
    reader, writer = await connect(strict)
    status, _, body = split_response(await read_until_closed(reader))
    assert status == 429 and "MAX_CONNECTIONS_PER_CLIENT" in json.loads(body)["error"]
    writer.close()
    held.pop()[1].close()
    async with asyncio.timeout(10):  # the freed slot serves the next real request
        while True:
            try:
                async with http.get(strict.url + "/api/tags", headers=strict.auth()) as r:
                    if r.status != 429:
                        break
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)  # the slot frees once the gateway sees the close
    assert r.status == 200
    for _, w in held:
        w.close()


async def test_soft_descriptor_limit_is_raised_at_start(sim, tmp_path: Path) -> None:
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = fds_in_use()
    low = max(256, in_use + 128)  # macOS's default, or room for what this process holds
    if hard != resource.RLIM_INFINITY:
        low = min(low, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        service = GatewayService(make_settings(tmp_path, sim.url))
        await service.start()
        await service.stop()
        raised = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, raised), hard))
    expected = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    assert raised >= min(expected, 10240) and raised > low


def fds_in_use() -> int:
    try:
        return len(os.listdir("/dev/fd"))
    except OSError:
        return 0


# -- request bodies -----------------------------------------------------------------------------


async def test_compressed_request_body_is_refused(gateway: Gateway, http) -> None:
    packed = gzip.compress(json.dumps(CHAT).encode())
    headers = {**gateway.auth(), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    async with http.post(gateway.url + "/api/chat", data=packed, headers=headers) as r:
        assert r.status == 415
        assert "uncompressed" in (await r.json())["error"]
    headers = {**headers, "Content-Encoding": "identity"}
    async with http.post(gateway.url + "/api/chat", json=CHAT, headers=headers) as r:
        assert r.status == 200  # identity is no encoding


async def test_large_json_body_is_decoded_off_the_event_loop(
    gateway: Gateway, http, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[tuple[int, bool]] = []
    real = body_module.parse_json_body

    def watched(body: bytes):  # the real parser, noting the thread it ran on
        threads.append((len(body), threading.current_thread() is threading.main_thread()))
        return real(body)

    monkeypatch.setattr(body_module, "parse_json_body", watched)
    big = {**CHAT, "messages": [{"role": "user", "content": "word " * 400_000}]}
    for payload in (CHAT, big):
        async with http.post(gateway.url + "/api/chat", json=payload, headers=gateway.auth()) as r:
            assert r.status == 200, await r.text()
    (small_size, small_on_loop), (big_size, big_on_loop) = threads
    assert small_size < body_module.OFF_LOOP_BYTES < big_size
    assert small_on_loop and not big_on_loop


# -- malformed input: the documented JSON error shape, never a 500 ------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"HELLO<script>alert(1)</script>\r\n\r\n", id="bad-request-line"),
        pytest.param(b"GET /<script> HTTP/9.9\r\n\r\n", id="bad-version"),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: <script>" + b"a" * 20000 + b"\r\n\r\n",
            id="header-too-long",
        ),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n<script> no colon\r\n\r\n", id="bad-header"),
    ],
)
async def test_protocol_errors_answer_json_without_echoing(gateway: Gateway, raw: bytes) -> None:
    reader, writer = await connect(gateway)
    writer.write(raw)
    status, headers, body = split_response(await read_until_closed(reader))
    writer.close()
    assert 400 <= status < 500
    assert headers["content-type"].startswith("application/json")
    message = json.loads(body)["error"]
    assert isinstance(message, str) and message
    assert b"script" not in body


async def test_deeply_nested_json_is_400(gateway: Gateway, http) -> None:
    nested = b'{"model":"llama3.2:3b","messages":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for path in ("/api/chat", "/v1/chat/completions", "/api/show"):
        headers = {**gateway.auth(), "Content-Type": "application/json"}
        async with http.post(gateway.url + path, data=nested, headers=headers) as r:
            assert r.status == 400, (path, await r.text())
            error = (await r.json())["error"]
            assert "nested" in (error["message"] if path.startswith("/v1") else error)


async def test_stream_options_that_is_not_an_object_is_400(gateway: Gateway, http) -> None:
    for options in ([1], "yes", 3):
        body = {**CHAT, "stream": True, "stream_options": options}
        url = gateway.url + "/v1/chat/completions"
        async with http.post(url, json=body, headers=gateway.auth()) as r:
            assert r.status == 400
            error = (await r.json())["error"]
            assert error["param"] == "stream_options" and "object" in error["message"]


async def test_head_on_a_filtered_listing_is_not_a_500(gateway: Gateway, http) -> None:
    limited = await gateway.service.create_key("limited", models="llama3.2:3b")
    for path in ("/api/tags", "/v1/models", "/api/ps"):
        async with http.head(gateway.url + path, headers=gateway.auth(limited["api_key"])) as r:
            assert r.status == 200, path
