"""Date/time input: one reading of ISO 8601 for the API, the key policy and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_utc(value: Any) -> datetime:
    """An aware datetime from ISO 8601 text ("Z" accepted; no offset means UTC).

    Raises ValueError for anything else, so each caller can say which field was wrong.
    """
    when = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)
