"""Anthropic Messages (`/v1/messages`) through the gateway, driven by the official SDK."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import anthropic
import pytest

from pbpm_desktop.simulator import ANSWER_TEXT, MESSAGE_OVERHEAD_TOKENS, count_prompt_tokens
from tests.conftest import MASTER, Gateway
from tests.core.http.agent_upstreams import HeldStream, go_not_found, records, scripted_gateway

SYSTEM = "Be brief."
USER = "tell me a story"
MESSAGES = [{"role": "user", "content": USER}]
#: what the simulator counts for SYSTEM + USER: words + overhead per converted message
PROMPT_TOKENS = count_prompt_tokens(messages=[SYSTEM, USER])
#: Ollama's message_start estimate (anthropic.go EstimateCountTokens): bytes / 4
ESTIMATE = (len(SYSTEM) + len("user") + len(USER)) // 4
ANSWER = "".join(w + " " for w in ANSWER_TEXT.split()[:8])  # response_tokens=8 in conftest


def client(gateway: Gateway, **auth: str) -> anthropic.AsyncAnthropic:
    if not auth:
        auth = {"api_key": gateway.client_key}
    return anthropic.AsyncAnthropic(base_url=gateway.url, max_retries=0, **auth)


def test_the_estimate_differs_from_the_real_count() -> None:
    """Otherwise the audit tests below could not tell the two apart."""
    assert PROMPT_TOKENS == 2 + 4 + 2 * MESSAGE_OVERHEAD_TOKENS != ESTIMATE


async def test_create_with_x_api_key_audits_the_simulators_counts(gateway: Gateway) -> None:
    async with client(gateway) as claude:  # api_key= is sent as x-api-key
        message = await claude.messages.create(
            model="llama3.2:3b", max_tokens=1024, system=SYSTEM, messages=MESSAGES
        )
    assert message.content[0].type == "text" and message.content[0].text == ANSWER
    assert message.stop_reason == "end_turn" and message.model == "llama3.2:3b"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (PROMPT_TOKENS, 8)
    record = (await records(gateway))[0]
    assert record["route"] == "v1/messages" and record["status"] == "ok"
    assert record["model"] == "llama3.2:3b"
    assert (record["prompt_tokens"], record["completion_tokens"]) == (PROMPT_TOKENS, 8)


async def test_stream_with_bearer_audits_message_delta_not_the_estimate(gateway: Gateway) -> None:
    async with client(gateway, auth_token=gateway.client_key) as claude:  # Bearer
        async with claude.messages.stream(
            model="llama3.2:3b", max_tokens=5, system=SYSTEM, messages=MESSAGES
        ) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds and "message_delta" in kinds
    assert final.content[0].text == "".join(w + " " for w in ANSWER_TEXT.split()[:5])
    assert final.stop_reason == "max_tokens"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (PROMPT_TOKENS, 5)
    record = (await records(gateway))[0]
    assert (record["prompt_tokens"], record["completion_tokens"]) == (PROMPT_TOKENS, 5)
    assert gateway.sim is not None and gateway.sim.stats.requests["llama3.2:3b"] == 1


async def test_a_refused_model_is_a_permission_error(gateway: Gateway) -> None:
    limited = await gateway.service.create_key("limited", models=["qwen2.5:7b"])
    async with client(gateway, api_key=limited["api_key"]) as claude:
        with pytest.raises(anthropic.PermissionDeniedError) as refused:
            await claude.messages.create(model="llama3.2:3b", max_tokens=10, messages=MESSAGES)
        with pytest.raises(anthropic.PermissionDeniedError):  # a scoped key learns nothing
            await claude.messages.create(model="nothing:1b", max_tokens=10, messages=MESSAGES)
    async with client(gateway, api_key=gateway.client_key) as claude:
        with pytest.raises(anthropic.NotFoundError) as missing:
            await claude.messages.create(model="nothing:1b", max_tokens=10, messages=MESSAGES)
    assert refused.value.body["error"]["type"] == "permission_error"
    assert "llama3.2:3b" in refused.value.body["error"]["message"]
    assert missing.value.body["error"]["type"] == "not_found_error"
    assert gateway.sim is not None and not gateway.sim.stats.requests


@pytest.mark.parametrize("auth", ["api_key", "auth_token"])
async def test_a_bad_key_is_an_authentication_error(gateway: Gateway, auth: str) -> None:
    async with client(gateway, **{auth: "pbpm-not-a-key"}) as claude:
        with pytest.raises(anthropic.AuthenticationError) as failed:
            await claude.messages.create(model="llama3.2:3b", max_tokens=10, messages=MESSAGES)
    assert failed.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": failed.value.body["error"]["message"]},
    }
    assert failed.value.response.headers["content-type"].startswith("application/json")


async def test_the_master_key_and_rate_limits_keep_their_meaning(gateway: Gateway) -> None:
    async with client(gateway, api_key=MASTER) as claude:
        with pytest.raises(anthropic.PermissionDeniedError):
            await claude.messages.create(model="llama3.2:3b", max_tokens=10, messages=MESSAGES)
    slow = await gateway.service.create_key("slow", rpm=1)
    async with client(gateway, api_key=slow["api_key"]) as claude:
        await claude.messages.create(model="llama3.2:3b", max_tokens=10, messages=MESSAGES)
        with pytest.raises(anthropic.RateLimitError) as limited:
            await claude.messages.create(model="llama3.2:3b", max_tokens=10, messages=MESSAGES)
    assert limited.value.body["error"]["type"] == "rate_limit_error"
    assert limited.value.response.headers.get("retry-after")


async def test_ollamas_own_validation_arrives_anthropic_shaped(gateway: Gateway, http) -> None:
    body = {"model": "llama3.2:3b", "messages": MESSAGES}  # no max_tokens
    headers = {"x-api-key": gateway.client_key}
    async with http.post(gateway.url + "/v1/messages", json=body, headers=headers) as r:
        assert r.status == 400 and r.content_type == "application/json"
        error = (await r.json())["error"]
    assert error == {
        "type": "invalid_request_error",
        "message": "max_tokens is required and must be positive",
    }
    async with http.post(gateway.url + "/v1/messages", data=b"{oops", headers=headers) as r:
        assert r.status == 400
        assert (await r.json())["error"]["type"] == "invalid_request_error"


async def test_a_missing_key_on_messages_names_x_api_key(gateway: Gateway, http) -> None:
    async with http.post(gateway.url + "/v1/messages", json={}) as r:
        assert r.status == 401 and r.content_type == "application/json"
        body = await r.json()
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert "x-api-key" in body["error"]["message"]
    headers = {"x-api-key": gateway.client_key}  # a route Ollama lacks: 404, Anthropic-shaped
    async with http.post(gateway.url + "/v1/messages/count_tokens", json={}, headers=headers) as r:
        assert r.status == 404 and (await r.json())["error"]["type"] == "not_found_error"


async def test_events_are_forwarded_as_they_arrive(tmp_path: Path) -> None:
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 3}}}
    head = (
        b"event: message_start\ndata: " + json.dumps(start).encode() + b"\n\n"
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"Hi"}}\n\n'
    )
    tail = (
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        b'"usage":{"input_tokens":11,"output_tokens":7}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    held = HeldStream(head, tail)
    async with scripted_gateway(tmp_path, {"/v1/messages": held}) as gw:
        body = {"model": "llama3.2:3b", "max_tokens": 9, "stream": True, "messages": MESSAGES}
        async with aiohttp.ClientSession(headers={"x-api-key": gw.client_key}) as http:
            async with http.post(gw.url + "/v1/messages", json=body) as r:
                seen = b""
                async with asyncio.timeout(10):  # a buffering gateway would never get here
                    while b"text_delta" not in seen:  # upstream still holds the rest back
                        seen += await r.content.readany()
                assert not held.release.is_set()
                held.release.set()
                seen += await r.content.read()
        assert seen == head + tail
        record = (await records(gw))[0]
        assert (record["prompt_tokens"], record["completion_tokens"]) == (11, 7)


async def test_an_ollama_without_the_route_gets_a_json_error_saying_so(tmp_path: Path) -> None:
    async with scripted_gateway(tmp_path, {"/v1/messages": go_not_found}) as gw:
        async with client(gw) as claude:
            with pytest.raises(anthropic.NotFoundError) as missing:
                await claude.messages.create(model="llama3.2:3b", max_tokens=9, messages=MESSAGES)
    response = missing.value.response
    assert response.headers["content-type"].startswith("application/json")  # not text/plain
    assert missing.value.body["type"] == "error"
    assert "update Ollama (to 0.14.0 or newer)" in missing.value.body["error"]["message"]


async def test_a_stalled_upstream_ends_in_an_error_event_the_sdk_raises(tmp_path: Path) -> None:
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 3}}}
    head = b"event: message_start\ndata: " + json.dumps(start).encode() + b"\n\n"
    held = HeldStream(head, b"")  # never released: the gateway's idle timeout cuts it
    async with scripted_gateway(tmp_path, {"/v1/messages": held}, idle_timeout_s=0.2) as gw:
        async with client(gw) as claude:
            with pytest.raises(anthropic.APIStatusError) as failed:
                async with claude.messages.stream(
                    model="llama3.2:3b", max_tokens=9, messages=MESSAGES
                ) as stream:
                    async for _ in stream:
                        pass
        held.release.set()
        record = (await records(gw))[0]
    assert failed.value.body["type"] == "error"
    assert failed.value.body["error"]["type"] == "api_error"
    # no final usage: the record is estimated, never below Ollama's own message_start guess
    assert record["status"] == "upstream_error" and record["estimated"]
    assert record["prompt_tokens"] >= 3


async def test_streamed_usage_counts_toward_the_keys_daily_tokens(gateway: Gateway) -> None:
    small = await gateway.service.create_key("small", tokens_per_day=PROMPT_TOKENS + 8)
    async with client(gateway, api_key=small["api_key"]) as claude:
        async with claude.messages.stream(
            model="llama3.2:3b", max_tokens=100, system=SYSTEM, messages=MESSAGES
        ) as stream:
            await stream.get_final_message()
        await records(gateway)
        with pytest.raises(anthropic.RateLimitError) as spent:
            await claude.messages.create(model="llama3.2:3b", max_tokens=10, messages=MESSAGES)
    assert "token" in spent.value.body["error"]["message"]
