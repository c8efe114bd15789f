"""``python -m pbpm_desktop.simulator``: a simulator on its own, until Ctrl-C.

Why: ``serve`` against it by hand, and the benchmarks, which run it in its own process so that
its CPU time is measured apart from the gateway's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os

from pbpm_desktop.simulator.behaviour import SimBehaviour
from pbpm_desktop.simulator.server import OllamaSimulator
from pbpm_desktop.simulator.wire import _GIB


async def _serve_forever(args: argparse.Namespace) -> None:
    sim = OllamaSimulator(
        vram_capacity=int(args.vram_gb * _GIB) if args.vram_gb else None,
        token_delay=args.token_delay,
        load_delay=args.load_delay,
        unload_delay=args.unload_delay,
        response_tokens=args.response_tokens,
        behaviour=SimBehaviour(
            max_loaded=args.max_loaded or None,
            num_parallel=args.num_parallel or None,
            memory_settle_s=args.memory_settle,
            no_cloud=args.no_cloud,
        ),
    )
    url = await sim.start(args.host, args.port)
    print(url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    """Run a simulator until Ctrl-C; prints its URL on the first line of stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m pbpm_desktop.simulator", description="Simulated Ollama server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434, help="0 picks a free port")
    parser.add_argument("--token-delay", type=float, default=0.02, help="seconds per token")
    parser.add_argument("--load-delay", type=float, default=0.5, help="seconds per model load")
    parser.add_argument("--unload-delay", type=float, default=0.05, help="seconds per unload")
    parser.add_argument("--response-tokens", type=int, default=40, help="tokens per answer")
    parser.add_argument("--vram-gb", type=float, default=None, help="VRAM capacity (GiB)")
    parser.add_argument("--max-loaded", type=int, default=3, help="OLLAMA_MAX_LOADED_MODELS; 0=off")
    parser.add_argument(
        "--num-parallel",
        type=int,
        default=int(os.environ.get("PBPM_SIM_NUM_PARALLEL") or 1),
        help="OLLAMA_NUM_PARALLEL; 0=off (default: $PBPM_SIM_NUM_PARALLEL, else 1)",
    )
    parser.add_argument("--memory-settle", type=float, default=0.0, help="free-memory lag (s)")
    parser.add_argument("--no-cloud", action="store_true", help="OLLAMA_NO_CLOUD")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args))
