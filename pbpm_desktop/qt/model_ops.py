"""Preload / unload a model from any button (Models page, tray menu), with shared progress.

Both places show the same "Loading…" state because the pending operation is recorded in
`AppState.pending`; the outcome is reported once through the notifier in words.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QCoreApplication

from pbpm_desktop.core import dashboard
from pbpm_desktop.qt.context import UiContext
from pbpm_desktop.qt.errors import describe
from pbpm_desktop.qt.formatting import duration_ms

PRELOAD, UNLOAD = "preload", "unload"


def start_model_op(ctx: UiContext, op: str, model: str) -> asyncio.Task[bool] | None:
    """Start a preload/unload from a click: progress shows at once, the work runs async.

    Returns None when an operation for that model is already running (double clicks).
    """
    if model in ctx.state.pending:
        return None
    ctx.state.set_pending(model, op)
    return ctx.tasks.spawn(_run(ctx, op, model), model)


async def run_model_op(ctx: UiContext, op: str, model: str) -> bool:
    """Run a preload or unload through the bridge; True on success. Never raises."""
    if model in ctx.state.pending:
        return False
    ctx.state.set_pending(model, op)
    return await _run(ctx, op, model)


async def _run(ctx: UiContext, op: str, model: str) -> bool:
    """Call the gateway, show the new state, then end the progress and say how it went."""
    service = ctx.bridge.service
    try:
        try:
            if op == PRELOAD:
                result = await ctx.bridge.call(service.preload, model)
            else:
                result = await ctx.bridge.call(service.unload, model)
        except Exception as exc:
            failure = (
                QCoreApplication.translate("model_ops", "Could not load {model}: {error}")
                if op == PRELOAD
                else QCoreApplication.translate("model_ops", "Could not unload {model}: {error}")
            )
            await refresh_vram(ctx)
            ctx.state.set_pending(model, None)
            ctx.notifier.error(failure.format(model=model, error=describe(exc)))
            return False
        await refresh_vram(ctx)
    finally:
        ctx.state.set_pending(model, None)  # also when cancelled (quit)
    ctx.notifier.success(_success_text(op, model, result))
    return True


def _success_text(op: str, model: str, result: dict[str, Any]) -> str:
    if op != PRELOAD:
        return QCoreApplication.translate("model_ops", "{model} is unloaded.").format(
            model=result.get("model", model)
        )
    text = QCoreApplication.translate("model_ops", "{model} is loaded ({time}).").format(
        model=result.get("model", model), time=duration_ms(result.get("load_ms"))
    )
    unloaded = result.get("unloaded") or []
    if unloaded:
        text += " " + QCoreApplication.translate(
            "model_ops", "Unloaded to make room: {names}."
        ).format(names=", ".join(unloaded))
    return text


async def refresh_vram(ctx: UiContext) -> None:
    """Fetch a fresh VRAM snapshot (events are throttled; after an action we want it now)."""
    try:
        snapshot = await ctx.bridge.call(dashboard.vram_snapshot, ctx.bridge.service)
    except Exception:  # gateway stopped meanwhile: nothing to show
        return
    ctx.state.set_vram(snapshot)
