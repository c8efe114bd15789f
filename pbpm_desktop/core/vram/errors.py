"""Errors of the VRAM policy; each carries the HTTP status the gateway answers with.

Kept in their own module so the scheduler and the manager can both raise them;
`pbpm_desktop.core.vram.manager` re-exports them and is where callers import them from.
"""

from __future__ import annotations

from pbpm_desktop.core.errors import GatewayError


class VramError(GatewayError):
    """A VRAM policy refusal; `.status` is the HTTP status, `.message` tells the user what to do."""

    status = 503


class ModelNotInstalled(VramError):
    """The model is not in /api/tags (the message says which `ollama pull` fixes it)."""

    status = 404


class ModelTooLarge(VramError):
    """The model can never fit VRAM_LIMIT_GB next to the always-on models: refused, not tried."""

    status = 507


class SwapTimeout(VramError):
    """Room for the model could not be made within SWAP_TIMEOUT_S."""

    status = 503
