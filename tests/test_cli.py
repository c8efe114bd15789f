"""The `pbpm-desktop` command as a user runs it: real subprocesses, real database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

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


async def test_a_database_from_a_newer_version_is_a_clear_error(tmp_path: Path) -> None:
    code, out = await run_cli(tmp_path, "keys", "list")  # creates guard.db
    assert code == 0, out
    with sqlite3.connect(tmp_path / "guard.db") as db:
        db.execute("UPDATE schema_version SET version = version + 1")
    for args in (("serve", "--host", "127.0.0.1", "--port", "0"), ("keys", "list")):
        # the process exits (it hung on the connection the refused start left open)
        code, out = await asyncio.wait_for(run_cli(tmp_path, *args), 60)
        assert code == 1 and "Traceback" not in out, out
        assert "database error: the database has schema version" in out
        assert "upgrade pbpm-desktop" in out


async def test_bad_configuration_is_a_clear_error(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    env["PBPM_PORT"] = "eighty"
    code, out = await run_cli(tmp_path, "serve", env=env)
    assert code != 0 and "PBPM_PORT" in out and "Traceback" not in out


async def _serve(env: dict[str, str], cwd: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pbpm_desktop", "serve", "--host", "127.0.0.1", "--port", "0",
        env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    lines = []
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        lines.append(line)
        if "listening on" in line:
            return proc, re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        assert line, "".join(lines)


async def test_serve_streams_audits_and_flushes_on_sigterm(tmp_path: Path) -> None:
    sim = OllamaSimulator(token_delay=0.001, response_tokens=6)
    await sim.start()
    env = cli_env(tmp_path, sim.url)
    try:
        _, out = await run_cli(tmp_path, "keys", "create", "--name", "t", "--json", env=env)
        secret = json.loads(out[: out.rindex("}") + 1])["api_key"]
        proc, url = await _serve(env, tmp_path)
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
        assert rows[0]["model"] == "llama3.2:3b"
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


async def test_a_short_master_key_stops_start_up_with_one_clear_line(tmp_path: Path) -> None:
    env = {**cli_env(tmp_path), "MASTER_API_KEY": "admin"}
    code, out = await run_cli(tmp_path, "serve", "--port", "0", env=env)
    assert code != 0
    assert out.strip().count("\n") == 0, out  # one line, no traceback
    assert "at least 32" in out and "MASTER_API_KEY" in out and "admin" not in out


async def test_sigkill_after_a_burst_loses_no_audit_record(tmp_path: Path) -> None:
    # issue 9, item 15: the last ~0.25 s of records (all 40 of a burst here) used to be lost
    sim = OllamaSimulator(response_tokens=4)
    await sim.start()
    env = cli_env(tmp_path, sim.url)
    try:
        _, out = await run_cli(tmp_path, "keys", "create", "--name", "t", "--json", env=env)
        secret = json.loads(out[: out.rindex("}") + 1])["api_key"]
        proc, url = await _serve(env, tmp_path)
        headers = {"Authorization": f"Bearer {secret}"}
        body = {"model": "llama3.2:3b", "prompt": "hi", "stream": False}
        async with aiohttp.ClientSession(headers=headers) as http:

            async def one() -> int:
                async with http.post(url + "/api/generate", json=body) as r:
                    await r.read()
                    return r.status

            assert await asyncio.gather(*(one() for _ in range(40))) == [200] * 40
        proc.kill()  # SIGKILL the moment the last answer is in
        await proc.wait()
        proc, url = await _serve(env, tmp_path)  # the next start replays the journal
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 30)
        code, out = await run_cli(tmp_path, "usage", "--json", env=env)
        assert code == 0, out
        assert sum(row["requests"] for row in json.loads(out)) == 40
    finally:
        await sim.stop()


def headless_env(tmp_path: Path) -> dict[str, str]:
    """A machine without a display: nothing a Qt platform plugin could open."""
    env = cli_env(tmp_path)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(name, None)
    return env


async def start_cli(tmp_path: Path, *args: str, env: dict[str, str], until: str) -> tuple[Any, str]:
    """Start the CLI; return the process and its output up to the line containing `until`."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pbpm_desktop", *args,
        env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    lines = []
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        lines.append(line)
        assert line, "".join(lines)
        if until in line:
            return proc, "".join(lines)


async def stop_cli(proc: Any) -> str:
    proc.send_signal(signal.SIGTERM)
    rest = (await asyncio.wait_for(proc.stdout.read(), 60)).decode()
    assert await proc.wait() == 0, rest
    assert "Traceback" not in rest
    return rest


async def test_demo_headless_prints_a_ready_key_for_its_own_database(tmp_path: Path) -> None:
    demo = ("demo", "--headless", "--host", "127.0.0.1", "--port", "0")
    proc, out = await start_cli(tmp_path, *demo, env=cli_env(tmp_path), until="demo client key")
    try:
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", out).group(1)
        secret = re.search(r"demo client key[^:]*: (pbpm-[\w-]{40,})", out).group(1)
        body = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]}
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bearer {secret}"}
            async with http.post(url + "/api/chat", json=body, headers=headers) as r:
                assert r.status == 200, await r.text()
                await r.read()
        more = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        more += (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        data_dir = re.search(r"PBPM_DATA_DIR=(\S+);", more).group(1)
        assert Path(data_dir) == tmp_path / "demo" and "--demo" in more
    finally:
        await stop_cli(proc)
    # the printed key is in the demo's database, which `--demo` (or PBPM_DATA_DIR) reaches
    code, out = await run_cli(tmp_path, "keys", "list", "--demo", "--json")
    assert code == 0, out
    assert [k["prefix"] for k in json.loads(out)] == [secret[:12]]
    code, out = await run_cli(tmp_path, "usage", "--demo", "--json")
    assert code == 0 and any(r["key_prefix"] == secret[:12] for r in json.loads(out))
    env = dict(cli_env(tmp_path), PBPM_DATA_DIR=data_dir)
    code, out = await run_cli(tmp_path, "keys", "list", "--json", env=env)
    assert code == 0 and json.loads(out)[0]["prefix"] == secret[:12]
    code, out = await run_cli(tmp_path, "keys", "list", "--json")  # the real data: untouched
    assert code == 0 and json.loads(out[: out.rindex("]") + 1]) == []


async def test_master_key_says_where_it_is_and_shows_it_on_request(tmp_path: Path) -> None:
    code, out = await run_cli(tmp_path, "master-key")
    key_file = tmp_path / "master.key"
    secret = key_file.read_text().strip()
    assert code == 0 and str(key_file) in out and "--show" in out
    assert secret not in out
    code, out = await run_cli(tmp_path, "master-key", "--show")
    assert code == 0 and out.splitlines()[0] == secret
    env = dict(cli_env(tmp_path), MASTER_API_KEY="pbpm-master-from-env-0123456789abcdef")  # >= 32
    code, out = await run_cli(tmp_path, "master-key", env=env)
    assert code == 0 and "MASTER_API_KEY environment variable" in out
    assert "pbpm-master-from-env-0123456789abcdef" not in out


async def test_without_a_display_the_app_says_what_to_do_instead_of_aborting(
    tmp_path: Path,
) -> None:
    for extra in ({}, {"DISPLAY": ":987"}, {"QT_QPA_PLATFORM": "xcb"}):
        env = dict(headless_env(tmp_path), **extra)
        code, out = await run_cli(tmp_path, env=env)  # plain `pbpm-desktop`
        assert code == 1, (extra, code, out)  # not -6: no SIGABRT, no core dump
        assert out.count("\n") == 1 and "Traceback" not in out, out
        assert "pbpm-desktop serve" in out and "demo --headless" in out
    demo = ("demo", "--host", "127.0.0.1", "--port", "0")
    proc, out = await start_cli(tmp_path, *demo, env=headless_env(tmp_path), until="client key")
    try:
        assert "no display found" in out and "running the demo headless" in out
        assert re.search(r"listening on http://127\.0\.0\.1:\d+", out)
    finally:
        await stop_cli(proc)


async def test_keys_create_refuses_a_model_ollama_does_not_have(tmp_path: Path) -> None:
    """The CLI checks the allow-list against Ollama as the API and the Keys page do."""
    sim = OllamaSimulator()
    await sim.start()
    env = cli_env(tmp_path, sim.url)
    try:
        code, out = await run_cli(
            tmp_path, "keys", "create", "--name", "t", "--models", "no-such-model", env=env
        )
        assert code == 1 and "model 'no-such-model' is not installed" in out
        full = next(name for name in sim.models if name.endswith(":latest"))
        installed = full.removesuffix(":latest")  # the short name is made canonical
        code, out = await run_cli(
            tmp_path, "keys", "create", "--name", "t", "--models", installed, "--json", env=env
        )
        assert code == 0, out
        assert json.loads(out[: out.rindex("}") + 1])["models"] == [full]
    finally:
        await sim.stop()
    # Ollama down: the name is kept as given (the gateway still enforces the list)
    code, out = await run_cli(tmp_path, "keys", "create", "--name", "t", "--models", "later")
    assert code == 0, out
