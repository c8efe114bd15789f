"""Will a model fit the VRAM budget? Answered before a click, in the user's words.

The gateway refuses a model that can never fit only when asked to load it
(`VramLedger.never_fits_reason`, core/vram/state.py). The UI knows the same facts from the
VRAM snapshot (installed sizes, categories, the budget, MAX_HEAVY_MODELS), so it can disable
Preload with the reason, and the Settings page can refuse a budget that the chosen always-on
models cannot live in *before* restarting the gateway, with the sizes. The arithmetic mirrors
`VramLedger`: an on-demand model needs its size next to every always-on model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QCoreApplication

from pbpm_desktop.qt.formatting import GIB, human_bytes


def sizes(installed: Iterable[dict[str, Any]]) -> dict[str, int]:
    return {str(m["name"]): int(m.get("size") or 0) for m in installed if m.get("name")}


def never_fits(
    model: str,
    installed: list[dict[str, Any]],
    always_on: Iterable[str],
    budget_bytes: int,
    max_heavy: int | None = None,
) -> str | None:
    """Why `model` can never be loaded under these settings, or None if it can."""
    size_of = sizes(installed)
    always_on = set(always_on)
    if model in always_on:
        return None  # reported by `always_on_refusal` instead
    if max_heavy is not None and max_heavy < 1:
        return QCoreApplication.translate(
            "fit", "No on-demand model may be loaded: “Heavy models at once” is 0 in Settings."
        )
    reserved = sum(size_of.get(n, 0) for n in always_on)
    size = size_of.get(model, 0)
    if not budget_bytes or size + reserved <= budget_bytes:
        return None
    return QCoreApplication.translate(
        "fit",
        "{model} needs {size}, but the {budget} VRAM budget leaves {free} next to the "
        "always-on models ({reserved}). Raise the budget or untick always-on models in Settings.",
    ).format(
        model=model,
        size=human_bytes(size),
        budget=human_bytes(budget_bytes),
        free=human_bytes(max(budget_bytes - reserved, 0)),
        reserved=human_bytes(reserved),
    )


def never_fits_now(model: str, snapshot: dict[str, Any]) -> str | None:
    """`never_fits` with the running gateway's settings, from its VRAM snapshot."""
    installed = snapshot.get("installed") or []
    always_on = [m["name"] for m in installed if m.get("category") == "always_on"]
    budget = int(snapshot.get("budget_limit_bytes") or snapshot.get("budget_bytes") or 0)
    return never_fits(model, installed, always_on, budget, snapshot.get("max_heavy_models"))


def always_on_refusal(
    chosen: Iterable[str], installed: list[dict[str, Any]], budget_gb: float
) -> str | None:
    """Why these always-on models cannot all be loaded within the budget, or None."""
    size_of = sizes(installed)
    chosen = [n for n in chosen if n in size_of]
    total = sum(size_of[n] for n in chosen)
    budget = int(budget_gb * GIB)
    if total <= budget:
        return None
    listed = ", ".join(f"{n} ({human_bytes(size_of[n])})" for n in sorted(chosen))
    return QCoreApplication.translate(
        "fit",
        "The always-on models need {total} together ({models}), more than the {budget} VRAM "
        "budget. Raise the budget to at least {total} or untick some of them.",
    ).format(total=human_bytes(total), models=listed, budget=human_bytes(budget))


def on_demand_warnings(
    chosen: Iterable[str], installed: list[dict[str, Any]], budget_gb: float, max_heavy: int
) -> list[str]:
    """On-demand models these settings would make impossible to load (not a refusal)."""
    chosen = list(chosen)
    budget = int(budget_gb * GIB)
    out = []
    for model in sorted(sizes(installed)):
        if model in chosen:
            continue
        reason = never_fits(model, installed, chosen, budget, max_heavy)
        if reason is not None:
            out.append(reason)
            if max_heavy < 1:
                break  # one sentence says it for all of them
    return out
