"""The key table (each key with its usage totals and last use) and allow-list checks.

One query for two callers, GET /admin/keys (core/http/admin.py) and the desktop Keys page
(through GatewayService.list_keys), so it lives in the core, not in an HTTP handler.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from pbpm_desktop.core.access.keys import KeyInfo, KeyService, KeyServiceError
from pbpm_desktop.core.contracts import KeyRow
from pbpm_desktop.core.vram.errors import ModelNotInstalled


async def keys_with_usage(keys: KeyService) -> list[KeyRow]:
    """Key table rows: the key's fields plus its usage totals and last use."""
    infos: list[KeyInfo] = await keys.list()
    totals = {row["key_id"]: row for row in await keys.db.usage.totals("key")}
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


class ModelResolver(Protocol):
    """What the allow-list check needs of the VRAM manager: canonical installed names."""

    async def resolve(self, model: str) -> str: ...


async def check_models(vram: ModelResolver | None, policy: dict[str, Any]) -> None:
    """Refuse an allow-list naming a model Ollama does not have (a typo would lock the key
    out of everything), and make the names canonical ("llama3.2" -> "llama3.2:latest").
    With Ollama unreachable we cannot tell: the names are kept as given."""
    raw = policy.get("models")
    if not raw or vram is None:
        return
    names = raw.split(",") if isinstance(raw, str) else list(raw)
    canonical = []
    for name in (str(n).strip() for n in names):
        if not name:
            continue
        try:
            canonical.append(await vram.resolve(name))
        except ModelNotInstalled as exc:
            raise KeyServiceError(
                400,
                f"model '{name}' is not installed in Ollama; GET /api/available_models lists them",
            ) from exc
        except Exception:  # Ollama down: keep the name, the proxy still enforces the list
            canonical.append(name)
    policy["models"] = ",".join(canonical)
