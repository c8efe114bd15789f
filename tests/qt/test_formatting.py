"""Formatting helpers used in tables, cards and the tray."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pbpm_desktop.qt import formatting as f


def test_sizes_and_counts():
    assert f.human_bytes(4.4 * 1024**3) == "4.4 GB"
    assert f.human_bytes(274_302_450) == "262 MB"
    assert f.human_bytes(None) == "—"
    assert f.human_count(950) == "950"
    assert f.human_count(12_345) == "12.3k"
    assert f.human_count(4_560_000) == "4.56M"
    assert f.grouped(1234567) == "1,234,567"


def test_times():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert f.ago(None) == "never"
    assert f.ago((now - timedelta(minutes=3)).isoformat(), now) == "3 min ago"
    assert f.ago(now.isoformat(), now) == "just now"
    assert f.expires_in("2319-03-09T00:31:38+00:00", now) == "never"  # keep_alive -1
    assert f.expires_in((now + timedelta(minutes=29, seconds=5)).isoformat(), now) == "in 29 min"
    assert f.expires_in((now - timedelta(seconds=1)).isoformat(), now) == "now"
    assert f.parse_time("2026-01-01T12:00:00") == now  # naive means UTC
    assert f.parse_time("garbage") is None
    assert f.duration_ms(850) == "850 ms" and f.duration_ms(1500) == "1.5 s"


def test_clock_time_is_short_for_the_requests_table() -> None:
    from datetime import UTC, datetime, timedelta

    from pbpm_desktop.qt.formatting import clock_time

    now = datetime.now(UTC)
    assert len(clock_time(now)) == 8  # HH:MM:SS today
    older = clock_time(now - timedelta(days=3))
    day, clock = older.split(" ")
    assert len(clock) == 8 and "/" in day and len(day) <= 5  # M/d HH:MM:SS, no year
    assert clock_time(None) == "—"


def test_numbers_and_dates_follow_the_ui_locale() -> None:
    from PySide6.QtCore import QLocale

    when = datetime(2026, 11, 26, 21, 4, 35).astimezone()
    before = QLocale()
    try:
        QLocale.setDefault(QLocale(QLocale.Language.Portuguese, QLocale.Country.Brazil))
        assert f.grouped(1234567) == "1.234.567"
        assert f.human_bytes(4.4 * 1024**3) == "4,4 GB"
        assert f.duration_ms(1500) == "1,5 s" and f.human_count(12_345) == "12,3k"
        assert f.local_date(when) == "26/11/2026"
        assert f.local_time(when, seconds=True) == "26/11/2026 21:04:35"
        assert f.day_month_format() == "dd/MM"
        QLocale.setDefault(QLocale.c())
        assert f.grouped(1234567) == "1,234,567"  # C falls back to English separators
    finally:
        QLocale.setDefault(before)
