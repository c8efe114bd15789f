"""The shared request parsing: keep_alive as Go's api.Duration."""

from __future__ import annotations

import pytest

from pbpm_desktop.simulator import SimulatorError, parse_keep_alive


def test_parse_keep_alive() -> None:
    assert parse_keep_alive(None) == 300
    assert parse_keep_alive(10) == 10
    assert parse_keep_alive(1.5) == 1.5
    assert parse_keep_alive(0) == 0
    assert parse_keep_alive("5m") == 300
    assert parse_keep_alive("30s") == 30
    assert parse_keep_alive("1h") == 3600
    assert parse_keep_alive("1h30m") == 5400
    assert parse_keep_alive("250ms") == 0.25
    assert parse_keep_alive("0") == 0
    assert parse_keep_alive(-1) < 0
    assert parse_keep_alive("-1m") < 0
    # Go's time.ParseDuration: a bare number string has no unit (Ollama answers 400)
    for bare in ("60", "-1", "1800"):
        with pytest.raises(SimulatorError) as info:
            parse_keep_alive(bare)
        assert info.value.message == f'time: missing unit in duration "{bare}"'
    assert parse_keep_alive("60", strict=False) == 60
    assert parse_keep_alive("-1", strict=False) < 0
    for bad in ("soon", "5 minutes", "m", True, [1]):
        with pytest.raises(SimulatorError) as info:
            parse_keep_alive(bad)
        assert info.value.status == 400
