"""Start at login on each platform, written into a temporary home (the platform is injected)."""

from __future__ import annotations

import configparser
import plistlib
import shlex
from pathlib import Path

import pytest

from pbpm_desktop.qt import autostart
from pbpm_desktop.qt.autostart import MACOS, WINDOWS, for_platform

ARGV = ["/opt/PBPM Desktop/pbpm-desktop", "gui"]


def test_linux_writes_an_xdg_autostart_entry(tmp_path: Path):
    entry = for_platform("linux", home=tmp_path, env={}, argv=ARGV)
    assert entry.path == tmp_path / ".config" / "autostart" / "pbpm-desktop.desktop"
    assert not entry.is_enabled()
    entry.set_enabled(True)
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read_string(entry.path.read_text(encoding="utf-8"))
    section = parsed["Desktop Entry"]
    assert section["Type"] == "Application"
    assert shlex.split(section["Exec"]) == ARGV  # the space in the path is quoted
    assert entry.is_enabled()
    entry.set_enabled(False)
    assert not entry.path.exists()


def test_linux_honours_xdg_config_home(tmp_path: Path):
    entry = for_platform("linux", home=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert entry.path == tmp_path / "cfg" / "autostart" / "pbpm-desktop.desktop"


def test_windows_writes_a_startup_folder_script(tmp_path: Path):
    argv = [r"C:\Program Files\PBPM\pythonw.exe", "-m", "pbpm_desktop", "gui"]
    entry = for_platform("win32", home=tmp_path, env={}, argv=argv)
    startup = tmp_path / "AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup"
    assert entry.path == startup / "pbpm-desktop.cmd"
    entry.set_enabled(True)
    script = entry.path.read_bytes().decode("utf-8")
    lines = script.split("\r\n")  # batch files want CRLF
    assert lines[0] == "@echo off"
    assert 'start "" "C:\\Program Files\\PBPM\\pythonw.exe" -m pbpm_desktop gui' in lines
    assert entry.is_enabled()
    entry.set_enabled(False)
    assert not entry.is_enabled()


def test_windows_uses_appdata_and_escapes_percent(tmp_path: Path):
    roaming = tmp_path / "Roaming"
    entry = for_platform("win32", home=tmp_path, env={"APPDATA": str(roaming)}, argv=["a%b"])
    assert entry.path.is_relative_to(roaming)
    assert 'start "" a%%b' in entry.content().decode()  # %b% would be expanded by cmd


def test_macos_writes_a_launch_agent(tmp_path: Path):
    entry = for_platform("darwin", home=tmp_path, env={}, argv=ARGV)
    assert entry.path == tmp_path / "Library" / "LaunchAgents" / "org.pbpm-desktop.plist"
    entry.set_enabled(True)
    with entry.path.open("rb") as fh:
        agent = plistlib.load(fh)
    assert agent["Label"] == "org.pbpm-desktop"
    assert agent["ProgramArguments"] == ARGV
    assert agent["RunAtLoad"] is True
    entry.set_enabled(False)
    assert not entry.path.exists()


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
def test_default_command_starts_the_gui(platform: str, tmp_path: Path):
    argv = for_platform(platform, home=tmp_path, env={}).argv
    assert argv[-1] == "gui"
    if platform != WINDOWS:  # pythonw.exe only exists on Windows
        assert argv[0].endswith(("python", "python3", "python3.11", "pbpm-desktop"))


def test_unknown_platform_is_refused_clearly():
    assert autostart.platform_kind("aix") is None
    with pytest.raises(ValueError, match="not supported on aix"):
        for_platform("aix")


def test_every_platform_has_a_mechanism():
    assert {autostart.platform_kind(p) for p in ("linux", "freebsd13", "win32", "darwin")} == {
        "linux",
        WINDOWS,
        MACOS,
    }
