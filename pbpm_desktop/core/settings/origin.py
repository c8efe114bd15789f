"""Which sources the `load_settings` call in progress reads, and where each value came from.

`Settings` asks here (not sources.py, which builds on `Settings`) for its sources and, when a
value is refused, for the one line that names the variable and where it was set.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

from pbpm_desktop.core.settings.declare import ConfigError, declared

#: the sources of the `load_settings` call in progress, and where each attribute came from
_ACTIVE: contextvars.ContextVar[
    tuple[tuple[PydanticBaseSettingsSource, ...], Mapping[str, str]]
] = contextvars.ContextVar("pbpm_settings_sources", default=((), {}))


def active_sources() -> tuple[PydanticBaseSettingsSource, ...]:
    return _ACTIVE.get()[0]


def active_origin() -> Mapping[str, str]:
    """attribute -> "environment", "dotenv:PATH" or "toml:PATH" (for error messages)."""
    return _ACTIVE.get()[1]


@contextmanager
def building(
    sources: tuple[PydanticBaseSettingsSource, ...], origin: Mapping[str, str]
) -> Iterator[None]:
    """Within: `Settings()` reads these sources; errors name these origins."""
    token = _ACTIVE.set((sources, origin))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def describe_errors(
    exc: ValidationError, origin: Mapping[str, str], fields: Mapping[str, FieldInfo]
) -> str:
    """One line for all of a ValidationError's problems, each naming its variable."""
    parts = []
    for error in exc.errors(include_url=False):
        attr = str(error["loc"][0]) if error["loc"] else ""
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigError):  # already names the variable and the fix
            parts.append(str(cause))
            continue
        reason = error["msg"].removeprefix("Value error, ")
        reason = reason[:1].lower() + reason[1:]
        parts.append(
            f"{_where(attr, error.get('input'), origin.get(attr, 'init'), fields)} "
            f"is not valid: {reason}; fix or unset it"
        )
    return "; ".join(parts)


def _where(attr: str, value: Any, origin: str, fields: Mapping[str, FieldInfo]) -> str:
    shown = "<hidden>" if attr == "master_api_key" else _show(value, origin)
    env = (declared(fields[attr])["env"] if attr in fields else None) or attr
    if origin in ("environment", "init"):
        return f"{env}={shown}"
    kind, _, path = origin.partition(":")
    if kind == "toml":
        return f"{attr} = {shown} in {path}"
    return f"{env}={shown} (in {path})"


def _show(value: Any, origin: str) -> str:
    """A variable's text as the user wrote it; quoted where that would hide something."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        bare = origin == "environment" or origin.startswith("dotenv:")
        return value if bare and value and value.strip() == value else repr(value)
    return str(value)
