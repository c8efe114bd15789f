"""Settings whose value is a small language of its own: MODEL_NUM_CTX and PBPM_CORS_ORIGINS.

Parsed here, with the error naming the variable, so validating a setting never needs the
module that later uses it (CORS in core/http/cors.py, num_ctx in core/num_ctx.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pbpm_desktop.core.settings.declare import ConfigError

_ORIGIN = re.compile(r"^[a-z][a-z0-9+.\-]*://[^/\s?#]+$|^null$", re.IGNORECASE)


def parse_num_ctx(raw: str) -> dict[str, int]:
    """`name=8192,other=32768` -> {name: 8192, other: 32768}; ConfigError if malformed."""
    out: dict[str, int] = {}
    for item in str(raw).split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.rpartition("=")
        try:
            number = int(value)
        except ValueError:
            number = 0
        if not sep or not name.strip() or number < 256:
            raise ConfigError(
                f"MODEL_NUM_CTX item {item!r} must look like name=8192 (a model name, '=', "
                "a context length of at least 256); fix or unset it"
            )
        out[name.strip()] = number
    return out


def clean_origins(origins: Iterable[str]) -> list[str]:
    """PBPM_CORS_ORIGINS as lower-case origins without a trailing slash; ConfigError if bad."""
    cleaned = [o.strip().rstrip("/").lower() for o in origins if o.strip()]
    for origin in cleaned:
        if origin != "*" and not _ORIGIN.match(origin):
            raise ConfigError(
                f"PBPM_CORS_ORIGINS: {origin!r} is not an origin; write scheme://host[:port] "
                "(e.g. https://chat.example.org, chrome-extension://*), comma-separated, "
                "or * for any"
            )
    return cleaned
