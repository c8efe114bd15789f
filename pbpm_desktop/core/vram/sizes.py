"""How much memory a model takes once loaded: estimated before its first load, remembered after.

Why: /api/ps `size` includes the KV cache, which grows with the context length, so a model's
file size (/api/tags) under-budgets it -- by gigabytes at 32k context. Before a model has been
seen loaded, its size is estimated from `/api/show` `model_info` (layers, KV heads, head
sizes) and the context length it will get; once Ollama reports the real size it is kept in
`model_sizes.json` in the data directory, keyed by digest, so a restart does not forget it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["SizeBook", "kv_cache_bytes"]

#: f16 K and V cache entries (Ollama's default OLLAMA_KV_CACHE_TYPE)
KV_BYTES_PER_ELEMENT = 2
#: context length assumed when neither MODEL_NUM_CTX nor the Modelfile sets one: the smallest
#: of Ollama's automatic defaults (4k/32k/256k by VRAM, envconfig/config.go:336)
DEFAULT_NUM_CTX = 4096


def kv_cache_bytes(model_info: dict[str, Any], num_ctx: int) -> int:
    """KV-cache bytes for `num_ctx` tokens from `/api/show` `model_info` (0 if unknown)."""
    arch = model_info.get("general.architecture")
    if not isinstance(arch, str):
        return 0

    def number(key: str) -> int:
        value = model_info.get(f"{arch}.{key}")
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0

    layers = number("block_count")
    heads = number("attention.head_count")
    kv_heads = number("attention.head_count_kv") or heads
    embedding = number("embedding_length")
    key_length = number("attention.key_length") or (embedding // heads if heads else 0)
    value_length = number("attention.value_length") or key_length
    per_token = layers * kv_heads * (key_length + value_length) * KV_BYTES_PER_ELEMENT
    return per_token * max(num_ctx, 0)


class SizeBook:
    """Real sizes seen in /api/ps, persisted; estimates for models not seen yet."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._real: dict[str, int] = {}
        self.estimates: dict[str, int] = {}
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self._real = {str(k): int(v) for k, v in data.items() if int(v) > 0}
            except (OSError, ValueError, TypeError, AttributeError):
                log.warning("ignoring unreadable %s; sizes will be learned again", path)

    @staticmethod
    def _key(name: str, digest: str | None) -> str:
        return f"{name}@{digest or ''}"

    def real(self, name: str, digest: str | None) -> int | None:
        return self._real.get(self._key(name, digest))

    def remember(self, name: str, digest: str | None, size: int) -> None:
        key = self._key(name, digest)
        if size <= 0 or self._real.get(key) == size:
            return
        self._real[key] = size
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._real, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("could not save model sizes to %s: %s", self.path, exc)
