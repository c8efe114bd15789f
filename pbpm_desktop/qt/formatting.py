"""Number, size and time formatting shared by pages, charts and the tray.

Plain functions (not QObjects), so their strings go through `QCoreApplication.translate`.
Timestamps arrive from the core as ISO 8601 strings in UTC; the UI shows local time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QCoreApplication

GIB = 1024**3
#: keep_alive -1 makes Ollama report an expiry centuries away: show "never" instead
NEVER_AFTER_YEAR = 2200


def _tr(text: str) -> str:
    return QCoreApplication.translate("formatting", text)


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


def human_bytes(size: float | None) -> str:
    """'4.4 GB' (binary gigabytes, like VRAM_LIMIT_GB), 'MB' below one gigabyte."""
    if not size:
        return "0 GB" if size == 0 else "—"
    if size >= GIB:
        return f"{size / GIB:.1f} GB"
    return f"{size / 1024**2:.0f} MB"


def human_count(value: float | None) -> str:
    """'950', '12.3k', '4.56M': compact counts for cards and axis labels."""
    if value is None:
        return "—"
    value = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.0f}"


def grouped(value: int | None) -> str:
    """'1,234,567' for tables, where exact numbers matter."""
    return "—" if value is None else f"{int(value):,}"


def local_time(value: str | datetime | None, *, seconds: bool = False) -> str:
    when = parse_time(value)
    if when is None:
        return "—"
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def clock_time(value: str | datetime | None) -> str:
    """'14:03:27' today, else '11-26 21:04:35' (the Requests table's narrow time column)."""
    when = parse_time(value)
    if when is None:
        return "—"
    local = when.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%m-%d %H:%M:%S")


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 60:
        return _tr("{n} s").format(n=int(seconds))
    if seconds < 3600:
        return _tr("{n} min").format(n=int(seconds // 60))
    if seconds < 86400:
        return _tr("{h} h {m} min").format(h=int(seconds // 3600), m=int(seconds % 3600 // 60))
    return _tr("{n} d").format(n=int(seconds // 86400))


def ago(value: str | datetime | None, now: datetime | None = None) -> str:
    when = parse_time(value)
    if when is None:
        return _tr("never")
    delta = ((now or datetime.now(UTC)) - when).total_seconds()
    if delta < 5:
        return _tr("just now")
    return _tr("{span} ago").format(span=_span(delta))


def expires_in(value: str | datetime | None, now: datetime | None = None) -> str:
    """Time left before Ollama unloads an idle model; 'never' for keep_alive -1."""
    when = parse_time(value)
    if when is None:
        return "—"
    if when.year >= NEVER_AFTER_YEAR:
        return _tr("never")
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    if delta <= 0:
        return _tr("now")
    return _tr("in {span}").format(span=_span(delta))


def duration_ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.1f} s"
