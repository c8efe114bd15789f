"""The benchmark harness runs end to end in its quickest form and reports every figure.

No timing assertions: figures depend on the machine and on what else runs on it. What must
hold everywhere is that the harness works, the JSON has every metric, and the gateway lost no
audit record.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: every figure the README and the reference result rely on, as paths into the JSON
METRICS = [
    ("latency", "direct_ms", "p50"),
    ("latency", "gateway_ms", "p99"),
    ("latency", "added_ms", "p50"),
    ("latency", "added_ms", "p90"),
    ("latency", "added_ms", "p99"),
    ("latency", "upstream_connections"),
    ("streaming", "added_ttft_ms", "p50"),
    ("streaming", "gap_ratio", "p99"),
    ("streaming", "merged_chunks", "gateway"),
    ("throughput", "direct_rps"),
    ("throughput", "gateway_rps"),
    ("throughput", "ratio"),
    ("throughput", "gateway_cpu_per_simulator_cpu"),
    ("many_streams", "rss_at_full_mb"),
    ("many_streams", "audit_rows_per_s"),
    ("audit", "sent"),
    ("audit", "rows"),
    ("audit", "lost"),
]


def dig(data: dict, path: tuple[str, ...]) -> object:
    for part in path:
        data = data[part]  # type: ignore[assignment]
    return data


def test_quick_run_reports_every_metric_and_loses_no_audit_record(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--quick",
        "--out",
        str(out),
        "--latency-pairs",
        "40",
        "--streams",
        "1",
        "--stream-tokens",
        "20",
        "--concurrency",
        "4",
        "--throughput-window",
        "0.2",
        "--throughput-rounds",
        "1",
        "--concurrent-streams",
        "20",
        "--streams-duration",
        "1",
        "--slow-tokens",
        "5",
        "--slow-token-delay",
        "0.02",
    ]
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads(out.read_text())
    for path in METRICS:
        value = dig(results, path)
        assert isinstance(value, int | float) and not math.isnan(value), (path, value)
    assert results["audit"]["sent"] > 0
    assert results["audit"]["lost"] == 0 and results["audit"]["extra"] == 0
    assert results["audit"]["rows"] == results["audit"]["sent"]
    assert results["many_streams"]["max_in_flight"] == 20
    assert results["streaming"]["every_line_arrived"]
    assert not results["errors"]
    assert {t["target"] for t in results["targets"]} and "added latency" in proc.stdout
