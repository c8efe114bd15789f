"""MODEL_NUM_CTX: one context length per model, honoured on every route or not sent at all.

Why the check: Ollama's `/v1` routes carry no options (openai/openai.go builds only sampling
options), so a `/v1` request gets the model's own default -- the Modelfile's
`PARAMETER num_ctx`, else OLLAMA_CONTEXT_LENGTH, else Ollama's automatic value. If native
requests carried another `num_ctx`, native and `/v1` requests in turn would reload the model
every time (server/sched.go:1381). So the gateway sends the configured value only once it has
seen that Ollama's default for the model is that value (from `/api/show` `parameters`, or
the `context_length` of the loaded model in `/api/ps`); otherwise it logs once what to change
in Ollama and sends no `num_ctx`, which keeps every route on the same value.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pbpm_desktop.core.settings import Settings
from pbpm_desktop.core.upstream.client import OllamaClient, OllamaError

log = logging.getLogger(__name__)

_PARAM_RE = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)

__all__ = ["NumCtxPolicy", "modelfile_num_ctx"]


def modelfile_num_ctx(show: dict[str, Any]) -> int | None:
    """`num_ctx` from an `/api/show` answer's `parameters` text, if the Modelfile sets it."""
    match = _PARAM_RE.search(str(show.get("parameters") or ""))
    return int(match.group(1)) if match else None


class NumCtxPolicy:
    """Which `num_ctx` (if any) the gateway puts on native requests for each model."""

    def __init__(self, ollama: OllamaClient, settings: Settings) -> None:
        self.ollama = ollama
        self.configured = settings.num_ctx_map
        self._agreed: dict[str, bool] = {}

    def planned(self, model: str) -> int | None:
        """The configured context length (for sizing the VRAM plan), agreed or not."""
        value = self.configured.get(model)
        if value is None and model.endswith(":latest"):
            value = self.configured.get(model.removesuffix(":latest"))
        return value

    def observe_ps(self, model: str, context_length: Any) -> None:
        """A loaded model's real context length agrees with the configured one: honour it."""
        value = self.planned(model)
        if value is not None and context_length == value and not self._agreed.get(model):
            self._agreed[model] = True
            log.info("MODEL_NUM_CTX %s=%d matches Ollama's own default", model, value)

    async def value_for(self, model: str) -> int | None:
        """`num_ctx` to send for `model`, or None (send none, drop the client's)."""
        value = self.planned(model)
        if value is None:
            return None
        agreed = self._agreed.get(model)
        if agreed is None:
            try:
                show = await self.ollama.call("POST", "/api/show", {"model": model}, timeout=30)
            except OllamaError:
                return None  # ask again next time
            found = modelfile_num_ctx(show)
            agreed = self._agreed[model] = found == value
            if not agreed:
                log.warning(
                    "MODEL_NUM_CTX %s=%d is not Ollama's default for it (Modelfile num_ctx: %s), "
                    "so /v1 requests would reload it: add `PARAMETER num_ctx %d` to its Modelfile "
                    "(`ollama create`) or set OLLAMA_CONTEXT_LENGTH=%d; until then no num_ctx "
                    "is sent for it",
                    model,
                    value,
                    found if found is not None else "none",
                    value,
                    value,
                )
        return value if agreed else None
