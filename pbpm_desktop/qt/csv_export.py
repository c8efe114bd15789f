"""CSV export of the Usage page's totals (what a spreadsheet or a billing script wants).

Cells come partly from clients (model names: 404s are audited too; key names and emails),
so a text cell that a spreadsheet would run as a formula (`=HYPERLINK(...)`, `+1+cmd|...`,
`@SUM(...)`, or one starting with `-`, a tab or a CR) is written with a leading `'`, the
OWASP "CSV injection" advice: spreadsheets show the text, nothing runs. Numbers (negative
ones included) are written as numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

COLUMNS = (
    "key_id",
    "key_prefix",
    "owner",
    "model",
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "last_used",
)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value`, or for text a spreadsheet would evaluate, the same text behind a `'`."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_usage_csv(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write key+model totals to `path`; returns the number of data rows."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: safe_cell(row.get(c, "")) for c in COLUMNS})
            count += 1
    return count
