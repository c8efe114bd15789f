"""Refresh the pt-BR translation: extract every UI string, then compile the catalog.

    .venv/bin/python scripts/update_translations.py          # lupdate + lrelease
    .venv/bin/python scripts/update_translations.py --check  # exit 1 if anything is untranslated

`pyside6-lupdate` reads every `self.tr(...)` / `QCoreApplication.translate(...)` under
pbpm_desktop/ into resources/i18n/pbpm_desktop_pt_BR.ts (new strings arrive marked
"unfinished"; translate them in Qt Linguist, `pyside6-linguist`, or by editing the XML),
and `pyside6-lrelease` compiles it into the .qm the app loads (package data). The test
tests/qt/test_translation.py fails while any string is unfinished or the .qm is stale.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
I18N = ROOT / "resources" / "i18n"
LANGUAGES = ("pt_BR",)
#: only the desktop UI is translated; the CLI, the core and the HTTP API stay English
SOURCES = ("pbpm_desktop/qt",)


def tool(name: str) -> str:
    """pyside6-<name> next to this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).with_name(f"pyside6-{name}")
    found = str(beside) if beside.exists() else shutil.which(f"pyside6-{name}")
    if not found:
        raise SystemExit(f"pyside6-{name} not found; install PySide6 (pip install -e '.[dev]')")
    return found


def ts_file(language: str) -> Path:
    return I18N / f"pbpm_desktop_{language}.ts"


def lupdate(target: Path, *, no_obsolete: bool = True) -> None:
    sources = [str(ROOT / s) for s in SOURCES]
    args = [tool("lupdate"), "-extensions", "py", "-locations", "none", "-silent"]
    if no_obsolete:
        args.append("-no-obsolete")
    subprocess.run([*args, *sources, "-ts", str(target)], check=True, cwd=ROOT)


def lrelease(source: Path, target: Path) -> None:
    subprocess.run(
        [tool("lrelease"), "-silent", str(source), "-qm", str(target)], check=True, cwd=ROOT
    )


def unfinished(ts: Path) -> list[str]:
    """Source texts still to translate (or no longer in the code) in a .ts file."""
    import xml.etree.ElementTree as ET

    out = []
    for message in ET.parse(ts).getroot().iter("message"):
        translation = message.find("translation")
        kind = translation.get("type") if translation is not None else "unfinished"
        if kind in ("unfinished", "vanished", "obsolete") or not (translation.text or ""):
            out.append(f"{kind}: {message.findtext('source')}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report what is missing")
    args = parser.parse_args()
    missing = []
    for language in LANGUAGES:
        ts = ts_file(language)
        lupdate(ts)
        lrelease(ts, ts.with_suffix(".qm"))
        missing += [f"{language} {m}" for m in unfinished(ts)]
    print("\n".join(missing) or "translations complete")
    if args.check and missing:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
