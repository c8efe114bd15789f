"""SVG icons from the packaged resources, cached, plus the tray icon for each health state."""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QIcon

from pbpm_desktop.assets import resource


@cache
def icon(name: str) -> QIcon:
    """`icon("nav-keys")` loads resources/nav-keys.svg (an empty icon if it is missing)."""
    path = resource(f"{name}.svg")
    return QIcon(str(path)) if path.is_file() else QIcon()


def app_icon() -> QIcon:
    return icon("app")


def tray_icon(health: str) -> QIcon:
    """health is state.HEALTHY / DEGRADED / DOWN ("serving" / "degraded" / "stopped")."""
    return icon(f"tray-{health}")
