"""README's module tree is the package's: regenerate it with scripts/module_tree.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("module_tree", ROOT / "scripts/module_tree.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_module_tree_is_up_to_date() -> None:
    tool = _tool()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert tool.replace_tree(readme) == readme, (
        "README's module tree is stale: run `python scripts/module_tree.py --write-readme`"
    )


def test_every_module_of_the_package_has_a_line(tmp_path: Path) -> None:
    tool = _tool()
    tree = tool.tree()
    for path in (ROOT / "pbpm_desktop").rglob("*.py"):
        if path.name != "__init__.py":
            assert f" {path.name} " in tree or f" {path.name}\n" in tree, path
    # a module without a docstring would show a bare name: every line says what it is for
    package = tree.split("resources/")[0]
    for row in package.splitlines()[2:]:
        assert len(row.strip().split(None, 1)) == 2, f"no docstring: {row.strip()}"
