"""How many audit records a SIGKILL loses right after a burst (issue 9, item 15).

For each writer policy, a child process runs the simulator and a gateway; the harness sends a
burst of concurrent requests, kills the child with SIGKILL the moment the last response has
arrived, and counts the records that reached `guard.db`. Policies:

* `interval-250ms`: the writer before issue 9 (a batch every 0.25 s);
* `interval-20ms`, `interval-2ms`: the same with a shorter interval (the "shorter interval"
  and, at 2 ms, about "a commit per completed request" under low load);
* `journal`: the 0.25 s writer plus the append-only journal replayed at the next start
  (the default since issue 9).

Without a journal the records are counted in `guard.db` after the kill; with one, after a
restart of the gateway on the same data dir (which replays it).

    python -m benchmarks.audit_sigkill [--burst 40] [--rounds 5] [--policies journal,...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

import aiohttp

POLICIES = ("interval-250ms", "interval-20ms", "interval-2ms", "journal")


async def _child(policy: str, data_dir: Path) -> None:
    """The gateway under test, with the writer policy `policy`; prints URL and key, waits."""
    from functools import partial

    from pbpm_desktop.core import app as service_module
    from pbpm_desktop.core.accounting import audit
    from pbpm_desktop.core.app import GatewayService
    from pbpm_desktop.core.settings import Settings
    from pbpm_desktop.simulator import OllamaSimulator

    if policy != "journal":  # a shorter interval instead of the journal
        interval = {"interval-250ms": 0.25, "interval-20ms": 0.02, "interval-2ms": 0.002}[policy]
        service_module.AuditWriter = partial(  # type: ignore[misc]
            audit.AuditWriter, interval=interval, journal=None
        )
    sim = OllamaSimulator(response_tokens=4)
    await sim.start()
    settings = Settings(
        ollama_url=sim.url,
        master_api_key="sigkill-benchmark-master-key-0123456789",
        host="127.0.0.1",
        port=0,
        data_dir=data_dir,
        reconcile_interval_s=60,
    )
    gateway = GatewayService(settings)
    await gateway.start()
    created = await gateway.create_key("bench")
    model = next(iter(sim.models))
    print(json.dumps({"url": gateway.url, "key": created["api_key"], "model": model}), flush=True)
    await asyncio.Event().wait()


async def _round(policy: str, burst: int) -> int:
    """One burst and SIGKILL; returns the records lost."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        env = {**os.environ, "PBPM_NO_KEYRING": "1"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.audit_sigkill",
            "--child",
            policy,
            str(data_dir),
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        info = json.loads(await proc.stdout.readline())
        headers = {"Authorization": f"Bearer {info['key']}"}
        body = {"model": info["model"], "prompt": "hello", "stream": False}
        async with aiohttp.ClientSession(headers=headers) as session:

            async def one() -> None:
                async with session.post(info["url"] + "/api/generate", json=body) as r:
                    await r.read()

            await asyncio.gather(*(one() for _ in range(burst)))
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        if policy == "journal":
            await _replay(data_dir)
        con = sqlite3.connect(data_dir / "guard.db")
        try:
            stored = con.execute("SELECT COUNT(*) FROM usage_records").fetchone()[0]
        finally:
            con.close()
        return burst - stored


async def _replay(data_dir: Path) -> None:
    """Start and stop a gateway on the data dir: the audit writer replays the journal."""
    from pbpm_desktop.core.app import GatewayService
    from pbpm_desktop.core.settings import Settings

    settings = Settings(
        ollama_url="http://127.0.0.1:9",
        master_api_key="sigkill-benchmark-master-key-0123456789",
        host="127.0.0.1",
        port=0,
        data_dir=data_dir,
    )
    gateway = GatewayService(settings)
    await gateway.start()
    await gateway.stop()


async def _measure(burst: int, rounds: int, policies: list[str]) -> dict[str, list[int]]:
    results: dict[str, list[int]] = {}
    for policy in policies:
        results[policy] = [await _round(policy, burst) for _ in range(rounds)]
        lost = results[policy]
        print(
            f"{policy:>15}: lost {lost} of {burst} "
            f"(median {statistics.median(lost)}, max {max(lost)})",
            flush=True,
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.audit_sigkill")
    parser.add_argument("--burst", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--policies", default=",".join(POLICIES), help="comma list")
    parser.add_argument("--child", nargs=2, metavar=("POLICY", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(_child(args.child[0], Path(args.child[1])))
        return 0
    asyncio.run(_measure(args.burst, args.rounds, args.policies.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
