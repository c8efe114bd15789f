"""The embedding routes."""

from __future__ import annotations

from pbpm_desktop.simulator import OllamaSimulator
from tests.simulator.helpers import EMBED, post

# ---- embeddings ------------------------------------------------------------------------------


async def test_embed(sim: OllamaSimulator, http) -> None:
    status, body = await post(
        http, sim.url + "/api/embed", {"model": "nomic-embed-text", "input": ["hello world", "x"]}
    )
    assert status == 200
    assert body["model"] == "nomic-embed-text"
    assert len(body["embeddings"]) == 2 and all(len(v) == 8 for v in body["embeddings"])
    assert body["prompt_eval_count"] == 3
    assert body["total_duration"] > 0 and body["load_duration"] > 0
    _, again = await post(http, sim.url + "/api/embed", {"model": EMBED, "input": "hello world"})
    assert again["embeddings"] == body["embeddings"][:1]  # deterministic
    assert sim.resident()[EMBED].size == 274_302_450
    assert sim.stats.requests == {EMBED: 2}
    status, v1 = await post(http, sim.url + "/v1/embeddings", {"model": EMBED, "input": ["a b c"]})
    assert status == 200 and v1["object"] == "list"
    assert v1["data"][0]["object"] == "embedding" and len(v1["data"][0]["embedding"]) == 8
    assert v1["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
