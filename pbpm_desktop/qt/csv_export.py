"""CSV export of the Usage page's totals (what a spreadsheet or a billing script wants)."""

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


def write_usage_csv(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write key+model totals to `path`; returns the number of data rows."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in COLUMNS})
            count += 1
    return count
