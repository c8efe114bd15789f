"""What the gateway changes in a client's request before Ollama sees it, and why.

* Runner options (`api.Runner`, ollama api/types.go:588-596) and top-level `shift` are part
  of what Ollama compares to decide whether a loaded model must be reloaded
  (server/sched.go:1381 needsReload). A reload waits in Ollama's single pending-load loop
  until the model is idle, and every other load waits behind it (sched.go:225), so one
  client's `num_ctx` would stall every user of the GPU. They are dropped; where
  `MODEL_NUM_CTX` names the model (and Ollama's own default for it agrees, see
  `core/num_ctx.py`), `num_ctx` is set to that one value for everybody.
* `keep_alive` is the gateway's policy (-1 for always-on, HEAVY_KEEP_ALIVE for on-demand),
  in a form Ollama accepts (core/goduration.py).
"""

from __future__ import annotations

from typing import Any

__all__ = ["RUNNER_OPTIONS", "native_changes"]

#: option keys whose change makes Ollama reload the model (api/types.go:588-596)
RUNNER_OPTIONS = frozenset(
    {"num_ctx", "num_batch", "num_gpu", "main_gpu", "use_mmap", "num_thread", "draft_num_predict"}
)
#: top-level fields that also force a reload (sched.go:1417 contextShift)
RELOADING_FIELDS = ("shift",)


def native_changes(
    payload: dict[str, Any], keep_alive: int | str, num_ctx: int | None
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(fields to set, top-level fields to drop) for a native Ollama request body.

    `options` is only rewritten when it holds a runner option or `num_ctx` must be set, so
    the common request keeps its bytes untouched (see http/payload.py with_fields).
    """
    extra: dict[str, Any] = {"keep_alive": keep_alive}
    options = payload.get("options")
    if isinstance(options, dict):
        kept = {k: v for k, v in options.items() if k not in RUNNER_OPTIONS}
        if num_ctx is not None:
            kept["num_ctx"] = num_ctx
        if kept != options:
            extra["options"] = kept
    elif num_ctx is not None:
        extra["options"] = {"num_ctx": num_ctx}
    drop = tuple(name for name in RELOADING_FIELDS if name in payload)
    return extra, drop
