"""Run the gateway benchmarks: `python -m benchmarks.run [--quick] [--out results.json]`.

Starts the Ollama simulator and the gateway (`pbpm-desktop serve`) as separate processes on
127.0.0.1, drives them from this process, prints a table and writes the same figures as JSON
(default `benchmarks/results/<time>.json`, git-ignored) so runs can be compared over time.
Every request loop is bounded by a count or a deadline; the children are stopped at the end
(the gateway with SIGTERM, so its audit is flushed and then counted: no record may be lost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/run.py`: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import scenarios
from benchmarks.procs import REPO_ROOT, Child, raise_fd_limit, start_gateway, start_simulator
from benchmarks.scenarios import MODEL, Bench

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Plan:
    """How much of each scenario to run."""

    latency_pairs: int
    latency_warmup: int
    streams: int
    stream_tokens: int
    concurrency: int
    throughput_window_s: float
    throughput_rounds: int
    concurrent_streams: int
    streams_duration_s: float
    slow_tokens: int
    slow_token_delay: float


FULL = Plan(3000, 300, 30, 200, 32, 1.0, 8, 500, 12.0, 40, 0.1)
QUICK = Plan(500, 100, 4, 200, 32, 1.0, 2, 500, 5.0, 20, 0.1)


@dataclass(frozen=True)
class Target:
    name: str
    path: tuple[str, ...]
    op: str  # "<=", "<", ">=", "=="
    limit: float
    unit: str

    def value(self, results: dict[str, Any]) -> Any:
        node: Any = results
        for part in self.path:
            node = node[part]
        return node

    def met(self, value: Any) -> bool:
        if not isinstance(value, int | float) or math.isnan(value):
            return False
        return {
            "<=": value <= self.limit,
            "<": value < self.limit,
            ">=": value >= self.limit,
            "==": value == self.limit,
        }[self.op]


TARGETS = (
    Target("added latency p50 (c=1)", ("latency", "added_ms", "p50"), "<=", 0.7, "ms"),
    Target("added latency p99 (c=1)", ("latency", "added_ms", "p99"), "<=", 3.0, "ms"),
    Target("added TTFT p50", ("streaming", "added_ttft_ms", "p50"), "<=", 1.0, "ms"),
    Target("inter-chunk gap ratio p99", ("streaming", "gap_ratio", "p99"), "<=", 1.05, "x"),
    Target("throughput gateway/direct (c=32)", ("throughput", "ratio"), ">=", 0.6, "x"),
    Target("RSS with all streams open", ("many_streams", "rss_at_full_mb"), "<", 200.0, "MB"),
    Target("audit records lost", ("audit", "lost"), "==", 0, ""),
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    p.add_argument(
        "--quick", action="store_true", help="a short run (about 30 s; the full one about 2 min)"
    )
    p.add_argument("--out", type=Path, help="JSON file (default benchmarks/results/<time>.json)")
    p.add_argument("--keep", action="store_true", help="keep the temporary dir (logs, DB)")
    p.add_argument(
        "--src",
        type=Path,
        default=REPO_ROOT,
        help="run the gateway and simulator from this source tree (default: this checkout), "
        "e.g. an unpacked `git archive` of an older commit, to compare versions",
    )
    p.add_argument("--latency-pairs", type=int)
    p.add_argument("--streams", type=int, help="streamed chats per side for TTFT and gaps")
    p.add_argument("--stream-tokens", type=int, help="tokens per streamed chat (default 200)")
    p.add_argument("--concurrency", type=int, help="connections per side for throughput")
    p.add_argument("--throughput-window", type=float, help="seconds per throughput window")
    p.add_argument("--throughput-rounds", type=int, help="windows per side")
    p.add_argument("--concurrent-streams", type=int, help="slow streams held at once")
    p.add_argument("--streams-duration", type=float, help="seconds of slow-stream load")
    p.add_argument("--slow-tokens", type=int, help="tokens per slow stream")
    p.add_argument("--slow-token-delay", type=float, help="seconds between slow-stream tokens")
    return p.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    base = QUICK if args.quick else FULL
    overrides = {
        "latency_pairs": args.latency_pairs,
        "streams": args.streams,
        "stream_tokens": args.stream_tokens,
        "concurrency": args.concurrency,
        "throughput_window_s": args.throughput_window,
        "throughput_rounds": args.throughput_rounds,
        "concurrent_streams": args.concurrent_streams,
        "streams_duration_s": args.streams_duration,
        "slow_tokens": args.slow_tokens,
        "slow_token_delay": args.slow_token_delay,
    }
    values = {**base.__dict__, **{k: v for k, v in overrides.items() if v is not None}}
    if args.latency_pairs is not None:
        values["latency_warmup"] = min(base.latency_warmup, max(args.latency_pairs // 5, 5))
    return Plan(**values)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The load generator runs on uvloop where installed: less client cost per request."""
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


async def run_scenarios(bench: Bench, plan: Plan, master: str) -> dict[str, Any]:
    await bench.create_key(master)
    results: dict[str, Any] = {}
    steps = (
        ("latency", lambda: scenarios.latency(bench, plan.latency_pairs, plan.latency_warmup)),
        ("streaming", lambda: scenarios.streaming(bench, plan.streams, plan.stream_tokens)),
        (
            "throughput",
            lambda: scenarios.throughput(
                bench, plan.concurrency, plan.throughput_window_s, plan.throughput_rounds
            ),
        ),
        (
            "many_streams",
            lambda: scenarios.many_streams(
                bench,
                plan.concurrent_streams,
                plan.streams_duration_s,
                plan.slow_tokens,
                plan.slow_token_delay,
            ),
        ),
    )
    foreign: dict[str, float] = {}
    for name, step in steps:
        started = time.monotonic()
        print(f"  {name} …", end="", flush=True, file=sys.stderr)
        meter = scenarios.CpuMeter(bench)
        results[name] = await asyncio.wait_for(step(), 600)
        foreign[name] = meter.other_pct()
        print(f" {time.monotonic() - started:.1f}s", flush=True, file=sys.stderr)
    results["foreign_cpu_pct"] = foreign
    results["audit_live"] = await scenarios.settle_audit(bench)
    return results


def run(plan: Plan, keep: bool = False, src: Path = REPO_ROOT) -> dict[str, Any]:
    """Start both processes, run every scenario, stop them, and count the audit rows."""
    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="pbpm-bench-"))
    master = "bench-master-" + secrets.token_urlsafe(24)
    sim: Child | None = None
    gateway: Child | None = None
    started = time.monotonic()
    try:
        sim = start_simulator(workdir, src=src)
        gateway = start_gateway(workdir, sim.url, master, MODEL, src=src)
        bench = Bench(sim, gateway)
        loop = new_event_loop()
        try:
            results = loop.run_until_complete(run_scenarios(bench, plan, master))
        except BaseException:
            for child in (gateway, sim):  # what the children said is usually the explanation
                print(f"--- {child.name} log tail ---\n{child.log_tail()}", file=sys.stderr)
            raise
        finally:
            loop.close()
        code = gateway.stop()
        rows = bench.audit_rows()
        results["audit"] = {
            "sent": bench.gateway_requests,
            "rows": rows,
            "lost": max(bench.gateway_requests - rows, 0),
            "extra": max(rows - bench.gateway_requests, 0),
            "gateway_exit_code": code,
            **results.pop("audit_live"),
        }
        results["errors"] = bench.errors
        results["meta"] = meta(plan, time.monotonic() - started, workdir if keep else None)
        results["meta"]["src"] = "." if src == REPO_ROOT else str(src)
        return results
    finally:
        for child in (gateway, sim):
            if child is not None:
                child.stop()
        if not keep:
            _remove_tree(workdir)


def _remove_tree(path: Path) -> None:
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if child.is_dir():
            child.rmdir()
        else:
            child.unlink()
    path.rmdir()


def meta(plan: Plan, seconds: float, workdir: Path | None) -> dict[str, Any]:
    """What produced these figures, so a later comparison knows what it compares."""
    import aiohttp

    try:
        import uvloop

        uvloop_version: str | None = uvloop.__version__
    except ImportError:
        uvloop_version = None
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "uvloop": uvloop_version,
        "plan": plan.__dict__,
        "seconds": round(seconds, 1),
        "workdir": str(workdir) if workdir else None,
    }


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return ""
    return out.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for t in TARGETS:
        try:
            value = t.value(results)
        except (KeyError, TypeError):
            value = None
        out.append(
            {
                "target": t.name,
                "value": value,
                "limit": f"{t.op} {t.limit:g} {t.unit}".strip(),
                "met": t.met(value),
            }
        )
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def table(results: dict[str, Any]) -> str:
    """The human-readable summary: the figures, then each target with met/missed."""
    lat, st, tp, ms, au = (
        results["latency"],
        results["streaming"],
        results["throughput"],
        results["many_streams"],
        results["audit"],
    )
    rows: list[tuple[str, str, str, str]] = [("measure", "direct", "gateway", "added / ratio")]
    for q in ("p50", "p90", "p99"):
        rows.append(
            (
                f"chat latency {q} (ms, c=1)",
                _fmt(lat["direct_ms"][q]),
                _fmt(lat["gateway_ms"][q]),
                _signed(lat["added_ms"][q]),
            )
        )
    for q in ("p50", "p90"):
        rows.append(
            (
                f"TTFT {q} (ms)",
                _fmt(st["ttft_direct_ms"][q]),
                _fmt(st["ttft_gateway_ms"][q]),
                _signed(st["added_ttft_ms"][q]),
            )
        )
    for q in ("p50", "p90", "p99"):
        rows.append(
            (
                f"inter-chunk gap {q} (ms)",
                _fmt(st["gap_direct_ms"][q]),
                _fmt(st["gap_gateway_ms"][q]),
                f"x{_fmt(st['gap_ratio'][q])}",
            )
        )
    rows.append(
        (
            "chunks merged (<1 ms apart)",
            str(st["merged_chunks"]["direct"]),
            str(st["merged_chunks"]["gateway"]),
            "",
        )
    )
    rows.append(
        (
            f"throughput (req/s, c={tp['concurrency']})",
            _fmt(tp["direct_rps"]),
            _fmt(tp["gateway_rps"]),
            f"x{_fmt(tp['ratio'])} (rounds x{min(tp['round_ratios'], default=0):.2f}"
            f"-{max(tp['round_ratios'], default=0):.2f}, median x"
            f"{_fmt(tp['ratio_median_of_rounds'])})",
        )
    )
    cpu = tp["cpu_us_per_request"]
    rows.append(
        (
            "CPU per request (us: sim/gw/client)",
            f"{_fmt(cpu['direct']['simulator'])}/-/{_fmt(cpu['direct']['client'])}",
            f"{_fmt(cpu['gateway']['simulator'])}/{_fmt(cpu['gateway']['gateway'])}"
            f"/{_fmt(cpu['gateway']['client'])}",
            f"gateway = x{_fmt(tp['gateway_cpu_per_simulator_cpu'])} simulator",
        )
    )
    rows.append(
        (
            f"gateway RSS (MB): idle / {ms['concurrent']} streams",
            "",
            f"{_fmt(ms['rss_idle_mb'])} / {_fmt(ms['rss_at_full_mb'])}",
            f"HWM {_fmt(ms['vm_hwm_mb'])}",
        )
    )
    rows.append(
        (
            f"audit rows/s: {ms['concurrent']} streams / c={tp['concurrency']}",
            "",
            f"{_fmt(ms['audit_rows_per_s'])} / {_fmt(tp['gateway_rps'])}",
            f"flush lag {_fmt(ms['flush_lag_s'])} / {_fmt(tp['audit_flush_lag_s'])} s",
        )
    )
    rows.append(
        ("audit rows: sent / written / lost", "", f"{au['sent']} / {au['rows']}", str(au["lost"]))
    )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    tw = max(len(t["target"]) for t in results["targets"])
    for t in results["targets"]:
        verdict = "met" if t["met"] else "MISSED"
        lines.append(f"{t['target'].ljust(tw)}  {_fmt(t['value']):>10}  {t['limit']:<12} {verdict}")
    foreign = results.get("foreign_cpu_pct") or {}
    if foreign:
        lines.append("")
        lines.append(
            "CPU used by other processes during each phase (% of the machine): "
            + ", ".join(f"{k} {v:g}" for k, v in foreign.items())
        )
    if results.get("errors"):
        lines.append("")
        lines.append(f"errors ({len(results['errors'])}): " + "; ".join(results["errors"][:5]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    print(f"PBPM gateway benchmark ({'quick' if args.quick else 'full'} run)", file=sys.stderr)
    results = run(plan, keep=args.keep, src=args.src.resolve())
    results["targets"] = evaluate(results)
    out = args.out or RESULTS_DIR / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
