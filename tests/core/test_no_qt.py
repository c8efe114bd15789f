"""The core (and `serve`) must run on machines with no GUI libraries.

What the sources import is checked by import-linter (tests/test_architecture.py); this test
checks what actually gets loaded at run time, lazy imports included.
"""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import pbpm_desktop.core.app, pbpm_desktop.core.http.app, pbpm_desktop.cli, pbpm_desktop.demo
bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'qasync', 'pyqtgraph')]
print(bad)
sys.exit(1 if bad else 0)
"""


def test_importing_the_core_loads_no_qt() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
