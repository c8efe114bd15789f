"""`python -m pbpm_desktop.simulator`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp


def test_cli_serves_and_prints_url() -> None:
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "pbpm_desktop.simulator", "--port", "0", "--token-delay", "0"]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")

            async def probe() -> str:
                async with aiohttp.ClientSession() as session, session.get(url + "/") as resp:
                    return await resp.text()

            assert asyncio.run(probe()) == "Ollama is running"
        finally:
            proc.terminate()
