"""The architecture's rules (pyproject.toml [tool.importlinter]) hold on every test run.

The contracts: the core never imports Qt, the Qt layer or the CLI/demo/simulator; the Qt layer
uses the core only through its public surface; no import cycles between sibling modules.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contracts_cover_the_rules_the_readme_states() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    kinds = {(c["type"], tuple(c.get("source_modules", ()))) for c in contracts}
    assert ("forbidden", ("pbpm_desktop.core",)) in kinds
    assert ("forbidden", ("pbpm_desktop.qt",)) in kinds
    assert any(c["type"] == "acyclic_siblings" for c in contracts)
    no_qt = next(c for c in contracts if "pbpm_desktop.qt" in c.get("forbidden_modules", ()))
    assert {"PySide6", "qasync", "pyqtgraph"} <= set(no_qt["forbidden_modules"])
