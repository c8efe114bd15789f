"""Settings precedence: environment > .env > TOML > defaults; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbpm_desktop.core.settings import ConfigError, Settings, load_settings, write_user_config


def test_defaults_match_design(tmp_path: Path) -> None:
    s = load_settings({}, tmp_path / ".env", tmp_path / "none.toml")
    assert s.ollama_url == "http://127.0.0.1:11434" and s.host == "0.0.0.0" and s.port == 8000
    assert s.vram_limit_gb == 26 and s.max_heavy_models == 1 and s.heavy_keep_alive == "30m"
    assert s.always_on_models == () and s.database_url.endswith("guard.db")


def test_precedence(tmp_path: Path) -> None:
    toml = tmp_path / "config.toml"
    write_user_config(
        Settings(port=1111, vram_limit_gb=10, always_on_models=("a",), data_dir=tmp_path), toml
    )
    env_file = tmp_path / ".env"
    env_file.write_text('PBPM_PORT=2222\nALWAYS_ON_MODELS="x, y"\n# comment\n')
    s = load_settings({}, env_file, toml)
    assert (s.port, s.vram_limit_gb, s.always_on_models) == (2222, 10.0, ("x", "y"))
    s = load_settings({"PBPM_PORT": "3333"}, env_file, toml)
    assert s.port == 3333


def test_master_key_never_written_to_toml(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    write_user_config(Settings(master_api_key="s3cret", data_dir=tmp_path), toml)
    assert "s3cret" not in toml.read_text()


def test_bad_values_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PBPM_PORT"):
        load_settings({"PBPM_PORT": "eighty"}, tmp_path / ".env", tmp_path / "x.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("port = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({}, tmp_path / ".env", bad)


def test_values_pinned_by_the_environment_are_not_saved(tmp_path: Path) -> None:
    from pbpm_desktop.core.settings import pinned_by_environment, read_toml

    toml = tmp_path / "c.toml"
    write_user_config(Settings(port=1111, data_dir=tmp_path), toml)
    pinned = pinned_by_environment({"PBPM_PORT": "9999"}, tmp_path / ".env")
    assert pinned == {"port": "PBPM_PORT"}
    write_user_config(Settings(port=9999, vram_limit_gb=12, data_dir=tmp_path), toml, pinned)
    saved = read_toml(toml)
    assert saved["port"] == 1111 and saved["vram_limit_gb"] == 12
