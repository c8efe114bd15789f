"""Small statistics helpers: percentiles of nanosecond samples, reported in milliseconds.

Kept dependency-free (no numpy) so the harness runs from the project's own virtual environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

NS_PER_MS = 1_000_000


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of an already sorted sequence.

    Interpolation (rather than nearest rank) keeps p99 of a few hundred samples stable
    between runs instead of jumping to whichever sample happens to be the 99th.
    """
    if not sorted_values:
        return float("nan")
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    frac = pos - low
    return float(sorted_values[low]) * (1.0 - frac) + float(sorted_values[high]) * frac


def summary_ms(samples_ns: Iterable[int], qs: Sequence[float] = (50, 90, 99)) -> dict[str, float]:
    """`{"p50": ms, "p90": ms, ..., "mean": ms, "n": count}` of nanosecond samples."""
    values = sorted(samples_ns)
    out: dict[str, float] = {f"p{q:g}": round(percentile(values, q) / NS_PER_MS, 4) for q in qs}
    out["mean"] = round(sum(values) / len(values) / NS_PER_MS, 4) if values else float("nan")
    out["n"] = len(values)
    return out


def diff(a: dict[str, float], b: dict[str, float], keys: Sequence[str]) -> dict[str, float]:
    """`a[k] - b[k]` for each key, rounded: the gateway's added cost per percentile."""
    return {k: round(a[k] - b[k], 4) for k in keys}


def ratio(a: dict[str, float], b: dict[str, float], keys: Sequence[str]) -> dict[str, float]:
    """`a[k] / b[k]` for each key (NaN where b is zero)."""
    return {k: round(a[k] / b[k], 4) if b[k] else float("nan") for k in keys}
