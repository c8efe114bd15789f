"""Saving the settings the desktop edits: the TOML file (reading is sources.py's)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pbpm_desktop.core.settings.declare import default_config_file
from pbpm_desktop.core.settings.model import Settings
from pbpm_desktop.core.settings.sources import read_toml


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
