"""Settings that follow Ollama (issue 10): keep-alive forms, model cap, context lengths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pbpm_desktop.core.settings import ConfigError, load_settings
from tests.test_cli import cli_env, run_cli


def settings(tmp_path: Path, **env: str):
    return load_settings(env, tmp_path / ".env", tmp_path / "none.toml")


def test_keep_alive_forms(tmp_path: Path) -> None:
    assert settings(tmp_path).keep_alive_value == "30m"
    assert settings(tmp_path, HEAVY_KEEP_ALIVE="1800").keep_alive_value == 1800
    assert settings(tmp_path, HEAVY_KEEP_ALIVE="-1").keep_alive_value == -1
    with pytest.raises(ConfigError, match=r"HEAVY_KEEP_ALIVE: .* missing unit"):
        settings(tmp_path, HEAVY_KEEP_ALIVE="1.5")


def test_max_loaded_and_num_parallel_follow_ollama_unless_set(tmp_path: Path) -> None:
    assert settings(tmp_path).max_loaded_models == 3 and settings(tmp_path).num_parallel == 1
    s = settings(tmp_path, OLLAMA_MAX_LOADED_MODELS="2", OLLAMA_NUM_PARALLEL="4")
    assert (s.max_loaded_models, s.num_parallel) == (2, 4)
    s = settings(tmp_path, OLLAMA_MAX_LOADED_MODELS="2", MAX_LOADED_MODELS="5")
    assert s.max_loaded_models == 5
    assert settings(tmp_path, OLLAMA_MAX_LOADED_MODELS="0").max_loaded_models == 3  # Ollama: auto
    with pytest.raises(ConfigError, match="MAX_LOADED_MODELS"):
        settings(tmp_path, MAX_LOADED_MODELS="0")


def test_model_num_ctx(tmp_path: Path) -> None:
    s = settings(tmp_path, MODEL_NUM_CTX="qwen2.5:7b=32768, llama3.2=8192")
    assert s.num_ctx_map == {"qwen2.5:7b": 32768, "llama3.2": 8192}
    for bad in ("qwen2.5:7b", "qwen=big", "=8192", "q=16"):
        with pytest.raises(ConfigError, match="MODEL_NUM_CTX"):
            settings(tmp_path, MODEL_NUM_CTX=bad)


async def test_serve_refuses_a_keep_alive_ollama_would_reject_in_one_line(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    env["HEAVY_KEEP_ALIVE"] = "30 minutes"
    code, out = await run_cli(tmp_path, "serve", env=env)
    assert code != 0 and "Traceback" not in out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and "HEAVY_KEEP_ALIVE" in lines[0]


async def test_cli_creates_a_key_that_may_use_cloud_models(tmp_path: Path) -> None:
    code, out = await run_cli(tmp_path, "keys", "create", "--name", "C", "--cloud", "--json")
    assert code == 0, out
    assert first_json(out)["cloud"] is True
    code, out = await run_cli(tmp_path, "keys", "create", "--name", "D", "--json")
    assert code == 0 and first_json(out)["cloud"] is False


def first_json(out: str) -> dict:
    """The JSON object the command printed (stderr notes may follow it)."""
    return json.JSONDecoder().raw_decode(out[out.index("{") :])[0]
