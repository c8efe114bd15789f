"""The client's JSON as the gateway forwards it: the model it names, fields the gateway adds.

Most requests are forwarded byte for byte; `with_fields` splices added fields into the original
bytes instead of re-encoding the whole body.
"""

from __future__ import annotations

import json
from typing import Any

from pbpm_desktop.core.http.errors import ApiError

#: one compact encoder: `json.dumps(..., separators=...)` would build a new one per call
compact_json = json.JSONEncoder(separators=(",", ":")).encode
_fragments: dict[tuple[tuple[str, Any], ...], bytes] = {}


def with_fields(body: bytes, payload: dict[str, Any], extra: dict[str, Any]) -> bytes:
    """The request body with `extra`'s fields set, as sent upstream.

    When none of the fields is in the body yet (the usual case), they are appended before the
    closing brace and the client's bytes stay as they were: no re-encoding of what may be a
    long conversation, which cost as much as parsing it. Otherwise (a field to replace, or a
    body that is not plain UTF-8 JSON) the parsed payload is re-encoded.
    """
    if not extra:
        return body
    end = body.rstrip()
    plain_utf8 = body[:1] == b"{" and body[1:2] != b"\x00"  # not UTF-16/32, no BOM
    if (
        any(name in payload for name in extra)
        or not end.endswith(b"}")
        or not (plain_utf8 or json.detect_encoding(body[:4]) == "utf-8")
    ):
        payload.update(extra)
        return compact_json(payload).encode()
    head = end[:-1].rstrip()
    return head + (b"" if head.endswith(b"{") else b",") + _fragment(extra) + b"}"


def _fragment(extra: dict[str, Any]) -> bytes:
    """`"name":value,...` of `extra`, cached for the few values policy uses (keep_alive)."""
    try:
        key = tuple(extra.items())
        cached = _fragments.get(key)
    except TypeError:  # an unhashable value (stream_options): encode it each time
        return compact_json(extra)[1:-1].encode()
    if cached is None:
        cached = compact_json(extra)[1:-1].encode()
        if len(_fragments) < 64:
            _fragments[key] = cached
    return cached


#: fields the gateway decides on; Ollama (Go's encoding/json) matches JSON keys
#: case-insensitively, so "MODEL" next to "model" would run a model the checks never saw.
#: `name` is where /api/show (and Ollama's older clients) name the model (routes.go:1312).
GUARDED_FIELDS = frozenset(
    {"model", "name", "keep_alive", "stream", "stream_options", "options", "shift"}
)


def reject_case_variants(payload: dict[str, Any]) -> None:
    for name in payload:
        folded = name.casefold()
        if folded != name and folded in GUARDED_FIELDS:
            raise ApiError(400, f"field {name!r}: write it as {folded!r} (lower case), once")


def require_model(payload: dict[str, Any]) -> str:
    model = payload.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ApiError(400, "'model' is required: name an installed model", param="model")
    return model.strip()
