"""What every page gets: the bridge, shared state, task runner, notifier, and app options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pbpm_desktop.qt.bridge import BridgeLike
from pbpm_desktop.qt.notify import Notifier
from pbpm_desktop.qt.state import AppState
from pbpm_desktop.qt.tasks import TaskRunner

if TYPE_CHECKING:
    from pbpm_desktop.core.app import GatewayService


@dataclass
class UiContext:
    bridge: BridgeLike
    state: AppState
    tasks: TaskRunner
    notifier: Notifier
    #: demo mode: settings apply to the session only and are never written to the user's file
    demo: bool = False
    #: the TOML file the Settings page writes (None: the platform default)
    config_file: Path | None = None
    #: the XDG autostart entry (None: ~/.config/autostart/pbpm-desktop.desktop)
    autostart_file: Path | None = None
    #: start/stop the gateway (the controller owns the life cycle; pages only ask)
    toggle_gateway: Callable[[], Any] | None = None
    #: called after the Settings page applied new settings
    settings_applied: Callable[[Any], None] | None = None

    @property
    def service(self) -> GatewayService:
        return self.bridge.service
