"""Go's `time.ParseDuration`, and the `keep_alive` forms Ollama accepts.

Why: Ollama decodes `keep_alive` with `api.Duration.UnmarshalJSON` (ollama api/types.go:1243):
a JSON number is seconds (negative = forever), a JSON string goes through Go's
`time.ParseDuration`, so `"1800"` or `"-1"` are a 400 (`time: missing unit in duration
"1800"`). The gateway validates `HEAVY_KEEP_ALIVE` with the same grammar and sends whole
seconds as a JSON number; the simulator answers the same errors as Ollama.
"""

from __future__ import annotations

import re

__all__ = ["keep_alive_for_ollama", "parse_go_duration"]

#: Go's unitMap (time/format.go)
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # U+00B5
    "μs": 1e-6,  # U+03BC
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_WHOLE_SECONDS = re.compile(r"[+-]?\d+")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_go_duration(text: str) -> float:
    """Seconds for a Go duration string; ValueError carries Go's own error text.

    Follows `time.ParseDuration`: an optional sign, then one or more `<number><unit>` pairs;
    the only unit-less value is `"0"`.
    """
    orig, s, neg = text, text, False
    if s and s[0] in "+-":
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"time: invalid duration {_quote(orig)}")
    total = 0.0
    while s:
        match = re.match(r"(\d*)(?:\.(\d*))?", s)
        assert match is not None  # the pattern matches the empty string
        whole, frac = match.group(1), match.group(2)
        if not whole and not frac:
            raise ValueError(f"time: invalid duration {_quote(orig)}")
        s = s[match.end() :]
        unit_end = 0
        while unit_end < len(s) and not (s[unit_end] == "." or s[unit_end].isdigit()):
            unit_end += 1
        if unit_end == 0:
            raise ValueError(f"time: missing unit in duration {_quote(orig)}")
        unit, s = s[:unit_end], s[unit_end:]
        if unit not in _UNITS:
            raise ValueError(f"time: unknown unit {_quote(unit)} in duration {_quote(orig)}")
        total += float(f"{whole or 0}.{frac or 0}") * _UNITS[unit]
    return -total if neg else total


def keep_alive_for_ollama(value: str) -> int | str:
    """The form of a configured keep-alive that Ollama accepts; ValueError says what is wrong.

    Whole seconds (`"1800"`, `"-1"`, `"0"`) become a JSON number, since Ollama rejects them
    as strings; a Go duration (`"30m"`, `"1h30m"`, `"-1m"`) is sent as it is.
    """
    text = value.strip()
    if _WHOLE_SECONDS.fullmatch(text):
        return int(text)
    try:
        parse_go_duration(text)
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is neither a Go duration (30m, 1h30m, 90s) nor whole seconds "
            f"(1800, -1 = forever, 0 = unload at once): Ollama would answer {exc}"
        ) from None
    return text
