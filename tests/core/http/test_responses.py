"""OpenAI Responses (`/v1/responses`) and `GET /v1/models/{id}` through the gateway, driven by
the official `openai` SDK; plus errors the gateway rewrites (their Content-Type is JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import openai
import pytest

from pbpm_desktop.simulator import ANSWER_TEXT, count_prompt_tokens
from tests.conftest import Gateway
from tests.core.http.agent_upstreams import go_not_found, records, scripted_gateway

INSTRUCTIONS = "You answer in one line."
INPUT = "what is a gateway"
PROMPT_TOKENS = count_prompt_tokens(messages=[INSTRUCTIONS, INPUT])
ANSWER = "".join(w + " " for w in ANSWER_TEXT.split()[:8])  # response_tokens=8 in conftest


def client(gateway: Gateway, key: str | None = None) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=gateway.url + "/v1", api_key=key or gateway.client_key, max_retries=0
    )


async def test_create_returns_the_answer_and_audits_usage(gateway: Gateway) -> None:
    async with client(gateway) as oai:
        response = await oai.responses.create(
            model="llama3.2:3b", instructions=INSTRUCTIONS, input=INPUT
        )
    assert response.status == "completed" and response.output_text == ANSWER
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (PROMPT_TOKENS, 8)
    record = (await records(gateway))[0]
    assert record["route"] == "v1/responses" and record["status"] == "ok"
    assert (record["prompt_tokens"], record["completion_tokens"]) == (PROMPT_TOKENS, 8)


async def test_stream_events_arrive_in_order_and_completed_usage_is_audited(
    gateway: Gateway,
) -> None:
    items = [
        {"role": "user", "content": INPUT},
        {"type": "message", "role": "assistant", "content": "a thing in between"},
        {"role": "user", "content": [{"type": "input_text", "text": "say more"}]},
    ]
    expected = count_prompt_tokens(messages=[INPUT, "a thing in between", "say more"])
    async with client(gateway) as oai:
        stream = await oai.responses.create(
            model="qwen2.5:7b", input=items, stream=True, max_output_tokens=3
        )
        events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") == 3
    assert [e.sequence_number for e in events] == list(range(len(events)))
    completed = events[-1].response
    assert completed.usage is not None
    assert (completed.usage.input_tokens, completed.usage.output_tokens) == (expected, 3)
    record = (await records(gateway))[0]
    assert record["model"] == "qwen2.5:7b"
    assert (record["prompt_tokens"], record["completion_tokens"]) == (expected, 3)


async def test_a_refused_model_and_a_bad_key_raise_the_sdks_errors(gateway: Gateway) -> None:
    limited = await gateway.service.create_key("limited", models=["qwen2.5:7b"])
    async with client(gateway, limited["api_key"]) as oai:
        with pytest.raises(openai.PermissionDeniedError) as refused:
            await oai.responses.create(model="llama3.2:3b", input=INPUT)
    assert refused.value.type == "permission_error" and "llama3.2:3b" in refused.value.message
    async with client(gateway, "pbpm-not-a-key") as oai:
        with pytest.raises(openai.AuthenticationError) as failed:
            await oai.responses.create(model="llama3.2:3b", input=INPUT)
    assert failed.value.type == "authentication_error"
    async with client(gateway) as oai:
        with pytest.raises(openai.NotFoundError):
            await oai.responses.create(model="nothing:1b", input=INPUT)


async def test_models_retrieve_follows_the_keys_allowlist(gateway: Gateway) -> None:
    async with client(gateway) as oai:
        model = await oai.models.retrieve("llama3.2:3b")
        with pytest.raises(openai.NotFoundError) as missing:
            await oai.models.retrieve("nothing:1b")  # Ollama's own 404
    assert model.id == "llama3.2:3b" and model.object == "model"
    limited = await gateway.service.create_key("limited", models=["qwen2.5:7b"])
    async with client(gateway, limited["api_key"]) as oai:
        assert (await oai.models.retrieve("qwen2.5:7b")).id == "qwen2.5:7b"
        with pytest.raises(openai.NotFoundError) as hidden:
            await oai.models.retrieve("llama3.2:3b")  # installed, but not for this key
    # worded like Ollama's answer for a model that is not installed at all
    assert hidden.value.message == missing.value.message.replace("nothing:1b", "llama3.2:3b")
    assert hidden.value.type == missing.value.type == "not_found_error"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/responses", {"model": "llama3.2:3b", "input": "hi"}),
        ("/v1/chat/completions", {"model": "llama3.2:3b", "messages": [{"role": "user"}]}),
    ],
)
async def test_a_rewritten_upstream_error_is_served_as_json(
    tmp_path: Path, path: str, body: dict
) -> None:
    """Ollama's text/plain 404 becomes an OpenAI error: its Content-Type must say JSON."""
    async with scripted_gateway(tmp_path, {path: go_not_found}) as gw:
        async with aiohttp.ClientSession(headers=gw.auth()) as http:
            async with http.post(gw.url + path, json=body) as r:
                assert r.status == 404
                assert r.content_type == "application/json"
                error = (await r.json())["error"]
    assert error["type"] == "not_found_error"


async def test_a_zstd_body_like_codex_sends_is_decoded(gateway: Gateway) -> None:
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+
    except ImportError:
        from backports import zstd  # the dependency below 3.14

    body = json.dumps({"model": "llama3.2:3b", "input": INPUT, "instructions": INSTRUCTIONS})
    headers = {**gateway.auth(), "Content-Encoding": "zstd", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        url = gateway.url + "/v1/responses"
        async with http.post(url, data=zstd.compress(body.encode()), headers=headers) as r:
            assert r.status == 200
            assert (await r.json())["usage"]["input_tokens"] == PROMPT_TOKENS
    async with aiohttp.ClientSession() as http:  # a fresh connection: aiohttp drops a bad one
        async with http.post(url, data=b"(\xb5/\xfdnot zstd at all", headers=headers) as r:
            assert r.status == 400 and r.content_type == "application/json"
            error = (await r.json())["error"]
    assert error["type"] == "invalid_request_error" and "Content-Encoding" in error["message"]
    bomb = zstd.compress(b" " * (gateway.service.settings.max_body_bytes + 1))
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=bomb, headers=headers) as r:
            assert r.status == 413  # inflated no further than the body limit
    _bomb, bad, good = await records(gateway, 3)
    assert (bad["status"], good["prompt_tokens"]) == ("400", PROMPT_TOKENS)
