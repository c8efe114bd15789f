"""What a normal (non-editable) install ships: every package of the tree and every resource.

Builds the wheel, installs it into a fresh venv without the source tree on the path, and asks
the installed package where its icons and translations are. An editable install hides a missing
`package-data` entry; this test is the one that catches it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tree_packages() -> set[str]:
    """Every directory under pbpm_desktop/ with an __init__.py, plus the mapped resources."""
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "pbpm_desktop").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    return found | {"pbpm_desktop.resources"}


def test_pyproject_lists_every_package_of_the_tree() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    assert listed == tree_packages()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # from a copy without earlier build output: a stale build/ in a checkout would lend the
    # wheel files that package-data does not ship (as it did with the .ts translation)
    source = tmp_path_factory.mktemp("source") / "tree"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        cwd=out,
    )
    (built,) = out.glob("pbpm_desktop-*.whl")
    return built


def test_wheel_holds_every_resource(wheel: Path) -> None:
    """Every file under resources/ (icons, the compiled and the source translation), not a
    list of kinds: a new kind of resource fails here until package-data ships it."""
    names = set(zipfile.ZipFile(wheel).namelist())
    tree = {
        path.relative_to(ROOT / "resources").as_posix()
        for path in (ROOT / "resources").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert tree, "no resources found"
    missing = sorted(p for p in tree if f"pbpm_desktop/resources/{p}" not in names)
    assert missing == []


def test_installed_wheel_finds_its_resources(wheel: Path, tmp_path: Path) -> None:
    """A fresh venv that sees this environment's dependencies but not the source tree."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--force-reinstall",
            str(wheel),
        ],
        check=True,
    )
    probe = (
        "import pbpm_desktop.assets as a, pathlib, sys;"
        "d = a.resources_dir();"
        "assert 'site-packages' in str(d), d;"
        "names = sorted(p.name for p in d.glob('*.svg'));"
        "print(d); print(','.join(names))"
    )
    done = subprocess.run(
        [str(python), "-I", "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    where, names = done.stdout.strip().splitlines()
    assert Path(where).is_dir()
    assert names.split(",") == sorted(p.name for p in (ROOT / "resources").glob("*.svg"))
    # and Qt really loads them from there (offscreen): app, tray and navigation icons. The
    # venv sees this environment's Qt through a path entry (not a site dir: the editable
    # install's finder there stays inactive, so pbpm_desktop is still the installed wheel's)
    import PySide6

    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "test_deps.pth").write_text(str(Path(PySide6.__file__).resolve().parents[1]) + "\n")
    icons = (
        "import sys; from PySide6.QtWidgets import QApplication;"
        "from pbpm_desktop.qt.icons import app_icon, icon, tray_icon;"
        "from pbpm_desktop.assets import resources_dir;"
        "app = QApplication([]);"
        "names = [p.stem for p in resources_dir().glob('*.svg')];"
        "loaded = [app_icon()] + [tray_icon(h) for h in ('serving', 'degraded', 'stopped')];"
        "loaded += [icon(n) for n in names];"
        "bad = [i for i, q in enumerate(loaded) if q.isNull() or q.pixmap(22, 22).isNull()];"
        "assert str(resources_dir()).startswith(sys.prefix), resources_dir();"
        "print(len(loaded), bad)"
    )
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(python), "-I", "-c", icons], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    count, bad = done.stdout.split(maxsplit=1)
    assert int(count) >= 4 + len(names.split(",")) and bad.strip() == "[]", done.stdout
