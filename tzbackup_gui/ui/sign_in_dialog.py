"""Sign-in dialog: take the session cookie from the user's browser profile, or paste it by hand; then the
service check and the keyring.

The browser path leads (copying an httpOnly cookie out of DevTools is the hardest step for most users): the
dialog lists the browser profiles found on this machine and whether each holds a shapes.inc session cookie
(never its value), and reads that one cookie from the profile the user picks (``browser_cookies``). The
profile used is remembered (not the secret), so when the session ends later the same profile is offered
first for a fresh cookie.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPalette, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..browser_cookies import (
    BrowserProfile,
    ProfileStatus,
    discover_profiles,
    find_remembered,
    forget_source,
    load_remembered_source,
    remember_source,
    scan_profiles,
    take_session_cookie,
)
from ..errors import MalformedCookieError, TzBackupError
from ..service.auth import DEFAULT_COOKIE_NAME, SessionCredential, parse_cookie_input
from .async_slot import async_slot
from .theme import (
    TEXT_AIM,
    banner_sheet,
    css,
    error_color,
    flatten,
    muted_text,
    placeholder_color,
    readable,
    success_color,
    warning_color,
)

if TYPE_CHECKING:
    from ..app import SignInResult

__all__ = ["SignInDialog"]

log = logging.getLogger("tzbackup.ui.sign_in")

SignInFn = Callable[[SessionCredential, bool], Awaitable["SignInResult"]]
ScanFn = Callable[[], Awaitable[list[ProfileStatus]]]
SCAN_TIMEOUT = 30.0  # a keyring that waits for an unlock prompt must not leave the list "looking" forever

BROWSER_EXPLAIN = (
    "Pick the browser profile in which you are signed in to <b>shapes.inc</b>. tzbackup reads <b>one "
    "cookie</b> from it, the shapes.inc session cookie, and nothing else; its value is never shown."
)

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

_STATUS_ROLE = Qt.ItemDataRole.UserRole + 1


async def scan_this_computer() -> list[ProfileStatus]:
    """Every browser profile of this user and what it holds for shapes.inc (off the GUI thread)."""

    def scan() -> list[ProfileStatus]:
        return scan_profiles(discover_profiles())

    return await asyncio.wait_for(asyncio.to_thread(scan), timeout=SCAN_TIMEOUT)


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
        scan_browsers: ScanFn | None = None,
        config_dir: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("signInDialog")
        self.setWindowTitle("Sign in to shapes.inc")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumWidth(600)
        self._sign_in = sign_in
        self._scan_browsers = scan_browsers or scan_this_computer
        self._config_dir = config_dir
        self._credential: SessionCredential | None = None
        self._scan_task: asyncio.Future[Any] | None = None
        self._scanned_once = False
        self.browser_statuses: list[ProfileStatus] = []
        self.used_profile: BrowserProfile | None = None  # set when the browser path signed in
        self.result_info: SignInResult | None = None  # set after a successful check

        layout = QVBoxLayout(self)
        if resume_prompt:
            banner = QLabel(resume_prompt)
            banner.setObjectName("resumePrompt")
            banner.setWordWrap(True)
            layout.addWidget(banner)
        self.resume_banner = banner if resume_prompt else None

        layout.addWidget(self._build_browser_box())
        layout.addWidget(self._build_paste_box())

        self.session_only = QCheckBox("Keep it for this session &only (do not store it)")
        self.session_only.setObjectName("sessionOnly")
        self.keyring_warning = QLabel()
        self.keyring_warning.setObjectName("keyringWarning")
        self.keyring_warning.setWordWrap(True)
        if keyring_available:
            self.keyring_warning.setText(f"The cookie will be stored in {keyring_name}.")
        else:
            self.keyring_warning.setText(
                "No system keyring is available, so the cookie cannot be stored safely. tzbackup never "
                "writes it to a plain file: it can keep it for this session only, and you will paste it "
                "again next time. (Install and unlock GNOME Keyring or KWallet to have it remembered.)"
            )
            self.keyring_warning.setProperty("warning", True)
            self.session_only.setChecked(True)
            self.session_only.setEnabled(False)
        layout.addWidget(self.keyring_warning)
        layout.addWidget(self.session_only)

        self.result_label = QLabel(" ")
        self.result_label.setObjectName("resultLabel")
        self.result_label.setWordWrap(True)
        layout.addWidget(self.result_label)

        self.buttons = QDialogButtonBox()
        self.done_button = QPushButton("&Resume Backup" if resume_prompt else "&Done")
        self.done_button.setObjectName("doneButton")
        self.done_button.setEnabled(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelSignIn")
        self.buttons.addButton(self.done_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.check_button.clicked.connect(self.check_and_save)
        self.use_browser_button.clicked.connect(self.use_browser)
        self.rescan_button.clicked.connect(self.rescan_browsers)
        self.cookie_edit.textChanged.connect(self._validate_input)
        self.cookie_edit.returnPressed.connect(self.check_button.click)
        self.setTabOrder(self.browser_list, self.use_browser_button)
        self.setTabOrder(self.use_browser_button, self.rescan_button)
        self.setTabOrder(self.rescan_button, self.cookie_edit)
        self.setTabOrder(self.cookie_edit, self.show_check)
        self.setTabOrder(self.show_check, self.check_button)
        self.setTabOrder(self.check_button, self.session_only)
        self.setTabOrder(self.session_only, self.done_button)
        self.setTabOrder(self.done_button, self.cancel_button)
        self.browser_list.setAccessibleName("Browser profiles")
        self.cookie_edit.setAccessibleName("Session cookie")
        self._apply_theme()

    # --- colours ------------------------------------------------------------------------------------

    def _color(self, kind: str) -> str:
        """``#rrggbb`` of "ok" / "warning" / "error" text, readable on this dialog's background."""
        palette = self.palette()
        window = palette.color(QPalette.ColorRole.Window)
        pick = {"ok": success_color, "warning": warning_color, "error": error_color}[kind]
        return css(readable(pick(palette, window), window, TEXT_AIM))

    def _apply_theme(self) -> None:
        """Banner and warning colours from the palette (readable in dark and high-contrast themes too)."""
        if getattr(self, "_theming", False):
            return
        self._theming = True  # a style sheet sends a palette change of its own
        try:
            palette = self.palette()
            if self.resume_banner is not None:
                self.resume_banner.setStyleSheet(banner_sheet(palette, "warning", "8px"))
            edit_palette = self.cookie_edit.palette()
            edit_palette.setColor(QPalette.ColorRole.PlaceholderText, placeholder_color(palette))
            self.cookie_edit.setPalette(edit_palette)
            if self.keyring_warning.property("warning"):
                self.keyring_warning.setStyleSheet(f"QLabel {{ color: {self._color('warning')}; }}")
        finally:
            self._theming = False

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_theme()

    # --- layout -------------------------------------------------------------------------------------

    def _build_browser_box(self) -> QGroupBox:
        box = QGroupBox("Use my browser's session")
        box.setObjectName("browserGroup")
        col = QVBoxLayout(box)
        explain = QLabel(BROWSER_EXPLAIN)
        explain.setObjectName("browserExplain")
        explain.setWordWrap(True)
        explain.setTextFormat(Qt.TextFormat.RichText)
        col.addWidget(explain)
        self.browser_list = QListWidget()
        self.browser_list.setObjectName("browserList")
        self.browser_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.browser_list.setWordWrap(True)
        self.browser_list.setMinimumHeight(120)
        self.browser_list.setMaximumHeight(180)
        self.browser_list.currentRowChanged.connect(self._browser_selected)
        self.browser_list.itemDoubleClicked.connect(lambda _item: self.use_browser_button.click())
        col.addWidget(self.browser_list)
        self.browser_detail = QLabel(" ")
        self.browser_detail.setObjectName("browserDetail")
        self.browser_detail.setWordWrap(True)
        self.browser_detail.setTextFormat(Qt.TextFormat.RichText)
        col.addWidget(self.browser_detail)
        row = QHBoxLayout()
        self.use_browser_button: QPushButton = QPushButton("&Use This Browser's Session")
        self.use_browser_button.setObjectName("useBrowserSession")
        self.use_browser_button.setEnabled(False)
        self.rescan_button: QPushButton = QPushButton("&Look Again")
        self.rescan_button.setObjectName("rescanBrowsers")
        self.rescan_button.setToolTip("Look for browsers again (after signing in or closing a browser)")
        row.addWidget(self.use_browser_button)
        row.addWidget(self.rescan_button)
        row.addStretch(1)
        col.addLayout(row)
        return box

    def _build_paste_box(self) -> QGroupBox:
        box = QGroupBox("Or paste the cookie by hand")
        box.setObjectName("pasteGroup")
        col = QVBoxLayout(box)
        steps = QLabel(STEPS)
        steps.setObjectName("signInSteps")
        steps.setWordWrap(True)
        steps.setTextFormat(Qt.TextFormat.RichText)
        steps.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col.addWidget(steps)
        label = QLabel("&Session cookie:")
        self.cookie_edit = QLineEdit()
        self.cookie_edit.setObjectName("cookieEdit")
        self.cookie_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.cookie_edit.setPlaceholderText(f"paste the {DEFAULT_COOKIE_NAME} value")
        self.cookie_edit.setClearButtonEnabled(True)
        label.setBuddy(self.cookie_edit)
        col.addWidget(label)
        col.addWidget(self.cookie_edit)
        row = QHBoxLayout()
        self.show_check = QCheckBox("Sho&w the cookie")
        self.show_check.setObjectName("showCookie")
        self.show_check.toggled.connect(self._toggle_visible)
        self.check_button = QPushButton("Check and &Save")
        self.check_button.setObjectName("checkAndSave")
        self.check_button.setEnabled(False)
        row.addWidget(self.show_check)
        row.addStretch(1)
        row.addWidget(self.check_button)
        col.addLayout(row)
        self.validation_label = QLabel(" ")
        self.validation_label.setObjectName("validationLabel")
        self.validation_label.setWordWrap(True)
        col.addWidget(self.validation_label)
        return box

    # --- browser profiles ---------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._scanned_once:
            self._scanned_once = True
            self._fit_height()
            self._start_scan()

    def _fit_height(self) -> None:
        """Grow to the height the word-wrapped labels need at this width (Qt sizes a dialog from the
        labels' unwrapped hints, which clips the steps)."""
        layout = self.layout()
        needed = layout.totalHeightForWidth(self.width()) if layout is not None else -1
        if needed > self.height():
            self.resize(self.width(), needed)

    def _start_scan(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no qasync loop (a bare widget test): the paste path still works
            self._show_list_message("Looking for browsers needs the running app.")
            return
        if self._scan_task is not None and not self._scan_task.done():
            return
        self._show_list_message("Looking for browser profiles…")
        self._scan_task = asyncio.ensure_future(self._scan())

    @async_slot()
    async def rescan_browsers(self) -> None:
        self._start_scan()
        if self._scan_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._scan_task

    async def _scan(self) -> None:
        self.rescan_button.setEnabled(False)
        self.use_browser_button.setEnabled(False)
        try:
            statuses = await self._scan_browsers()
        except TimeoutError:
            self._show_list_message("Looking for browsers took too long (a keyring prompt may be waiting). "
                                    "Try “Look Again”, or paste the cookie below.")
            self.rescan_button.setEnabled(True)
            return
        except Exception as err:  # never a traceback in the face of the user
            log.warning("Looking for browser profiles failed: %s", type(err).__name__)
            self._show_list_message(f"Could not look for browsers ({type(err).__name__}). "
                                    "Paste the cookie below instead.")
            self.rescan_button.setEnabled(True)
            return
        self._fill_list(statuses)
        self.rescan_button.setEnabled(True)

    def _show_list_message(self, text: str) -> None:
        self.browser_statuses = []
        self.browser_list.clear()
        item = QListWidgetItem(text)
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        self.browser_list.addItem(item)
        self.browser_detail.setText(" ")

    def _fill_list(self, statuses: list[ProfileStatus]) -> None:
        self.browser_list.blockSignals(True)
        self.browser_list.clear()
        self.browser_statuses = list(statuses)
        if not statuses:
            self.browser_list.blockSignals(False)
            self._show_list_message("No browser profile was found on this computer. Paste the cookie below.")
            return
        for index, status in enumerate(statuses):
            mark = "✓" if status.usable else "✗"
            item = QListWidgetItem(f"{status.profile.label}\n    {mark} {status.message}")
            item.setData(_STATUS_ROLE, index)
            base = self.browser_list.palette().color(QPalette.ColorRole.Base)
            palette = self.browser_list.palette()
            muted = readable(flatten(muted_text(palette, base), base), base, TEXT_AIM)
            ok = readable(success_color(palette, base), base, TEXT_AIM)
            item.setForeground(ok if status.usable else muted)
            item.setToolTip(status.hint or status.message)
            self.browser_list.addItem(item)
        self.browser_list.blockSignals(False)
        remembered = find_remembered([s.profile for s in statuses], load_remembered_source(self._config_dir))
        rows = [s.profile for s in statuses]
        if remembered is not None:
            row = rows.index(remembered)
        else:
            row = next((i for i, s in enumerate(statuses) if s.usable), 0)
        self.browser_list.setCurrentRow(row)
        self._browser_selected(row)
        if self.browser_statuses[row].usable:
            self.use_browser_button.setDefault(True)
            if remembered is not None:
                self.use_browser_button.setFocus()

    def _selected_status(self) -> ProfileStatus | None:
        item = self.browser_list.currentItem()
        index = item.data(_STATUS_ROLE) if item is not None else None
        if not isinstance(index, int) or not 0 <= index < len(self.browser_statuses):
            return None
        return self.browser_statuses[index]

    def _browser_selected(self, _row: int) -> None:
        status = self._selected_status()
        self.use_browser_button.setEnabled(status is not None and status.usable)
        if status is None:
            return
        remembered = find_remembered([status.profile], load_remembered_source(self._config_dir))
        last_time = "You signed in from this profile last time. " if remembered is not None else ""
        if status.usable:
            where = _html(_short_path(status.profile.cookie_db))
            text = (f"{last_time}Reads one cookie for shapes.inc from <b>{_html(status.profile.label)}</b> "
                    f"(<code>{where}</code>); nothing else.")
        else:
            color = self._color("warning")
            text = f"{last_time}<span style='color:{color}'>{_html(status.hint or status.message)}</span>"
        self.browser_detail.setText(text)

    @async_slot()
    async def use_browser(self) -> None:
        """Read the picked profile's cookie now (fresh), then the usual check with the service."""
        status = self._selected_status()
        if status is None or not status.usable:
            return
        profile = status.profile
        self._set_busy(True)
        self.result_label.setText(f"Reading one cookie for shapes.inc from {_html(profile.label)}…")
        try:
            credential = await asyncio.to_thread(take_session_cookie, profile)
        except TzBackupError as err:
            self._show_error(err)
            self._set_busy(False)
            return
        except Exception as err:
            self._show_unexpected(err)
            self._set_busy(False)
            return
        result = await self._check(credential)
        if result is not None:
            self.used_profile = profile
            with contextlib.suppress(TzBackupError, OSError):
                await asyncio.to_thread(remember_source, profile, self._config_dir)
            self._show_signed_in(result)

    # --- paste --------------------------------------------------------------------------------------

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
            self.validation_label.setText(
                f"<span style='color:{self._color('error')}'>✗ {_html(err.message)}</span>"
            )
            self.check_button.setEnabled(False)
            return
        kind = "legacy appSession cookie" if self._credential.is_legacy else "session cookie"
        ok = self._color("ok")
        self.validation_label.setText(f"<span style='color:{ok}'>✓ Looks like a {kind}.</span>")
        self.check_button.setEnabled(True)
        self.check_button.setDefault(True)

    @async_slot()
    async def check_and_save(self) -> None:
        """Ask the service, then store; the dialog stays open to show the outcome."""
        credential = self._credential
        if credential is None:
            return
        self._set_busy(True)
        result = await self._check(credential)
        if result is not None:
            self.cookie_edit.blockSignals(True)
            self.cookie_edit.clear()
            self.cookie_edit.blockSignals(False)
            self._credential = None
            self.check_button.setEnabled(False)
            self.used_profile = None
            with contextlib.suppress(OSError):
                await asyncio.to_thread(forget_source, self._config_dir)
            self._show_signed_in(result)

    # --- shared -------------------------------------------------------------------------------------

    async def _check(self, credential: SessionCredential) -> SignInResult | None:
        """The usual check with the service and storage; shows a failure. The result when signed in."""
        self.result_label.setText("Checking with shapes.inc…")
        try:
            result = await self._sign_in(credential, self.session_only.isChecked())
        except TzBackupError as err:
            self._show_error(err)
            self._set_busy(False)
            return None
        except Exception as err:  # never a traceback in the face of the user
            self._show_unexpected(err)
            self._set_busy(False)
            return None
        return result

    def _show_signed_in(self, result: SignInResult) -> None:
        """Signed in: say as whom and where the cookie went; Done becomes the default."""
        self.result_info = result
        self.result_label.setText(
            f"<span style='color:{self._color('ok')}'>✓ Signed in as <b>{_html(result.display_name)}</b>; "
            f"{_html(result.where)}.</span>"
        )
        self._set_busy(False)
        self.done_button.setEnabled(True)
        self.done_button.setDefault(True)
        self.done_button.setFocus()

    def _set_busy(self, busy: bool) -> None:
        self.check_button.setEnabled(not busy and self._credential is not None)
        self.cookie_edit.setEnabled(not busy)
        status = self._selected_status()
        self.use_browser_button.setEnabled(not busy and status is not None and status.usable)
        self.rescan_button.setEnabled(not busy)
        self.browser_list.setEnabled(not busy)

    def _show_error(self, err: TzBackupError) -> None:
        hint = f"<br>{_html(err.hint)}" if err.hint else ""
        error = self._color("error")
        self.result_label.setText(f"<span style='color:{error}'>✗ {_html(err.message)}</span>{hint}")

    def _show_unexpected(self, err: Exception) -> None:
        self.result_label.setText(
            f"<span style='color:{self._color('error')}'>✗ Could not check: "
            f"{_html(type(err).__name__)}</span>"
        )

    def done(self, result: int) -> None:
        """Closing stops a scan still running (its thread finishes on its own and is ignored)."""
        if self._scan_task is not None and not self._scan_task.done():
            self._scan_task.cancel()
        super().done(result)


def _short_path(path: Path) -> str:
    from ..app import display_path

    return display_path(path)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
