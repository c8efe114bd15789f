"""Number, size and time formatting shared by pages, charts and the tray.

Plain functions (not QObjects), so their strings go through `QCoreApplication.translate`.
Timestamps arrive from the core as ISO 8601 strings in UTC; the UI shows local time.
Numbers and dates follow the UI locale (`QLocale()`, set from the language choice by
`pbpm_desktop.qt.i18n`): "1.234.567" and "25/11 21:04" in pt-BR, "1,234,567" and
"11-25 21:04" in English.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from PySide6.QtCore import QCoreApplication, QDate, QLocale, QTime

GIB = 1024**3
#: keep_alive -1 makes Ollama report an expiry centuries away: show "never" instead
NEVER_AFTER_YEAR = 2200


def parse_time(value: str | datetime | None) -> datetime | None:
    """An aware datetime from an ISO string (naive values are taken as UTC), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def locale() -> QLocale:
    """The UI locale; the C/POSIX locale (no LANG) formats like English, with separators."""
    current = QLocale()
    if current.language() == QLocale.Language.C:
        return QLocale(QLocale.Language.English, QLocale.Country.UnitedStates)
    return current


def decimal(value: float, digits: int) -> str:
    """A number with `digits` decimals and the locale's decimal separator ('4,4')."""
    return locale().toString(float(value), "f", digits)


def human_bytes(size: float | None) -> str:
    """'4.4 GB' (binary gigabytes, like VRAM_LIMIT_GB), 'MB' below one gigabyte."""
    if not size:
        return "0 GB" if size == 0 else "—"
    if size >= GIB:
        return f"{decimal(size / GIB, 1)} GB"
    return f"{decimal(size / 1024**2, 0)} MB"


def human_count(value: float | None) -> str:
    """'950', '12.3k', '4.56M': compact counts for cards and axis labels."""
    if value is None:
        return "—"
    value = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            text = f"{value / limit:.3g}"
            return text.replace(".", locale().decimalPoint()) + suffix
    return f"{value:.0f}"


def grouped(value: int | None) -> str:
    """'1,234,567' (or '1.234.567') for tables, where exact numbers matter."""
    return "—" if value is None else locale().toString(int(value))


def _qdate(when: datetime) -> QDate:
    return QDate(when.year, when.month, when.day)


def _qtime(when: datetime) -> QTime:
    return QTime(when.hour, when.minute, when.second)


def _time_text(when: datetime, seconds: bool) -> str:
    return locale().toString(_qtime(when), "HH:mm:ss" if seconds else "HH:mm")


def local_date(value: str | datetime | None) -> str:
    """The local day in the locale's short form ('26/11/2026', '11/26/26')."""
    when = parse_time(value)
    if when is None:
        return "—"
    return locale().toString(_qdate(when.astimezone()), QLocale.FormatType.ShortFormat)


def local_time(value: str | datetime | None, *, seconds: bool = False) -> str:
    when = parse_time(value)
    if when is None:
        return "—"
    local = when.astimezone()
    return f"{local_date(local)} {_time_text(local, seconds)}"


def day_month_format() -> str:
    """The locale's short date pattern without the year ('dd/MM', 'M/d')."""
    pattern = locale().dateFormat(QLocale.FormatType.ShortFormat)
    pattern = re.sub(r"[^dM]*y+[^dM]*", "", pattern).strip(" ./-,")
    return pattern or "MM-dd"


def clock_time(value: str | datetime | None) -> str:
    """'14:03:27' today, else '26/11 21:04:35' (the Requests table's narrow time column)."""
    when = parse_time(value)
    if when is None:
        return "—"
    local = when.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return _time_text(local, True)
    day = locale().toString(_qdate(local), day_month_format())
    return f"{day} {_time_text(local, True)}"


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 60:
        return QCoreApplication.translate("formatting", "{n} s").format(n=int(seconds))
    if seconds < 3600:
        return QCoreApplication.translate("formatting", "{n} min").format(n=int(seconds // 60))
    if seconds < 86400:
        return QCoreApplication.translate("formatting", "{h} h {m} min").format(
            h=int(seconds // 3600), m=int(seconds % 3600 // 60)
        )
    return QCoreApplication.translate("formatting", "{n} d").format(n=int(seconds // 86400))


def ago(value: str | datetime | None, now: datetime | None = None) -> str:
    when = parse_time(value)
    if when is None:
        return QCoreApplication.translate("formatting", "never")
    delta = ((now or datetime.now(UTC)) - when).total_seconds()
    if delta < 5:
        return QCoreApplication.translate("formatting", "just now")
    return QCoreApplication.translate("formatting", "{span} ago").format(span=_span(delta))


def expires_in(value: str | datetime | None, now: datetime | None = None) -> str:
    """Time left before Ollama unloads an idle model; 'never' for keep_alive -1."""
    when = parse_time(value)
    if when is None:
        return "—"
    if when.year >= NEVER_AFTER_YEAR:
        return QCoreApplication.translate("formatting", "never")
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    if delta <= 0:
        return QCoreApplication.translate("formatting", "now")
    return QCoreApplication.translate("formatting", "in {span}").format(span=_span(delta))


def duration_ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1000:
        return f"{decimal(value, 0)} ms"
    return f"{decimal(value / 1000, 1)} s"
