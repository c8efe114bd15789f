"""PBPM_QUIT_AFTER_START: how the bundle check starts the real GUI and quits with no one there."""

from __future__ import annotations

import socket
import sqlite3

from pbpm_desktop.qt.app import QUIT_AFTER_START_ENV, launch_gui


def test_gui_quits_by_itself_once_serving(qapp, gateway_settings, monkeypatch, capsys):
    monkeypatch.setenv(QUIT_AFTER_START_ENV, "1")
    assert launch_gui(gateway_settings) == 0
    out = capsys.readouterr().out
    assert f"{QUIT_AFTER_START_ENV}: gui started, gateway serving on http://127.0.0.1:" in out
    # it quit the normal way: the gateway stopped and its database is closed and readable
    with sqlite3.connect(gateway_settings.data_dir / "guard.db") as db:
        assert db.execute("SELECT COUNT(*) FROM api_keys").fetchone() == (0,)


def test_gui_self_check_fails_when_the_gateway_did_not_start(
    qapp, gateway_settings, monkeypatch, capsys
):
    monkeypatch.setenv(QUIT_AFTER_START_ENV, "1")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = gateway_settings.with_overrides(port=taken.getsockname()[1])
        assert launch_gui(settings) == 1
    assert "gui started, gateway stopped on -" in capsys.readouterr().out
