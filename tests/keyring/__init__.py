"""Tests against a real Secret Service (GNOME Keyring over D-Bus). scripts/test runs them inside
``dbus-run-session`` and sets ``TZBACKUP_REAL_KEYRING=1``; elsewhere they skip, so they never touch a
developer's own keyring by accident."""

from __future__ import annotations

import os

import pytest

#: each module's ``pytestmark``
REAL_KEYRING_ONLY = [
    pytest.mark.keyring,
    pytest.mark.skipif(
        os.environ.get("TZBACKUP_REAL_KEYRING") != "1",
        reason="needs a real Secret Service: run by scripts/test inside dbus-run-session",
    ),
]
