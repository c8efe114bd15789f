"""The key table: each key with its usage totals and last use.

One query for two callers, GET /admin/keys (core/api/admin.py) and the desktop Keys page
(through GatewayService.list_keys), so it lives in the core, not in an HTTP handler.
"""

from __future__ import annotations

from typing import cast

from pbpm_desktop.core.contracts import KeyRow
from pbpm_desktop.core.keys import KeyInfo, KeyService
from pbpm_desktop.core.store import queries


async def keys_with_usage(keys: KeyService) -> list[KeyRow]:
    """Key table rows: the key's fields plus its usage totals and last use."""
    infos: list[KeyInfo] = await keys.list()
    with keys.db.bound():
        totals = {row["key_id"]: row for row in await queries.usage_totals("key")}
    out: list[KeyRow] = []
    for info in infos:
        usage = totals.get(info.id, {})
        row = {
            **info.to_dict(),
            "requests": usage.get("requests", 0),
            "tokens_used": usage.get("total_tokens", 0),
            "last_used": usage.get("last_used"),
        }
        out.append(cast(KeyRow, row))  # KeyInfo.to_dict() gives KeyRow's key fields
    return out
