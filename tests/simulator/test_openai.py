"""The OpenAI-compatible routes."""

from __future__ import annotations

from pbpm_desktop.simulator import OllamaSimulator
from tests.simulator.helpers import LLAMA, expected_text, post, read_sse

# ---- OpenAI-compatible API -------------------------------------------------------------------


async def test_v1_chat_stream_with_and_without_usage(sim: OllamaSimulator, http) -> None:
    sim.response_tokens = 4
    body = {"model": LLAMA, "messages": [{"role": "user", "content": "one two"}], "stream": True}
    async with http.post(sim.url + "/v1/chat/completions", json=body) as resp:
        assert resp.content_type == "text/event-stream"
        events = await read_sse(resp)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all("usage" not in c for c in chunks)
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == expected_text(4)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 4 + ["stop"]

    body |= {"stream_options": {"include_usage": True}, "max_tokens": 2}
    async with http.post(sim.url + "/v1/chat/completions", json=body) as resp:
        events = await read_sse(resp)
    *chunks, usage_chunk, done = events
    assert done == "[DONE]"
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 6, "completion_tokens": 2, "total_tokens": 8}


async def test_v1_non_stream_usage(sim: OllamaSimulator, http) -> None:
    status, body = await post(
        http,
        sim.url + "/v1/chat/completions",
        {
            "model": LLAMA,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "a b"}]}],
        },
    )
    assert status == 200
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"] == {"role": "assistant", "content": expected_text(12)}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 6, "completion_tokens": 12, "total_tokens": 18}
    status, body = await post(
        http, sim.url + "/v1/completions", {"model": LLAMA, "prompt": "x y z", "max_tokens": 5}
    )
    assert status == 200 and body["object"] == "text_completion"
    assert body["choices"][0]["text"] == expected_text(5)
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}


async def test_v1_errors(sim: OllamaSimulator, http) -> None:
    status, body = await post(
        http, sim.url + "/v1/chat/completions", {"model": "ghost", "messages": [{"content": "x"}]}
    )
    assert status == 404
    assert body["error"]["message"] == "model 'ghost' not found"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    status, body = await post(http, sim.url + "/v1/chat/completions", {"model": LLAMA})
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
