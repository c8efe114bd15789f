"""README's configuration table is the one generated from the declarations in config.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pbpm_desktop.core.settings import ENV_NAMES, Settings
from pbpm_desktop.core.settings.doc import BEGIN, END, markdown_table, replace_table

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_table_is_up_to_date() -> None:
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "README lost the settings-table markers"
    assert replace_table(text) == text, (
        "README's configuration table is out of date: run "
        "`python -m pbpm_desktop.core.settings --write-readme`"
    )


def test_the_table_has_one_row_per_setting_with_its_description() -> None:
    table = markdown_table()
    for name, field in Settings.model_fields.items():
        assert str(field.description) in table, name
    for variable in ENV_NAMES:
        assert f"| `{variable}` |" in table


def test_markdown_command_prints_the_table_and_write_readme_repairs_it(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pbpm_desktop.core.settings", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == markdown_table()
    stale = tmp_path / "README.md"
    stale.write_text(f"# x\n{BEGIN}\n| old | table |\n{END}\nafter\n", encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "pbpm_desktop.core.settings", "--write-readme", str(stale)],
        check=True,
    )
    assert stale.read_text(encoding="utf-8") == f"# x\n{BEGIN}\n{markdown_table()}{END}\nafter\n"
