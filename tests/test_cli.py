"""The `pbpm-desktop` command as a user runs it: real subprocesses, real database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp

from pbpm_desktop.simulator import OllamaSimulator


def cli_env(tmp_path: Path, ollama_url: str = "http://127.0.0.1:9") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBPM_", "OLLAMA", "MASTER"))}
    env.update(
        PBPM_DATA_DIR=str(tmp_path),
        PBPM_NO_KEYRING="1",
        PBPM_CONFIG_FILE=str(tmp_path / "config.toml"),
        OLLAMA_URL=ollama_url,
        PYTHONUNBUFFERED="1",
    )
    return env


async def run_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the CLI; returns (exit code, stdout followed by stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pbpm_desktop",
        *args,
        env=env or cli_env(tmp_path),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode() + err.decode()


async def test_keys_create_list_revoke_and_usage(tmp_path: Path) -> None:
    code, out = await run_cli(tmp_path, "keys", "create", "--name", "Ana", "--email", "a@x.org")
    assert code == 0, out
    secret = re.search(r"pbpm-[\w-]{40,}", out).group(0)
    assert "shown only once" in out
    code, out = await run_cli(tmp_path, "keys", "list")
    assert code == 0 and "a@x.org" in out and secret not in out and "active" in out
    header, row = out.strip().splitlines()[-2:]
    assert header.split()[:3] == ["ID", "PREFIX", "NAME"] and row.split()[2] == "Ana"
    code, out = await run_cli(tmp_path, "keys", "list", "--json")
    assert json.loads(out)[0]["prefix"] == secret[:12]
    code, out = await run_cli(tmp_path, "keys", "revoke", "1")
    assert code == 0 and "revoked" in out
    code, out = await run_cli(tmp_path, "keys", "revoke", "42")
    assert code != 0 and "no key with id 42" in out
    code, out = await run_cli(tmp_path, "usage")
    assert code == 0 and "no usage" in out
    code, out = await run_cli(tmp_path, "usage", "--since", "yesterday")
    assert code != 0 and "--since must be an ISO 8601" in out and "Traceback" not in out


async def test_bad_configuration_is_a_clear_error(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    env["PBPM_PORT"] = "eighty"
    code, out = await run_cli(tmp_path, "serve", env=env)
    assert code != 0 and "PBPM_PORT" in out and "Traceback" not in out


async def test_serve_streams_audits_and_flushes_on_sigterm(tmp_path: Path) -> None:
    sim = OllamaSimulator(token_delay=0.001, response_tokens=6)
    await sim.start()
    env = cli_env(tmp_path, sim.url)
    try:
        _, out = await run_cli(tmp_path, "keys", "create", "--name", "t", "--json", env=env)
        secret = json.loads(out[: out.rindex("}") + 1])["api_key"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pbpm_desktop", "serve", "--host", "127.0.0.1", "--port", "0",
            env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        lines = []
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            lines.append(line)
            if "listening on" in line:
                break
            assert line, "".join(lines)
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        headers = {"Authorization": f"Bearer {secret}"}
        body = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]}
        async with aiohttp.ClientSession() as http:
            async with http.post(url + "/api/chat", json=body, headers=headers) as r:
                assert r.status == 200
                chunks = [json.loads(line) async for line in r.content]
        proc.send_signal(signal.SIGTERM)
        rest = (await asyncio.wait_for(proc.stdout.read(), 30)).decode()
        assert await proc.wait() == 0, rest
        assert "Traceback" not in rest
        code, out = await run_cli(tmp_path, "usage", "--json", env=env)
        assert code == 0, out
        rows = json.loads(out)
        assert rows[0]["completion_tokens"] == chunks[-1]["eval_count"] == 6
        assert rows[0]["model"] == "llama3.2:3b" and rows[0]["name"] == "t"
        code, out = await run_cli(tmp_path, "usage", env=env)
        assert "NAME" in out.splitlines()[0] and "calls without a model" in out
    finally:
        await sim.stop()


async def test_first_start_says_where_the_master_key_is(tmp_path: Path) -> None:
    code, out = await run_cli(tmp_path, "keys", "list")
    assert code == 0
    key_file = tmp_path / "master.key"
    assert f"cat {key_file}" in out  # where it is, said once
    assert key_file.read_text().strip() not in out  # never the key itself
    code, out = await run_cli(tmp_path, "keys", "list")
    assert "master key" not in out
