"""Go's time.ParseDuration and the keep_alive forms Ollama accepts (api/types.go:1243)."""

from __future__ import annotations

import pytest

from pbpm_desktop.core.goduration import keep_alive_for_ollama, parse_go_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("90s", 90),
        ("250ms", 0.25),
        ("0", 0),
        ("-1m", -60),
        ("+5s", 5),
        ("1h0m0s", 3600),
        ("2µs", 2e-6),
        (".5s", 0.5),
    ],
)
def test_parse_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("1800", 'time: missing unit in duration "1800"'),
        ("-1", 'time: missing unit in duration "-1"'),
        ("30x", 'time: unknown unit "x" in duration "30x"'),
        ("", 'time: invalid duration ""'),
        ("m", 'time: invalid duration "m"'),
        ("1 h", 'time: unknown unit " h" in duration "1 h"'),
    ],
)
def test_parse_go_duration_errors_read_like_go(text: str, error: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_go_duration(text)
    assert str(info.value) == error


def test_keep_alive_for_ollama_sends_whole_seconds_as_numbers() -> None:
    assert keep_alive_for_ollama("1800") == 1800
    assert keep_alive_for_ollama("-1") == -1
    assert keep_alive_for_ollama(" 0 ") == 0
    assert keep_alive_for_ollama("1h30m") == "1h30m"
    with pytest.raises(ValueError, match="neither a Go duration"):
        keep_alive_for_ollama("30 minutes")
