"""The Anthropic / Responses stream trackers: bytes pass unchanged, counts come from the final
usage event, whatever the read boundaries; and the fallbacks when that event never comes."""

from __future__ import annotations

import json
import random

import pytest

from pbpm_desktop.core.http.dialect import ANTHROPIC, RESPONSES, Dialect
from pbpm_desktop.simulator.convert import AnthropicStream, ResponsesStream, sse


def chunks(text: list[str], prompt: int) -> list[dict]:
    out = [
        {"model": "m", "message": {"role": "assistant", "content": t}, "done": False} for t in text
    ]
    final = {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True}
    final.update(done_reason="stop", prompt_eval_count=prompt, eval_count=len(text))
    return [*out, final]


def anthropic_stream(text: list[str], prompt: int, estimate: int) -> bytes:
    converter = AnthropicStream("msg_1", "m", estimate)
    return b"".join(sse(n, d) for c in chunks(text, prompt) for n, d in converter.process(c))


def responses_stream(text: list[str], prompt: int) -> bytes:
    converter = ResponsesStream("resp_1", "msg_1", "m", {})
    events = (e for c in chunks(text, prompt) for e in converter.process(c))
    return b"".join(sse(n, d, sort_keys=True) for n, d in events)


def relay(dialect: Dialect, stream: bytes, seed: int) -> tuple[bytes, tuple[int, int]]:
    tracker, rng, out, at = dialect.tracker(), random.Random(seed), b"", 0
    while at < len(stream):
        step = rng.randint(1, 40)
        out += tracker.feed(stream[at : at + step])
        at += step
    return out + tracker.flush(), tracker.counts()


@pytest.mark.parametrize("seed", range(5))
def test_anthropic_counts_come_from_message_delta(seed: int) -> None:
    stream = anthropic_stream(["a ", "b ", "c "], prompt=17, estimate=2)
    out, counts = relay(ANTHROPIC, stream, seed)
    assert out == stream and counts == (17, 3)


@pytest.mark.parametrize("seed", range(5))
def test_responses_counts_come_from_response_completed(seed: int) -> None:
    stream = responses_stream(["a ", "b "], prompt=9)
    out, counts = relay(RESPONSES, stream, seed)
    assert out == stream and counts == (9, 2)


def test_a_cut_stream_falls_back_to_the_estimate_and_the_deltas() -> None:
    stream = anthropic_stream(["a ", "b ", "c ", "d "], prompt=17, estimate=5)
    cut = stream[: stream.index(b"event: message_delta")]
    assert relay(ANTHROPIC, cut, 0)[1] == (5, 4)
    stream = responses_stream(["a ", "b "], prompt=9)
    cut = stream[: stream.index(b"event: response.output_text.done")]
    assert relay(RESPONSES, cut, 0)[1] == (0, 2)


def test_whole_bodies_and_already_shaped_errors() -> None:
    assert ANTHROPIC.whole_counts(b'{"usage":{"input_tokens":4,"output_tokens":2}}') == (4, 2)
    assert RESPONSES.whole_counts(b"not json") == (0, 0)
    shaped = b'{"type":"error","error":{"type":"not_found_error","message":"x"}}'
    assert ANTHROPIC.reshape_error("/v1/messages", 404, shaped) is None
    ollama = b'{"error":"model \'x\' not found"}'  # a native-shaped error becomes Anthropic's
    assert json.loads(ANTHROPIC.reshape_error("/v1/messages", 404, ollama) or b"") == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "model 'x' not found"},
    }
