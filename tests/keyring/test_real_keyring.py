"""CredentialStore against a real Secret Service (GNOME Keyring over D-Bus).

scripts/test runs these inside ``dbus-run-session`` with a temporary HOME and an unlocked
``gnome-keyring-daemon --components=secrets``, and sets ``TZBACKUP_REAL_KEYRING=1``. Elsewhere they skip, so
they never touch a developer's own keyring by accident.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.keyring import REAL_KEYRING_ONLY
from tzbackup_gui.credentials import CredentialStore, resolve_credential
from tzbackup_gui.service.auth import DEFAULT_COOKIE_NAME, SessionCredential

pytestmark = REAL_KEYRING_ONLY

FIRST = "first%2Bvalue~abcdefghijklmnopqrstuvwxyz0123456789=="
ROTATED = "rotated/value+abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.fixture
def service() -> Iterator[str]:
    """A keyring service name of its own, so nothing else in the keyring is touched."""
    name = f"tzbackup-test-{uuid.uuid4().hex[:8]}"
    yield name
    CredentialStore(service=name).delete()


def test_backend_is_the_secret_service() -> None:
    store = CredentialStore()
    assert store.available(), store.unavailable_reason()
    assert "secret" in store.backend_name.lower()


def test_store_read_back_rotate_delete(service: str) -> None:
    where = CredentialStore(service=service).save(
        SessionCredential.from_value(FIRST), user_id="user-42", username="alice"
    )
    assert "keyring" in where and FIRST not in where

    loaded = CredentialStore(service=service).load()  # a new object: read from the daemon
    assert loaded is not None and loaded.cookies == {DEFAULT_COOKIE_NAME: FIRST}

    CredentialStore(service=service).update(SessionCredential.from_value(ROTATED))
    rotated = CredentialStore(service=service).load()
    assert rotated is not None and rotated.cookies[DEFAULT_COOKIE_NAME] == ROTATED

    CredentialStore(service=service).delete()
    assert CredentialStore(service=service).load() is None


def test_resolve_credential_reads_the_keyring(service: str) -> None:
    CredentialStore(service=service).save(SessionCredential.from_value(FIRST), user_id="u1")
    found, where = resolve_credential(CredentialStore(service=service), {})
    assert found is not None and found.cookies[DEFAULT_COOKIE_NAME] == FIRST
    assert "keyring" in where
