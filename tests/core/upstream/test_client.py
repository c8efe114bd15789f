"""The lean HTTP/1.1 client for Ollama, against hand-written responses on loopback sockets.

Each test starts a tiny asyncio TCP server whose handler writes raw bytes, so framing, timing
and connection reuse are exactly what the test says; a few tests use the real simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pbpm_desktop.core.upstream import client as ollama_module
from pbpm_desktop.core.upstream.client import (
    MAX_BUFFERED,
    OllamaClient,
    OllamaError,
    OllamaTimeout,
    OllamaUnreachable,
)
from pbpm_desktop.simulator import OllamaSimulator, SimModel
from tests.core.http.hostile import read_request, respond

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]

SOCKET_READ = 256 * 1024  # the most one recv of asyncio's transports returns


async def until(condition: Callable[[], bool], limit: int = 10_000) -> None:
    """Let the loop run until `condition()` holds: ordered by the state, not by a clock.

    Only for what the loop delivers by itself (loopback bytes, a close); `limit` loop turns
    keep a broken condition from hanging the test.
    """
    for _ in range(limit):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


class RawServer:
    """A loopback server running `handler(reader, writer, index)` for each connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.accepted = 0  # connections accepted so far
        self.requests: list[tuple[str, bytes]] = []  # (head, body) of each request read
        self.url = ""
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors: list[BaseException] = []  # what a handler raised (an assert, say)

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.accepted
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self.handler(reader, writer, index)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        except Exception as exc:
            self.errors.append(exc)
        finally:
            writer.transport.abort()
            self._writers.discard(writer)
            self._tasks.discard(task)

    async def read_request(self, reader: asyncio.StreamReader) -> tuple[str, bytes]:
        """One request (head, body); IncompleteReadError when the client closed."""
        head, body = await read_request(reader)
        self.requests.append((head, body))
        return head, body

    def write_backlog(self) -> int:
        """Bytes the handlers wrote that the kernel has not taken yet."""
        return sum(w.transport.get_write_buffer_size() for w in self._writers)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()


@contextlib.asynccontextmanager
async def serving(
    handler: Handler, **client_options: float
) -> AsyncIterator[tuple[RawServer, OllamaClient]]:
    """A raw server and a started client pointed at it; both closed at the end.

    Timeouts default to 2 s rather than minutes, so a regression fails instead of hanging.
    """
    server = RawServer(handler)
    await server.start()
    options = {"connect_timeout": 2.0, "first_byte_timeout": 2.0, "idle_timeout": 2.0}
    client = OllamaClient(server.url, **(options | client_options))
    await client.start()
    try:
        yield server, client
    finally:
        await client.close()
        await server.stop()
        await asyncio.sleep(0)  # let aborted transports close their sockets
    assert not server.errors, server.errors


def chunked(*pieces: bytes, trailer: bytes = b"") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return body + b"0\r\n" + trailer + b"\r\n"


CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
)


@contextlib.asynccontextmanager
async def answering(
    make: Callable[[str, bytes], bytes], **client_options: float
) -> AsyncIterator[tuple[RawServer, OllamaClient]]:
    """A keep-alive server answering every request with `make(head, body)`."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            head, body = await server.read_request(reader)
            writer.write(make(head, body))
            await writer.drain()

    async with serving(handler, **client_options) as (server, client):
        yield server, client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- framing ----------------------------------------------------------------------------------


async def test_content_length_body_and_request_bytes() -> None:
    def echo_length(head: str, body: bytes) -> bytes:
        return respond(b'{"echo": %d}' % len(body))

    async with answering(echo_length) as (server, client):
        headers = {"Content-Type": "application/json", "X-Trace": "t1", "Host": "evil"}
        async with client.open("POST", "/api/show", data=b'{"model":"m"}', headers=headers) as r:
            assert (r.status, r.reason) == (200, "OK")
            assert r.headers["content-type"] == "application/json"  # keys are lowercase
            assert r.headers["content-length"] == "12"
            assert r.content_type == "application/json"
            assert await r.read() == b'{"echo": 13}'
        head, body = server.requests[0]
        lines = head.split("\r\n")
        assert lines[0] == "POST /api/show HTTP/1.1"
        port = server.url.rsplit(":", 1)[1]
        assert f"Host: 127.0.0.1:{port}" in lines
        assert "Host: evil" not in lines  # the caller cannot override Host
        assert "Content-Length: 13" in lines and "X-Trace: t1" in lines
        assert body == b'{"model":"m"}'

        async with client.open("GET", "/api/tags") as r:  # no body: no Content-Length sent
            assert await r.text() == '{"echo": 0}'
        assert "content-length" not in server.requests[1][0].lower()


async def test_base_url_path_prefix_and_content_type_parameters() -> None:
    def make(head: str, body: bytes) -> bytes:
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: Text/Plain; charset=utf-8\r\n"
            b"Content-Length: 2\r\n\r\nok"
        )

    async with answering(make) as (server, _):
        client = OllamaClient(server.url + "/ollama/", first_byte_timeout=2, idle_timeout=2)
        await client.start()
        try:
            async with client.open("GET", "/api/version") as r:
                assert r.content_type == "text/plain"
                assert await r.text() == "ok"
        finally:
            await client.close()
        assert server.requests[0][0].startswith("GET /ollama/api/version HTTP/1.1\r\n")


async def test_missing_content_type_defaults_to_octet_stream() -> None:
    async with answering(lambda h, b: b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx") as (_, c):
        async with c.open("GET", "/") as r:
            assert r.content_type == "application/octet-stream"
            assert await r.read() == b"x"


async def test_chunked_body_with_extensions_and_trailers() -> None:
    body = (
        b"4;name=value\r\nWiki\r\n"
        b"5;other\r\npedia\r\n"  # no whitespace: llhttp refuses it, Go never writes it
        b"E\r\n in\r\n\r\nchunks.\r\n"
        b"0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
    )
    async with answering(lambda h, b: CHUNKED_HEAD + body) as (server, client):
        for _ in range(3):  # and the connection is reusable after the trailer
            async with client.open("POST", "/api/generate", data=b"{}") as r:
                assert r.content_type == "application/x-ndjson"
                assert await r.read() == b"Wikipedia in\r\n\r\nchunks."
        assert server.accepted == 1


async def test_chunked_response_split_byte_by_byte() -> None:
    pieces = [b'{"response":"a"}\n', b'{"response":"bc"}\n', b'{"done":true}\n']
    raw = CHUNKED_HEAD + chunked(*pieces, trailer=b"X-T: 1\r\n")

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            await server.read_request(reader)
            for i in range(len(raw)):
                writer.write(raw[i : i + 1])
                await writer.drain()
                await asyncio.sleep(0)  # let the client read this byte on its own
                await asyncio.sleep(0)

    async with serving(handler) as (server, client):
        for _ in range(2):
            async with client.open("POST", "/api/generate", data=b"{}") as r:
                assert r.status == 200 and r.headers["transfer-encoding"] == "chunked"
                got = bytearray()
                reads = 0
                while chunk := await client.read_chunk(r):
                    got += chunk
                    reads += 1
                assert bytes(got) == b"".join(pieces)
                assert reads > 10  # the body really did arrive in pieces
        assert server.accepted == 1


async def test_chunked_body_is_streamed_as_it_arrives() -> None:
    release_rest = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(CHUNKED_HEAD + b"6\r\nfirst\n\r\n")
        await writer.drain()
        await release_rest.wait()
        writer.write(b"7\r\nsecond\n\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with serving(handler) as (server, client):
        async with client.open("POST", "/api/chat", data=b"{}") as r:
            assert await asyncio.wait_for(client.read_chunk(r), 0.5) == b"first\n"
            release_rest.set()
            assert await r.read() == b"second\n"
            assert await client.read_chunk(r) == b""


async def test_body_until_close() -> None:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int
    ) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart one, ")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"part two")
        await writer.drain()
        writer.close()

    async with serving(handler) as (server, client):
        for _ in range(2):
            async with client.open("GET", "/api/tags") as r:
                assert await r.read() == b"part one, part two"
        assert server.accepted == 2  # "Connection: close" is not reused


async def test_http10_response_without_length_reads_until_close() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold server")
        await writer.drain()
        writer.close()

    async with serving(handler) as (server, client):
        for _ in range(2):
            async with client.open("GET", "/") as r:
                assert await r.text() == "old server"
        assert server.accepted == 2


async def test_interim_1xx_responses_are_skipped() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.005)  # the interim response arrives on its own
            writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n")
            writer.write(respond(b'{"ok":true}', extra="X-Final: yes\r\n"))
            await writer.drain()

    async with serving(handler) as (server, client):
        for _ in range(2):
            async with client.open("POST", "/api/generate", data=b"{}") as r:
                assert r.status == 200 and r.headers["x-final"] == "yes"
                assert "link" not in r.headers  # the interim response's headers are not kept
                assert await r.read() == b'{"ok":true}'
        assert server.accepted == 1


async def test_responses_without_body_head_and_204() -> None:
    def make(head: str, body: bytes) -> bytes:
        if head.startswith("HEAD "):  # announces a length but sends no body
            return b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
        if "/empty" in head:
            return b"HTTP/1.1 204 No Content\r\n\r\n"
        return respond(b"{}")

    async with answering(make) as (server, client):
        async with client.open("HEAD", "/") as r:
            assert r.status == 200 and await r.read() == b""
        async with client.open("DELETE", "/empty") as r:
            assert r.status == 204 and await r.read() == b""
        assert await client.call("GET", "/api/ps") == {}
        assert server.accepted == 1


async def test_path_with_spaces_and_controls_is_percent_encoded() -> None:
    async with answering(lambda h, b: respond(b"{}")) as (server, client):
        await client.call("GET", "/api/a b")
        await client.call("GET", "/api/a\tb?x=1")
        assert [head.split("\r\n")[0] for head, _ in server.requests] == [
            "GET /api/a%20b HTTP/1.1",
            "GET /api/a%09b?x=1 HTTP/1.1",
        ]


async def test_non_ascii_path_is_percent_encoded_as_utf8() -> None:
    async with answering(lambda h, b: respond(b"{}")) as (server, client):
        await client.call("GET", "/api/café")
        await client.call("GET", "/api/模型")
        assert [head.split("\r\n")[0] for head, _ in server.requests] == [
            "GET /api/caf%C3%A9 HTTP/1.1",
            "GET /api/%E6%A8%A1%E5%9E%8B HTTP/1.1",
        ]


# -- connection reuse -------------------------------------------------------------------------


async def test_keep_alive_reuses_one_connection() -> None:
    def make(head: str, body: bytes) -> bytes:
        n = json.loads(body)["i"]
        if n % 2:
            return CHUNKED_HEAD + chunked(b'{"n":', b"%d}" % n)
        return respond(b'{"n":%d}' % n)

    async with answering(make) as (server, client):
        for i in range(1, 101):
            assert await client.call("POST", "/api/generate", {"i": i}) == {"n": i}
        assert server.accepted == 1
        assert len(server.requests) == 100
        assert json.loads(server.requests[-1][1]) == {"i": 100}
        assert "Content-Type: application/json" in server.requests[-1][0]


async def test_concurrent_requests_use_separate_connections_then_pool_them() -> None:
    gate, all_in = asyncio.Event(), asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            await server.read_request(reader)
            if len(server.requests) == 3:
                all_in.set()
            await gate.wait()
            writer.write(respond(b"{}"))
            await writer.drain()

    async with serving(handler) as (server, client):
        calls = [asyncio.create_task(client.call("GET", "/api/ps")) for _ in range(3)]
        await asyncio.wait_for(all_in.wait(), 1)
        gate.set()
        assert await asyncio.gather(*calls) == [{}, {}, {}]
        assert server.accepted == 3
        for _ in range(6):
            await client.call("GET", "/api/ps")
        await asyncio.gather(*(client.call("GET", "/api/ps") for _ in range(3)))
        assert server.accepted == 3


async def test_unread_body_closes_the_connection_instead_of_pooling_it() -> None:
    released = asyncio.Event()  # the first body is sent only after the client let go

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int
    ) -> None:
        while True:
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
            await writer.drain()
            if index == 0:
                await released.wait()
            writer.write(b"body")
            await writer.drain()

    async with serving(handler) as (server, client):
        async with client.open("GET", "/") as r:
            assert r.status == 200  # released before the body came: the link is not clean
        released.set()
        async with client.open("GET", "/") as r:
            assert await r.read() == b"body"
        async with client.open("GET", "/") as r:
            assert await r.read() == b"body"
        assert server.accepted == 2  # the first closed, the second reused


async def test_extra_bytes_after_a_response_are_not_reused() -> None:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int
    ) -> None:
        while True:
            await server.read_request(reader)
            if index == 0:  # more than Content-Length: the framing is off, never reuse
                writer.write(respond(b"{}") + b"garbage")
            elif index == 1:  # bytes nobody asked for, arriving on the idle connection
                writer.write(respond(b"{}"))
                await writer.drain()
                await pooled.wait()
                writer.write(b"HTTP/1.1 200 OK\r\n")
                await writer.drain()
                stray_sent.set()
            else:
                writer.write(respond(b'{"fresh":1}'))
            await writer.drain()

    pooled, stray_sent = asyncio.Event(), asyncio.Event()
    async with serving(handler) as (server, client):
        assert await client.call("GET", "/") == {}
        assert await client.call("GET", "/") == {}
        pooled.set()  # the second connection is back in the pool: now the stray bytes
        await stray_sent.wait()
        # loopback delivers at once; the client sees them on its next reads of the socket
        await until(lambda: not any(c.reusable for c in client._idle))
        assert await client.call("GET", "/") == {"fresh": 1}
        assert server.accepted == 3


async def test_connection_closed_by_server_while_idle_is_replaced() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(respond(b"{}"))  # says keep-alive, then closes anyway
        await writer.drain()
        writer.close()

    async with serving(handler) as (server, client):
        assert await client.call("GET", "/") == {}
        await until(lambda: not any(c.reusable for c in client._idle))  # the close arrived
        assert await client.call("GET", "/") == {}
        assert server.accepted == 2


async def test_stale_pooled_connection_is_retried_once_transparently() -> None:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int
    ) -> None:
        await server.read_request(reader)
        writer.write(respond(b'{"conn":%d}' % index))
        await writer.drain()
        if index == 0:
            await server.read_request(reader)  # the reused connection's request...
            return  # ...is never answered: closed, as a server whose keep-alive ran out
        await reader.read()

    async with serving(handler) as (server, client):
        assert await client.call("POST", "/api/generate", {"n": 1}) == {"conn": 0}
        assert await client.call("POST", "/api/generate", {"n": 2}) == {"conn": 1}
        assert server.accepted == 2
        assert [json.loads(body)["n"] for _, body in server.requests] == [1, 2, 2]


async def test_fresh_connection_closed_without_answer_is_not_retried() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)  # and close without a word

    async with serving(handler) as (server, client):
        with pytest.raises(OllamaUnreachable) as err:
            await client.call("GET", "/api/tags")
        assert err.value.status == 502
        assert "closed the connection without answering" in err.value.message
        assert server.url in err.value.message
        assert server.accepted == 1


async def test_reused_connection_and_its_retry_both_closed_gives_502() -> None:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int
    ) -> None:
        await server.read_request(reader)
        if index == 0:
            writer.write(respond(b"{}"))
            await writer.drain()
            await server.read_request(reader)

    async with serving(handler) as (server, client):
        assert await client.call("GET", "/") == {}
        with pytest.raises(OllamaUnreachable) as err:
            await client.call("GET", "/")
        assert err.value.status == 502
        assert server.accepted == 2  # exactly one retry


async def test_idle_connections_are_closed_after_keepalive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ollama_module, "KEEPALIVE_S", 0.03)
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(respond(b"{}"))
        await writer.drain()
        assert await reader.read() == b""  # the client closed it
        closed.set()

    async with serving(handler) as (server, client):
        assert await client.call("GET", "/") == {}
        await asyncio.wait_for(closed.wait(), 0.5)
        assert await client.call("GET", "/") == {}
        assert server.accepted == 2


# -- failures ---------------------------------------------------------------------------------


async def test_connection_refused_is_unreachable_with_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = OllamaClient(url)
    await client.start()
    try:
        with pytest.raises(OllamaUnreachable) as err:
            await client.call("GET", "/api/version")
        assert isinstance(err.value, OllamaError) and err.value.status == 502
        assert url in err.value.message and "refused" in err.value.message.lower()
    finally:
        await client.close()


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:1", "127.0.0.1:11434", "http://"])
async def test_unusable_url_is_reported_as_unreachable(url: str) -> None:
    client = OllamaClient(url)
    await client.start()
    try:
        with pytest.raises(OllamaUnreachable) as err:
            await client.call("GET", "/api/version")
        assert err.value.status == 502 and url.rstrip("/") in err.value.message
    finally:
        await client.close()


async def test_request_before_start_is_a_programming_error() -> None:
    client = OllamaClient("http://127.0.0.1:1")
    with pytest.raises(RuntimeError, match="start"):
        await client.call("GET", "/")


@pytest.mark.skipif(
    sys.platform != "linux", reason="relies on Linux dropping SYNs to a full backlog"
)
async def test_connect_timeout_is_504() -> None:
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # never accepts: once its queue is full, connects hang
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            fillers.append(filler)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        try:  # check the premise: a further connect hangs (it is not accepted nor refused)
            _, probe = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 0.05)
        except TimeoutError:
            pass
        except OSError:
            pytest.skip("this system refuses connects to a full backlog")
        else:
            probe.close()
            pytest.skip("this system accepts connects beyond the backlog")
        for options, what in [
            ({"connect_timeout": 0.05}, "no connection within 0.05s"),
            ({"connect_timeout": 5.0, "first_byte_timeout": 0.05}, "no response within 0.05s"),
        ]:
            client = OllamaClient(f"http://127.0.0.1:{port}", **options)
            await client.start()
            started = time.monotonic()
            try:
                with pytest.raises(OllamaTimeout) as err:
                    await client.call("GET", "/api/version")
            finally:
                await client.close()
            assert err.value.status == 504 and what in err.value.message
            assert time.monotonic() - started < 0.5
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_first_byte_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        await reader.read()  # never answers

    async with serving(handler, first_byte_timeout=0.05) as (server, client):
        started = time.monotonic()
        with pytest.raises(OllamaTimeout) as err:
            await client.call("GET", "/api/tags")
        assert 0.04 <= time.monotonic() - started < 0.5
        assert err.value.status == 504 and "0.05s" in err.value.message
        with pytest.raises(OllamaTimeout):  # the per-request deadline wins
            await client.call("GET", "/api/tags", timeout=0.02)
        assert server.accepted == 2  # a timed-out connection is not reused


async def test_first_byte_deadline_per_request_on_a_reused_connection() -> None:
    """The head timer is kept per connection and re-armed lazily: check both directions."""
    delays = [0.0, 0.08, 10.0]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        for delay in delays:
            await server.read_request(reader)
            await asyncio.sleep(delay)
            writer.write(respond(b"{}"))
            await writer.drain()
        await reader.read()

    async with serving(handler, first_byte_timeout=2.0) as (server, client):
        # a short deadline, answered at once: its timer stays armed on the connection...
        assert await client.call("GET", "/", timeout=0.04) == {}
        # ...and must not cut the next request, whose own deadline is later
        assert await client.call("GET", "/") == {}
        # an earlier deadline than the armed timer's is honoured
        started = time.monotonic()
        with pytest.raises(OllamaTimeout):
            await client.call("GET", "/", timeout=0.03)
        assert time.monotonic() - started < 0.15
        assert server.accepted == 1


async def test_cancelled_request_does_not_leave_its_connection_behind() -> None:
    dropped = asyncio.Event()

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int
    ) -> None:
        await server.read_request(reader)
        if index == 0:  # never answers; sees the client give up
            assert await reader.read() == b""
            dropped.set()
            return
        writer.write(respond(b"{}"))
        await writer.drain()
        await reader.read()

    async with serving(handler) as (server, client):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.call("GET", "/api/ps"), 0.02)
        await asyncio.wait_for(dropped.wait(), 0.5)
        assert await client.call("GET", "/api/ps") == {}
        assert server.accepted == 2


async def test_idle_timeout_between_chunks() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(CHUNKED_HEAD + b"6\r\nfirst\n\r\n")
        await writer.drain()
        await reader.read()  # then nothing

    async with serving(handler, idle_timeout=0.05) as (server, client):
        async with client.open("POST", "/api/chat", data=b"{}") as r:
            assert await client.read_chunk(r) == b"first\n"
            started = time.monotonic()
            with pytest.raises(OllamaTimeout) as err:
                await client.read_chunk(r)
            assert 0.04 <= time.monotonic() - started < 0.5
            assert err.value.status == 504 and "mid-response" in err.value.message


async def test_steady_slow_stream_does_not_hit_the_idle_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(CHUNKED_HEAD)
        for i in range(8):  # 8 gaps of 0.1 s: the stream outlasts the idle timeout 1.6 times
            await asyncio.sleep(0.1)
            writer.write(b"2\r\n%d\n\r\n" % i)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    # a gap 5x longer than planned (a loaded CI box) still stays inside the timeout
    async with serving(handler, idle_timeout=0.5) as (server, client):
        async with client.open("POST", "/api/chat", data=b"{}") as r:
            assert await r.read() == b"".join(b"%d\n" % i for i in range(8))


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"Content-Length: 100\r\n\r\n" + b"x" * 10, id="content-length"),
        pytest.param(b"Transfer-Encoding: chunked\r\n\r\n64\r\n" + b"x" * 10, id="chunked"),
    ],
)
async def test_server_cutting_the_body_is_502(sent: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n" + sent)
        await writer.drain()  # and close

    async with serving(handler) as (server, client):
        async with client.open("POST", "/api/generate", data=b"{}") as r:
            assert r.status == 200
            with pytest.raises(OllamaError) as err:
                await r.read()
        assert err.value.status == 502 and "closed" in err.value.message
        assert not isinstance(err.value, OllamaTimeout)


async def test_server_cutting_the_head_is_502() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
        await writer.drain()

    async with serving(handler) as (server, client):
        with pytest.raises(OllamaError) as err:
            await client.call("GET", "/")
        assert err.value.status == 502 and "closed" in err.value.message
        assert server.accepted == 1  # bytes had arrived: not a stale connection, no retry


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"HTTP/1.1 abc OK\r\n\r\n", id="status-not-a-number"),
        pytest.param(b"ICY 200 OK\r\n\r\n", id="not-http"),
        pytest.param(b"HTTP/2 200\r\n\r\n", id="http2"),
        pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", id="binary"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n", id="bad-length"),
        pytest.param(CHUNKED_HEAD + b"zz\r\nabc\r\n", id="bad-chunk-size"),
        pytest.param(CHUNKED_HEAD + b"3\r\nabcXY0\r\n\r\n", id="bad-chunk-end"),
        pytest.param(b"HTTP/1.1 200 OK\r\nX: " + b"a" * (70 * 1024), id="head-too-large"),
    ],
)
async def test_malformed_response_is_an_ollama_error(raw: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(raw)
        await writer.drain()
        await reader.read()  # keep the connection open: the client must not wait for a close

    async with serving(handler) as (server, client):
        started = time.monotonic()
        with pytest.raises(OllamaError) as err:
            await client.call("GET", "/")
        assert err.value.status == 502 and "malformed" in err.value.message
        assert time.monotonic() - started < 0.5


async def test_close_fails_in_flight_reads_with_502() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(CHUNKED_HEAD + b"2\r\nok\r\n")
        await writer.drain()
        await reader.read()

    async with serving(handler) as (server, client):
        async with client.open("POST", "/api/chat", data=b"{}") as r:
            assert await client.read_chunk(r) == b"ok"
            pending = asyncio.create_task(client.read_chunk(r))
            await asyncio.sleep(0)
            await client.close()
            with pytest.raises(OllamaError) as err:
                await pending
            assert err.value.status == 502


async def test_close_fails_an_in_flight_body_read_until_close_with_502() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npartial")
        await writer.drain()
        await reader.read()  # the rest never comes

    async with serving(handler) as (server, client):
        async with client.open("GET", "/api/tags") as r:
            assert await client.read_chunk(r) == b"partial"
            pending = asyncio.create_task(client.read_chunk(r))
            await asyncio.sleep(0)
            await client.close()
            with pytest.raises(OllamaError):  # not b"", which reads as a complete body
                await pending


async def test_backpressure_pauses_reading_from_a_fast_server() -> None:
    size = 16 * 1024 * 1024
    payload = bytes(range(256)) * (size // 256)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + payload)
            await writer.drain()

    async with serving(handler) as (server, client):
        async with client.open("GET", "/big") as r:
            await asyncio.sleep(0.05)  # the client reads nothing meanwhile
            # Ollama is held back: most of the body still waits in the server's buffer
            assert server.write_backlog() > size // 2
            got = bytearray()
            while chunk := await client.read_chunk(r):
                assert len(chunk) <= MAX_BUFFERED + SOCKET_READ
                got += chunk
            assert got == payload
        async with client.open("GET", "/again") as r:  # reusable once drained
            assert len(await r.read()) == size
        assert server.accepted == 1


# -- JSON calls -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        ("404 Not Found", b'{"error":"model \'nope\' not found"}', "model 'nope' not found"),
        ("400 Bad Request", b'{"error":{"message":"bad input","type":"x"}}', "bad input"),
        ("500 Internal Server Error", b"upstream exploded\n", "upstream exploded"),
        ("503 Service Unavailable", b"", "Ollama answered HTTP 503"),
    ],
)
async def test_call_raises_ollama_error_with_the_message(
    status: str, body: bytes, message: str
) -> None:
    async with answering(lambda h, b: respond(body, status)) as (server, client):
        with pytest.raises(OllamaError) as err:
            await client.call("POST", "/api/generate", {"model": "nope"})
        assert err.value.status == int(status.split()[0])
        assert err.value.message == message
        with pytest.raises(OllamaError):  # the connection was kept and is used again
            await client.call("POST", "/api/generate", {})
        assert server.accepted == 1  # an error body read to its end keeps the connection


async def test_against_the_simulator() -> None:
    sim = OllamaSimulator([SimModel("tiny:1b", 1024**3)], response_tokens=3)
    url = await sim.start()
    client = OllamaClient(url, first_byte_timeout=5, idle_timeout=5)
    await client.start()
    try:
        assert await client.version() == sim.version
        assert [m["name"] for m in await client.tags()] == ["tiny:1b"]
        assert await client.ps() == []
        await client.load("tiny:1b", 60)
        assert [m["name"] for m in await client.ps()] == ["tiny:1b"]
        data = json.dumps({"model": "tiny:1b", "prompt": "hi"}).encode()
        async with client.open("POST", "/api/generate", data=data) as r:
            assert r.status == 200 and r.content_type == "application/x-ndjson"
            lines = (await r.read()).splitlines()
        assert json.loads(lines[-1])["done"] is True and len(lines) >= 2
        with pytest.raises(OllamaError) as err:
            await client.load("missing:1b", 60)
        assert err.value.status == 404 and err.value.message == "model 'missing:1b' not found"
        await client.unload("tiny:1b")
    finally:
        await client.close()
        await sim.stop()


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(CHUNKED_HEAD + b"1\r\n{\r\n-6\r\nhello!\r\n0\r\n\r\n", id="chunk-negative"),
        pytest.param(CHUNKED_HEAD + b"+6\r\nhello!\r\n0\r\n\r\n", id="chunk-plus"),
        pytest.param(CHUNKED_HEAD + b" 6\r\nhello!\r\n0\r\n\r\n", id="chunk-space"),
        pytest.param(CHUNKED_HEAD + b"0x6\r\nhello!\r\n0\r\n\r\n", id="chunk-0x"),
        pytest.param(CHUNKED_HEAD + b"6_0\r\nhello!\r\n0\r\n\r\n", id="chunk-underscore"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: -6\r\n\r\nhello!", id="length-negative"),
        pytest.param(respond(b"hello!", extra="Content-Length: 2\r\n"), id="length-twice"),
        pytest.param(respond(b"{}", extra="X-No-Colon\r\n"), id="header-without-colon"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: notchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            id="transfer-encoding-notchunked",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\n{}\r\n0\r\n\r\n",
            id="length-and-chunked",
        ),
    ],
)
async def test_framing_tricks_are_502_and_never_reused(raw: bytes) -> None:
    """What the old hand-written parser took (`int(..., 16)`, the last Content-Length wins,
    any line as a header, "chunked" anywhere in Transfer-Encoding); llhttp refuses each."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, i: int) -> None:
        while True:
            await server.read_request(reader)
            writer.write(raw if i == 0 else respond(b'{"fresh":1}'))
            await writer.drain()

    async with serving(handler) as (server, client):
        with pytest.raises(OllamaError) as err:
            await client.call("POST", "/api/chat", {})
        assert err.value.status == 502 and "malformed" in err.value.message
        assert await client.call("POST", "/api/chat", {}) == {"fresh": 1}
        assert server.accepted == 2  # the first connection was closed, not pooled
