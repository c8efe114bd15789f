"""'Start at login' on Linux, Windows and macOS, behind one interface (`for_platform`).

Each platform's own per-user mechanism, all of them a plain file, so the setting needs no
privileges, survives a reinstall and is removed by deleting one file:
- Linux/BSD: an XDG autostart entry `~/.config/autostart/pbpm-desktop.desktop` (freedesktop
  Desktop Application Autostart Specification; `$XDG_CONFIG_HOME` honoured).
- Windows: `pbpm-desktop.cmd` in the user's Startup folder
  (`%APPDATA%\\Microsoft\\Windows\\Start Menu\\Programs\\Startup`), which Explorer runs at
  logon. Chosen over the `HKCU\\...\\Run` registry value because it is visible and removable
  in Explorer and can be tested by writing to a temporary home; `start ""` returns at once so
  no console window stays open.
- macOS: a LaunchAgent `~/Library/LaunchAgents/org.pbpm-desktop.plist` with `RunAtLoad`,
  which launchd starts at login (limited to the GUI session, `Aqua`).

The platform, the home directory and the environment are parameters, so tests write each
platform's file into a temporary home. No Qt here: this is plain file work the Settings page
calls. The module-level functions (`supported`, `is_enabled`, `set_enabled`) are the current
platform's; an explicit `path` overrides where its entry goes (tests, the Settings page's
context).
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ENTRY_NAME = "pbpm-desktop.desktop"
WINDOWS_ENTRY_NAME = "pbpm-desktop.cmd"
LAUNCH_AGENT_LABEL = "org.pbpm-desktop"

LINUX, WINDOWS, MACOS = "linux", "win32", "darwin"


def platform_kind(platform: str | None = None) -> str | None:
    """LINUX, WINDOWS, MACOS, or None where we know no start-at-login mechanism."""
    platform = platform or sys.platform
    if platform.startswith("linux") or "bsd" in platform:
        return LINUX
    if platform in (WINDOWS, "cygwin"):
        return WINDOWS
    if platform == MACOS:
        return MACOS
    return None


def launch_argv(platform: str | None = None) -> list[str]:
    """How the session should start us: the bundle's binary, or this Python running the package.

    On Windows `pythonw.exe` (no console window) is used when it sits next to `python.exe`.
    """
    if getattr(sys, "frozen", False):  # the PyInstaller bundle: its binary takes the command
        return [sys.executable, "gui"]
    python = sys.executable
    if platform_kind(platform) == WINDOWS:
        windowless = Path(python).with_name("pythonw.exe")
        if windowless.is_file():
            python = str(windowless)
    return [python, "-m", "pbpm_desktop", "gui"]


def launch_command() -> str:
    """`launch_argv()` as the XDG entry's `Exec=` line."""
    return xdg_exec(launch_argv(LINUX))


def xdg_exec(argv: Sequence[str]) -> str:
    """Quote `argv` the Desktop Entry way: arguments with reserved characters in double quotes
    (with `"`, `` ` ``, `$` and `\\` escaped), and every `%` doubled (field codes)."""
    reserved = set(" \t\n\"'\\><~|&;$*?#()`")
    out = []
    for arg in argv:
        if arg and not (set(arg) & reserved):
            out.append(arg.replace("%", "%%"))
            continue
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        out.append('"' + escaped.replace("%", "%%") + '"')
    return " ".join(out)


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


def windows_script(argv: Sequence[str]) -> str:
    """The Startup folder's `.cmd`: start the app detached, then the console closes."""
    line = subprocess.list2cmdline(list(argv)).replace("%", "%%")  # batch expands %…%
    lines = ["@echo off", "rem PBPM Desktop: start at login (delete this file to stop)"]
    return "\r\n".join([*lines, f'start "" {line}', ""])


def launch_agent(argv: Sequence[str]) -> bytes:
    return plistlib.dumps(
        {
            "Label": LAUNCH_AGENT_LABEL,
            "ProgramArguments": list(argv),
            "RunAtLoad": True,
            "ProcessType": "Interactive",
            "LimitLoadToSessionType": "Aqua",
        }
    )


@dataclass(frozen=True)
class Autostart:
    """Start at login on one platform: the file that does it and what it holds."""

    kind: str  # LINUX | WINDOWS | MACOS
    path: Path
    argv: tuple[str, ...]

    def content(self) -> bytes:
        if self.kind == WINDOWS:
            return windows_script(self.argv).encode("utf-8")
        if self.kind == MACOS:
            return launch_agent(self.argv)
        return desktop_entry(xdg_exec(self.argv)).encode("utf-8")

    def is_enabled(self) -> bool:
        return self.path.is_file()

    def set_enabled(self, enabled: bool) -> Path:
        """Write or remove the entry; returns its path."""
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(self.content())
        elif self.path.exists():
            self.path.unlink()
        return self.path


def entry_path(kind: str, home: Path, env: Mapping[str, str]) -> Path:
    """Where `kind`'s entry lives for the user whose home is `home`."""
    if kind == WINDOWS:
        appdata = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
        startup = appdata / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Startup"
        return startup / WINDOWS_ENTRY_NAME
    if kind == MACOS:
        return home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"
    return Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "autostart" / ENTRY_NAME


def for_platform(
    platform: str | None = None,
    *,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
    argv: Sequence[str] | None = None,
) -> Autostart:
    """The start-at-login entry for `platform` (default: this one); ValueError if unsupported."""
    kind = platform_kind(platform)
    if kind is None:
        raise ValueError(f"start at login is not supported on {platform or sys.platform}")
    where = path or entry_path(kind, home or Path.home(), os.environ if env is None else env)
    return Autostart(kind, where, tuple(argv or launch_argv(platform)))


# -- this platform (what the Settings page uses) ---------------------------------------------


def default_autostart_file() -> Path:
    return for_platform().path


def supported() -> bool:
    return platform_kind() is not None


def is_enabled(path: Path | None = None) -> bool:
    return for_platform(path=path).is_enabled()


def set_enabled(enabled: bool, path: Path | None = None) -> Path:
    """Write or remove this platform's entry (at `path` if given); returns its path."""
    return for_platform(path=path).set_enabled(enabled)
