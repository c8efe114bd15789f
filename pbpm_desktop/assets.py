"""Where the app's resources (icons, translations) are, wherever it was installed from.

`resources/` at the top of the source tree is mapped to the package `pbpm_desktop.resources`
(pyproject `package-dir`), so it ships inside the wheel and a bundle as package data; this module
is the one place that asks `importlib.resources` for it. Qt needs real file paths (QIcon,
QTranslator), which package data of a wheel or an editable install always has.
"""

from __future__ import annotations

from functools import cache
from importlib import resources as _importlib_resources
from pathlib import Path

PACKAGE = "pbpm_desktop.resources"


#: a source checkout run without installing (`python -m pbpm_desktop` from the tree)
SOURCE_TREE = Path(__file__).resolve().parents[1] / "resources"


@cache
def resources_dir() -> Path:
    """The directory holding the SVG icons and `i18n/` (a real path on disk)."""
    try:
        path = Path(str(_importlib_resources.files(PACKAGE)))
    except ModuleNotFoundError:  # not installed: the checkout's own resources/
        path = SOURCE_TREE
    if not path.is_dir():  # a zipped install would need as_file(); none of ours is zipped
        raise FileNotFoundError(f"PBPM Desktop resources not found at {path}")
    return path


def resource(name: str) -> Path:
    """`resource("app.svg")`, `resource("i18n")`: a path inside the resources directory."""
    return resources_dir() / name
