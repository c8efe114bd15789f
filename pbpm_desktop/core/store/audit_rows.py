"""Writing audit rows: one prepared INSERT run over the batch, every value made storable first.

Kept apart from the writer (core/accounting/audit.py), which decides when to write; this
decides how.
"""

from __future__ import annotations

import math
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from tortoise.fields import CharField, FloatField, IntField

from pbpm_desktop.core.store.models import UsageRecord

if TYPE_CHECKING:
    from pbpm_desktop.core.accounting.audit import AuditEntry

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def _storable_str(value: Any, limit: int) -> str:
    """Valid UTF-8 that fits the column: lone surrogates (JSON's "\\ud800") become escapes."""
    if not isinstance(value, str):
        value = "" if value is None else str(value)
    if len(value) > limit:
        value = value[:limit]
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")[:limit]
    return value


def _storable_int(value: Any, low: int = INT64_MIN, high: int = INT64_MAX) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        return 0
    return high if number > high else low if number < low else number


def _storable_float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _insert_sql(dialect: str) -> tuple[list[str], str]:
    """(field names, INSERT statement) for every stored column but the generated id."""
    cached = _INSERTS.get(dialect)
    if cached is None:
        names = [
            name
            for name, field_obj in UsageRecord._meta.fields_map.items()
            if field_obj.has_db_field and not getattr(field_obj, "generated", False)
        ]
        marks = ", ".join("?" if dialect == "sqlite" else f"${i + 1}" for i in range(len(names)))
        columns = ", ".join(f'"{name}"' for name in names)
        sql = f'INSERT INTO "{UsageRecord._meta.db_table}" ({columns}) VALUES ({marks})'
        cached = _INSERTS[dialect] = (names, sql)
    return cached


#: {dialect: (field names, INSERT statement)}, built on first use
_INSERTS: dict[str, tuple[list[str], str]] = {}


async def insert_many(batch: list[AuditEntry], *, sanitize: bool = False) -> None:
    """One parametrized INSERT run for every row of `batch` (`execute_many`, one transaction),
    inside `Database.bound()`.

    Strings longer than their column are always cut to fit. With `sanitize` (the writer's
    retry of a batch the database refused) every value is made storable: strings made valid
    UTF-8 (a client may send any model name, a lone surrogate included), integers clamped to
    the column (an upstream may report 10^30 tokens), floats made finite. Otherwise one record
    the database refuses would fail every flush of its batch forever, and with it every later
    record. Only on a retry, because checking every value of every row cost the hot path
    ~10 us per record (profiled), and a database refuses those values rather than storing
    them wrong (sqlite3 raises OverflowError / UnicodeEncodeError, NaN breaks NOT NULL).

    Why not `UsageRecord.bulk_create`: building a Model instance per record (field validation,
    deep copies of defaults) cost more than the database write itself; under load that was a
    tenth of the gateway's CPU, on the same loop that serves requests. The statement is ours
    (the model's table and columns, the dialect's placeholders) and the connection's public
    `execute_many` runs it; every column that is not a plain string or number (the timestamp,
    the flag) goes through the field's own `to_db_value`, so SQLite and PostgreSQL get the
    values bulk_create would send.
    """
    conn = UsageRecord._meta.db
    names, sql = _insert_sql(str(conn.capabilities.dialect))
    slots = type(batch[0]).__slots__
    if any(name not in slots for name in names):
        # a column the entry does not carry: let the ORM apply its defaults
        await UsageRecord.bulk_create(
            [UsageRecord(**{n: getattr(e, n) for n in slots}) for e in batch]
        )
        return
    fields_map = UsageRecord._meta.fields_map
    # SQLite's INTEGER is 64-bit; IntField is a 32-bit INT on Postgres and MySQL
    low, high = (
        (INT64_MIN, INT64_MAX) if conn.capabilities.dialect == "sqlite" else (-(2**31), 2**31 - 1)
    )
    clips: list[tuple[int, int]] = []  # (column, max length) of string columns
    ints: list[int] = []  # integer columns
    floats: list[int] = []  # float columns
    conversions: list[tuple[int, Any]] = []  # (column, to_db_value) of everything else
    for i, name in enumerate(names):
        field_obj = fields_map[name]
        kind = type(field_obj)
        if kind is CharField:
            assert isinstance(field_obj, CharField)  # narrows for the type checker
            clips.append((i, field_obj.max_length))
        elif kind is IntField:
            ints.append(i)
        elif kind is FloatField:
            floats.append(i)
        else:
            conversions.append((i, field_obj.to_db_value))
    values_of = attrgetter(*names)
    rows = []
    for entry in batch:
        row = list(values_of(entry))
        if not sanitize:
            for i, limit in clips:
                value = row[i]
                if isinstance(value, str) and len(value) > limit:
                    row[i] = value[:limit]
            for i, to_db in conversions:
                row[i] = to_db(row[i], UsageRecord)
            rows.append(row)
            continue
        for i, limit in clips:
            value = row[i]
            if not (type(value) is str and len(value) <= limit and value.isascii()):
                row[i] = _storable_str(value, limit)
        for i in ints:
            value = row[i]
            if not (type(value) is int and low <= value <= high):
                row[i] = _storable_int(value, low, high)
        for i in floats:
            value = row[i]
            if not (type(value) is float and math.isfinite(value)):
                row[i] = _storable_float(value)
        for i, to_db in conversions:
            row[i] = to_db(row[i], UsageRecord)
        rows.append(row)
    await conn.execute_many(sql, rows)
