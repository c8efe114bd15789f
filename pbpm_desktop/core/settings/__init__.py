"""Settings: environment variables, then a `.env` file, then the user's TOML config file.

declare.py says how a setting is declared, model.py declares them all (`Settings`), parsers.py
reads the values with a syntax of their own, registry.py derives the tables (env names, TOML
keys, page fields), sources.py loads env/.env/TOML with pydantic-settings, origin.py names
where a refused value came from, files.py saves the TOML file, doc.py writes README's table.
Import from here.
"""

from pbpm_desktop.core.settings.declare import (
    APP_NAME,
    ConfigError,
    default_config_file,
    default_data_dir,
    setting,
)
from pbpm_desktop.core.settings.files import write_user_config
from pbpm_desktop.core.settings.model import Settings
from pbpm_desktop.core.settings.parsers import parse_num_ctx
from pbpm_desktop.core.settings.registry import (
    DESKTOP_ONLY,
    ENV_NAMES,
    OLLAMA_FALLBACKS,
    PAGE_SETTINGS,
    TOML_KEYS,
    VARIABLE_OF,
)
from pbpm_desktop.core.settings.sources import load_settings, pinned_by_environment, read_toml

__all__ = [
    "APP_NAME",
    "DESKTOP_ONLY",
    "ENV_NAMES",
    "OLLAMA_FALLBACKS",
    "PAGE_SETTINGS",
    "TOML_KEYS",
    "VARIABLE_OF",
    "ConfigError",
    "Settings",
    "default_config_file",
    "default_data_dir",
    "load_settings",
    "parse_num_ctx",
    "pinned_by_environment",
    "read_toml",
    "setting",
    "write_user_config",
]
