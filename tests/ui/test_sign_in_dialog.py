"""Sign-in dialog: live input validation, password mode, the no-keyring choice.

Checks against the service itself are in test_main_window.py.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLineEdit

from tzbackup_gui.errors import BadCredentialError
from tzbackup_gui.ui.sign_in_dialog import SignInDialog

from .conftest import run

GOOD = "a" * 24 + "%2B/=~" + "b" * 20


class Recorder:
    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[Any] = []
        self.fail = fail

    async def __call__(self, credential: Any, session_only: bool) -> Any:
        self.calls.append((credential, session_only))
        if self.fail:
            raise self.fail

        class R:
            display_name = "Demo Person"
            where = "stored in the test keyring"

        return R()


def _dialog(qtbot: Any, sign_in: Any, **kw: Any) -> SignInDialog:
    kw.setdefault("keyring_available", True)
    kw.setdefault("keyring_name", "the test keyring")
    dialog = SignInDialog(sign_in, **kw)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_live_validation_and_password_mode(qtbot: Any) -> None:
    dialog = _dialog(qtbot, Recorder())
    assert "talk.shapes.inc" in dialog.findChild(object, "signInSteps").text()
    assert dialog.cookie_edit.echoMode() == QLineEdit.EchoMode.Password
    qtbot.keyClicks(dialog.cookie_edit, "talk_session=abc")
    assert not dialog.check_button.isEnabled()
    assert "session cookie" in dialog.validation_label.text()
    dialog.cookie_edit.setText("too-short")
    assert not dialog.check_button.isEnabled()
    dialog.cookie_edit.setText(f"Cookie: _ga=1; __Secure-better-auth.session_token={GOOD}; x=y")
    assert dialog.check_button.isEnabled()
    assert "Looks like" in dialog.validation_label.text()
    assert GOOD not in dialog.validation_label.text()
    check = dialog.show_check
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=QPoint(6, check.height() // 2))
    assert dialog.cookie_edit.echoMode() == QLineEdit.EchoMode.Normal


def test_refused_cookie_shows_message_and_allows_retry(qtbot: Any, qloop: Any) -> None:
    recorder = Recorder(BadCredentialError("shapes.inc did not accept this session cookie."))
    dialog = _dialog(qtbot, recorder)
    dialog.cookie_edit.setText(GOOD)
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "did not accept" in dialog.result_label.text(), timeout=15_000)
    assert dialog.check_button.isEnabled() and not dialog.done_button.isEnabled()
    assert dialog.result_info is None
    assert recorder.calls[0][0].header_value().endswith(GOOD)


def test_no_keyring_forces_session_only(qtbot: Any, qloop: Any) -> None:
    recorder = Recorder()
    dialog = _dialog(qtbot, recorder, keyring_available=False, keyring_name="")
    assert dialog.session_only.isChecked() and not dialog.session_only.isEnabled()
    assert "never" in dialog.keyring_warning.text() and "plain" in dialog.keyring_warning.text()
    dialog.cookie_edit.setText(GOOD)
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.done_button.isEnabled, timeout=15_000)
    assert recorder.calls[0][1] is True  # session only
    assert "Signed in as" in dialog.result_label.text() and "Demo Person" in dialog.result_label.text()
    assert dialog.cookie_edit.text() == ""
    assert run(qloop, qtbot, _noop()) is None


async def _noop() -> None:
    return None
