"""OpenAI-compatible /v1 routes through the gateway: streaming, usage, errors."""

from __future__ import annotations

import json

from tests.conftest import Gateway

MESSAGES = [{"role": "user", "content": "tell me a story"}]


async def sse_events(response) -> list[str]:
    text = await response.text()
    return [e.removeprefix("data: ") for e in text.split("\n\n") if e.strip()]


async def test_streamed_chat_without_usage_request_hides_usage_but_audits_it(
    gateway: Gateway, http
) -> None:
    body = {"model": "llama3.2:3b", "messages": MESSAGES, "stream": True}
    url = gateway.url + "/v1/chat/completions"
    async with http.post(url, json=body, headers=gateway.auth()) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        events = await sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all("usage" not in c or c["choices"] for c in chunks)  # no bare usage chunk
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    record = (await gateway.service.usage_records())[0]
    assert record["route"] == "v1/chat" and record["completion_tokens"] == 8
    assert record["prompt_tokens"] > 0


async def test_streamed_chat_with_include_usage_keeps_usage(gateway: Gateway, http) -> None:
    body = {
        "model": "llama3.2:3b",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with http.post(
        gateway.url + "/v1/chat/completions", json=body, headers=gateway.auth()
    ) as r:
        events = await sse_events(r)
    usage_chunks = [json.loads(e) for e in events[:-1] if '"usage"' in e]
    final = usage_chunks[-1]
    assert final["choices"] == [] and final["usage"]["completion_tokens"] == 8
    record = (await gateway.service.usage_records())[0]
    assert record["prompt_tokens"] == final["usage"]["prompt_tokens"]


async def test_non_streamed_chat_and_completions_report_usage(gateway: Gateway, http) -> None:
    body = {"model": "qwen2.5:7b", "messages": MESSAGES}
    async with http.post(
        gateway.url + "/v1/chat/completions", json=body, headers=gateway.auth()
    ) as r:
        data = await r.json()
    assert data["object"] == "chat.completion" and data["usage"]["completion_tokens"] == 8
    body = {"model": "qwen2.5:7b", "prompt": "once upon a time", "max_tokens": 5}
    async with http.post(gateway.url + "/v1/completions", json=body, headers=gateway.auth()) as r:
        data = await r.json()
    assert data["usage"]["completion_tokens"] == 5
    records = await gateway.service.usage_records()
    assert [r["completion_tokens"] for r in records[:2]] == [5, 8]


async def test_embeddings_and_models(gateway: Gateway, http) -> None:
    body = {"model": "nomic-embed-text:latest", "input": "hello world"}
    async with http.post(gateway.url + "/v1/embeddings", json=body, headers=gateway.auth()) as r:
        data = await r.json()
    assert data["data"][0]["embedding"] and data["usage"]["prompt_tokens"] == 2
    async with http.get(gateway.url + "/v1/models", headers=gateway.auth()) as r:
        ids = {m["id"] for m in (await r.json())["data"]}
    assert "llama3.2:3b" in ids


async def test_openai_errors_are_openai_shaped(gateway: Gateway, http) -> None:
    url = gateway.url + "/v1/chat/completions"
    async with http.post(url, data=b"{oops", headers=gateway.auth()) as r:
        assert r.status == 400
        error = (await r.json())["error"]
        assert error["type"] == "invalid_request_error" and "JSON" in error["message"]
    body = {"model": "missing:1b", "messages": MESSAGES}
    async with http.post(url, json=body, headers=gateway.auth()) as r:
        assert r.status == 404
        assert "ollama pull" in (await r.json())["error"]["message"]


async def test_models_listing_is_filtered_for_restricted_keys(gateway: Gateway, http) -> None:
    created = await gateway.service.create_key("limited", models="llama3.2:3b")
    headers = gateway.auth(created["api_key"])
    async with http.get(gateway.url + "/v1/models", headers=headers) as r:
        assert [m["id"] for m in (await r.json())["data"]] == ["llama3.2:3b"]
    async with http.get(gateway.url + "/api/tags", headers=headers) as r:
        assert [m["name"] for m in (await r.json())["models"]] == ["llama3.2:3b"]
