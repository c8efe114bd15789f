"""A short soak of the real desktop demo (offscreen) with live traffic: it stays up and flat.

The 30-minute run is `python -m benchmarks.soak --minutes 30` (numbers in the README). This
one is long enough to show a binding that leaks references to None: PySide6 6.12.0 on
Python 3.11 loses thousands of them within seconds of this traffic (and aborts in minutes),
far beyond soak.MAX_REF_DROP; a sound binding wobbles by tens. No timing assertions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_short_soak_of_the_desktop_demo_stays_up_without_leaking() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBPM_", "OLLAMA", "MASTER"))}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--seconds", "30", "--warmup", "8", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    result = json.loads(done.stdout)
    assert done.returncode == 0 and result["ok"], json.dumps(result, indent=2)
    assert result["mode"] == "offscreen" and result["exit_code"] == 0
    assert result["requests"].get("http_200", 0) > 10
    for name in ("none_refs", "true_refs"):
        refs = result[name]
        assert refs["after_warmup"] - refs["lowest"] < 2000
    assert set(result["rss_mb"]) >= {"start", "after_warmup", "end", "peak"}
