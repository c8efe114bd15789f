"""Settings: environment variables, then a `.env` file, then the user's TOML config file.

The precedence (environment > `.env` > TOML > defaults) lets a server operator pin anything
with the environment while the desktop settings dialog owns the TOML file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from pbpm_desktop.core.goduration import keep_alive_for_ollama

APP_NAME = "pbpm-desktop"

#: environment variable -> Settings attribute
ENV_NAMES: dict[str, str] = {
    "OLLAMA_URL": "ollama_url",
    "ALWAYS_ON_MODELS": "always_on_models",
    "MASTER_API_KEY": "master_api_key",
    "PBPM_HOST": "host",
    "PBPM_PORT": "port",
    "PBPM_DATA_DIR": "data_dir",
    "PBPM_DB_URL": "db_url",
    "VRAM_LIMIT_GB": "vram_limit_gb",
    "MAX_HEAVY_MODELS": "max_heavy_models",
    "HEAVY_KEEP_ALIVE": "heavy_keep_alive",
    "RECONCILE_INTERVAL_S": "reconcile_interval_s",
    "SWAP_TIMEOUT_S": "swap_timeout_s",
    "MAX_BODY_MB": "max_body_mb",
    "UPSTREAM_CONNECT_TIMEOUT_S": "connect_timeout_s",
    "UPSTREAM_FIRST_BYTE_TIMEOUT_S": "first_byte_timeout_s",
    "UPSTREAM_IDLE_TIMEOUT_S": "idle_timeout_s",
    "PBPM_ACCESS_LOG": "access_log",
    "SHUTDOWN_GRACE_S": "shutdown_grace_s",
    "PBPM_TLS_CERT": "tls_cert",
    "PBPM_TLS_KEY": "tls_key",
    "PBPM_CORS_ORIGINS": "cors_origins",
    "KEEPALIVE_TIMEOUT_S": "keepalive_timeout_s",
    "REQUEST_BODY_TIMEOUT_S": "request_body_timeout_s",
    "CLIENT_WRITE_TIMEOUT_S": "client_write_timeout_s",
    "MAX_CONNECTIONS_PER_CLIENT": "max_connections_per_client",
    "MAX_LOADED_MODELS": "max_loaded_models",
    "MODEL_NUM_CTX": "model_num_ctx",
    "NUM_PARALLEL": "num_parallel",
    "MEMORY_SETTLE_S": "memory_settle_s",
}

#: Ollama's own variables that set a gateway default when the gateway's is unset: the
#: gateway often runs next to Ollama with the same environment (envconfig/config.go:275-277).
OLLAMA_FALLBACKS = {
    "MAX_LOADED_MODELS": "OLLAMA_MAX_LOADED_MODELS",
    "NUM_PARALLEL": "OLLAMA_NUM_PARALLEL",
}

#: Settings the TOML file (written by the settings dialog) may hold; never the master key.
TOML_KEYS = (
    *tuple(name for name in ENV_NAMES.values() if name != "master_api_key"),
    "start_minimized",
    "start_at_login",
    "language",
)


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the variable and the fix."""


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


@dataclass(frozen=True)
class Settings:
    """Everything the gateway and the app can be configured with (DESIGN.md §2)."""

    ollama_url: str = "http://127.0.0.1:11434"
    always_on_models: tuple[str, ...] = ()
    master_api_key: str | None = field(default=None, repr=False)
    host: str = "0.0.0.0"
    port: int = 8000
    data_dir: Path = field(default_factory=default_data_dir)
    db_url: str | None = None
    vram_limit_gb: float = 26.0
    max_heavy_models: int = 1
    heavy_keep_alive: str = "30m"
    reconcile_interval_s: float = 10.0
    swap_timeout_s: float = 300.0
    max_body_mb: float = 32.0
    connect_timeout_s: float = 5.0
    first_byte_timeout_s: float = 600.0
    idle_timeout_s: float = 300.0
    access_log: bool = False
    shutdown_grace_s: float = 30.0
    #: HTTPS certificate and key (PEM); both or neither (core/tls.py)
    tls_cert: str | None = None
    tls_key: str | None = None
    #: browser origins allowed to call the gateway (`*`, exact, or `chrome-extension://*`)
    cors_origins: tuple[str, ...] = ()
    #: idle keep-alive connections, and request heads not complete, are closed after this
    keepalive_timeout_s: float = 15.0
    #: a request body must arrive in full within this long (408 otherwise)
    request_body_timeout_s: float = 60.0
    #: a client that takes no response bytes for this long is cut (recorded client_closed)
    client_write_timeout_s: float = 30.0
    #: open connections one client address may hold (0: no cap)
    max_connections_per_client: int = 1024
    #: Ollama's OLLAMA_MAX_LOADED_MODELS (0 there means 3 per GPU, server/sched.go:86)
    max_loaded_models: int = 3
    #: per-model context length, "name=8192,other=32768" (see `num_ctx_for`)
    model_num_ctx: str = ""
    #: Ollama's OLLAMA_NUM_PARALLEL (default 1): requests one model serves at once
    num_parallel: int = 1
    #: without NVML, how long to let GPU free memory settle after an unload (core/vram_settle)
    memory_settle_s: float = 1.5
    start_minimized: bool = False
    start_at_login: bool = False
    #: the desktop app's language: "" follows the system locale (LANG), else e.g. "pt_BR"
    language: str = ""

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

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed, each coerced like an environment value."""
        return replace(self, **{k: _coerce(k, v) for k, v in changes.items()})

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


_FIELD_TYPES = {f.name: f.type for f in fields(Settings)}


def _coerce(name: str, raw: Any) -> Any:
    """Turn an environment/TOML value into the attribute's type, or explain what is wrong."""
    kind = _FIELD_TYPES[name]
    env_name = next((k for k, v in ENV_NAMES.items() if v == name), name)
    try:
        if kind == "tuple[str, ...]":
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(s.strip() for s in items if str(s).strip())
        if name in _VALIDATORS:
            return _VALIDATORS[name](raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            return str(raw).strip().lower() in {"1", "true", "yes", "on"}
        if kind == "Path":
            return Path(raw).expanduser()
        if kind == "str | None":
            return str(raw) if raw not in (None, "") else None
        return str(raw)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{env_name}={raw!r} is not a valid {kind}; fix or unset it") from exc


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


def _keep_alive(raw: Any) -> str:
    text = str(raw).strip()
    try:
        keep_alive_for_ollama(text)
    except ValueError as exc:
        raise ConfigError(f"HEAVY_KEEP_ALIVE: {exc}; fix or unset it") from None
    return text


def _num_ctx(raw: Any) -> str:
    parse_num_ctx(str(raw))
    return str(raw).strip()


def _at_least_one(env_name: str) -> Callable[[Any], int]:
    def check(raw: Any) -> int:
        try:
            number = int(raw)
        except (TypeError, ValueError):
            number = 0
        if number < 1:
            raise ConfigError(f"{env_name}={raw!r} must be a whole number of 1 or more")
        return number

    return check


#: settings whose values need more than a type check (DESIGN.md §3: one clear line at start-up)
_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "heavy_keep_alive": _keep_alive,
    "model_num_ctx": _num_ctx,
    "max_loaded_models": _at_least_one("MAX_LOADED_MODELS"),
    "num_parallel": _at_least_one("NUM_PARALLEL"),
}


def read_dotenv(path: Path) -> dict[str, str]:
    """A minimal `.env` reader: KEY=VALUE lines, `#` comments, optional quotes, `export ` prefix."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or delete it") from exc
    return {k: v for k, v in data.items() if k in TOML_KEYS}


def load_settings(
    environ: dict[str, str] | None = None,
    dotenv_path: Path | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build Settings from TOML < `.env` < environment (later wins)."""
    environ = dict(os.environ if environ is None else environ)
    dotenv = read_dotenv(dotenv_path or Path.cwd() / ".env")
    toml_path = config_file or Path(
        environ.get("PBPM_CONFIG_FILE") or dotenv.get("PBPM_CONFIG_FILE") or default_config_file()
    )
    values: dict[str, Any] = dict(read_toml(toml_path))
    for source in (dotenv, environ):
        for env_name, ollama_name in OLLAMA_FALLBACKS.items():
            if source.get(ollama_name, "") not in ("", "0"):
                values[ENV_NAMES[env_name]] = source[ollama_name]
    for source in (dotenv, environ):
        for env_name, attr in ENV_NAMES.items():
            if env_name in source and source[env_name] != "":
                values[attr] = source[env_name]
    return Settings().with_overrides(**values)


def pinned_by_environment(
    environ: dict[str, str] | None = None, dotenv: Path | None = None
) -> dict[str, str]:
    """Settings attribute -> the environment variable that fixes it (environment and .env win)."""
    environ = dict(os.environ if environ is None else environ)
    values = {**read_dotenv(dotenv or Path.cwd() / ".env"), **environ}
    return {attr: name for name, attr in ENV_NAMES.items() if values.get(name, "") != ""}


def write_user_config(
    settings: Settings, config_file: Path | None = None, skip: Iterable[str] = ()
) -> Path:
    """Persist the user-editable settings as TOML (the settings dialog's save).

    Attributes in `skip` (those pinned by environment variables) keep what the file had, so a
    value that only came from the environment never becomes a saved preference.
    """
    path = config_file or default_config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    skip = set(skip)
    previous = read_toml(path) if skip else {}
    values = {k: v for k, v in settings.to_toml_dict().items() if k not in skip}
    values.update({k: v for k, v in previous.items() if k in skip})
    lines = []
    for key, value in values.items():
        lines.append(f"{key} = {_toml_value(value)}")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
