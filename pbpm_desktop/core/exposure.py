"""Exposure self-check: can LAN clients reach Ollama itself, walking around the gateway?

Ollama has no authentication, and its management routes (pull, delete, create, …) have had
critical CVEs; internet scans keep finding tens of thousands of exposed servers. The gateway
only protects anything if Ollama listens on loopback (its default, `127.0.0.1:11434`,
envconfig/config.go `Host()`); `OLLAMA_HOST=0.0.0.0` opens it to the LAN.

Public interface (also used by `pbpm-desktop doctor`)::

    async def check_ollama_exposure(
        ollama_url: str, addresses: list[str] | None = None
    ) -> ExposureReport

It probes Ollama's port on each of this machine's non-loopback addresses (`addresses`, or
`local_addresses()` when None) with `GET /api/version`, and reports where Ollama answers.
The probes go to this machine's own addresses, so nothing leaves it. `report.exposed` lists
the addresses where Ollama answered; `report.warning()` is the text to show (None if fine).
Tests pass loopback aliases such as 127.0.0.2 as `addresses`: they never probe a real LAN
address. The environment variable `PBPM_EXPOSURE_ADDRESSES` (comma list; empty = none)
replaces the discovered list everywhere, for tests and for containers whose addresses the
gateway cannot see.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

PROBE_TIMEOUT_S = 1.5
ADDRESSES_ENV = "PBPM_EXPOSURE_ADDRESSES"
FIX = (
    "bind Ollama to loopback: set OLLAMA_HOST=127.0.0.1:11434 for the Ollama service "
    '(systemd: `systemctl edit ollama`, add Environment="OLLAMA_HOST=127.0.0.1:11434"; '
    "macOS: `launchctl setenv OLLAMA_HOST 127.0.0.1:11434`; Windows: set it as a user "
    "environment variable) and restart Ollama"
)


@dataclass
class ExposureReport:
    ollama_url: str
    port: int | None
    #: addresses probed (non-loopback addresses of this machine)
    checked: list[str] = field(default_factory=list)
    #: those where Ollama answered: LAN clients can reach it without a key
    exposed: list[str] = field(default_factory=list)
    #: why nothing was probed, or None
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return not self.exposed

    def warning(self) -> str | None:
        if self.ok:
            return None
        where = ", ".join(f"{a}:{self.port}" for a in self.exposed)
        return (
            f"Ollama answers on {where}: anyone on the network can use it without a key, "
            f"walking around the gateway (and its model-management routes). To fix, {FIX}."
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "warning": self.warning()}


async def check_ollama_exposure(
    ollama_url: str, addresses: list[str] | None = None
) -> ExposureReport:
    """Probe Ollama's port on this machine's non-loopback addresses (see module docstring)."""
    parts = urlsplit(ollama_url)
    port = parts.port or (443 if parts.scheme == "https" else 11434)
    report = ExposureReport(ollama_url, port)
    host = parts.hostname or ""
    candidates = local_addresses() if addresses is None else list(addresses)
    if not _is_loopback(host) and host not in candidates:
        report.skipped = (
            f"Ollama runs on another host ({host}); make sure only this machine can reach it "
            "there (a firewall rule), since Ollama has no keys of its own"
        )
        return report
    report.checked = [a for a in dict.fromkeys(candidates) if a]
    scheme = parts.scheme or "http"
    timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        answers = await asyncio.gather(
            *(_answers(session, f"{scheme}://{_host(a)}:{port}") for a in report.checked)
        )
    report.exposed = [a for a, yes in zip(report.checked, answers, strict=True) if yes]
    return report


def local_addresses() -> list[str]:
    """This machine's non-loopback IP addresses (from the routing table and its host name)."""
    override = os.environ.get(ADDRESSES_ENV)
    if override is not None:
        return [a.strip() for a in override.split(",") if a.strip()]

    found: list[str] = []
    primary = lan_address()
    if primary:
        found.append(primary)
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, proto=socket.IPPROTO_TCP)
    except OSError:
        infos = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        if not _is_loopback(address) and not address.startswith("fe80:"):
            found.append(address)
    return list(dict.fromkeys(found))


async def _answers(session: aiohttp.ClientSession, base: str) -> bool:
    """Does an Ollama answer at `base`? (GET /api/version returns {"version": …})."""
    try:
        async with session.get(base + "/api/version", ssl=False) as response:
            if response.status != 200:
                return False
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError, OSError):
        return False
    return isinstance(body, dict) and "version" in body


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def lan_address() -> str | None:
    """This machine's LAN address (no packet is sent: connecting a UDP socket only routes)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere, nothing is sent
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address
