"""The main window's sign-in, rotation and sign-out through a real Secret Service (GNOME Keyring over D-Bus).

scripts/test runs this inside ``dbus-run-session`` with a temporary HOME and an unlocked keyring, with
``TZBACKUP_REAL_KEYRING=1``; elsewhere it skips, so a developer's own keyring is never touched.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt

from tzbackup_gui.app import AppConfig, AppContext
from tzbackup_gui.credentials import CredentialStore
from tzbackup_gui.service import Pacer
from tzbackup_gui.ui.main_window import MainWindow

from .conftest import FakeNotifier, run

pytestmark = [
    pytest.mark.keyring,
    pytest.mark.skipif(
        os.environ.get("TZBACKUP_REAL_KEYRING") != "1",
        reason="needs a real Secret Service: run by scripts/test inside dbus-run-session",
    ),
]


def test_sign_in_stores_in_keyring_rotation_is_stored_back_sign_out_removes(
    qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any
) -> None:
    service = f"tzbackup-gui-test-{uuid.uuid4().hex[:8]}"
    store = CredentialStore(service=service)
    assert store.available(), store.unavailable_reason()
    assert "secret" in store.backend_name.lower()
    sandbox.state.rotate_every = 5
    config = AppConfig(
        data_dir=tmp_path / "data",
        base_url=sandbox.base_url,
        files_base_url=sandbox.files_base_url,
        delay=0.0,
    )
    ctx = AppContext(config, httpx.AsyncClient(timeout=10.0), store, credential=None, pacer=Pacer(delay=0))
    window = MainWindow(ctx, settings=qsettings, notifier=FakeNotifier(), open_folder=lambda _p: None)
    qtbot.addWidget(window)
    window.show()
    try:
        # Nothing stored yet: start-up opens the sign-in dialog by itself and waits for it.
        started = asyncio.ensure_future(window.start(), loop=qloop)
        qtbot.waitUntil(lambda: window.sign_in_dialog is not None, timeout=15_000)
        dialog = window.sign_in_dialog
        cookie = sandbox.cookie
        dialog.cookie_edit.setText(cookie)
        qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(dialog.done_button.isEnabled, timeout=15_000)
        assert "Signed in as" in dialog.result_label.text()
        qtbot.mouseClick(dialog.done_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(started.done, timeout=15_000)

        stored = CredentialStore(service=service).load()  # a new object: read back from the daemon
        assert stored is not None and set(stored.secrets()) & {cookie, sandbox.cookie}

        # A backup makes enough requests for the sandbox to rotate the cookie; the window stores it back.
        qtbot.waitUntil(lambda: window.back_up_all_button.isEnabled(), timeout=15_000)
        qtbot.mouseClick(window.back_up_all_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not window.running and window.ctx.credential is not None, timeout=60_000)
        newest = sandbox.cookie
        assert newest != cookie
        qtbot.waitUntil(
            lambda: (c := CredentialStore(service=service).load()) is not None and newest in c.secrets(),
            timeout=15_000,
        )
        log_text = window.log_pane.toPlainText()
        assert cookie not in log_text and newest not in log_text

        qtbot.mouseClick(window.sign_out_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.ctx.credential is None, timeout=15_000)
        assert CredentialStore(service=service).load() is None
    finally:
        if window.ctx.credential is not None:
            CredentialStore(service=service).delete()
        run(qloop, qtbot, window.ctx.aclose())
        window.remove_log_handler()
