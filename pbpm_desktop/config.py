"""Settings: environment variables, then a `.env` file, then the user's TOML config file.

The precedence (environment > `.env` > TOML > defaults) lets a server operator pin anything
with the environment while the desktop settings dialog owns the TOML file.

Each setting is declared once, below, as a field of `Settings`: its environment variable, type,
default, bounds and description. pydantic-settings reads the sources (config_sources.py) and
pydantic validates every value, so a bad one stops start-up with one line naming the variable
(`configuration error: PBPM_PORT=70000 is not valid: …`). `ENV_NAMES`, `TOML_KEYS`, the Settings
page's editable fields and README's configuration table (`python -m pbpm_desktop.config
--markdown`) are all derived from these declarations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, JsonValue, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from pbpm_desktop.core.goduration import keep_alive_for_ollama

APP_NAME = "pbpm-desktop"


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the variable and the fix."""


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def setting(
    default: Any = None,
    *,
    env: str | None,
    doc: str,
    shown: str | None = None,
    page: bool = False,
    desktop_only: bool = False,
    toml: bool = True,
    default_factory: Any = None,
    repr: bool = True,
    **bounds: Any,
) -> Any:
    """One setting's declaration: everything else (env lookup, TOML, docs, page) reads it.

    env: the environment variable (None: only the TOML file sets it); doc: README's "meaning";
    shown: README's default when the literal default says too little; page: editable on the
    Settings page; desktop_only: the gateway does not use it (changing it needs no restart);
    toml: the TOML file may hold it (never the master key); bounds: pydantic's ge/gt/le.
    """
    extra: dict[str, JsonValue] = {
        "env": env,
        "shown": shown,
        "page": page,
        "desktop_only": desktop_only,
        "toml": toml,
    }
    if default_factory is not None:
        return Field(
            default_factory=default_factory,
            description=doc,
            json_schema_extra=extra,
            repr=repr,
            **bounds,
        )
    return Field(default, description=doc, json_schema_extra=extra, repr=repr, **bounds)


class Settings(BaseSettings):
    """Everything the gateway and the app can be configured with (DESIGN.md §2).

    Immutable and hashable like the frozen dataclass it replaces; change it with
    `replace(**changes)` (validated like an environment value). Constructing it directly reads
    no environment: only `load_settings` adds the environment, `.env` and TOML sources.
    """

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", allow_inf_nan=False, validate_default=False
    )

    ollama_url: str = setting(
        "http://127.0.0.1:11434",
        env="OLLAMA_URL",
        doc="upstream Ollama: `http://` or `https://` with a host",
        page=True,
    )
    always_on_models: tuple[str, ...] = setting(
        (),
        env="ALWAYS_ON_MODELS",
        doc="comma list of light models kept loaded at all times",
        shown="empty",
        page=True,
    )
    master_api_key: str | None = setting(
        None,
        env="MASTER_API_KEY",
        doc="admin key (at least 32 characters); only creates/manages keys",
        shown="OS keyring; generated on first start",
        toml=False,
        repr=False,
    )
    host: str = setting(
        "0.0.0.0",
        env="PBPM_HOST",
        doc="where the gateway listens (LAN by default: every route but `/health` needs a key)",
        page=True,
        min_length=1,
    )
    port: int = setting(
        8000, env="PBPM_PORT", doc="listen port, `0` = any free port", page=True, ge=0, le=65535
    )
    data_dir: Path = setting(
        env="PBPM_DATA_DIR",
        doc="holds `guard.db` (SQLite, WAL) and the master-key file fallback",
        shown="platform user data dir (`~/.local/share/pbpm-desktop`)",
        default_factory=default_data_dir,
    )
    db_url: str | None = setting(
        None,
        env="PBPM_DB_URL",
        doc="any Tortoise URL, e.g. `postgres://user:password@host:5432/db` (needs the "
        "`postgres` extra) to share one database between gateways "
        "([Install](#moving-from-sqlite-to-postgresql))",
        shown="`sqlite://<data dir>/guard.db`",
    )
    vram_limit_gb: float = setting(
        26.0,
        env="VRAM_LIMIT_GB",
        doc="memory budget the gateway may fill with models",
        page=True,
        gt=0,
    )
    max_heavy_models: int = setting(
        1, env="MAX_HEAVY_MODELS", doc="on-demand models resident at once", page=True, ge=0
    )
    heavy_keep_alive: str = setting(
        "30m",
        env="HEAVY_KEEP_ALIVE",
        doc="how long an idle on-demand model stays loaded: a Go duration (`30m`, `1h30m`, "
        "`90s`) or whole seconds (`1800`; `-1` = forever); sent to Ollama in a form it accepts",
        page=True,
    )
    reconcile_interval_s: float = setting(
        10.0,
        env="RECONCILE_INTERVAL_S",
        doc="how often the gateway compares its plan with Ollama's `/api/ps`",
        gt=0,
    )
    swap_timeout_s: float = setting(
        300.0,
        env="SWAP_TIMEOUT_S",
        doc="longest a swap may take (draining + unloading) before waiting requests get 503",
        gt=0,
    )
    max_body_mb: float = setting(
        32.0, env="MAX_BODY_MB", doc="request body limit (413 above it)", gt=0
    )
    connect_timeout_s: float = setting(
        5.0, env="UPSTREAM_CONNECT_TIMEOUT_S", doc="connecting to Ollama", gt=0
    )
    first_byte_timeout_s: float = setting(
        600.0,
        env="UPSTREAM_FIRST_BYTE_TIMEOUT_S",
        doc="until Ollama's first byte (covers model loading)",
        gt=0,
    )
    idle_timeout_s: float = setting(
        300.0,
        env="UPSTREAM_IDLE_TIMEOUT_S",
        doc="longest silence between chunks of a response",
        gt=0,
    )
    access_log: bool = setting(
        False,
        env="PBPM_ACCESS_LOG",
        doc="`1` logs every request line (off by default: it costs time on the hot path)",
        shown="off",
    )
    shutdown_grace_s: float = setting(
        30.0,
        env="SHUTDOWN_GRACE_S",
        doc="on Quit/SIGTERM, how long requests still streaming may finish before they are cut",
        ge=0,
    )
    tls_cert: str | None = setting(
        None,
        env="PBPM_TLS_CERT",
        doc="serve HTTPS with this certificate (chain), a PEM file; with `PBPM_TLS_KEY`, "
        "both or neither (see [TLS](#tls))",
        shown="empty",
    )
    tls_key: str | None = setting(
        None,
        env="PBPM_TLS_KEY",
        doc="the certificate's private key, a PEM file (see [TLS](#tls))",
        shown="empty",
    )
    cors_origins: tuple[str, ...] = setting(
        (),
        env="PBPM_CORS_ORIGINS",
        doc="browser origins allowed to call the gateway: a comma list, `*` wildcards "
        "(`chrome-extension://*`), or `*` alone; see "
        "[CORS](#browser-extensions-and-web-pages-cors)",
        shown="empty (no CORS)",
    )
    keepalive_timeout_s: float = setting(
        15.0,
        env="KEEPALIVE_TIMEOUT_S",
        doc="an idle connection, or one whose request head is not complete, is closed after "
        "this (`0`: aiohttp's default, about an hour)",
        ge=0,
    )
    request_body_timeout_s: float = setting(
        60.0,
        env="REQUEST_BODY_TIMEOUT_S",
        doc="a request body must arrive in full within this (408 and close otherwise; "
        "`0`: no limit)",
        ge=0,
    )
    client_write_timeout_s: float = setting(
        30.0,
        env="CLIENT_WRITE_TIMEOUT_S",
        doc="a client that takes no response bytes for this long is cut (audited "
        "`client_closed`; `0`: never)",
        ge=0,
    )
    max_connections_per_client: int = setting(
        1024,
        env="MAX_CONNECTIONS_PER_CLIENT",
        doc="open connections one address may hold (429 above; `0`: no cap)",
        ge=0,
    )
    #: Ollama's OLLAMA_MAX_LOADED_MODELS (0 there means 3 per GPU, server/sched.go:86)
    max_loaded_models: int = setting(
        3,
        env="MAX_LOADED_MODELS",
        doc="Ollama's own cap on loaded models; always-on + on-demand stay within it",
        shown="`OLLAMA_MAX_LOADED_MODELS` if set, else `3`",
        ge=1,
    )
    model_num_ctx: str = setting(
        "",
        env="MODEL_NUM_CTX",
        doc="per-model context length, `qwen2.5:7b=32768,llama3.2:3b=8192`; see "
        "[Running next to a real Ollama](#running-next-to-a-real-ollama)",
        shown="empty",
    )
    #: Ollama's OLLAMA_NUM_PARALLEL (default 1, envconfig/config.go:275)
    num_parallel: int = setting(
        1,
        env="NUM_PARALLEL",
        doc="requests Ollama serves per model at once; the rest wait in the gateway (not "
        "counted against the first-byte deadline)",
        shown="`OLLAMA_NUM_PARALLEL` if set, else `1`",
        ge=1,
    )
    memory_settle_s: float = setting(
        1.5,
        env="MEMORY_SETTLE_S",
        doc="without NVML: how long to let GPU memory settle after an unload before the next "
        "load (with NVML the gateway watches free memory instead, up to 5 s)",
        ge=0,
    )
    start_minimized: bool = setting(
        False, env=None, doc="start minimised to the tray", page=True, desktop_only=True
    )
    start_at_login: bool = setting(
        False, env=None, doc="start the app at login", page=True, desktop_only=True
    )
    language: str = setting(
        "",
        env=None,
        doc='the desktop app\'s language: "" follows the system locale (LANG), else e.g. "pt_BR"',
        page=True,
        desktop_only=True,
    )

    # -- validators: the checks that live next to what they protect are reused, not copied --

    @field_validator("always_on_models", "cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            raw = raw.split(",")
        if isinstance(raw, list | tuple):
            return tuple(str(s).strip() for s in raw if str(s).strip())
        return raw

    @field_validator("db_url", "tls_cert", "tls_key", "master_api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, raw: Any) -> Any:
        return None if raw == "" else raw

    @field_validator("data_dir", mode="before")
    @classmethod
    def _user_path(cls, raw: Any) -> Any:
        return Path(raw).expanduser() if isinstance(raw, str | Path) else raw

    @field_validator("ollama_url")
    @classmethod
    def _url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("write the URL with its scheme and host, e.g. http://127.0.0.1:11434")
        return value.strip()

    @field_validator("heavy_keep_alive", mode="before")
    @classmethod
    def _keep_alive(cls, raw: Any) -> str:
        text = str(raw).strip()
        try:
            keep_alive_for_ollama(text)
        except ValueError as exc:
            raise ConfigError(f"HEAVY_KEEP_ALIVE: {exc}; fix or unset it") from None
        return text

    @field_validator("model_num_ctx", mode="before")
    @classmethod
    def _num_ctx(cls, raw: Any) -> str:
        parse_num_ctx(str(raw))
        return str(raw).strip()

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if value:
            from pbpm_desktop.core.api.cors import CorsPolicy  # imports this module

            CorsPolicy(value)  # raises ConfigError naming PBPM_CORS_ORIGINS
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Direct construction is init-only; `load_settings` adds its sources for one build."""
        from pbpm_desktop.config_sources import active_sources

        return (init_settings, *active_sources())

    def __init__(self, **values: Any) -> None:
        """Validate; a bad value is one ConfigError line naming its variable and its source."""
        from pbpm_desktop.config_sources import active_origin, describe_errors

        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(describe_errors(exc, active_origin())) from None

    # -- derived values ---------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite://{self.data_dir / 'guard.db'}"

    @property
    def vram_limit_bytes(self) -> int:
        return int(self.vram_limit_gb * 1024**3)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def keep_alive_value(self) -> int | str:
        """HEAVY_KEEP_ALIVE as Ollama accepts it: whole seconds as a number, else the string."""
        return keep_alive_for_ollama(self.heavy_keep_alive)

    @property
    def num_ctx_map(self) -> dict[str, int]:
        """MODEL_NUM_CTX as {model name: context length} (names as configured)."""
        return parse_num_ctx(self.model_num_ctx)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed, each validated like an environment value."""
        return Settings(**{**self._own_values(), **changes})

    with_overrides = replace

    def _own_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in type(self).model_fields}

    def to_toml_dict(self) -> dict[str, Any]:
        """The user-editable part, in TOML-friendly types (for the settings dialog)."""
        out: dict[str, Any] = {}
        for name in TOML_KEYS:
            value = getattr(self, name)
            if value is None:  # db_url, tls_cert, tls_key unset
                continue
            out[name] = (
                list(value)
                if isinstance(value, tuple)
                else (str(value) if isinstance(value, Path) else value)
            )
        return out


def _extra(name: str) -> dict[str, Any]:
    extra = Settings.model_fields[name].json_schema_extra
    assert isinstance(extra, dict)
    return extra


#: environment variable -> Settings attribute
ENV_NAMES: dict[str, str] = {
    _extra(name)["env"]: name for name in Settings.model_fields if _extra(name)["env"]
}
#: Settings attribute -> environment variable
VARIABLE_OF: dict[str, str] = {attr: env for env, attr in ENV_NAMES.items()}

#: Ollama's own variables that set a gateway default when the gateway's is unset: the
#: gateway often runs next to Ollama with the same environment (envconfig/config.go:275-277).
OLLAMA_FALLBACKS = {
    "MAX_LOADED_MODELS": "OLLAMA_MAX_LOADED_MODELS",
    "NUM_PARALLEL": "OLLAMA_NUM_PARALLEL",
}

#: Settings the TOML file (written by the settings dialog) may hold; never the master key.
TOML_KEYS: tuple[str, ...] = tuple(n for n in Settings.model_fields if _extra(n)["toml"])
#: what the Settings page edits, and which of those the gateway does not use
PAGE_SETTINGS: tuple[str, ...] = tuple(n for n in Settings.model_fields if _extra(n)["page"])
DESKTOP_ONLY: frozenset[str] = frozenset(
    n for n in Settings.model_fields if _extra(n)["desktop_only"]
)


def parse_num_ctx(raw: str) -> dict[str, int]:
    """`name=8192,other=32768` -> {name: 8192, other: 32768}; ConfigError if malformed."""
    out: dict[str, int] = {}
    for item in str(raw).split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.rpartition("=")
        try:
            number = int(value)
        except ValueError:
            number = 0
        if not sep or not name.strip() or number < 256:
            raise ConfigError(
                f"MODEL_NUM_CTX item {item!r} must look like name=8192 (a model name, '=', "
                "a context length of at least 256); fix or unset it"
            )
        out[name.strip()] = number
    return out


def load_settings(
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build Settings from TOML < `.env` < environment (later wins); ConfigError if bad."""
    from pbpm_desktop.config_sources import load

    return load(environ, dotenv_path, config_file)


def read_toml(path: Path) -> dict[str, Any]:
    """The settings a TOML file holds (known keys only); ConfigError if it is not TOML."""
    from pbpm_desktop.config_sources import read_toml as read

    return read(path)


def pinned_by_environment(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = None
) -> dict[str, str]:
    """Settings attribute -> the environment variable that fixes it (environment and .env win)."""
    from pbpm_desktop.config_sources import pinned

    return pinned(environ, dotenv)


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


if __name__ == "__main__":
    from pbpm_desktop.config_doc import main

    main()
