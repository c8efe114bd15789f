"""'Start at login': an XDG autostart entry on Linux (freedesktop Desktop Application Autostart).

Other platforms are not handled yet (`supported()` is False there and the checkbox is
disabled). The path is a parameter so tests never touch the real ~/.config.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

ENTRY_NAME = "pbpm-desktop.desktop"


def default_autostart_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart" / ENTRY_NAME


def supported() -> bool:
    return sys.platform.startswith("linux") or "bsd" in sys.platform


def launch_command() -> str:
    """How the session should start us: this interpreter running the package, minimised."""
    return f"{shlex.quote(sys.executable)} -m pbpm_desktop gui"


def desktop_entry(command: str | None = None) -> str:
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Name=PBPM Desktop",
            "Comment=Authenticated, audited, VRAM-aware gateway in front of Ollama",
            f"Exec={command or launch_command()}",
            "Icon=pbpm-desktop",
            "Terminal=false",
            "X-GNOME-Autostart-enabled=true",
            "",
        ]
    )


def is_enabled(path: Path | None = None) -> bool:
    return (path or default_autostart_file()).is_file()


def set_enabled(enabled: bool, path: Path | None = None) -> Path:
    """Write or remove the autostart entry; returns its path."""
    path = path or default_autostart_file()
    if enabled:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(desktop_entry(), encoding="utf-8")
    elif path.exists():
        path.unlink()
    return path
