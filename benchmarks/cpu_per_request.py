"""Gateway CPU per request, per route: `python -m benchmarks.cpu_per_request [--against DIR]`.

Wall latency on a shared 2-core machine drifts by tens of microseconds from run to run; the
CPU seconds the gateway process itself used (from /proc) per request are far steadier, and
they are what the hot path costs. This drives three request kinds one after another through
the gateway, on one keep-alive connection (concurrency 1, so the figure is the per-request
path, not batching effects), and reports gateway CPU µs per request for each, on the
event-loop thread (`... threads`: the other threads, mostly the audit's SQLite writes):

* `chat`: non-streamed `/api/chat` (`--tokens`, 16 by default);
* `chat_stream`: streamed `/api/chat` (one NDJSON chunk a token);
* `openai_stream`: streamed `/v1/chat/completions` (one SSE delta a token).

`--tokens 200` makes the per-chunk cost (trackers, quota cap, write deadline) dominate.

Each kind runs with a plain key and with a key that has a roomy `tokens_per_day` (the quota
path: reservation, cap injection, the stream budget). `--rounds` repeats the whole set in
alternation, so a neighbour's load spreads over every kind; the report gives the median and
the spread over rounds. `--against DIR` also starts another checkout's gateway (e.g. `git
archive 9c58752 | tar -x -C /tmp/pre9`) on the same simulator and interleaves the two batch by
batch, so a neighbour's load hits both alike: the difference is the figure to quote, not the
absolute values. `--src DIR` measures another checkout instead of this one. `--profile FILE`
runs the gateway under cProfile and writes its stats to FILE on exit (one gateway only).

Example (2-core machine shared with test suites, 2026-12-02): see the issue 9 note.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.client import HttpConnection, build_request
from benchmarks.procs import REPO_ROOT, Child, start_gateway, start_simulator
from benchmarks.scenarios import CHAT_MESSAGES, HOST, MODEL, Bench

KINDS = {
    "chat": ("/api/chat", False),
    "chat_stream": ("/api/chat", True),
    "openai_stream": ("/v1/chat/completions", True),
}


def cpu_ns(pid: int) -> tuple[int, int]:
    """On-CPU nanoseconds of `pid`'s event-loop thread and of all its other threads (SQLite,
    executor) from /proc/PID/task/*/schedstat: the scheduler's own clock, where
    /proc/PID/stat counts in 10 ms ticks."""
    loop = other = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            ns = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
        if task.name == str(pid):
            loop += ns
        else:
            other += ns
    return loop, other


def _request(port: int, key: str, path: str, stream: bool, tokens: int) -> bytes:
    """A small chat that names its cap: the simulator answers a request with `num_predict`
    tokens exactly, so an uncapped request on a quota key (capped by the gateway at what is
    left) would run for ever."""
    payload: dict[str, Any] = {"model": MODEL, "messages": CHAT_MESSAGES, "stream": stream}
    if path.startswith("/v1/"):
        payload["max_tokens"] = tokens
    else:
        payload["options"] = {"num_predict": tokens}
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


@dataclass
class Subject:
    """One gateway under measurement: its process, keys, connection and samples."""

    name: str
    bench: Bench
    keys: dict[str, str] = field(default_factory=dict)
    conn: HttpConnection | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)
    failed: int = 0
    tokens: int = 16

    async def batch(self, key: str, kind: str, n: int, measured: bool = True) -> None:
        assert self.conn is not None
        gateway = self.bench.gateway
        path, stream = KINDS[kind]
        data = _request(gateway.port, self.keys[key], path, stream, self.tokens)
        loop, other = cpu_ns(gateway.pid)
        ok = await _batch(self.conn, data, stream, n)
        loop_after, other_after = cpu_ns(gateway.pid)
        if measured:
            self.failed += n - ok
            name = f"{kind}/{key}"
            self.samples.setdefault(name, []).append((loop_after - loop) / n / 1e3)
            self.samples.setdefault(f"{name} threads", []).append((other_after - other) / n / 1e3)


async def measure(
    subjects: list[Subject], master: str, rounds: int, n: int, kinds: list[str]
) -> dict:
    """Every (key, kind) batch on each gateway in turn, `rounds` times: a neighbour's load
    lands on every gateway and kind alike."""
    for subject in subjects:
        subject.keys["plain"] = await _make_key(subject.bench, master, None)
        subject.keys["quota"] = await _make_key(subject.bench, master, 2_000_000_000)
        subject.conn = await HttpConnection.open(HOST, subject.bench.gateway.port)
    plan = [(key, kind) for kind, key in (name.split("/") for name in kinds)]
    try:
        for subject in subjects:  # warm-up: imports, caches, the first load of a key's day
            for k, kind in plan:
                await subject.batch(k, kind, 50, measured=False)
        for _ in range(rounds):
            for k, kind in plan:
                for subject in subjects:
                    await subject.batch(k, kind, n)
    finally:
        for subject in subjects:
            if subject.conn is not None:
                subject.conn.close()
    out: dict[str, Any] = {"requests_per_sample": n, "rounds": rounds}
    for subject in subjects:
        report: dict[str, Any] = {"failed": subject.failed}
        for name, values in subject.samples.items():
            report[name] = {
                "median_us": round(statistics.median(values), 1),
                "min_us": round(min(values), 1),
                "max_us": round(max(values), 1),
            }
        out[subject.name] = report
    if len(subjects) == 2:
        first, second = (s.name for s in subjects)
        out[f"{second} - {first} (median us)"] = {
            name: round(out[second][name]["median_us"] - out[first][name]["median_us"], 1)
            for name in subjects[0].samples
        }
    return out


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    master = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="pbpm-cpu-") as tmp:
        workdir = Path(tmp)
        sim = start_simulator(workdir)  # this tree's simulator for every gateway: same upstream
        subjects: list[Subject] = []
        try:
            trees = [("against", args.against)] if args.against else []
            trees.append(("this", args.src))
            for name, src in trees:
                home = workdir / name
                home.mkdir()
                if args.profile:
                    gateway = _start_profiled(home, sim.url, master, src, Path(args.profile))
                else:
                    gateway = start_gateway(home, sim.url, master, MODEL, src=src)
                subject = Subject(f"{name} ({src})", Bench(sim, gateway), tokens=args.tokens)
                subjects.append(subject)
            return await measure(subjects, master, args.rounds, args.requests, args.kinds)
        finally:
            for subject in subjects:
                subject.bench.gateway.stop()
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
    parser.add_argument(
        "--against", help="a second checkout, measured side by side (batches interleaved)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300, help="requests per sample")
    parser.add_argument(
        "--kinds",
        default=",".join(f"{kind}/{k}" for k in ("plain", "quota") for kind in KINDS),
        help="comma list of KIND/KEY to run, as reported (default: all six)",
    )
    parser.add_argument("--tokens", type=int, default=16, help="tokens per answer")
    parser.add_argument("--profile", help="write the gateway's cProfile stats to this file")
    args = parser.parse_args()
    args.src = Path(args.src).resolve() if args.src else REPO_ROOT
    args.against = Path(args.against).resolve() if args.against else None
    args.kinds = [name.strip() for name in args.kinds.split(",") if name.strip()]
    print(json.dumps(asyncio.run(_main(args)), indent=1))


if __name__ == "__main__":
    main()
