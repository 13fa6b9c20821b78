"""Talk's endpoint API key against a real Secret Service (GNOME Keyring over D-Bus), like the session cookie.

Run by scripts/test inside ``dbus-run-session`` (``TZBACKUP_REAL_KEYRING=1``); skipped elsewhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.keyring import REAL_KEYRING_ONLY
from tzbackup_gui.credentials import CredentialStore

pytestmark = REAL_KEYRING_ONLY

ENDPOINT = "http://127.0.0.1:11434/v1"
KEY = "sk-talk-" + "x" * 40


@pytest.fixture
def service() -> Iterator[str]:
    name = f"tzbackup-test-{uuid.uuid4().hex[:8]}"
    yield name
    CredentialStore(service=name).delete_api_key(ENDPOINT)


def test_api_key_stored_read_back_and_deleted(service: str) -> None:
    where = CredentialStore(service=service).save_api_key(ENDPOINT + "/", KEY)
    assert "keyring" in where and KEY not in where
    assert CredentialStore(service=service).load_api_key(ENDPOINT) == KEY  # read from the daemon
    assert CredentialStore(service=service).load_api_key("http://127.0.0.1:1234/v1") is None
    CredentialStore(service=service).delete_api_key(ENDPOINT)
    assert CredentialStore(service=service).load_api_key(ENDPOINT) is None
    CredentialStore(service=service).delete_api_key(ENDPOINT)  # nothing stored: no error


def test_api_key_and_session_cookie_do_not_disturb_each_other(service: str) -> None:
    from tzbackup_gui.service.auth import SessionCredential

    store = CredentialStore(service=service)
    store.save(SessionCredential.from_value("cookie-value-abcdefghijklmnopqrstuvwxyz"), user_id="u1")
    store.save_api_key(ENDPOINT, KEY)
    store.delete()
    assert CredentialStore(service=service).load() is None
    assert CredentialStore(service=service).load_api_key(ENDPOINT) == KEY
