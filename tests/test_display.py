"""Display detection before Qt is imported: real sockets stand in for X and Wayland servers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pbpm_desktop import display
from pbpm_desktop.display import display_problem


@pytest.fixture
def x_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A listening socket where an X server for display :5 would listen."""
    sockets = tmp_path / "x11"
    sockets.mkdir()
    monkeypatch.setattr(display, "X11_SOCKET_DIR", sockets)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sockets / "X5"))
    server.listen(1)
    try:
        yield ":5.0"
    finally:
        server.close()


def test_no_display_variables_is_a_problem() -> None:
    assert "DISPLAY and WAYLAND_DISPLAY are not set" in display_problem({}, "linux")


def test_windows_and_macos_always_have_a_display() -> None:
    assert display_problem({}, "win32") is None and display_problem({}, "darwin") is None


def test_headless_qt_platforms_need_no_display() -> None:
    for name in ("offscreen", "minimal", "vnc:size=800x600", "xcb;offscreen"):
        assert display_problem({"QT_QPA_PLATFORM": name}, "linux") is None, name


def test_an_x_display_counts_only_when_its_server_answers(x_server: str) -> None:
    assert display_problem({"DISPLAY": x_server}, "linux") is None
    assert display_problem({"DISPLAY": ":6"}, "linux") == (
        "no display found (nothing answers on DISPLAY=:6)"
    )
    assert "QT_QPA_PLATFORM=xcb" in display_problem({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert display_problem({"QT_QPA_PLATFORM": "xcb", "DISPLAY": x_server}, "linux") is None
    assert display_problem({"DISPLAY": "nonsense"}, "linux") is not None


def test_a_wayland_display_counts_only_when_its_socket_answers(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path), "WAYLAND_DISPLAY": "wayland-0"}
    assert display_problem(env, "linux") is not None  # no compositor socket yet
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(tmp_path / "wayland-0"))
    server.listen(1)
    try:
        assert display_problem(env, "linux") is None
        assert display_problem({**env, "QT_QPA_PLATFORM": "wayland"}, "linux") is None
    finally:
        server.close()
