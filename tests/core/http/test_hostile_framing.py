"""A hostile upstream's HTTP framing tricks, through the real gateway: 502, never a reused link.

Each trick was accepted by the hand-written parser the gateway had (a negative chunk size
froze its event loop); llhttp refuses them all.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.core.http.hostile import Conn, hostile_gateway, respond

CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
CHAT = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}], "stream": False}
GOOD = b'{"model":"llama3.2:3b","message":{"role":"assistant","content":"ok"},"done":true}'

TRICKS = [
    # after a CRLF, "-6" sent the old parser back 6 bytes to the same line: a frozen loop
    pytest.param(CHUNKED + b"\r\n1\r\n{\r\n-6\r\nhello!\r\n0\r\n\r\n", id="chunk-size-negative"),
    pytest.param(CHUNKED + b"\r\n+6\r\nhello!\r\n0\r\n\r\n", id="chunk-size-plus"),
    pytest.param(CHUNKED + b"\r\n 6\r\nhello!\r\n0\r\n\r\n", id="chunk-size-space"),
    pytest.param(CHUNKED + b"\r\n0x6\r\nhello!\r\n0\r\n\r\n", id="chunk-size-0x"),
    pytest.param(CHUNKED + b"\r\n6_0\r\nhello!\r\n0\r\n\r\n", id="chunk-size-underscore"),
    pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: -6\r\n\r\nhello!", id="length-negative"),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Length: 2\r\n\r\nhello!",
        id="length-twice-different",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nX-Broken\r\nContent-Length: 2\r\n\r\n{}", id="header-without-colon"
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: notchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        id="transfer-encoding-notchunked",
    ),
]


@pytest.mark.parametrize("raw", TRICKS)
async def test_framing_trick_is_502_and_the_connection_is_dropped(
    tmp_path: Path, raw: bytes
) -> None:
    async with hostile_gateway(tmp_path) as (upstream, gw):
        chat_conns: list[int] = []

        async def chat(conn: Conn, head: str, body: bytes) -> bool:
            chat_conns.append(conn.index)
            if len(chat_conns) == 1:
                conn.writer.write(raw)  # and keep the connection open: no close to lean on
                return True
            conn.writer.write(respond(GOOD))
            return True

        upstream.scripts["/api/chat"] = chat
        async with aiohttp.ClientSession() as http:
            async with http.post(gw.url + "/api/chat", json=CHAT, headers=gw.auth()) as r:
                assert r.status == 502
                assert r.content_type == "application/json"
                assert "malformed" in (await r.json())["error"]
            async with http.post(gw.url + "/api/chat", json=CHAT, headers=gw.auth()) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["message"]["content"] == "ok"
        assert chat_conns[1] != chat_conns[0]  # the doubtful connection was not reused
        records = await gw.service.usage_records(limit=10)
        assert sorted(rec["status"] for rec in records) == ["502", "ok"]


async def test_a_framing_slip_never_hands_one_clients_bytes_to_another(tmp_path: Path) -> None:
    """Two Content-Lengths: read as 2 (the last), the 58 bytes left on the socket would be the
    answer to whoever's request went on that pooled connection next."""
    stolen = b'{"message":{"role":"assistant","content":"alice secret"},"done":true}'
    smuggled = respond(stolen)
    first = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nContent-Length: 2\r\n\r\n{}" % (2 + len(smuggled))
    )

    async with hostile_gateway(tmp_path) as (upstream, gw):
        bob = (await gw.service.create_key("bob", "bob@example.com"))["api_key"]

        async def chat(conn: Conn, head: str, body: bytes) -> bool:
            if b"alice" in body:
                conn.writer.write(first)
                conn.state["smuggle"] = True  # the rest goes to the next request on this link
            elif conn.state.pop("smuggle", False):
                conn.writer.write(smuggled)
            else:
                conn.writer.write(respond(GOOD))
            return True

        upstream.scripts["/api/chat"] = chat
        alice_chat = {**CHAT, "messages": [{"role": "user", "content": "alice"}]}
        async with aiohttp.ClientSession() as http:
            async with http.post(gw.url + "/api/chat", json=alice_chat, headers=gw.auth()) as r:
                assert r.status == 502
            async with http.post(gw.url + "/api/chat", json=CHAT, headers=gw.auth(bob)) as r:
                answer = await r.read()
        assert b"alice secret" not in answer
        assert r.status == 200 and b'"content":"ok"' in answer
