"""The simulator's /v1/messages and /v1/responses answer the way Ollama's middlewares do
(event names and order, fields, usage, error shapes), checked with the official SDKs and raw.
The `sim` fixture (tests/simulator/conftest.py) answers 8 tokens here."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import anthropic
import openai
import pytest

from pbpm_desktop.simulator import ANSWER_TEXT, OllamaSimulator, SimModel, count_prompt_tokens
from pbpm_desktop.simulator.agent_requests import estimate_input_tokens

WORDS = ANSWER_TEXT.split()
CLOUD = "https://ollama.com:443"


@pytest.fixture(autouse=True)
def eight_tokens(sim: OllamaSimulator) -> None:
    """Answers of 8 tokens: the counts below are written for them."""
    sim.response_tokens = 8


def answer(n: int) -> str:
    return "".join(w + " " for w in WORDS[:n])


def parse_sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.split("\n\n"):
        if block.strip():
            name, data = block.split("\n")
            events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


async def post(sim: OllamaSimulator, path: str, body: object) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http:
        async with http.post(sim.url + path, json=body) as r:
            return r.status, r.headers["Content-Type"], await r.text()


# ---- Anthropic Messages -------------------------------------------------------------------


async def test_messages_with_the_anthropic_sdk(sim: OllamaSimulator) -> None:
    async with anthropic.AsyncAnthropic(base_url=sim.url, api_key="unused") as claude:
        message = await claude.messages.create(
            model="llama3.2:3b",
            max_tokens=100,
            system=[{"type": "text", "text": "You are terse."}],
            messages=[
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": [{"type": "text", "text": "hi there"}]},
                {"role": "user", "content": "go on"},
            ],
        )
    assert message.id.startswith("msg_") and len(message.id) == 4 + 24
    assert message.content[0].text == answer(8) and message.stop_reason == "end_turn"
    expected = count_prompt_tokens(messages=["You are terse.", "hello", "hi there", "go on"])
    assert (message.usage.input_tokens, message.usage.output_tokens) == (expected, 8)
    assert sim.stats.requests == {"llama3.2:3b": 1} and "llama3.2:3b" in sim.resident()


async def test_messages_stream_events_in_ollamas_order(sim: OllamaSimulator) -> None:
    body = {
        "model": "llama3.2:3b",
        "max_tokens": 3,
        "stream": True,
        "messages": [{"role": "user", "content": "count to three please"}],
    }
    status, content_type, text = await post(sim, "/v1/messages", body)
    assert status == 200 and content_type == "text/event-stream"
    events = parse_sse(text)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    start = events[0][1]["message"]
    # message_start has only Ollama's estimate (bytes / 4); message_delta the real counts
    assert start["usage"] == {"input_tokens": estimate_input_tokens(body), "output_tokens": 0}
    assert estimate_input_tokens(body) == (len("user") + len("count to three please")) // 4
    assert start["content"] == [] and "stop_reason" not in start
    assert events[1][1]["content_block"] == {"type": "text", "text": ""}
    assert "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta") == answer(3)
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "max_tokens"}
    real = count_prompt_tokens(messages=["count to three please"])
    assert delta["usage"] == {"input_tokens": real, "output_tokens": 3}


@pytest.mark.parametrize(
    ("body", "status", "kind", "message"),
    [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, 400,
         "invalid_request_error", "model is required"),
        ({"model": "llama3.2:3b", "messages": [{"role": "user", "content": "x"}]}, 400,
         "invalid_request_error", "max_tokens is required and must be positive"),
        ({"model": "llama3.2:3b", "max_tokens": 5, "messages": []}, 400,
         "invalid_request_error", "messages is required"),
        ({"model": "nope:1b", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
         404, "not_found_error", "model 'nope:1b' not found"),
        ({"model": "nomic-embed-text:latest", "max_tokens": 5,
          "messages": [{"role": "user", "content": "x"}]}, 400, "invalid_request_error",
         '"nomic-embed-text:latest" does not support chat'),
    ],
)  # fmt: skip
async def test_messages_errors_are_anthropic_shaped(
    sim: OllamaSimulator, body: dict, status: int, kind: str, message: str
) -> None:
    got, content_type, text = await post(sim, "/v1/messages", body)
    assert got == status and content_type.startswith("application/json")
    error = json.loads(text)
    assert error["type"] == "error" and error["request_id"].startswith("req_")
    assert error["error"] == {"type": kind, "message": message}


async def test_fail_next_and_the_sdk_error_class(sim: OllamaSimulator) -> None:
    sim.fail_next.append((503, "server busy"))
    async with anthropic.AsyncAnthropic(
        base_url=sim.url, api_key="unused", max_retries=0
    ) as claude:
        with pytest.raises(anthropic.InternalServerError) as failed:
            await claude.messages.create(
                model="llama3.2:3b", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
    assert failed.value.body["error"] == {"type": "overloaded_error", "message": "server busy"}
    assert not sim.fail_next and not sim.stats.requests


# ---- OpenAI Responses ---------------------------------------------------------------------


async def test_responses_with_the_openai_sdk(sim: OllamaSimulator) -> None:
    async with openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="unused") as oai:
        response = await oai.responses.create(
            model="qwen2.5:7b",
            instructions="Be helpful.",
            input=[
                {"role": "user", "content": "what time is it"},
                {"type": "function_call", "call_id": "c1", "name": "clock", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "noon exactly"},
            ],
            temperature=0.5,
        )
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.output_text == answer(8) and response.temperature == 0.5
    assert response.completed_at is not None and response.store is False
    expected = count_prompt_tokens(messages=["Be helpful.", "what time is it", "noon exactly"])
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (expected, 8)
    assert response.usage.total_tokens == expected + 8


async def test_responses_stream_events_in_ollamas_order(sim: OllamaSimulator) -> None:
    body = {"model": "llama3.2:3b", "input": "hi", "stream": True, "max_output_tokens": 2}
    status, content_type, text = await post(sim, "/v1/responses", body)
    assert status == 200 and content_type == "text/event-stream"
    events = parse_sse(text)
    assert [name for name, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    assert all(d["type"] == name for name, d in events)
    assert events[0][1]["response"]["usage"] is None
    assert events[0][1]["response"]["status"] == "in_progress"
    completed = events[-1][1]["response"]
    assert completed["status"] == "completed" and completed["max_output_tokens"] == 2
    assert completed["output"][0]["content"][0]["text"] == answer(2)
    assert completed["usage"]["input_tokens"] == count_prompt_tokens(messages=["hi"])
    assert completed["usage"]["output_tokens"] == 2
    # Go encodes these maps with sorted keys
    raw = text.split("\n\n")[-2].split("data: ", 1)[1]
    assert raw.startswith('{"response":{"background":false,')


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"input": "x"}, 400, "model is required"),
        ({"model": "nope:1b", "input": "x"}, 404, "model 'nope:1b' not found"),
        ({"model": "llama3.2:3b", "input": [{"content": "x"}]}, 400,
         "input[0]: input item missing required 'type' field"),
        ({"model": "llama3.2:3b", "input": [{"type": "bogus"}]}, 400,
         'input[0]: unknown input item type: "bogus"'),
    ],
)  # fmt: skip
async def test_responses_errors_are_openai_shaped(
    sim: OllamaSimulator, body: dict, status: int, message: str
) -> None:
    got, content_type, text = await post(sim, "/v1/responses", body)
    assert got == status and content_type.startswith("application/json")
    assert json.loads(text)["error"]["message"] == message


async def test_a_client_leaving_mid_stream_is_counted(sim: OllamaSimulator) -> None:
    sim.response_tokens, sim.token_delay = 200, 0.01
    body = {"model": "llama3.2:3b", "max_tokens": 500, "stream": True}
    body["messages"] = [{"role": "user", "content": "long story"}]
    async with aiohttp.ClientSession() as http:
        async with http.post(sim.url + "/v1/messages", json=body) as r:
            async for line in r.content:
                if b"text_delta" in line:
                    break
    for _ in range(200):
        if sim.stats.cancelled_streams:
            break
        await asyncio.sleep(0.01)
    assert sim.stats.cancelled_streams == 1
    assert sim.resident()["llama3.2:3b"].busy == 0  # released: the keep_alive clock runs again


@pytest.mark.parametrize("model", ["gpt-oss:120b-cloud", "not-pulled:20b-cloud"])
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/messages", {"max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/responses", {"input": "hi"}),
    ],
)
async def test_a_cloud_model_is_answered_without_loading(
    sim: OllamaSimulator, path: str, body: dict, model: str
) -> None:
    """ChatHandler sends a cloud model to ollama.com, a pulled stub or an explicit :cloud
    reference (server/routes.go), whichever API the request came through: the agent routes
    share /api/chat's lifecycle, so the stub is never loaded locally."""
    sim.models["gpt-oss:120b-cloud"] = SimModel("gpt-oss:120b-cloud", 384, remote_host=CLOUD)
    status, _, _ = await post(sim, path, {"model": model, **body})
    assert status == 200
    assert sim.stats.cloud_requests == 1
    assert sim.resident() == {}
