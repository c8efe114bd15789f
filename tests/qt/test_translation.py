"""The pt-BR translation: complete for the current sources, compiled, and loaded by locale."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QLocale

from pbpm_desktop.assets import resource
from pbpm_desktop.qt import i18n

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location(
        "update_translations", ROOT / "scripts" / "update_translations.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_ui_string_is_translated(tmp_path: Path):
    """lupdate over today's sources, merged into a copy of the shipped .ts: a new string in
    the UI shows up as "unfinished", a removed one as "vanished", and either fails here."""
    script = _script()
    shipped = script.ts_file("pt_BR")
    merged = tmp_path / shipped.name
    shutil.copy(shipped, merged)
    script.lupdate(merged, no_obsolete=False)
    missing = script.unfinished(merged)
    assert not missing, (
        f"{len(missing)} UI strings lack a pt-BR translation (run "
        f"scripts/update_translations.py and translate them): {missing[:10]}"
    )
    assert merged.read_text(encoding="utf-8").count("<message>") > 250


def test_the_shipped_catalog_is_compiled_from_the_ts(tmp_path: Path):
    script = _script()
    compiled = tmp_path / "fresh.qm"
    script.lrelease(script.ts_file("pt_BR"), compiled)
    shipped = Path(str(resource("i18n"))) / "pbpm_desktop_pt_BR.qm"
    assert shipped.read_bytes() == compiled.read_bytes(), "run scripts/update_translations.py"


PROBE = """
import os
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["PBPM_NO_KEYRING"] = "1"
from pbpm_desktop.qt.app import make_app
app = make_app()
from pbpm_desktop.qt.formatting import grouped, human_bytes
from pbpm_desktop.qt.pages.settings import SettingsPage
from tests.qt.fakes import fake_ctx
page = SettingsPage(fake_ctx(), pinned={})
print(page.title)
print(page.apply_button.text())
print(page.form.start_minimized.text())
print(grouped(1234567), human_bytes(4.4 * 1024**3))
"""


def _probe(env_lang: str, language: str = "") -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    env["LANG"] = env_lang
    code = (
        PROBE if not language else PROBE.replace("make_app()", f"make_app(language={language!r})")
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_the_ui_is_portuguese_under_lang_pt_br():
    title, apply, minimised, numbers = _probe("pt_BR.UTF-8")
    assert title == "Configurações"
    assert apply == "Salvar e aplicar" and minimised == "Iniciar minimizado na bandeja"
    assert numbers == "1.234.567 4,4 GB"  # numbers follow the locale too


def test_the_settings_language_wins_over_the_system_locale():
    assert _probe("pt_BR.UTF-8", language="en")[:2] == ["Settings", "Save and apply"]
    assert _probe("en_US.UTF-8", language="pt_BR")[0] == "Configurações"
    assert _probe("C.UTF-8")[:2] == ["Settings", "Save and apply"]


def test_ui_locale_reads_c_as_english():
    assert i18n.ui_locale("pt_BR").name() == "pt_BR"
    assert QLocale(i18n.ui_locale("C")).language() == QLocale.Language.English
