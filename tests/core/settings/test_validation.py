"""Every bad setting is refused at start-up with one line naming it (issue 11, part 1)."""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

import pytest

from pbpm_desktop.core.settings import (
    ENV_NAMES,
    TOML_KEYS,
    ConfigError,
    Settings,
    load_settings,
    pinned_by_environment,
    read_toml,
    write_user_config,
)
from tests.test_cli import cli_env

#: (variable, value, what the message must say besides the variable)
BAD = [
    ("PBPM_PORT", "-1", "greater than or equal to 0"),
    ("PBPM_PORT", "70000", "less than or equal to 65535"),
    ("PBPM_PORT", "eighty", "valid integer"),
    ("VRAM_LIMIT_GB", "-4", "greater than 0"),
    ("UPSTREAM_CONNECT_TIMEOUT_S", "nan", "finite number"),
    ("UPSTREAM_FIRST_BYTE_TIMEOUT_S", "inf", "finite number"),
    ("SWAP_TIMEOUT_S", "NaN", "finite number"),
    ("RECONCILE_INTERVAL_S", "0", "greater than 0"),
    ("HEAVY_KEEP_ALIVE", "30 minutes", "Go duration"),
    ("OLLAMA_URL", "127.0.0.1:11434", "scheme and host"),
    ("OLLAMA_URL", "ftp://host", "scheme and host"),
    ("PBPM_ACCESS_LOG", "ture", "valid boolean"),
    ("MAX_LOADED_MODELS", "0", "greater than or equal to 1"),
    ("NUM_PARALLEL", "-2", "greater than or equal to 1"),
    ("MAX_CONNECTIONS_PER_CLIENT", "-1", "greater than or equal to 0"),
    ("MODEL_NUM_CTX", "qwen=big", "name=8192"),
    ("PBPM_CORS_ORIGINS", "example.org", "scheme://host"),
    ("MAX_HEAVY_MODELS", "1.5", "valid integer"),
]


def load(tmp_path: Path, **env: str) -> Settings:
    return load_settings(env, tmp_path / ".env", tmp_path / "none.toml")


@pytest.mark.parametrize(("variable", "value", "why"), BAD)
def test_a_bad_environment_value_is_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str, why: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, **{variable: value})
    message = str(info.value)
    assert variable in message and why in message and "\n" not in message
    assert value in message  # the user sees what was read


def test_the_same_rules_hold_in_dotenv_and_toml_and_name_the_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PBPM_PORT=70000\n")
    with pytest.raises(ConfigError, match=rf"PBPM_PORT=70000 \(in {env_file}\)"):
        load_settings({}, env_file, tmp_path / "none.toml")
    toml = tmp_path / "config.toml"
    toml.write_text("vram_limit_gb = -1.0\n")
    with pytest.raises(ConfigError, match=rf"vram_limit_gb = -1.0 in {toml}.*greater than 0"):
        load_settings({}, tmp_path / "no.env", toml)


def test_several_bad_values_are_still_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, PBPM_PORT="-1", SWAP_TIMEOUT_S="nan")
    assert "PBPM_PORT" in str(info.value) and "SWAP_TIMEOUT_S" in str(info.value)
    assert "\n" not in str(info.value)


def test_booleans_accept_the_usual_spellings_only(tmp_path: Path) -> None:
    for word in ("1", "true", "TRUE", "yes", "on"):
        assert load(tmp_path, PBPM_ACCESS_LOG=word).access_log is True
    for word in ("0", "false", "no", "off"):
        assert load(tmp_path, PBPM_ACCESS_LOG=word).access_log is False


def test_documented_zeroes_stay_allowed(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        PBPM_PORT="0",
        KEEPALIVE_TIMEOUT_S="0",
        REQUEST_BODY_TIMEOUT_S="0",
        CLIENT_WRITE_TIMEOUT_S="0",
        MAX_CONNECTIONS_PER_CLIENT="0",
        SHUTDOWN_GRACE_S="0",
        MEMORY_SETTLE_S="0",
    )
    assert s.port == 0 and s.keepalive_timeout_s == 0 and s.max_connections_per_client == 0


def test_dotenv_drops_quotes_comments_and_export(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# a comment line\n"
        'PBPM_HOST="127.0.0.1"   # where to listen\n'
        "export PBPM_PORT=8123 # inline comment\n"
        "OLLAMA_URL='http://gpu-box:11434'\n"
        "HEAVY_KEEP_ALIVE=1h # comment\n"
    )
    s = load_settings({}, env_file, tmp_path / "none.toml")
    assert (s.host, s.port, s.ollama_url, s.heavy_keep_alive) == (
        "127.0.0.1",
        8123,
        "http://gpu-box:11434",
        "1h",
    )


def test_an_empty_variable_means_unset_and_generic_names_are_not_read(tmp_path: Path) -> None:
    s = load(tmp_path, PBPM_PORT="", PORT="1", HOST="10.0.0.1", port="2")
    assert s.port == 8000 and s.host == "0.0.0.0"


def test_ollama_fallbacks_lose_to_the_gateways_own_variables_in_any_source(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MAX_LOADED_MODELS=5\nOLLAMA_NUM_PARALLEL=2\n")
    s = load_settings({"OLLAMA_MAX_LOADED_MODELS": "2", "OLLAMA_NUM_PARALLEL": "4"}, env_file)
    assert (s.max_loaded_models, s.num_parallel) == (5, 4)
    toml = tmp_path / "c.toml"
    toml.write_text("num_parallel = 8\n")
    s = load_settings({"OLLAMA_NUM_PARALLEL": "3"}, tmp_path / "no.env", toml)
    assert s.num_parallel == 3  # as before: Ollama's variable beats the file


def test_settings_are_immutable_hashable_and_replace_validates(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    with pytest.raises(ValueError):
        s.port = 1  # type: ignore[misc]
    assert hash(s) == hash(Settings(data_dir=tmp_path)) and s == Settings(data_dir=tmp_path)
    moved = s.replace(port="9000", always_on_models="a, b,")
    assert (moved.port, moved.always_on_models, s.port) == (9000, ("a", "b"), 8000)
    with pytest.raises(ConfigError, match=r"PBPM_PORT=70000 is not valid"):
        s.replace(port=70000)
    with pytest.raises(ConfigError, match="VRAM_LIMIT_GB"):
        Settings(vram_limit_gb=math.nan)
    assert "master_api_key" not in repr(Settings(master_api_key="x" * 40))


def test_toml_round_trip_is_real_toml(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    odd = 'C:\\models "quoted"'
    write_user_config(Settings(data_dir=tmp_path / odd, always_on_models=("a",)), toml)
    back = load_settings({}, tmp_path / "no.env", toml)
    assert back.data_dir == tmp_path / odd and back.always_on_models == ("a",)
    assert set(read_toml(toml)) <= set(TOML_KEYS) and "master_api_key" not in TOML_KEYS


def test_every_setting_but_the_desktop_ones_has_a_variable() -> None:
    assert set(ENV_NAMES.values()) | {"start_minimized", "start_at_login", "language"} == set(
        Settings.model_fields
    )
    assert pinned_by_environment({"PBPM_PORT": "1", "PBPM_HOST": ""}, Path("/nonexistent")) == {
        "port": "PBPM_PORT"
    }


@pytest.mark.parametrize(
    ("variable", "value"), [("PBPM_PORT", "70000"), ("PBPM_ACCESS_LOG", "ture")]
)
async def test_serve_refuses_a_bad_setting_in_one_line(
    tmp_path: Path, variable: str, value: str
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pbpm_desktop",
        "serve",
        env={**cli_env(tmp_path), variable: value},
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:  # a gateway that accepted the value would serve forever: that is the failure
        raw, _ = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"serve started with {variable}={value}")
    out = raw.decode()
    lines = [line for line in out.splitlines() if line.strip()]
    assert proc.returncode != 0 and "Traceback" not in out, out
    assert len(lines) == 1 and lines[0].startswith("configuration error: ")
    assert variable in lines[0]
