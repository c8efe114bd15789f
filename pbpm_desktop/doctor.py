"""`pbpm-desktop doctor`: what a support request would ask first, checked in one go (DESIGN.md §1).

Each check prints one line, `OK`, `WARN` or `FAIL`, and for anything but OK what to do about it.
The exit code is 1 when any check FAILs (the gateway cannot work as configured), else 0, so
scripts and container health probes can use it. Nothing here changes anything: the database is
opened without creating or migrating the schema, the port is bound and released at once.

Never imports Qt itself: the PySide6 check reads the installed version from package metadata.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from pbpm_desktop import __version__
from pbpm_desktop.core.settings import Settings

OK, WARN, FAIL = "OK", "WARN", "FAIL"

#: PySide6 releases known to misbehave with some Pythons: (version prefix, Python below which
#: it is bad, why). Measured here with 6.12.0 on 3.11: every `Signal.emit()` drops one
#: reference to the `True` it returns, so after a few thousand emissions Python aborts
#: ("bool_dealloc: deallocating True or False") or segfaults; 3.12+ has immortal True/None.
#: Add a row when another one turns up.
KNOWN_BAD_PYSIDE6: tuple[tuple[str, tuple[int, int], str], ...] = (
    (
        "6.12.",
        (3, 12),
        "drops a reference on every signal emission: the app crashes after a while",
    ),
)


@dataclass(frozen=True)
class Check:
    status: str  # OK | WARN | FAIL
    name: str
    message: str
    fix: str = ""


# -- the checks ----------------------------------------------------------------------------


async def check_ollama(settings: Settings) -> Check:
    from pbpm_desktop.core.upstream.client import OllamaClient, OllamaError, OllamaUnreachable

    client = OllamaClient(settings.ollama_url, connect_timeout=3.0)
    await client.start()
    try:
        version = await asyncio.wait_for(client.version(), 10)
    except OllamaUnreachable as exc:  # its message says what to do
        return Check(FAIL, "ollama", exc.message)
    except OllamaError as exc:
        return Check(
            FAIL,
            "ollama",
            f"{settings.ollama_url} answered /api/version with {exc.status}: {exc.message}",
            "check that OLLAMA_URL points at Ollama, not another service",
        )
    except (TimeoutError, KeyError, ValueError) as exc:
        return Check(
            FAIL,
            "ollama",
            f"{settings.ollama_url} did not answer /api/version like Ollama ({exc!r})",
            "check that OLLAMA_URL points at Ollama, not another service",
        )
    finally:
        await client.close()
    return Check(OK, "ollama", f"Ollama {version} at {settings.ollama_url}")


async def check_ollama_exposure(settings: Settings) -> Check:
    """Ollama listening only on loopback (LAN clients must come through the gateway)."""
    from pbpm_desktop.core.exposure import FIX
    from pbpm_desktop.core.exposure import check_ollama_exposure as probe

    report = await probe(settings.ollama_url)
    if report.skipped:
        return Check(WARN, "exposure", report.skipped)
    if report.exposed:
        where = ", ".join(f"{a}:{report.port}" for a in report.exposed)
        return Check(
            FAIL,
            "exposure",
            f"Ollama answers on {where}: LAN clients can use it without a key, around the gateway",
            f"to fix, {FIX}",
        )
    checked = ", ".join(report.checked) or "none"
    return Check(OK, "exposure", f"Ollama not reachable on this machine's addresses ({checked})")


def check_keyring() -> Check:
    from pbpm_desktop.core.access.secrets import MASTER_FILE_NAME

    if os.environ.get("MASTER_API_KEY"):
        return Check(OK, "keyring", "not needed: the master key comes from MASTER_API_KEY")
    fallback = f"the master key is kept in {MASTER_FILE_NAME} (0600) in the data directory"
    if os.environ.get("PBPM_NO_KEYRING"):
        return Check(OK, "keyring", f"disabled by PBPM_NO_KEYRING: {fallback}")
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception as exc:
        return Check(WARN, "keyring", f"keyring failed to load ({exc}): {fallback}", _KEYRING_FIX)
    if isinstance(backend, fail.Keyring):
        return Check(WARN, "keyring", f"no OS keyring backend: {fallback}", _KEYRING_FIX)
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    return Check(OK, "keyring", f"backend {name}")


_KEYRING_FIX = (
    "fine on servers; on a desktop install/unlock GNOME Keyring or KWallet, "
    "or set MASTER_API_KEY (e.g. from an env file)"
)


async def check_database(settings: Settings) -> Check:
    from pbpm_desktop.core.store import Database, migrations
    from pbpm_desktop.core.store.migrations import LATEST
    from pbpm_desktop.core.store.models import ApiKey, UsageRecord

    url = settings.database_url
    shown = _without_password(url)
    not_yet = await asyncio.to_thread(_sqlite_file_missing, url)
    if not_yet:  # opening it would create it: say so instead
        return Check(
            WARN,
            "database",
            f"no database yet at {not_yet}",
            "the first start of the gateway or the app creates it",
        )
    db = Database(url)
    try:
        await asyncio.wait_for(db.open(migrate=False), 15)
        version = await db.schema_version()
        try:  # tables of ours with no version we can tell: the gateway refuses them
            await migrations.check_known(db.client(), version)
            unknown = None
        except migrations.UnknownSchema as exc:
            unknown = exc
        with db.bound():
            counts = (
                (await ApiKey.all().count(), await UsageRecord.all().count())
                if version == LATEST
                else None
            )
    except ImportError as exc:
        return Check(
            FAIL,
            "database",
            f"{shown}: driver missing ({exc})",
            "install the PostgreSQL driver: pip install 'pbpm-desktop[postgres]'",
        )
    except Exception as exc:
        return Check(
            FAIL,
            "database",
            f"{shown} not reachable: {exc}",
            "check PBPM_DB_URL, that the database server runs and the user may connect",
        )
    finally:
        try:
            await db.close()
        except Exception:
            pass
    if version > LATEST:
        return Check(
            FAIL,
            "database",
            f"{shown}: schema version {version}, newer than pbpm-desktop {__version__} "
            f"understands ({LATEST})",
            "upgrade pbpm-desktop, or restore the backup (guard.db.backup-*) made before",
        )
    if unknown is not None:
        return Check(FAIL, "database", f"{shown}: {unknown.problem}", unknown.fix)
    if version == 0:
        return Check(
            WARN,
            "database",
            f"{shown}: empty (no schema yet)",
            "the first start of the gateway or the app creates the tables",
        )
    if version < LATEST:
        backup = (
            "SQLite is backed up first"
            if url.startswith("sqlite://")
            else "take a pg_dump first, see the README"
        )
        return Check(
            WARN,
            "database",
            f"{shown}: schema version {version}, older than pbpm-desktop {__version__} "
            f"needs ({LATEST})",
            f"start the gateway once: it migrates (keeping the data; {backup})",
        )
    assert counts is not None
    return Check(
        OK,
        "database",
        f"{shown}: schema version {version}, current for pbpm-desktop {__version__} "
        f"({counts[0]} keys, {counts[1]} usage records)",
    )


def _sqlite_file_missing(url: str) -> Path | None:
    if not url.startswith("sqlite://") or url == "sqlite://:memory:":
        return None
    path = Path(url.removeprefix("sqlite://"))
    return None if path.is_file() else path


def check_port(settings: Settings) -> Check:
    host, port = settings.host, settings.port
    if port == 0:
        return Check(OK, "port", "port 0: the gateway picks a free port and prints it")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if sys.platform != "win32":  # the gateway itself sets it; TIME_WAIT is not "in use"
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return Check(
                    FAIL,
                    "port",
                    f"cannot listen on {host}:{port}: {exc.strerror}",
                    "set PBPM_HOST to an address of this machine",
                )
        else:
            return Check(OK, "port", f"{host}:{port} is free")
    if _is_our_gateway(port):
        return Check(
            WARN,
            "port",
            f"port {port} is in use by a running PBPM Desktop gateway",
            "fine if that is the one you meant; a second one needs another PBPM_PORT",
        )
    return Check(
        FAIL,
        "port",
        f"port {port} is in use by another program",
        "stop that program or set PBPM_PORT (or --port) to a free port",
    )


def _is_our_gateway(port: int) -> bool:
    """Does 127.0.0.1:`port` answer /health the way the gateway does (DESIGN.md §3)?"""
    try:
        with urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:  # loopback only
            body = json.loads(r.read())
    except Exception:
        return False
    return isinstance(body, dict) and {"status", "ollama"} <= body.keys()


def check_gpu(nvml: Any = None) -> Check:
    from pbpm_desktop.core.vram.gpu import read_gpu_totals

    try:
        if nvml is None:
            import pynvml as nvml
        nvml.nvmlInit()
    except Exception as exc:
        return Check(
            WARN,
            "gpu",
            f"no GPU visible through NVML ({exc})",
            "fine without an NVIDIA GPU; otherwise install the NVIDIA driver (in Docker: the "
            "NVIDIA Container Toolkit). VRAM totals then come from Ollama only",
        )
    try:
        totals = read_gpu_totals(nvml)
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass
    if not totals:
        return Check(WARN, "gpu", "NVML works but reports no GPU", "check `nvidia-smi`")
    names = ", ".join(
        f"{d['name']} ({d['total_bytes'] / 1024**3:.0f} GiB)" for d in totals["devices"]
    )
    return Check(OK, "gpu", names)


def pyside6_version() -> str | None:
    """The installed PySide6 version, without importing Qt (None: not installed)."""
    for dist in ("PySide6-Essentials", "PySide6"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    try:  # a bundle carries no metadata; the package itself knows its version
        import PySide6

        return str(PySide6.__version__)
    except ImportError:
        return None


def check_qt(version: str | None = None, python: tuple[int, int] | None = None) -> Check:
    version = pyside6_version() if version is None else version
    python = python or sys.version_info[:2]
    py = f"Python {python[0]}.{python[1]}"
    if version is None:
        return Check(
            OK,
            "qt",
            f"PySide6 not installed ({py}): `serve` works; the desktop app needs it",
        )
    for prefix, below, why in KNOWN_BAD_PYSIDE6:
        if version.startswith(prefix) and python < below:
            return Check(
                WARN,
                "qt",
                f"PySide6 {version} with {py} {why}",
                f"install another PySide6 (pip install 'PySide6-Essentials!={version}') "
                f"or use Python {below[0]}.{below[1]}+",
            )
    return Check(OK, "qt", f"PySide6 {version} with {py}")


# -- running them ----------------------------------------------------------------------------


async def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order they print; a check that crashes is a FAIL, not a traceback."""
    steps: list[tuple[str, Callable[[], Awaitable[Check | None]]]] = [
        ("ollama", lambda: check_ollama(settings)),
        ("exposure", lambda: check_ollama_exposure(settings)),
        ("keyring", lambda: asyncio.to_thread(check_keyring)),
        ("database", lambda: check_database(settings)),
        ("port", lambda: asyncio.to_thread(check_port, settings)),
        ("gpu", lambda: asyncio.to_thread(check_gpu)),
        ("qt", lambda: asyncio.to_thread(check_qt)),
    ]
    results: list[Check] = []
    for name, step in steps:
        try:
            result = await step()
        except Exception as exc:
            result = Check(FAIL, name, f"the check itself failed: {exc!r}", "report this as a bug")
        if result is not None:
            results.append(result)
    return results


def format_check(check: Check) -> str:
    line = f"{check.status:<4}  {check.name:<9} {check.message}"
    if check.fix and check.status != OK:
        line += f"\n{'':<15} → {check.fix}"
    return line


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status == FAIL for c in checks) else 0


def _without_password(url: str) -> str:
    """The DB URL as it may be printed: a password in it becomes ***."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def run_doctor(settings: Settings, *, as_json: bool = False) -> int:
    """What `pbpm-desktop doctor` does: print the checks, return the exit code."""
    from pbpm_desktop.core.loop_thread import new_event_loop

    loop = new_event_loop()
    try:
        checks = loop.run_until_complete(run_checks(settings))
    finally:
        loop.close()
    if as_json:
        print(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        print(f"pbpm-desktop {__version__} doctor")
        for check in checks:
            print(format_check(check))
    return exit_code(checks)
