"""Is there a display Qt can open? Asked before Qt is imported, because Qt cannot be asked.

Without one, Qt's xcb platform plugin aborts the process (SIGABRT, a core dump, and a hint
about libxcb-cursor that has nothing to do with it). The checks mirror what Qt itself would
try: QT_QPA_PLATFORM if set, else Wayland (WAYLAND_DISPLAY) or X11 (DISPLAY), and for those
whether the server's socket answers. Windows and macOS always have a display. No Qt here.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

#: Qt platform plugins that need no display server
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "vkkhrdisplay", "eglfs", "linuxfb")
X11_SOCKET_DIR = Path("/tmp/.X11-unix")


def display_problem(
    env: Mapping[str, str] | None = None, platform: str = sys.platform
) -> str | None:
    """A short reason why Qt could not open a display (``"no display found (…)"``), else None."""
    env = os.environ if env is None else env
    if platform in ("win32", "darwin"):
        return None
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    wayland, x11 = env.get("WAYLAND_DISPLAY", ""), env.get("DISPLAY", "")
    if chosen:
        # "xcb", "wayland;xcb", "offscreen", "vnc:size=800x600"…: the first that works is used
        names = [part.split(":", 1)[0].strip() for part in chosen.split(";")]
        for name in names:
            if name in HEADLESS_PLATFORMS:
                return None
            if name.startswith("wayland") and wayland and _wayland_reachable(wayland, env):
                return None
            if name == "xcb" and x11 and _x11_reachable(x11):
                return None
        return f"no display for QT_QPA_PLATFORM={chosen} ({_what_is_set(wayland, x11)})"
    if wayland and _wayland_reachable(wayland, env):
        return None
    if x11 and _x11_reachable(x11):
        return None
    return f"no display found ({_what_is_set(wayland, x11)})"


def _what_is_set(wayland: str, x11: str) -> str:
    if not wayland and not x11:
        return "DISPLAY and WAYLAND_DISPLAY are not set"
    parts = []
    if x11:
        parts.append(f"nothing answers on DISPLAY={x11}")
    if wayland:
        parts.append(f"nothing answers on WAYLAND_DISPLAY={wayland}")
    return "; ".join(parts)


def _wayland_reachable(name: str, env: Mapping[str, str]) -> bool:
    path = Path(name) if name.startswith("/") else Path(env.get("XDG_RUNTIME_DIR", "")) / name
    return _unix_answers(str(path))


def _x11_reachable(display: str) -> bool:
    """`[host]:N[.screen]` (or `unix:N`): does the X server's socket accept a connection?"""
    host, _, rest = display.rpartition(":")
    number = rest.split(".", 1)[0]
    if not number.isdigit():
        return False
    if host in ("", "unix") or host.startswith("/"):
        if host.startswith("/"):  # launchd-style path (XQuartz); trust it if it exists
            return Path(f"{host}:{rest}").exists()
        path = str(X11_SOCKET_DIR / f"X{number}")
        return _unix_answers(path) or (sys.platform == "linux" and _unix_answers("\0" + path))
    try:  # TCP display, e.g. ssh -X forwarding: localhost:10
        with socket.create_connection((host, 6000 + int(number)), timeout=1.0):
            return True
    except OSError:
        return False


def _unix_answers(path: str) -> bool:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(1.0)
    try:
        sock.connect(path)
        return True
    except OSError:
        return False
    finally:
        sock.close()
