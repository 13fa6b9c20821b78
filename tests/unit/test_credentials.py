"""CredentialStore and resolve_credential against an in-memory keyring backend and the fail backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from keyring.errors import KeyringLocked

from tests.fake_keyring import MemoryKeyring
from tzbackup_gui.credentials import (
    ACTIVE_ACCOUNT,
    KEYRING_SERVICE,
    CredentialStore,
    resolve_credential,
)
from tzbackup_gui.errors import CredentialError, KeyringUnavailableError, MalformedCookieError
from tzbackup_gui.service.auth import DEFAULT_COOKIE_NAME, SessionCredential

SECRET = "s3cr3t%2Fvalue+with~chars/abcdefghijklmnopqrstuvwxyz0123=="
ROTATED = "r0tated-value-abcdefghijklmnopqrstuvwxyz-0123456789"


class LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")


class PlaintextKeyring(MemoryKeyring):
    """Named like keyrings.alt's plain-file backend: must be refused."""


@pytest.fixture
def backend() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    try:
        yield kr
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def fail_backend() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def cred(value: str = SECRET) -> SessionCredential:
    return SessionCredential.from_value(value)


def test_save_then_load_from_a_new_store(backend: MemoryKeyring) -> None:
    where = CredentialStore().save(cred(), user_id="user-1", username="alice")
    assert "keyring" in where and "tzbackup" in where and SECRET not in where
    assert backend.entries[(KEYRING_SERVICE, ACTIVE_ACCOUNT)] == "user-1"
    assert backend.entries[(KEYRING_SERVICE, "user-1")] == f"{DEFAULT_COOKIE_NAME}={SECRET}"
    loaded = CredentialStore().load()
    assert loaded is not None and loaded.cookies == {DEFAULT_COOKIE_NAME: SECRET}


def test_update_replaces_the_active_secret(backend: MemoryKeyring) -> None:
    CredentialStore().save(cred(), user_id="user-1")
    store = CredentialStore()
    store.update(cred(ROTATED))
    loaded = CredentialStore().load()
    assert loaded is not None and loaded.cookies[DEFAULT_COOKIE_NAME] == ROTATED
    assert len(backend.entries) == 2


def test_legacy_split_cookie_round_trips(backend: MemoryKeyring) -> None:
    legacy = SessionCredential({"appSession.0": "a" * 40, "appSession.1": "b" * 40})
    CredentialStore().save(legacy, user_id="u")
    loaded = CredentialStore().load()
    assert loaded is not None and loaded.cookies == legacy.cookies


def test_delete_removes_both_entries_and_is_idempotent(backend: MemoryKeyring) -> None:
    store = CredentialStore()
    store.save(cred(), user_id="user-1")
    store.delete()
    assert backend.entries == {}
    store.delete()  # nothing stored: no error
    assert CredentialStore().load() is None


def test_unreadable_stored_value_loads_as_none(backend: MemoryKeyring) -> None:
    backend.entries[(KEYRING_SERVICE, ACTIVE_ACCOUNT)] = "u"
    backend.entries[(KEYRING_SERVICE, "u")] = "short"
    assert CredentialStore().load() is None


def test_available_and_location(backend: MemoryKeyring) -> None:
    store = CredentialStore()
    assert store.available()
    assert store.backend_name
    assert "system keyring" in store.describe_location()


def test_fail_backend_gives_a_plain_message(fail_backend: None) -> None:
    store = CredentialStore()
    assert not store.available()
    assert "no keyring service is running" in store.unavailable_reason()
    with pytest.raises(KeyringUnavailableError) as info:
        store.load()
    assert "No usable keyring" in str(info.value)
    assert "TZBACKUP_COOKIE" in info.value.hint
    with pytest.raises(KeyringUnavailableError):
        store.save(cred(), user_id="u")


def test_plaintext_backend_is_refused() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())
    try:
        store = CredentialStore()
        assert not store.available()
        assert "plain file" in store.unavailable_reason()
        with pytest.raises(KeyringUnavailableError):
            store.save(cred(), user_id="u")
    finally:
        keyring.set_keyring(previous)


def test_locked_keyring_becomes_keyring_unavailable() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(LockedKeyring())
    try:
        with pytest.raises(KeyringUnavailableError) as info:
            CredentialStore().load()
        assert "locked" in str(info.value)
    finally:
        keyring.set_keyring(previous)


def test_memory_only_never_touches_the_keyring(backend: MemoryKeyring) -> None:
    store = CredentialStore(memory_only=True)
    assert store.available()
    where = store.save(cred(), user_id="u")
    assert "this session only" in where
    assert backend.entries == {}
    loaded = store.load()
    assert loaded is not None and loaded.cookies[DEFAULT_COOKIE_NAME] == SECRET
    assert CredentialStore(memory_only=True).load() is None  # per object, per session
    store.delete()
    assert store.load() is None


def test_fallback_to_memory_after_no_keyring(fail_backend: None) -> None:
    store = CredentialStore()
    assert not store.available()
    store.use_memory_only()
    store.save(cred(), user_id="u")
    assert store.load() is not None


# --- resolve_credential -----------------------------------------------------------------------------------


def test_env_wins_over_keyring(backend: MemoryKeyring) -> None:
    CredentialStore().save(cred(ROTATED), user_id="u")
    found, where = resolve_credential(
        CredentialStore(), {"TZBACKUP_COOKIE": f"Cookie: a=b; {DEFAULT_COOKIE_NAME}={SECRET}"}
    )
    assert found is not None and found.cookies[DEFAULT_COOKIE_NAME] == SECRET
    assert where == "$TZBACKUP_COOKIE"


def test_keyring_used_without_env(backend: MemoryKeyring) -> None:
    CredentialStore().save(cred(), user_id="u")
    found, where = resolve_credential(CredentialStore(), {})
    assert found is not None and "keyring" in where


def test_nothing_anywhere(backend: MemoryKeyring) -> None:
    found, where = resolve_credential(CredentialStore(), {})
    assert found is None and "nothing stored" in where


def test_no_keyring_is_reported_not_raised(fail_backend: None) -> None:
    found, where = resolve_credential(CredentialStore(), {})
    assert found is None and "no usable keyring" in where


def test_malformed_env_names_the_source_not_the_value(backend: MemoryKeyring) -> None:
    with pytest.raises(MalformedCookieError) as info:
        resolve_credential(
            CredentialStore(), {"TZBACKUP_COOKIE": "talk_session=abcdefghijklmnopqrstuvwxyz0123456789"}
        )
    assert "TZBACKUP_COOKIE" in str(info.value)
    assert "abcdefghijklmnopqrstuvwxyz0123456789" not in str(info.value)


def _cookie_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "cookie"
    path.write_text(SECRET + "\n")
    os.chmod(path, mode)
    return path


def test_cookie_file_0600_is_accepted(tmp_path: Path, backend: MemoryKeyring) -> None:
    path = _cookie_file(tmp_path, 0o600)
    found, where = resolve_credential(CredentialStore(), {"TZBACKUP_COOKIE_FILE": str(path)})
    assert found is not None and found.cookies[DEFAULT_COOKIE_NAME] == SECRET
    assert str(path) in where


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_cookie_file_readable_by_others_is_refused(tmp_path: Path, mode: int, backend: MemoryKeyring) -> None:
    path = _cookie_file(tmp_path, mode)
    with pytest.raises(CredentialError) as info:
        resolve_credential(CredentialStore(), {"TZBACKUP_COOKIE_FILE": str(path)})
    assert "chmod 600" in info.value.hint
    assert SECRET not in str(info.value)


def test_missing_cookie_file_is_a_clear_error(tmp_path: Path, backend: MemoryKeyring) -> None:
    with pytest.raises(CredentialError) as info:
        resolve_credential(CredentialStore(), {"TZBACKUP_COOKIE_FILE": str(tmp_path / "nope")})
    assert "Cannot read" in str(info.value)


def test_systemd_credentials_directory(tmp_path: Path, backend: MemoryKeyring) -> None:
    path = tmp_path / "tzbackup-cookie"
    path.write_text(f"{DEFAULT_COOKIE_NAME}={SECRET}")
    os.chmod(path, 0o400)
    found, where = resolve_credential(CredentialStore(), {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert found is not None and found.cookies[DEFAULT_COOKIE_NAME] == SECRET
    assert "systemd" in where


def test_env_beats_cookie_file(tmp_path: Path, backend: MemoryKeyring) -> None:
    path = _cookie_file(tmp_path, 0o600)
    found, _ = resolve_credential(
        CredentialStore(), {"TZBACKUP_COOKIE": ROTATED, "TZBACKUP_COOKIE_FILE": str(path)}
    )
    assert found is not None and found.cookies[DEFAULT_COOKIE_NAME] == ROTATED
