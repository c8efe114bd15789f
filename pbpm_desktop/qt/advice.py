"""GUI advice for core messages written for the command line and the HTTP API.

The core says "Choose another port with PBPM_PORT or --port" because a `serve` user has a
shell; a desktop user has the Settings page. `for_gui()` swaps each such hint for the
Settings field that changes it, or, when an environment variable pins that field (the field
is then locked in Settings), for the variable itself: never "fix it in Settings" for a field
the user cannot edit there.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication

from pbpm_desktop.core.settings import pinned_by_environment


def _pinned_text(var: str) -> str:
    return QCoreApplication.translate(
        "advice",
        "{var} is set in the environment, which overrides Settings: change it there and "
        "restart PBPM Desktop.",
    ).format(var=var)


#: (what the core says, the Settings attribute, its variable, what to say instead)
RULES: list[tuple[str, str, str, Callable[[], str]]] = [
    (
        r"[;.]?\s*is another gateway running\? Choose another port with PBPM_PORT or --port\.?",
        "port",
        "PBPM_PORT",
        lambda: QCoreApplication.translate(
            "advice", "; is another gateway running? Choose another port in Settings."
        ),
    ),
    (
        r"\s*or set OLLAMA_URL to where it runs\.",
        "ollama_url",
        "OLLAMA_URL",
        lambda: QCoreApplication.translate("advice", " or correct the Ollama URL in Settings."),
    ),
    (
        r"Raise VRAM_LIMIT_GB, remove models from ALWAYS_ON_MODELS, or use a smaller model\.",
        "vram_limit_gb",
        "VRAM_LIMIT_GB",
        lambda: QCoreApplication.translate(
            "advice",
            "Raise the VRAM budget or untick always-on models in Settings, or use a smaller model.",
        ),
    ),
    (
        r"remove it from ALWAYS_ON_MODELS to allow unloading it",
        "always_on_models",
        "ALWAYS_ON_MODELS",
        lambda: QCoreApplication.translate(
            "advice", "untick it under Always-on models in Settings to allow unloading it"
        ),
    ),
    (
        r"Set MAX_HEAVY_MODELS to 1 or more\.",
        "max_heavy_models",
        "MAX_HEAVY_MODELS",
        lambda: QCoreApplication.translate(
            "advice", "Set “Heavy models at once” to 1 or more in Settings."
        ),
    ),
    (
        r"raise SWAP_TIMEOUT_S / VRAM_LIMIT_GB / MAX_HEAVY_MODELS",
        "vram_limit_gb",
        "VRAM_LIMIT_GB",
        lambda: QCoreApplication.translate(
            "advice", "raise the VRAM budget or “Heavy models at once” in Settings"
        ),
    ),
    (
        r"or pick one from GET /api/available_models",
        "",
        "",
        lambda: QCoreApplication.translate("advice", "or pick one on the Models page"),
    ),
]

#: bare variable names in a sentence, shown as the Settings label they correspond to
NAMES: list[tuple[str, Callable[[], str]]] = [
    (
        r"VRAM_LIMIT_GB=([\d.]+)",
        lambda: QCoreApplication.translate("advice", "the {value} GB VRAM budget"),
    ),
    (
        r"MAX_HEAVY_MODELS is (\d+)",
        lambda: QCoreApplication.translate("advice", "“Heavy models at once” is {value}"),
    ),
]


def for_gui(text: str, pinned: dict[str, str] | None = None) -> str:
    """`text` with command-line hints replaced by what to do in this app."""
    pinned = pinned_by_environment() if pinned is None else pinned
    for pattern, attr, var, instead in RULES:
        match = re.search(pattern, text)
        if match is None:
            continue
        if attr and attr in pinned:
            before = text[: match.start()].rstrip()
            joiner = " " if before.endswith((".", "!", "?")) else "; "
            text = before + joiner + _pinned_text(var) + text[match.end() :]
        else:
            text = text[: match.start()] + instead() + text[match.end() :]
    for pattern, label in NAMES:
        text = re.sub(pattern, lambda m, lb=label: lb().format(value=m.group(1)), text)
    return text


def settings_hint(attr: str, in_settings: str, pinned: dict[str, str] | None = None) -> str:
    """`in_settings` ("correct the Ollama URL in Settings."), unless `attr` is pinned by the
    environment, in which case: which variable to change instead."""
    pinned = pinned_by_environment() if pinned is None else pinned
    return _pinned_text(pinned[attr]) if attr in pinned else in_settings
