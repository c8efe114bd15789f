"""How one setting is declared (`setting(...)`), the error a bad value raises, where files live.

Kept apart from the `Settings` class so the declarations' helpers and the derived tables
(registry.py) can be imported without pulling in pydantic-settings' source machinery.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, JsonValue
from pydantic.fields import FieldInfo

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


def declared(field: FieldInfo) -> dict[str, Any]:
    """What `setting(...)` recorded about a field: env, shown, page, desktop_only, toml."""
    extra = field.json_schema_extra
    assert isinstance(extra, dict), "every Settings field is declared with setting(...)"
    return extra
