"""Soak: the real `pbpm-desktop demo` with live traffic for minutes; does it stay up and flat?

    python -m benchmarks.soak --minutes 30                 # the desktop demo, offscreen window
    python -m benchmarks.soak --minutes 5 --mode headless  # `demo --headless`
    python -m benchmarks.soak --seconds 40 --json          # what tests/benchmarks/test_soak.py runs

Why: the test suite is minutes long in total and each Qt test seconds long, so a defect that
needs tens of thousands of UI updates (PySide6 6.12 on Python 3.11 drops a reference to None
on each, and CPython aborts once the count reaches zero) or a slow leak never shows there.

The child is the real entry point, `pbpm_desktop.cli.main(["demo", ...])`, run by this file
with `--child`: a daemon thread samples `sys.getrefcount(None)`/`(True)` into a JSON-lines
file next to it. The parent reads the announced URL and demo client key, drives clients
(streaming chats on native and /v1 routes, model lists, preload/unload that force swaps) and
samples the child's RSS from /proc. Exit status 1 when the child died, the None/True
references fell, or RSS grew by more than the allowed amount after the warm-up; the summary
(JSON with --json) has the numbers either way.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/soak.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.procs import ProcessFailed, child_env, rss_mb, spawn

_KEY = re.compile(rb"demo client key[^:]*: (\S+)")
CHAT_MODELS = ("llama3.2:3b", "qwen2.5:7b", "qwen2.5-coder:32b")
#: a fall this large in the None/True refcount is a leak (a sound binding wobbles by tens)
MAX_REF_DROP = 2000


def child_main(samples: Path, interval: float, argv: list[str]) -> None:
    """Inside the soaked process: start the refcount sampler, then the real CLI."""

    def sample() -> None:
        with samples.open("a", encoding="utf-8") as out:
            while True:
                row = {
                    "t": time.time(),
                    "none": sys.getrefcount(None),
                    "true": sys.getrefcount(True),
                }
                out.write(json.dumps(row) + "\n")
                out.flush()
                time.sleep(interval)

    threading.Thread(target=sample, name="soak-sampler", daemon=True).start()
    from pbpm_desktop.cli import main

    main(argv)


class Traffic:
    """Client threads against the gateway; counts outcomes, never raises."""

    def __init__(self, port: int, key: str, clients: int, pause: float) -> None:
        self.port, self.key, self.pause = port, key, pause
        self.stop = threading.Event()
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def _client(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            roll = rng.random()
            model = rng.choice(CHAT_MODELS[:2]) if rng.random() < 0.8 else CHAT_MODELS[2]
            if roll < 0.55:
                path = "/api/chat"
                body: dict[str, Any] = {
                    "model": model,
                    "messages": [{"role": "user", "content": "soak"}],
                }
            elif roll < 0.8:
                path = "/v1/chat/completions"
                body = {
                    "model": model,
                    "stream": True,
                    "messages": [{"role": "user", "content": "s"}],
                }
            elif roll < 0.9:
                path, body = "/api/tags", {}
            else:
                path, body = rng.choice(("/preload", "/unload")), {"model": model}
            self._count(self._request(path, body))
            self.stop.wait(self.pause * rng.uniform(0.5, 1.5))

    def _request(self, path: str, body: dict[str, Any]) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        try:
            if body:
                conn.request("POST", path, body=json.dumps(body), headers=headers)
            else:
                conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            while response.read(65536):  # streamed bodies arrive chunk by chunk
                pass
            return f"http_{response.status}"
        except (OSError, http.client.HTTPException) as exc:  # e.g. the app died mid-stream
            return f"error_{type(exc).__name__}"
        finally:
            conn.close()


def read_samples(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # a half-written last line when the child died
            pass
    return rows


def analyse(
    refs: list[dict[str, float]],
    rss: list[tuple[float, float]],
    warmup: float,
    max_rss_growth_mb: float,
) -> dict[str, Any]:
    """Figures and verdicts: references after warm-up vs their low point; RSS first vs last."""
    start = (rss[0][0] if rss else 0.0) + warmup
    steady = [r for r in refs if r["t"] >= start] or refs[-1:]
    out: dict[str, Any] = {"problems": []}
    for name in ("none", "true"):
        if not steady:
            continue
        first, low, last = steady[0][name], min(r[name] for r in steady), steady[-1][name]
        out[f"{name}_refs"] = {"after_warmup": first, "lowest": low, "last": last}
        if first - low > MAX_REF_DROP:
            out["problems"].append(f"references to {name.title()} fell by {first - low:.0f}")
    after = [mb for t, mb in rss if t >= start] or [mb for _, mb in rss]
    if after:
        window = max(1, len(after) // 10)
        head, tail = after[:window], after[-window:]
        growth = sum(tail) / len(tail) - sum(head) / len(head)
        out["rss_mb"] = {
            "start": round(rss[0][1], 1),
            "after_warmup": round(sum(head) / len(head), 1),
            "end": round(sum(tail) / len(tail), 1),
            "peak": round(max(mb for _, mb in rss), 1),
            "growth_after_warmup": round(growth, 1),
        }
        if growth > max_rss_growth_mb:
            out["problems"].append(f"RSS grew by {growth:.0f} MB after the warm-up")
    return out


def soak(args: argparse.Namespace) -> dict[str, Any]:
    duration = args.seconds if args.seconds else args.minutes * 60
    workdir = Path(tempfile.mkdtemp(prefix="pbpm-soak-"))
    samples = workdir / "refcounts.jsonl"
    extra = {"PBPM_DATA_DIR": str(workdir / "data"), "PBPM_NO_KEYRING": "1"}
    env = child_env(extra)
    if args.mode == "offscreen":
        env["QT_QPA_PLATFORM"] = "offscreen"
    cli = ["demo", "--host", "127.0.0.1", "--port", "0"]
    if args.mode == "headless":
        cli.append("--headless")
    here = str(Path(__file__).resolve())
    child_args = [here, "--child", str(samples), "--sample-every", str(args.sample_every), "--"]
    started = time.time()
    try:
        child = spawn("demo", [*child_args, *cli], workdir, env, b"demo client key", timeout=120)
    except ProcessFailed as exc:
        return {
            "ok": False,
            "problems": [f"the demo did not start: {exc}"],
            "workdir": str(workdir),
        }
    found = _KEY.search(child.stdout.read_bytes())
    if found is None:  # spawn saw the marker, so the key follows on the same line
        child.stop()
        return {"ok": False, "problems": ["the demo printed no client key"]}
    traffic = Traffic(child.port, found.group(1).decode(), args.clients, args.pause)
    traffic.start()
    rss: list[tuple[float, float]] = []
    deadline = time.monotonic() + duration
    died = None
    while time.monotonic() < deadline:
        if child.popen.poll() is not None:
            died = child.popen.returncode
            break
        try:
            rss.append((time.time(), rss_mb(child.pid)))
        except (OSError, ValueError):
            pass
        if args.progress and len(rss) % max(1, int(60 / args.sample_every)) == 0:
            print(f"  {time.time() - started:6.0f}s  RSS {rss[-1][1]:.1f} MB", file=sys.stderr)
        time.sleep(args.sample_every)
    traffic.finish()
    exit_code = child.stop(timeout=90) if died is None else died
    result = analyse(read_samples(samples), rss, args.warmup, args.max_rss_growth_mb)
    result.update(
        mode=args.mode,
        seconds=round(time.time() - started, 1),
        requests=dict(sorted(traffic.counts.items())),
        exit_code=exit_code,
        python=sys.version.split()[0],
        pyside6=_pyside_version(),
        workdir=str(workdir),
    )
    if died is not None:
        result["problems"].insert(0, f"the demo died after {result['seconds']}s (exit {died})")
        result["log_tail"] = child.log_tail(4000)
    elif exit_code != 0:
        result["problems"].append(f"the demo exited with {exit_code} when stopped")
    if not any(k.startswith("http_200") for k in traffic.counts):
        result["problems"].append("no request succeeded")
    result["ok"] = not result["problems"]
    if result["ok"] and not args.keep:  # a failed run keeps its logs and samples to look at
        shutil.rmtree(workdir, ignore_errors=True)
        del result["workdir"]
    return result


def _pyside_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("PySide6-Essentials")
    except Exception:
        return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        rest = argv.index("--")
        child_main(Path(argv[1]), float(argv[3]), argv[rest + 1 :])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, help="duration in seconds (overrides --minutes)")
    parser.add_argument("--mode", choices=("offscreen", "headless"), default="offscreen")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument(
        "--pause", type=float, default=0.3, help="seconds between a client's requests"
    )
    parser.add_argument("--sample-every", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before RSS/refs count")
    parser.add_argument("--max-rss-growth-mb", type=float, default=64.0)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--progress", action="store_true", help="RSS every minute on stderr")
    parser.add_argument("--keep", action="store_true", help="keep the run's files when it passes")
    args = parser.parse_args(argv)
    result = soak(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
