"""Starting and stopping the simulator and the gateway as separate processes, and /proc probes.

Separate processes (not tasks on the harness loop) so that the gateway's CPU, memory and event
loop are its own, as in production, and the figures are the gateway's and nothing else's.
Both bind 127.0.0.1 only. Output goes to log files in the run's temporary directory, which the
harness reads for the announced URL; nothing blocks on a full pipe.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_URL = re.compile(rb"http://127\.0\.0\.1:(\d+)")


class ProcessFailed(RuntimeError):
    """A child did not come up (its log tail is in the message)."""


@dataclass
class Child:
    """A running child process and where it logs."""

    name: str
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    port: int = 0

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 2000) -> str:
        parts = []
        for path in (self.stdout, self.stderr):
            if path.exists():
                parts.append(path.read_bytes()[-chars:].decode("utf-8", "replace"))
        return "\n".join(parts)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (the gateway then flushes its audit), SIGKILL if it does not exit in time."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode


def child_env(extra: dict[str, str], src: Path = REPO_ROOT) -> dict[str, str]:
    """The harness's environment plus `extra`, with the source tree `src` first on the path.

    `src` defaults to this working tree; another checkout (e.g. `git archive` of an older
    commit) benchmarks that version instead, for before/after comparisons on one machine.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def spawn(
    name: str, args: list[str], workdir: Path, env: dict[str, str], marker: bytes, timeout: float
) -> Child:
    """Start `python args...` and wait until its stdout shows `marker` and a loopback URL."""
    stdout, stderr = workdir / f"{name}.out", workdir / f"{name}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        popen = subprocess.Popen(
            [sys.executable, *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=workdir,  # no stray `.env` from the developer's checkout
            env=env,
        )
    child = Child(name, popen, stdout, stderr)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = stdout.read_bytes() if stdout.exists() else b""
        found = _URL.search(text) if marker in text else None
        if found:
            child.port = int(found.group(1))
            return child
        if popen.poll() is not None:
            raise ProcessFailed(f"{name} exited with {popen.returncode}:\n{child.log_tail()}")
        time.sleep(0.02)
    child.stop(2)
    raise ProcessFailed(f"{name} did not announce its URL in {timeout:g}s:\n{child.log_tail()}")


def start_simulator(workdir: Path, *, src: Path = REPO_ROOT, timeout: float = 20.0) -> Child:
    """The Ollama simulator with instant loads; timing knobs are set per scenario at run time."""
    args = [
        "-m",
        "pbpm_desktop.simulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--token-delay",
        "0",
        "--response-tokens",
        "16",
        "--load-delay",
        "0",
        "--unload-delay",
        "0",
    ]
    # the benchmarks measure the gateway's own cost: no OLLAMA_NUM_PARALLEL queue upstream (an
    # environment variable, which simulators of older trees (--src) simply ignore)
    env = child_env({"PBPM_SIM_NUM_PARALLEL": "0"}, src)
    return spawn("simulator", args, workdir, env, b"http://", timeout)


def start_gateway(
    workdir: Path,
    ollama_url: str,
    master_key: str,
    model: str,
    *,
    src: Path = REPO_ROOT,
    timeout: float = 30.0,
) -> Child:
    """`pbpm-desktop serve` on a free loopback port with its own data dir and master key.

    The benchmark model is always-on, so the VRAM gate admits without waiting, as it does for a
    resident model in production.
    """
    data_dir = workdir / "data"
    data_dir.mkdir(exist_ok=True)
    env = child_env(
        {
            "MASTER_API_KEY": master_key,
            "PBPM_DATA_DIR": str(data_dir),
            "PBPM_NO_KEYRING": "1",
            "PBPM_CONFIG_FILE": str(workdir / "no-config.toml"),
            "ALWAYS_ON_MODELS": model,
            "PBPM_ACCESS_LOG": "0",
            "NUM_PARALLEL": "1024",  # matches the simulator's unlimited --num-parallel 0
        },
        src,
    )
    for var in ("PBPM_DB_URL", "OLLAMA_URL", "PBPM_HOST", "PBPM_PORT"):
        env.pop(var, None)
    args = [
        "-m",
        "pbpm_desktop",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ollama-url",
        ollama_url,
    ]
    return spawn("gateway", args, workdir, env, b"gateway listening on", timeout)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (peak RSS) in kB from /proc/PID/status."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, value = line.split(":", 1)
            out[name] = int(value.split()[0])
    return out


def rss_mb(pid: int) -> float:
    return proc_status(pid).get("VmRSS", 0) / 1024.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (from /proc/PID/stat)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds per thread: the event loop (main thread, tid == pid) and all the others."""
    out = {"main": 0.0, "other_threads": 0.0}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = raw.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / _CLK_TCK
        out["main" if int(tid) == pid else "other_threads"] += seconds
    return out


def tcp_connections(pid: int, remote_port: int) -> int:
    """Established TCP connections that process `pid` holds to `remote_port` (from /proc).

    After thousands of sequential requests this should still be one or two: the gateway
    reuses its connections to Ollama instead of opening one per request.
    """
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return -1
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # fields: sl local rem st ... inode; state 01 = ESTABLISHED
            established = fields[3] == "01" and fields[9] in inodes
            if established and int(fields[2].rsplit(":", 1)[1], 16) == remote_port:
                count += 1
    return count


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (from /proc/stat), to spot foreign load."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK


def raise_fd_limit(wanted: int = 8192) -> None:
    """500 streams need ~1,000 sockets in the gateway; children inherit this limit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
