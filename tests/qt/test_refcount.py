"""The Qt binding must not leak references to None/True (PySide6 6.12.x on Python < 3.12).

A leaking binding loses one reference to None per void Qt call; on 3.11 the app then aborts
after ~50,000 UI updates ("Fatal Python error: none_dealloc"), minutes into a session. The
loop runs in a child process: on a leaking binding the child aborts (or reports the loss)
and this test fails with the reason, instead of taking the whole test run down with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

#: UI updates in the loop: enough to abort a leaking 3.11 build (~20k calls at most there)
CALLS = 30_000

CHILD = textwrap.dedent(
    f"""
    import json, sys
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QApplication, QLabel, QMenu
    from pbpm_desktop.qt.state import AppState
    from pbpm_desktop.qt.tray import TrayMenu

    class Actions:
        def __getattr__(self, name):
            return lambda *a: None

    app = QApplication([])
    label, menu, action = QLabel(), QMenu(), QAction("x")
    state = AppState()
    tray = TrayMenu(state, Actions())
    none0, true0 = sys.getrefcount(None), sys.getrefcount(True)
    for i in range({CALLS} // 8):
        label.setText(str(i & 7))
        label.setVisible(False)
        label.setEnabled(True)
        label.setToolTip("t")
        action.setText("a")
        action.setEnabled(False)
        menu.setTitle("m")
        state.set_gateway("serving" if i & 1 else "stopped", ["http://127.0.0.1:1"])
    tray.refresh()
    print(json.dumps({{"none_lost": none0 - sys.getrefcount(None),
                       "true_lost": true0 - sys.getrefcount(True)}}))
    """
)


def run_child(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_many_ui_updates_keep_the_references_to_none_and_true() -> None:
    import PySide6

    done = run_child(CHILD)
    where = f"PySide6 {PySide6.__version__}, Python {sys.version.split()[0]}"
    assert done.returncode == 0, (
        f"{CALLS} UI updates aborted the interpreter ({where}), exit {done.returncode}:\n"
        f"{done.stderr[-1500:]}\nSee README 'Known-bad PySide6' and pyproject.toml."
    )
    lost = json.loads(done.stdout.strip().splitlines()[-1])
    # a sound binding: a handful either way from unrelated objects; a leaking one: ~CALLS
    assert lost["none_lost"] < 1000, f"{where} lost {lost['none_lost']} references to None"
    assert lost["true_lost"] < 1000, f"{where} lost {lost['true_lost']} references to True"


def test_the_start_up_check_passes_on_the_installed_binding() -> None:
    """launch_gui refuses a leaking binding; the installed one must pass that check."""
    done = run_child(
        "from pbpm_desktop.qt.binding_check import binding_problem, leaked_references\n"
        "print(binding_problem()); print(leaked_references())"
    )
    assert done.returncode == 0, done.stderr[-1500:]
    problem, counts = done.stdout.strip().splitlines()[-2:]
    assert problem == "None", problem
    none_lost, true_lost = eval(counts)
    assert abs(none_lost) < 50 and abs(true_lost) < 50
