"""Where settings come from: the environment, `.env`, Ollama's own variables, the TOML file.

pydantic-settings merges the sources `Settings.settings_customise_sources` returns, the first
one winning per field: environment > `.env` > `OLLAMA_*` fallbacks > TOML > defaults. The
sources are set for one `load_settings` call through a context variable, so constructing
`Settings(...)` directly (tests, the demo, `replace`) never reads the developer's environment.

Environment and `.env` are looked up by each field's declared variable name only (never by
the attribute name, which a generic `PORT` or `HOST` would otherwise hit), and an empty value
means unset, as before. `.env` is parsed by python-dotenv (quotes, `export`, inline comments).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, TomlConfigSettingsSource

from pbpm_desktop.core.settings.declare import ConfigError, default_config_file
from pbpm_desktop.core.settings.model import Settings
from pbpm_desktop.core.settings.origin import building
from pbpm_desktop.core.settings.registry import ENV_NAMES, OLLAMA_FALLBACKS, TOML_KEYS


class VariablesSource(PydanticBaseSettingsSource):
    """Settings from a mapping of variables (the environment, or `.env`'s), by declared name."""

    def __init__(
        self, settings_cls: type[BaseSettings], variables: Mapping[str, str | None]
    ) -> None:
        super().__init__(settings_cls)
        self.values = {
            attr: variables[name]
            for name, attr in ENV_NAMES.items()
            if variables.get(name) not in (None, "")
        }

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


class OllamaFallbackSource(VariablesSource):
    """`OLLAMA_MAX_LOADED_MODELS`/`OLLAMA_NUM_PARALLEL` when the gateway's own are unset.

    Ollama reads `0` as "automatic" (server/sched.go:86), so `0` leaves the gateway default.
    The environment's wins over `.env`'s, and both lose to the gateway's own variables.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], *variables: Mapping[str, str | None]
    ) -> None:
        PydanticBaseSettingsSource.__init__(self, settings_cls)
        self.values = {}
        for source in reversed(variables):  # later (lower precedence) first, then overwritten
            for own, ollama in OLLAMA_FALLBACKS.items():
                if source.get(ollama) not in (None, "", "0"):
                    self.values[ENV_NAMES[own]] = source[ollama]


class UserTomlSource(TomlConfigSettingsSource):
    """The TOML file the Settings page writes: known keys only, never the master key."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.path = path
        try:
            super().__init__(settings_cls, toml_file=path)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML ({exc}); fix or delete it") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {path} ({exc.strerror or exc}); fix it") from None
        self.toml_data = {k: v for k, v in self.toml_data.items() if k in TOML_KEYS}
        self.init_kwargs = dict(self.toml_data)

    def __call__(self) -> dict[str, Any]:
        return dict(self.toml_data)


def read_dotenv(path: Path) -> dict[str, str]:
    """`.env` as python-dotenv reads it (quotes, `export`, comments); {} if there is none."""
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path, interpolate=False).items() if v is not None}


def read_toml(path: Path) -> dict[str, Any]:
    """The settings a TOML file holds (known keys only); ConfigError if it is not TOML."""
    if not path.is_file():
        return {}
    return UserTomlSource(Settings, path)()


def load_settings(
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build Settings from TOML < `.env` < environment (later wins); ConfigError if bad."""
    environ = dict(os.environ if environ is None else environ)
    env_file = dotenv_path or Path.cwd() / ".env"
    dotenv = read_dotenv(env_file)
    toml_path = config_file or Path(
        environ.get("PBPM_CONFIG_FILE") or dotenv.get("PBPM_CONFIG_FILE") or default_config_file()
    )
    sources = (
        VariablesSource(Settings, environ),
        VariablesSource(Settings, dotenv),
        OllamaFallbackSource(Settings, environ, dotenv),
        UserTomlSource(Settings, toml_path),
    )
    labels = ("environment", f"dotenv:{env_file}", "environment", f"toml:{toml_path}")
    origin: dict[str, str] = {}
    for source, label in zip(reversed(sources), reversed(labels), strict=True):
        origin.update(dict.fromkeys(source(), label))  # the first source wins, so last here
    with building(sources, origin):
        return Settings()


def pinned_by_environment(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = None
) -> dict[str, str]:
    """Settings attribute -> the environment variable that fixes it (environment and .env win)."""
    environ = dict(os.environ if environ is None else environ)
    values = {**read_dotenv(dotenv or Path.cwd() / ".env"), **environ}
    return {attr: name for name, attr in ENV_NAMES.items() if values.get(name, "") != ""}
