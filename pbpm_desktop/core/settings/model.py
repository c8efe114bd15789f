"""Every setting, declared once as a field of `Settings`: its variable, type, default and bounds.

Sources are read in this order: environment variables, then a `.env` file, then the user's
TOML config file. The precedence (environment > `.env` > TOML > defaults) lets a server
operator pin anything with the environment while the desktop settings dialog owns the TOML file.

Each setting is declared once, below, as a field of `Settings`: its environment variable, type,
default, bounds and description. pydantic-settings reads the sources (sources.py) and
pydantic validates every value, so a bad one stops start-up with one line naming the variable
(`configuration error: PBPM_PORT=70000 is not valid: …`). `ENV_NAMES`, `TOML_KEYS`, the Settings
page's editable fields and README's configuration table (`python -m pbpm_desktop.core.settings
--markdown`) are all derived from these declarations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from pbpm_desktop.core.goduration import keep_alive_for_ollama
from pbpm_desktop.core.settings.declare import ConfigError, declared, default_data_dir, setting
from pbpm_desktop.core.settings.origin import active_origin, active_sources, describe_errors
from pbpm_desktop.core.settings.parsers import clean_origins, parse_num_ctx


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
    quota_reserve_tokens: int = setting(
        1024,
        env="QUOTA_RESERVE_TOKENS",
        doc="a `tokens_per_day` key's request that names no `num_predict` / `max_tokens` "
        "reserves this many completion tokens at a time (a stream more as it flows), so the "
        "key's requests run side by side; `0`: all that is left (one at a time); see "
        "[Security](#security)",
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
            clean_origins(value)  # raises ConfigError naming PBPM_CORS_ORIGINS
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
        return (init_settings, *active_sources())

    def __init__(self, **values: Any) -> None:
        """Validate; a bad value is one ConfigError line naming its variable and its source."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(
                describe_errors(exc, active_origin(), type(self).model_fields)
            ) from None

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
        for name, field in type(self).model_fields.items():
            if not declared(field)["toml"]:
                continue
            value = getattr(self, name)
            if value is None:  # db_url, tls_cert, tls_key unset
                continue
            out[name] = (
                list(value)
                if isinstance(value, tuple)
                else (str(value) if isinstance(value, Path) else value)
            )
        return out
