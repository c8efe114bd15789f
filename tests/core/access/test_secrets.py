"""The master key: environment, keyring, or a 0600 file; generated once."""

from __future__ import annotations

import stat
from pathlib import Path

from pbpm_desktop.core.access.secrets import load_master_key


def test_environment_wins(tmp_path: Path) -> None:
    value = "from-env-" + "x" * 32
    key = load_master_key(tmp_path, value)
    assert key.value == value and key.source == "environment" and not key.created


def test_file_fallback_is_private_and_stable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PBPM_NO_KEYRING", "1")
    first = load_master_key(tmp_path)
    assert first.created and first.source == "file"
    path = tmp_path / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_master_key(tmp_path)
    assert second.value == first.value and not second.created
    assert first.value not in repr(first)
    assert "no OS keyring" in first.describe()


def test_keyring_is_used_when_available(tmp_path: Path, monkeypatch) -> None:
    import keyring
    from keyring.backend import KeyringBackend

    store: dict[tuple[str, str], str] = {}

    class MemoryKeyring(KeyringBackend):
        priority = 1

        def get_password(self, service, username):
            return store.get((service, username))

        def set_password(self, service, username, password):
            store[(service, username)] = password

        def delete_password(self, service, username):
            store.pop((service, username), None)

    monkeypatch.delenv("PBPM_NO_KEYRING", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        key = load_master_key(tmp_path)
        assert key.source == "keyring" and key.created
        assert store[("pbpm-desktop", "master_api_key")] == key.value
        assert not (tmp_path / "master.key").exists()
        assert load_master_key(tmp_path).value == key.value
    finally:
        keyring.set_keyring(previous)
