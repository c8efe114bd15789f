"""Tables derived from the `Settings` declarations: env names, TOML keys, the Settings page.

Everything that needs "which settings are …" reads these instead of keeping its own list.
"""

from __future__ import annotations

from typing import Any

from pbpm_desktop.core.settings.declare import declared
from pbpm_desktop.core.settings.model import Settings


def _extra(name: str) -> dict[str, Any]:
    return declared(Settings.model_fields[name])


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
