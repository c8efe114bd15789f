"""The core (and `serve`) must run on machines with no GUI libraries."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import pbpm_desktop.core.service, pbpm_desktop.core.api.app, pbpm_desktop.cli, pbpm_desktop.demo
bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'qasync', 'pyqtgraph')]
print(bad)
sys.exit(1 if bad else 0)
"""


def test_importing_the_core_loads_no_qt() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_sources_never_import_qt() -> None:
    from pathlib import Path

    import pbpm_desktop.core as core

    for path in Path(core.__file__).parent.rglob("*.py"):
        text = path.read_text()
        for name in ("PySide6", "qasync", "pyqtgraph"):
            assert f"import {name}" not in text and f"from {name}" not in text, path
