"""Reading and writing the settings: the public entry points over sources.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pbpm_desktop.core.settings import sources
from pbpm_desktop.core.settings.declare import default_config_file
from pbpm_desktop.core.settings.model import Settings


def load_settings(
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build Settings from TOML < `.env` < environment (later wins); ConfigError if bad."""
    return sources.load(environ, dotenv_path, config_file)


def read_toml(path: Path) -> dict[str, Any]:
    """The settings a TOML file holds (known keys only); ConfigError if it is not TOML."""
    return sources.read_toml(path)


def pinned_by_environment(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = None
) -> dict[str, str]:
    """Settings attribute -> the environment variable that fixes it (environment and .env win)."""
    return sources.pinned(environ, dotenv)


def write_user_config(
    settings: Settings, config_file: Path | None = None, skip: Iterable[str] = ()
) -> Path:
    """Persist the user-editable settings as TOML (the settings dialog's save).

    Attributes in `skip` (those pinned by environment variables) keep what the file had, so a
    value that only came from the environment never becomes a saved preference.
    """
    import tomli_w

    path = config_file or default_config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    skip = set(skip)
    previous = read_toml(path) if skip else {}
    values = {k: v for k, v in settings.to_toml_dict().items() if k not in skip}
    values.update({k: v for k, v in previous.items() if k in skip})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomli_w.dumps(values), encoding="utf-8")
    tmp.replace(path)
    return path
