"""Deployment files, checked by parsing (containers and systemd cannot run on the CI machines):
docker-compose.yml, the Dockerfile, and the systemd units (also `systemd-analyze verify` where
that tool exists). The Dockerfile's install itself is run by packaging/docker/check_install.sh.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SYSTEM_UNIT = ROOT / "packaging" / "pbpm-desktop.service"
USER_UNIT = ROOT / "packaging" / "pbpm-desktop-user.service"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def test_compose_has_ollama_and_the_gateway(compose):
    assert set(compose["services"]) == {"ollama", "gateway"}
    assert compose["services"]["ollama"]["image"].startswith("ollama/ollama")
    assert compose["services"]["gateway"]["build"] == "."


def test_ollama_reserves_the_gpu_keeps_its_volume_and_is_not_published(compose):
    ollama = compose["services"]["ollama"]
    assert "ports" not in ollama  # only the gateway (its keys, audit, VRAM policy) is reachable
    devices = ollama["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert "ollama:/root/.ollama" in ollama["volumes"]  # where the image keeps its models
    assert "ollama" in compose["volumes"]


def test_gateway_publishes_its_port_keeps_data_and_reaches_ollama(compose):
    gateway = compose["services"]["gateway"]
    env = env_of(gateway)
    port = env["PBPM_PORT"]
    assert env["PBPM_HOST"] == "0.0.0.0"
    published = [p.split(":") for p in gateway["ports"]]
    assert [target for *_, target in published] == [port]
    # Ollama's own default port on the compose network (envconfig/config.go: 11434)
    assert env["OLLAMA_URL"] == "http://ollama:11434"
    data_dir = env["PBPM_DATA_DIR"]
    volume, _, mount = gateway["volumes"][0].partition(":")
    assert mount == data_dir
    assert volume in compose["volumes"]
    assert gateway["depends_on"]["ollama"]


def test_gateway_healthcheck_asks_health_on_its_port(compose):
    gateway = compose["services"]["gateway"]
    test = gateway["healthcheck"]["test"]
    assert test[0] == "CMD"
    command = " ".join(test[1:])
    assert f"127.0.0.1:{env_of(gateway)['PBPM_PORT']}/health" in command
    # the command is valid Python (the image has no curl): compile what `python -c` runs
    compile(test[-1], "<healthcheck>", "exec")


def test_master_key_comes_from_an_env_file(compose):
    gateway = compose["services"]["gateway"]
    files = [f["path"] if isinstance(f, dict) else f for f in gateway["env_file"]]
    assert files == ["pbpm.env"]
    assert "MASTER_API_KEY" not in env_of(gateway)  # never in the compose file itself
    example = (ROOT / "pbpm.env.example").read_text(encoding="utf-8")
    assert re.search(r"^MASTER_API_KEY=", example, re.M)
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "pbpm.env" in ignored  # the real one holds a secret


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_installs_the_headless_extras_only():
    steps = dockerfile_instructions()
    installs = [rest for word, rest in steps if word == "RUN" and "pip install" in rest]
    assert installs == ['pip install ".[server,postgres]"']  # what check_install.sh runs
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    installed = {"server", "postgres"}
    assert installed <= extras.keys()
    for name in installed:  # no Qt in the image
        assert not any("pyside" in dep.lower() for dep in extras[name])
    assert steps[0][0] == "FROM" and steps[0][1].startswith("python:3.11")


def test_dockerfile_copies_what_the_install_needs_and_runs_serve_unprivileged():
    steps = dockerfile_instructions()
    copied = [src for word, rest in steps if word == "COPY" for src in rest.split()[:-1]]
    for src in copied:
        assert (ROOT / src).exists(), src
    assert {"pyproject.toml", "pbpm_desktop", "resources"} <= set(copied)
    assert ("USER", "pbpm") in steps
    env = " ".join(rest for word, rest in steps if word == "ENV")
    assert "PBPM_DATA_DIR=/data" in env and "PBPM_NO_KEYRING=1" in env
    assert ("CMD", '["serve"]') in steps
    health = next(rest for word, rest in steps if word == "HEALTHCHECK")
    assert "127.0.0.1:8000/health" in health
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "pbpm.env" in ignored


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values…]}} (keys may repeat, unlike INI)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is not key=value"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_system_unit_is_hardened():
    unit = parse_unit(SYSTEM_UNIT)
    service = unit["Service"]
    one = {key: values[-1] for key, values in service.items()}
    assert one["DynamicUser"] == "yes" or "User" in one
    assert one["ProtectSystem"] == "strict"
    assert one["StateDirectory"] == "pbpm-desktop"
    assert "PBPM_DATA_DIR=%S/pbpm-desktop" in service["Environment"]  # = the StateDirectory
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "RestrictSUIDSGID"):
        assert one[key] == "yes", key
    assert one["CapabilityBoundingSet"] == ""
    assert one["ExecStart"].endswith("pbpm-desktop serve")
    assert one["KillSignal"] == "SIGTERM"
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_user_unit_runs_serve_in_the_session():
    unit = parse_unit(USER_UNIT)
    service = {key: values[-1] for key, values in unit["Service"].items()}
    assert service["ExecStart"] == "%h/.local/bin/pbpm-desktop serve"
    assert "User" not in service and "DynamicUser" not in service  # the user's own manager
    assert unit["Install"]["WantedBy"] == ["default.target"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", [SYSTEM_UNIT, USER_UNIT], ids=["system", "user"])
def test_systemd_analyze_verifies_the_unit(unit: Path, tmp_path: Path):
    # verify also checks that ExecStart exists: point it at this checkout's console script
    binary = Path(sys.executable).with_name("pbpm-desktop")
    if not binary.exists():
        pytest.skip("pbpm-desktop console script not installed next to this Python")
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={binary}", unit.read_text(), flags=re.M)
    copy = tmp_path / "pbpm-desktop.service"
    copy.write_text(text, encoding="utf-8")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    user = ["--user"] if unit is USER_UNIT else []
    result = subprocess.run(
        ["systemd-analyze", *user, "verify", str(copy)],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        timeout=60,
    )
    # it exits 0 even for unknown keys (it only warns): any output is a finding
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
