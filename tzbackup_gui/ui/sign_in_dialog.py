"""Sign-in dialog: where to find the session cookie, live input check, service check, then store it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from ..errors import MalformedCookieError, TzBackupError
from ..service.auth import DEFAULT_COOKIE_NAME, SessionCredential, parse_cookie_input

if TYPE_CHECKING:
    from ..app import SignInResult

__all__ = ["SignInDialog"]

SignInFn = Callable[[SessionCredential, bool], Awaitable["SignInResult"]]

STEPS = f"""
<p>tzbackup signs in with the <b>session cookie</b> of your browser (it never sees your password).
To find it:</p>
<ol style="margin-left: -20px">
<li>Open <b>https://shapes.inc</b> in your browser and sign in.</li>
<li>Open the developer tools (F12), then <b>Application</b> (Chrome, Edge) or <b>Storage</b> (Firefox)
 → <b>Cookies</b> → <b>https://shapes.inc</b>.</li>
<li>Copy the <b>value</b> of <code>{DEFAULT_COOKIE_NAME}</code> and paste it below.
 The whole <code>Cookie:</code> header works too.</li>
</ol>
<p>A cookie from <b>talk.shapes.inc</b> will not work: it belongs to a different app.</p>
"""


class SignInDialog(QDialog):
    """Window-modal dialog, opened with :meth:`open` (never ``exec``: no nested loop under qasync)."""

    def __init__(
        self,
        sign_in: SignInFn,
        *,
        keyring_available: bool,
        keyring_name: str,
        resume_prompt: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("signInDialog")
        self.setWindowTitle("Sign in to shapes.inc")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumWidth(560)
        self._sign_in = sign_in
        self._credential: SessionCredential | None = None
        self.result_info: SignInResult | None = None  # set after a successful check

        layout = QVBoxLayout(self)
        if resume_prompt:
            banner = QLabel(resume_prompt, objectName="resumePrompt")
            banner.setWordWrap(True)
            banner.setStyleSheet(
                "QLabel { background: #fff4ce; color: #5c4400; padding: 8px; border-radius: 4px; }"
            )
            layout.addWidget(banner)
        steps = QLabel(STEPS, objectName="signInSteps")
        steps.setWordWrap(True)
        steps.setTextFormat(Qt.TextFormat.RichText)
        steps.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(steps)

        label = QLabel("&Session cookie:")
        self.cookie_edit = QLineEdit(objectName="cookieEdit")
        self.cookie_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.cookie_edit.setPlaceholderText(f"paste the {DEFAULT_COOKIE_NAME} value")
        self.cookie_edit.setClearButtonEnabled(True)
        label.setBuddy(self.cookie_edit)
        self.show_check = QCheckBox("Sho&w the cookie", objectName="showCookie")
        self.show_check.toggled.connect(self._toggle_visible)
        layout.addWidget(label)
        layout.addWidget(self.cookie_edit)
        layout.addWidget(self.show_check)

        self.validation_label = QLabel(" ", objectName="validationLabel")
        self.validation_label.setWordWrap(True)
        layout.addWidget(self.validation_label)

        self.session_only = QCheckBox(
            "Keep it for this session &only (do not store it)", objectName="sessionOnly"
        )
        self.keyring_warning = QLabel(objectName="keyringWarning")
        self.keyring_warning.setWordWrap(True)
        if keyring_available:
            self.keyring_warning.setText(f"The cookie will be stored in {keyring_name}.")
        else:
            self.keyring_warning.setText(
                "No system keyring is available, so the cookie cannot be stored safely. tzbackup never "
                "writes it to a plain file: it can keep it for this session only, and you will paste it "
                "again next time. (Install and unlock GNOME Keyring or KWallet to have it remembered.)"
            )
            self.keyring_warning.setStyleSheet("QLabel { color: #8a5300; }")
            self.session_only.setChecked(True)
            self.session_only.setEnabled(False)
        layout.addWidget(self.keyring_warning)
        layout.addWidget(self.session_only)

        self.result_label = QLabel(" ", objectName="resultLabel")
        self.result_label.setWordWrap(True)
        layout.addWidget(self.result_label)

        self.buttons = QDialogButtonBox()
        self.check_button = QPushButton("Check and &Save", objectName="checkAndSave")
        self.check_button.setDefault(True)
        self.check_button.setEnabled(False)
        self.done_button = QPushButton(
            "&Resume Backup" if resume_prompt else "&Done", objectName="doneButton"
        )
        self.done_button.setEnabled(False)
        self.cancel_button = QPushButton("Cancel", objectName="cancelSignIn")
        self.buttons.addButton(self.check_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.done_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.check_button.clicked.connect(self.check_and_save)
        layout.addWidget(self.buttons)

        self.cookie_edit.textChanged.connect(self._validate_input)
        self.cookie_edit.returnPressed.connect(self.check_button.click)
        self.setTabOrder(self.cookie_edit, self.show_check)
        self.setTabOrder(self.show_check, self.session_only)
        self.setTabOrder(self.session_only, self.check_button)

    def _toggle_visible(self, visible: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if visible else QLineEdit.EchoMode.Password
        self.cookie_edit.setEchoMode(mode)

    def _validate_input(self, text: str) -> None:
        """Live check of the input's form (never of the value itself with the service)."""
        self.done_button.setEnabled(False)
        self.result_label.setText(" ")
        if not text.strip():
            self._credential = None
            self.validation_label.setText(" ")
            self.check_button.setEnabled(False)
            return
        try:
            self._credential = parse_cookie_input(text)
        except MalformedCookieError as err:
            self._credential = None
            self.validation_label.setText(f"<span style='color:#b3261e'>✗ {_html(err.message)}</span>")
            self.check_button.setEnabled(False)
            return
        kind = "legacy appSession cookie" if self._credential.is_legacy else "session cookie"
        self.validation_label.setText(f"<span style='color:#1b7f3b'>✓ Looks like a {kind}.</span>")
        self.check_button.setEnabled(True)

    @asyncSlot()
    async def check_and_save(self) -> None:
        """Ask the service, then store; the dialog stays open to show the outcome."""
        credential = self._credential
        if credential is None:
            return
        self.check_button.setEnabled(False)
        self.cookie_edit.setEnabled(False)
        self.result_label.setText("Checking with shapes.inc…")
        try:
            result = await self._sign_in(credential, self.session_only.isChecked())
        except TzBackupError as err:
            hint = f"<br>{_html(err.hint)}" if err.hint else ""
            self.result_label.setText(f"<span style='color:#b3261e'>✗ {_html(err.message)}</span>{hint}")
            self.check_button.setEnabled(True)
            self.cookie_edit.setEnabled(True)
            return
        except Exception as err:  # never a traceback in the face of the user
            self.result_label.setText(
                f"<span style='color:#b3261e'>✗ Could not check: {_html(type(err).__name__)}</span>"
            )
            self.check_button.setEnabled(True)
            self.cookie_edit.setEnabled(True)
            return
        self.result_info = result
        self.cookie_edit.blockSignals(True)
        self.cookie_edit.clear()
        self.cookie_edit.blockSignals(False)
        self.result_label.setText(
            f"<span style='color:#1b7f3b'>✓ Signed in as <b>{_html(result.display_name)}</b>; "
            f"{_html(result.where)}.</span>"
        )
        self.cookie_edit.setEnabled(True)
        self.done_button.setEnabled(True)
        self.done_button.setDefault(True)
        self.done_button.setFocus()


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
