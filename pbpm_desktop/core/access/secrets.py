"""The master (admin) key: environment, else the OS keyring, else a 0600 file in the data dir.

The key is generated on first start. It is never logged: callers get a `MasterKey` whose
`repr` hides the secret, plus a human description of where it lives ("OS keyring", a path…)
that the CLI prints once on first start and the dashboard shows.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from pbpm_desktop.core.settings import ConfigError

log = logging.getLogger(__name__)

KEYRING_SERVICE = "pbpm-desktop"
KEYRING_USER = "master_api_key"
MASTER_FILE_NAME = "master.key"
#: random bytes in a generated key (256 bits); clients keys use 32 too.
KEY_BYTES = 32
#: the shortest master key accepted (DESIGN.md §3): `MASTER_API_KEY=admin` falls to guessing
MIN_MASTER_KEY_LEN = 32


def new_secret(prefix: str) -> str:
    """A new URL-safe key with `prefix` (e.g. `pbpm-`), 256 bits of entropy."""
    return prefix + secrets.token_urlsafe(KEY_BYTES)


@dataclass(frozen=True)
class MasterKey:
    value: str = field(repr=False)
    source: str  # "environment" | "keyring" | "file"
    location: str  # where a human finds it
    created: bool  # generated during this start

    def describe(self) -> str:
        return {
            "environment": "MASTER_API_KEY environment variable",
            "keyring": f"OS keyring (service '{KEYRING_SERVICE}', user '{KEYRING_USER}')",
        }.get(self.source, f"file {self.location} (no OS keyring backend available)")


def _keyring_get() -> tuple[bool, str | None]:
    """(keyring usable, stored value). A missing/fail backend counts as unusable."""
    if os.environ.get("PBPM_NO_KEYRING"):
        return False, None
    try:
        import keyring
        from keyring.backends import fail

        if isinstance(keyring.get_keyring(), fail.Keyring):
            return False, None
        return True, keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
    except Exception as exc:  # any backend error means "no keyring here"
        log.debug("keyring unavailable: %s", type(exc).__name__)
        return False, None


def _keyring_set(value: str) -> bool:
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, KEYRING_USER, value)
        return True
    except Exception as exc:
        log.debug("keyring write failed: %s", type(exc).__name__)
        return False


def _write_private_file(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    os.chmod(path, 0o600)


def load_master_key(data_dir: Path, env_value: str | None = None) -> MasterKey:
    """Find or create the master key (DESIGN.md §2); refuse one shorter than 32 characters.

    Raises ConfigError (one clear line at start-up, see cli.py) for a short key from any
    source: a guessable master key opens every key's policy and the whole audit.
    """
    if env_value:
        return _long_enough(MasterKey(env_value, "environment", "MASTER_API_KEY", created=False))
    file_path = data_dir / MASTER_FILE_NAME
    usable, stored = _keyring_get()
    if stored:
        return _long_enough(MasterKey(stored, "keyring", KEYRING_SERVICE, created=False))
    if file_path.is_file():
        value = file_path.read_text(encoding="utf-8").strip()
        if value:
            return _long_enough(MasterKey(value, "file", str(file_path), created=False))
    value = new_secret("pbpm-master-")
    if usable and _keyring_set(value):
        return MasterKey(value, "keyring", KEYRING_SERVICE, created=True)
    _write_private_file(file_path, value)
    return MasterKey(value, "file", str(file_path), created=True)


def make_private_dir(path: Path) -> None:
    """The data dir (database, master key file, logs) owner-only: 0700, also on old installs."""
    path.mkdir(parents=True, exist_ok=True)
    if os.name != "nt" and path.stat().st_mode & 0o077:
        path.chmod(0o700)


def _long_enough(master: MasterKey) -> MasterKey:
    if len(master.value) >= MIN_MASTER_KEY_LEN:
        return master
    raise ConfigError(
        f"the master key in the {master.describe()} is {len(master.value)} characters; "
        f"use at least {MIN_MASTER_KEY_LEN} (e.g. the output of "
        '`python -c "import secrets; print(secrets.token_urlsafe(32))"`), '
        "or remove it to have one generated"
    )
