"""The measured scenarios. Each interleaves direct-to-simulator and through-gateway work.

Interleaving (alternating single requests, whole streams, or short throughput windows) means a
noisy neighbour, a CPU frequency change or a GC pause in the simulator hits both sides about
equally, so differences and ratios measured in one run are meaningful even on a busy 2-core
machine where absolute figures drift from run to run.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import os
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.client import HttpConnection, Response, build_request
from benchmarks.procs import (
    Child,
    cpu_seconds,
    machine_busy_seconds,
    proc_status,
    tcp_connections,
    thread_cpu_seconds,
)
from benchmarks.stats import NS_PER_MS, diff, ratio, summary_ms

_now = time.perf_counter_ns
HOST = "127.0.0.1"
MODEL = "llama3.2:3b"
CHAT_MESSAGES = [{"role": "user", "content": "Why is the sky blue? Answer briefly."}]


@dataclass
class Bench:
    """Everything the scenarios share: the two processes, the key, and the audit book-keeping."""

    sim: Child
    gateway: Child
    client_key: str = ""
    #: requests sent to the gateway's audited routes (each must leave exactly one audit row)
    gateway_requests: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def db_path(self) -> Path:
        return self.gateway.stdout.parent / "data" / "guard.db"

    def chat(self, target: Child, *, stream: bool) -> bytes:
        """A pre-encoded small chat for `target` (identical bodies, so the work is the same)."""
        body = json.dumps(
            {"model": MODEL, "messages": CHAT_MESSAGES, "stream": stream},
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.client_key}"}
        return build_request("POST", "/api/chat", f"{HOST}:{target.port}", body, headers)

    async def call(
        self, target: Child, method: str, path: str, payload: Any = None, token: str = ""
    ) -> tuple[int, Any]:
        """A one-off JSON request on a fresh connection (setup, not measured)."""
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Connection": "close"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn = await HttpConnection.open(HOST, target.port)
        try:
            res = await conn.request(
                build_request(method, path, f"{HOST}:{target.port}", body, headers), timeout=30
            )
        finally:
            conn.close()
        return res.status, json.loads(res.body) if res.body else None

    async def configure_sim(self, *, token_delay: float, response_tokens: int) -> None:
        status, _ = await self.call(
            self.sim,
            "POST",
            "/_sim/config",
            {"token_delay": token_delay, "response_tokens": response_tokens},
        )
        if status != 200:
            raise RuntimeError(f"simulator refused its configuration (HTTP {status})")

    async def create_key(self, master_key: str) -> None:
        status, body = await self.call(
            self.gateway, "POST", "/admin/create_key", {"name": "bench"}, token=master_key
        )
        if status != 201:
            raise RuntimeError(f"could not create a client key (HTTP {status}: {body})")
        self.client_key = body["api_key"]

    def audit_rows(self) -> int:
        """Rows in the gateway's SQLite audit table, read the way a dashboard would (WAL)."""
        try:
            with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5) as db:
                return int(db.execute("SELECT count(*) FROM usage_records").fetchone()[0])
        except sqlite3.Error:
            return -1

    def check(self, res: Response, what: str, *, stream: bool = False) -> bool:
        ok = res.status == 200 and (
            b'"done":true' in res.tail if stream else b'"done":true' in res.body
        )
        if not ok and len(self.errors) < 20:
            self.errors.append(f"{what}: HTTP {res.status} {res.body[:200]!r}")
        return ok


@contextmanager
def quiet_gc() -> Iterator[None]:
    """No cyclic GC in the load generator while measuring (its pauses would look like latency)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class CpuMeter:
    """CPU seconds used by each process over a span: where the machine's time went.

    `other` is what processes outside the benchmark used (the machine's busy time minus ours):
    on a shared 2-core machine a test suite running beside the benchmark skews the figures,
    and the report says so instead of hiding it.
    """

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.start = self._sample()
        self.started = time.monotonic()

    def _sample(self) -> dict[str, float]:
        threads = thread_cpu_seconds(self.bench.gateway.pid)
        return {
            "gateway": cpu_seconds(self.bench.gateway.pid),
            "gateway_loop_thread": threads["main"],
            "gateway_other_threads": threads["other_threads"],
            "simulator": cpu_seconds(self.bench.sim.pid),
            "client": time.process_time(),
            "machine": machine_busy_seconds(),
        }

    def used(self) -> dict[str, float]:
        end = self._sample()
        out = {k: end[k] - self.start[k] for k in end}
        machine = out.pop("machine")
        ours = out["gateway"] + out["simulator"] + out["client"]
        out["other"] = max(machine - ours, 0.0)
        return {k: round(v, 3) for k, v in out.items()}

    def other_pct(self) -> float:
        """Foreign CPU use over the span, in percent of the machine's capacity."""
        wall = time.monotonic() - self.started
        cpus = os.cpu_count() or 1
        return round(100 * self.used()["other"] / (wall * cpus), 1) if wall > 0 else 0.0


# --------------------------------------------------------------------------------------------
# 1. added latency of a small non-streaming chat, concurrency 1
# --------------------------------------------------------------------------------------------


async def latency(bench: Bench, pairs: int, warmup: int) -> dict[str, Any]:
    """Alternate one direct and one gateway request, back to back, `pairs` times.

    The order flips every pair (D,G then G,D) so neither side always follows the other.
    """
    await bench.configure_sim(token_delay=0.0, response_tokens=16)
    direct = await HttpConnection.open(HOST, bench.sim.port)
    gateway = await HttpConnection.open(HOST, bench.gateway.port)
    req_d, req_g = bench.chat(bench.sim, stream=False), bench.chat(bench.gateway, stream=False)
    samples: dict[str, list[int]] = {"direct": [], "gateway": []}
    failed = 0

    async def one_pair(i: int, keep: bool) -> None:
        nonlocal failed
        order = (("direct", direct, req_d), ("gateway", gateway, req_g))
        for name, conn, req in order if i % 2 == 0 else reversed(order):
            if name == "gateway":
                bench.gateway_requests += 1
            res = await conn.request(req, timeout=30)
            if not bench.check(res, f"latency/{name}"):
                failed += 1
            elif keep:
                samples[name].append(res.elapsed_ns)

    try:
        for i in range(warmup):
            await one_pair(i, keep=False)
        with quiet_gc():
            for i in range(pairs):
                await one_pair(i, keep=True)
    finally:
        direct.close()
        gateway.close()
    d, g = summary_ms(samples["direct"]), summary_ms(samples["gateway"])
    return {
        "pairs": pairs,
        "upstream_connections": tcp_connections(bench.gateway.pid, bench.sim.port),
        "direct_ms": d,
        "gateway_ms": g,
        "added_ms": diff(g, d, ("p50", "p90", "p99", "mean")),
        "failed": failed,
    }


# --------------------------------------------------------------------------------------------
# 2. streamed chat: time to first token and gaps between chunks
# --------------------------------------------------------------------------------------------


async def streaming(
    bench: Bench, streams: int, tokens: int = 200, token_delay: float = 0.005
) -> dict[str, Any]:
    """Alternate whole direct and gateway streams of `tokens` tokens spaced `token_delay` apart.

    TTFT is request sent -> first complete NDJSON line. Gaps are between consecutive token
    lines; the final `done` line is excluded because the simulator sends it right after the
    last token. A gap under 1 ms means two tokens arrived together: batching, which a
    pass-through proxy must not add; `merged` counts those.
    """
    await bench.configure_sim(token_delay=token_delay, response_tokens=tokens)
    direct = await HttpConnection.open(HOST, bench.sim.port)
    gateway = await HttpConnection.open(HOST, bench.gateway.port)
    req_d, req_g = bench.chat(bench.sim, stream=True), bench.chat(bench.gateway, stream=True)
    ttft: dict[str, list[int]] = {"direct": [], "gateway": []}
    gaps: dict[str, list[int]] = {"direct": [], "gateway": []}
    lines_ok, failed = True, 0
    try:
        with quiet_gc():
            for i in range(streams + 1):  # the first pair warms up
                order = (("direct", direct, req_d), ("gateway", gateway, req_g))
                for name, conn, req in order if i % 2 == 0 else reversed(order):
                    if name == "gateway":
                        bench.gateway_requests += 1
                    res = await conn.request(req, stream=True, timeout=60)
                    if not bench.check(res, f"stream/{name}", stream=True):
                        failed += 1
                        continue
                    if len(res.line_ns) != tokens + 1:
                        lines_ok = False
                    if i == 0:
                        continue
                    ttft[name].append(res.line_ns[0] - res.sent_ns)
                    token_lines = res.line_ns[:tokens]
                    gaps[name].extend(b - a for a, b in itertools.pairwise(token_lines))
    finally:
        direct.close()
        gateway.close()
    qs = ("p50", "p90", "p99")
    td, tg = summary_ms(ttft["direct"]), summary_ms(ttft["gateway"])
    gap_qs = (1, 50, 90, 99)
    gd, gg = summary_ms(gaps["direct"], gap_qs), summary_ms(gaps["gateway"], gap_qs)
    merged = {k: sum(1 for g in v if g < NS_PER_MS) for k, v in gaps.items()}
    return {
        "streams": streams,
        "tokens": tokens,
        "token_delay_ms": token_delay * 1e3,
        "ttft_direct_ms": td,
        "ttft_gateway_ms": tg,
        "added_ttft_ms": diff(tg, td, ("p50", "p90", "mean")),
        "gap_direct_ms": gd,
        "gap_gateway_ms": gg,
        "gap_ratio": ratio(gg, gd, (*qs, "mean")),
        "merged_chunks": merged,
        "every_line_arrived": lines_ok,
        "failed": failed,
    }


# --------------------------------------------------------------------------------------------
# 3. throughput at concurrency 32
# --------------------------------------------------------------------------------------------


async def _window(
    conns: list[HttpConnection], req: bytes, seconds: float, on_result: Callable[[Response], bool]
) -> tuple[int, int, list[int]]:
    """Every connection sends back to back until the window closes; (done, elapsed ns, lat)."""
    started = _now()
    end = started + int(seconds * 1e9)
    latencies: list[int] = []
    last = [started]

    async def worker(conn: HttpConnection) -> int:
        n = 0
        while _now() < end:
            res = await conn.request(req, timeout=30)
            if on_result(res):
                n += 1
                latencies.append(res.elapsed_ns)
            last[0] = max(last[0], res.done_ns)
        return n

    counts = await asyncio.gather(*(worker(c) for c in conns))
    return sum(counts), last[0] - started, latencies


async def throughput(
    bench: Bench, concurrency: int, window_s: float, rounds: int
) -> dict[str, Any]:
    """`rounds` alternating windows per side; each side's rate is its requests over its time.

    The client is the same cheap code for both sides; with the simulator, the gateway and the
    client sharing two cores, the ratio is what a user on this machine would see.
    """
    await bench.configure_sim(token_delay=0.0, response_tokens=16)
    pools = {
        "direct": [await HttpConnection.open(HOST, bench.sim.port) for _ in range(concurrency)],
        "gateway": [
            await HttpConnection.open(HOST, bench.gateway.port) for _ in range(concurrency)
        ],
    }
    reqs = {
        "direct": bench.chat(bench.sim, stream=False),
        "gateway": bench.chat(bench.gateway, stream=False),
    }
    done = {"direct": 0, "gateway": 0}
    elapsed = {"direct": 0, "gateway": 0}
    lat: dict[str, list[int]] = {"direct": [], "gateway": []}
    failed = {"direct": 0, "gateway": 0}
    cpu: dict[str, dict[str, float]] = {"direct": {}, "gateway": {}}
    pair_ratios: list[float] = []  # gateway/direct of each round's two adjacent windows
    rows_before = bench.audit_rows()

    def judge(name: str) -> Callable[[Response], bool]:
        def on_result(res: Response) -> bool:
            if name == "gateway":
                bench.gateway_requests += 1
            if bench.check(res, f"throughput/{name}"):
                return True
            failed[name] += 1
            return False

        return on_result

    try:
        for name in ("direct", "gateway"):  # warm up: connections, caches, CPU clocks
            await _window(pools[name], reqs[name], min(window_s, 0.5), judge(name))
        with quiet_gc():
            for r in range(rounds):
                order = ("direct", "gateway") if r % 2 == 0 else ("gateway", "direct")
                rate: dict[str, float] = {}
                for name in order:
                    meter = CpuMeter(bench)
                    n, ns, latencies = await _window(pools[name], reqs[name], window_s, judge(name))
                    used = meter.used()
                    for k, v in used.items():
                        cpu[name][k] = round(cpu[name].get(k, 0.0) + v, 3)
                    done[name] += n
                    elapsed[name] += ns
                    lat[name].extend(latencies)
                    rate[name] = n / (ns / 1e9) if ns else 0.0
                if rate["direct"]:
                    pair_ratios.append(rate["gateway"] / rate["direct"])
    finally:
        for conns in pools.values():
            for c in conns:
                c.close()
    lag_s = (await settle_audit(bench))["waited_s"]  # did the writer keep up with the peak?
    rps = {k: round(done[k] / (elapsed[k] / 1e9), 1) if elapsed[k] else 0.0 for k in done}
    per_request_us = {
        name: {
            proc: round(seconds / done[name] * 1e6, 1) if done[name] else float("nan")
            for proc, seconds in cpu[name].items()
            if proc != "other"
        }
        for name in cpu
    }
    return {
        "concurrency": concurrency,
        "window_s": window_s,
        "rounds": rounds,
        "requests": done,
        "direct_rps": rps["direct"],
        "gateway_rps": rps["gateway"],
        "ratio": round(rps["gateway"] / rps["direct"], 4) if rps["direct"] else float("nan"),
        "ratio_median_of_rounds": round(statistics.median(pair_ratios), 4)
        if pair_ratios
        else float("nan"),
        "round_ratios": [round(r, 3) for r in pair_ratios],
        "latency_direct_ms": summary_ms(lat["direct"]),
        "latency_gateway_ms": summary_ms(lat["gateway"]),
        "cpu_us_per_request": per_request_us,
        # machine-speed-independent: what the gateway costs per request relative to what the
        # simulator (itself an aiohttp server building the answer) costs for the same request
        "gateway_cpu_per_simulator_cpu": round(
            per_request_us["gateway"]["gateway"] / per_request_us["gateway"]["simulator"], 3
        )
        if done["gateway"] and cpu["gateway"].get("simulator")
        else float("nan"),
        "audit_rows_during_phase": max(bench.audit_rows() - rows_before, 0),
        "audit_flush_lag_s": lag_s,
        "failed": failed,
    }


# --------------------------------------------------------------------------------------------
# 4. memory and audit under many concurrent slow streams
# --------------------------------------------------------------------------------------------


async def many_streams(
    bench: Bench,
    concurrent: int,
    duration_s: float,
    tokens: int,
    token_delay: float,
    ramp_batch: int = 50,
) -> dict[str, Any]:
    """Hold `concurrent` slow streams through the gateway for `duration_s`, each connection
    starting a new stream as soon as its previous one ends (bounded by the deadline).

    RSS is sampled every 50 ms from /proc; `rss_at_full_mb` is the largest sample taken while
    every stream was in flight. Audit rows/s counts what actually reached the database (read
    from SQLite) between the start of the load and the moment the writer had caught up with
    the last response; `flush_lag_s` is how long after the last response that took.
    """
    await bench.configure_sim(token_delay=token_delay, response_tokens=tokens)
    gw = bench.gateway
    gc.collect()
    await asyncio.sleep(0.5)  # let the gateway settle after the throughput phase
    idle = proc_status(gw.pid)
    conns: list[HttpConnection] = []
    for start in range(0, concurrent, ramp_batch):
        batch = min(ramp_batch, concurrent - start)
        conns += await asyncio.gather(*(HttpConnection.open(HOST, gw.port) for _ in range(batch)))
    req = bench.chat(gw, stream=True)
    state = {"in_flight": 0, "completed": 0, "failed": 0, "max_in_flight": 0}
    samples: list[tuple[int, float, int]] = []  # (t ns, rss MB, in flight)
    stop = asyncio.Event()

    async def sampler() -> None:
        while not stop.is_set():
            rss = proc_status(gw.pid).get("VmRSS", 0) / 1024.0
            samples.append((_now(), rss, state["in_flight"]))
            try:
                await asyncio.wait_for(stop.wait(), 0.05)
            except TimeoutError:
                pass

    started = _now()
    end = started + int(duration_s * 1e9)
    last_done = [started]

    async def worker(conn: HttpConnection, delay: float) -> None:
        await asyncio.sleep(delay)
        while _now() < end:
            state["in_flight"] += 1
            state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
            bench.gateway_requests += 1
            try:
                res = await conn.request(req, stream=True, timeout=120)
            finally:
                state["in_flight"] -= 1
            last_done[0] = max(last_done[0], res.done_ns)
            if bench.check(res, "streams", stream=True):
                state["completed"] += 1
            else:
                state["failed"] += 1

    meter = CpuMeter(bench)
    rows_start = bench.audit_rows()
    sample_task = asyncio.create_task(sampler())
    ramp_gap = 0.02  # seconds between batches: keeps the simulator's accept queue short
    with quiet_gc():
        await asyncio.gather(
            *(worker(c, (i // ramp_batch) * ramp_gap) for i, c in enumerate(conns))
        )
    window_ns = last_done[0] - started
    rows_window = bench.audit_rows() - rows_start
    stop.set()
    await sample_task
    cpu = meter.used()
    for c in conns:
        c.close()
    # wait for the batched writer to catch up with everything sent so far
    lag_started = _now()
    expected = bench.gateway_requests
    rows = bench.audit_rows()
    while rows < expected and _now() - lag_started < 10e9:
        await asyncio.sleep(0.02)
        rows = bench.audit_rows()
    flush_lag_s = (_now() - lag_started) / 1e9
    caught_up_ns = _now() - started
    full = [rss for _, rss, n in samples if n >= concurrent]
    peak = proc_status(gw.pid)
    return {
        "concurrent": concurrent,
        "tokens": tokens,
        "token_delay_ms": token_delay * 1e3,
        "duration_s": round(window_ns / 1e9, 3),
        "max_in_flight": state["max_in_flight"],
        "completed": state["completed"],
        "failed": state["failed"],
        "rss_idle_mb": round(idle.get("VmRSS", 0) / 1024.0, 1),
        "rss_at_full_mb": round(max(full), 1) if full else float("nan"),
        "rss_peak_sampled_mb": round(max((s[1] for s in samples), default=0.0), 1),
        "vm_hwm_mb": round(peak.get("VmHWM", 0) / 1024.0, 1),
        "streams_per_s": round(state["completed"] / (window_ns / 1e9), 1) if window_ns else 0.0,
        # rows that reached the database from the start of the load until the writer caught
        # up with the last response, over that time (the rows of the last wave of streams are
        # written a flush interval after the load ends, so rows within the window alone
        # would understate the rate)
        "audit_rows_per_s": round((rows - rows_start) / (caught_up_ns / 1e9), 1)
        if caught_up_ns
        else 0.0,
        "audit_rows_in_window": rows_window,
        "flush_lag_s": round(flush_lag_s, 3),
        "cpu_s": cpu,
    }


async def settle_audit(bench: Bench, timeout_s: float = 10.0) -> dict[str, Any]:
    """Wait until the audit table holds one row per gateway request (or time runs out)."""
    started = time.monotonic()
    rows = bench.audit_rows()
    while rows < bench.gateway_requests and time.monotonic() - started < timeout_s:
        await asyncio.sleep(0.05)
        rows = bench.audit_rows()
    return {"rows_live": rows, "waited_s": round(time.monotonic() - started, 3)}
