"""Gateway CPU per request, per route: `python -m benchmarks.cpu_per_request [--src DIR]`.

Wall latency on a shared 2-core machine drifts by tens of microseconds from run to run; the
CPU seconds the gateway process itself used (from /proc) per request are far steadier, and
they are what the hot path costs. This drives three request kinds one after another through
the gateway, on one keep-alive connection (concurrency 1, so the figure is the per-request
path, not batching effects), and reports gateway CPU µs per request for each:

* `chat`: non-streamed `/api/chat` (16 tokens);
* `chat_stream`: streamed `/api/chat` (16 NDJSON chunks);
* `openai_stream`: streamed `/v1/chat/completions` (16 SSE deltas).

Each kind runs with a plain key and with a key that has a roomy `tokens_per_day` (the quota
path: reservation, cap injection, the stream budget). `--rounds` repeats the whole set in
alternation, so a neighbour's load spreads over every kind; the report gives the median and
the spread over rounds. `--src DIR` runs another checkout's gateway (e.g. `git archive` of an
older commit) against this tree's simulator, for before/after figures on one machine.
`--profile FILE` runs the gateway under cProfile and writes its stats to FILE on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.client import HttpConnection, build_request
from benchmarks.procs import REPO_ROOT, Child, cpu_seconds, start_gateway, start_simulator
from benchmarks.scenarios import CHAT_MESSAGES, HOST, MODEL, Bench

KINDS = {
    "chat": ("/api/chat", False),
    "chat_stream": ("/api/chat", True),
    "openai_stream": ("/v1/chat/completions", True),
}


def _request(port: int, key: str, path: str, stream: bool) -> bytes:
    """A small chat that names its cap (16, the simulator's natural length): the simulator
    answers a request with `num_predict` tokens exactly, so an uncapped request on a quota
    key (capped by the gateway at what is left) would run for ever."""
    payload: dict[str, Any] = {"model": MODEL, "messages": CHAT_MESSAGES, "stream": stream}
    if path.startswith("/v1/"):
        payload["max_tokens"] = 16
    else:
        payload["options"] = {"num_predict": 16}
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    return build_request("POST", path, f"{HOST}:{port}", body, headers)


async def _make_key(bench: Bench, master: str, quota: int | None) -> str:
    payload: dict[str, Any] = {"name": f"cpu-{quota}"}
    if quota:
        payload["tokens_per_day"] = quota
    status, body = await bench.call(
        bench.gateway, "POST", "/admin/create_key", payload, token=master
    )
    if status != 201:
        raise RuntimeError(f"could not create a key (HTTP {status}: {body})")
    return str(body["api_key"])


async def _batch(conn: HttpConnection, data: bytes, stream: bool, n: int) -> int:
    ok = 0
    for _ in range(n):
        res = await conn.request(data, stream=stream, timeout=30)
        ok += res.status == 200
    return ok


async def measure(gateway: Child, bench: Bench, master: str, rounds: int, n: int) -> dict:
    keys = {"plain": await _make_key(bench, master, None)}
    keys["quota"] = await _make_key(bench, master, 2_000_000_000)
    conn = await HttpConnection.open(HOST, gateway.port)
    samples: dict[str, list[float]] = {}
    failed = 0
    try:
        plan = [(k, kind) for k in keys for kind in KINDS]
        for k, kind in plan:  # warm-up: imports, caches, the first DB load of a key's day
            path, stream = KINDS[kind]
            await _batch(conn, _request(gateway.port, keys[k], path, stream), stream, 50)
        for _ in range(rounds):
            for k, kind in plan:
                path, stream = KINDS[kind]
                data = _request(gateway.port, keys[k], path, stream)
                before = cpu_seconds(gateway.pid)
                ok = await _batch(conn, data, stream, n)
                used = cpu_seconds(gateway.pid) - before
                failed += n - ok
                samples.setdefault(f"{kind}/{k}", []).append(used / n * 1e6)
    finally:
        conn.close()
    out: dict[str, Any] = {"failed": failed, "requests_per_sample": n, "rounds": rounds}
    for name, values in samples.items():
        out[name] = {
            "median_us": round(statistics.median(values), 1),
            "min_us": round(min(values), 1),
            "max_us": round(max(values), 1),
        }
    return out


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    src: Path = args.src
    master = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="pbpm-cpu-") as tmp:
        workdir = Path(tmp)
        sim = start_simulator(workdir)  # this tree's simulator for every gateway: same upstream
        gateway = None
        try:
            if args.profile:
                gateway = _start_profiled(workdir, sim.url, master, src, Path(args.profile))
            else:
                gateway = start_gateway(workdir, sim.url, master, MODEL, src=src)
            bench = Bench(sim, gateway)
            return await measure(gateway, bench, master, args.rounds, args.requests)
        finally:
            if gateway is not None:
                gateway.stop()
            sim.stop()


def _start_profiled(workdir: Path, sim_url: str, master: str, src: Path, out: Path) -> Child:
    """The gateway under cProfile: `python -m cProfile -o OUT -m pbpm_desktop serve ...`."""
    import benchmarks.procs as procs

    original = procs.spawn

    def spawn(name: str, args: list[str], *rest: Any, **kw: Any) -> Child:
        return original(name, ["-m", "cProfile", "-o", str(out.resolve()), *args], *rest, **kw)

    procs.spawn = spawn  # type: ignore[assignment]
    try:
        return start_gateway(workdir, sim_url, master, MODEL, src=src)
    finally:
        procs.spawn = original  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--src", help="another checkout whose gateway to measure")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300, help="requests per sample")
    parser.add_argument("--profile", help="write the gateway's cProfile stats to this file")
    args = parser.parse_args()
    args.src = Path(args.src).resolve() if args.src else REPO_ROOT
    print(json.dumps(asyncio.run(_main(args)), indent=1))


if __name__ == "__main__":
    main()
