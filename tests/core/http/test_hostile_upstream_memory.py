"""A hostile upstream's huge answers cost the gateway bounded memory and reach the client as
they arrive (memory measured with tracemalloc: gateway, fake upstream and client all run here).

Before: a 40 MB NDJSON line without a newline was held whole (+80 MB), an SSE event without
its blank line reached the client only once complete, and a non-streamed answer was held
whole and joined (twice its size).
"""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from pbpm_desktop.core.http.sse import MAX_EVENT
from pbpm_desktop.core.http.trackers import SseTracker
from tests.core.http.hostile import Conn, hostile_gateway

MB = 1024 * 1024
SIZE = 40 * MB
PIECE = b"x" * (256 * 1024)  # written again and again: the fake upstream allocates nothing
CHAT = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]}
FINAL = (
    b'{"model":"llama3.2:3b","done":true,"total_duration":1,"prompt_eval_count":7,"eval_count":9}'
)
BUDGET = 16 * MB  # what the whole test process may add at its peak


async def write_chunked(conn: Conn, ctype: str, parts: Callable[[], AsyncIterator[bytes]]) -> None:
    w = conn.writer
    w.write(
        f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )
    async for part in parts():
        w.write(b"%x\r\n" % len(part))
        w.write(part)
        w.write(b"\r\n")
        await w.drain()
    w.write(b"0\r\n\r\n")


async def huge(prefix: bytes, suffix: bytes) -> AsyncIterator[bytes]:
    yield prefix
    for _ in range(SIZE // len(PIECE)):
        yield PIECE
    yield suffix


@asynccontextmanager
async def peak_memory() -> AsyncIterator[list[int]]:
    """The peak traced allocation above the start, in bytes, filled in at exit."""
    result: list[int] = []
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        yield result
        result.append(tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()


async def drain(
    r: aiohttp.ClientResponse, on_bytes: Callable[[int], Awaitable[None]] | None = None
) -> tuple[int, bytes]:
    total, tail = 0, b""
    async for chunk in r.content.iter_any():
        total += len(chunk)
        tail = (tail + chunk)[-4096:]
        if on_bytes is not None:
            await on_bytes(total)
    return total, tail


async def test_ndjson_line_without_newline_is_not_held(tmp_path: Path) -> None:
    async with hostile_gateway(tmp_path) as (upstream, gw):

        async def chat(conn: Conn, head: str, body: bytes) -> None:
            await write_chunked(
                conn, "application/x-ndjson", lambda: huge(b'{"junk":"', b'"}\n' + FINAL + b"\n")
            )

        upstream.scripts["/api/chat"] = chat
        async with aiohttp.ClientSession() as http:
            async with peak_memory() as peak:
                async with http.post(gw.url + "/api/chat", json=CHAT, headers=gw.auth()) as r:
                    assert r.status == 200
                    total, tail = await drain(r)
        assert total == SIZE + len(b'{"junk":"') + 3 + len(FINAL) + 1
        assert tail.endswith(FINAL + b"\n")
        print(f"peak {peak[0] / MB:.1f} MB")
        assert peak[0] < BUDGET, f"peak {peak[0] / MB:.1f} MB"
        (record,) = await gw.service.usage_records(limit=5)
        assert (record["prompt_tokens"], record["completion_tokens"]) == (7, 9)


async def test_sse_event_without_its_end_reaches_the_client_as_it_comes(tmp_path: Path) -> None:
    async with hostile_gateway(tmp_path) as (upstream, gw):
        release = asyncio.Event()

        async def parts() -> AsyncIterator[bytes]:
            yield b"data: " + PIECE
            for i in range(SIZE // len(PIECE)):
                yield PIECE
                if i == 8:  # 2 MB sent: the rest only once the client has had a first MB
                    await release.wait()
            yield b"\n\ndata: [DONE]\n\n"

        async def completions(conn: Conn, head: str, body: bytes) -> None:
            await write_chunked(conn, "text/event-stream", parts)

        upstream.scripts["/v1/chat/completions"] = completions

        async def got(total: int) -> None:
            if total >= MB:
                release.set()

        async with aiohttp.ClientSession() as http:
            async with peak_memory() as peak:
                url = gw.url + "/v1/chat/completions"
                async with http.post(url, json={**CHAT, "stream": True}, headers=gw.auth()) as r:
                    assert r.status == 200
                    async with asyncio.timeout(20):  # before: nothing until the event ended
                        total, tail = await drain(r, got)
        assert total == 6 + len(PIECE) * (1 + SIZE // len(PIECE)) + len(b"\n\ndata: [DONE]\n\n")
        assert tail.endswith(b"data: [DONE]\n\n")
        print(f"peak {peak[0] / MB:.1f} MB")
        assert peak[0] < BUDGET, f"peak {peak[0] / MB:.1f} MB"


async def test_huge_non_streamed_answer_is_passed_on_not_held(tmp_path: Path) -> None:
    prefix = b'{"model":"llama3.2:3b","message":{"role":"assistant","content":"'
    suffix = b'"},' + FINAL[1:]  # the counts are at the end, as Ollama writes them
    length = len(prefix) + SIZE + len(suffix)
    async with hostile_gateway(tmp_path) as (upstream, gw):

        async def chat(conn: Conn, head: str, body: bytes) -> None:
            w = conn.writer
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            w.write(b"Content-Length: %d\r\n\r\n" % length)
            async for part in huge(prefix, suffix):
                w.write(part)
                await w.drain()

        upstream.scripts["/api/chat"] = chat
        async with aiohttp.ClientSession() as http:
            async with peak_memory() as peak:
                body = {**CHAT, "stream": False}
                async with http.post(gw.url + "/api/chat", json=body, headers=gw.auth()) as r:
                    assert r.status == 200
                    assert r.content_length == length
                    total, tail = await drain(r)
        assert total == length and tail.endswith(suffix)
        assert json.loads(b"{" + suffix[3:])["eval_count"] == 9
        print(f"peak {peak[0] / MB:.1f} MB")
        assert peak[0] < BUDGET, f"peak {peak[0] / MB:.1f} MB"
        (record,) = await gw.service.usage_records(limit=5)
        assert (record["prompt_tokens"], record["completion_tokens"]) == (7, 9)


def test_oversized_sse_event_passes_through_whatever_the_read_boundaries() -> None:
    """The blank line ending an oversized event may be split across reads; the events after it
    are handled as usual (the usage event still read, and dropped as the client asked)."""
    big = b"data: " + b"x" * (MAX_EVENT + 10)
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n'
    after = b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n'
    stream = big + b"\n\n" + usage + after
    for cut in (len(big) - 5, len(big), len(big) + 1, len(big) + 2, len(big) + 30):
        tracker = SseTracker(keep_usage=False)
        pieces = [stream[: MAX_EVENT + 1], stream[MAX_EVENT + 1 : cut], stream[cut:]]
        out = b"".join(tracker.feed(p) for p in pieces if p) + tracker.flush()
        assert out == big + b"\n\n" + after, cut
        assert tracker.counts() == (3, 4)


def test_oversized_anthropic_event_is_passed_on_unread_and_usage_after_it_counted() -> None:
    """The same bound for the Anthropic/Responses trackers (core/http/dialect.py): an event
    with no end is not held past MAX_EVENT, and the final usage after it is still read."""
    from pbpm_desktop.core.http.dialect import AnthropicTracker

    big = b"event: content_block_delta\ndata: " + b"x" * (MAX_EVENT + 10)
    usage = (
        b"event: message_delta\ndata: "
        b'{"type":"message_delta","usage":{"input_tokens":3,"output_tokens":4}}\n\n'
    )
    stream = big + b"\n\n" + usage
    for cut in (len(big) - 5, len(big), len(big) + 1, len(big) + 2, len(big) + 30):
        tracker = AnthropicTracker()
        pieces = [stream[: MAX_EVENT + 1], stream[MAX_EVENT + 1 : cut], stream[cut:]]
        held = []
        out = b""
        for piece in pieces:
            if piece:
                out += tracker.feed(piece)
                held.append(len(tracker._buf))
        out += tracker.flush()
        assert out == stream, cut
        assert max(held) <= MAX_EVENT
        assert tracker.counts() == (3, 4)
