"""The sign-in dialog's "Use my browser's session" path on real cookie stores in a temporary HOME, with the
real service check against the sandbox (loopback) and a memory-only credential store."""

from __future__ import annotations

import errno
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from tests.browser_profiles import (
    CHROMIUM_GOOD,
    EXPIRED_VALUE,
    FIREFOX_GOOD,
    SESSION,
    TALK_VALUE,
    Row,
    chromium_profile,
    firefox_profile,
    good_rows,
)
from tzbackup_gui import browser_cookies as bc
from tzbackup_gui.app import AppContext
from tzbackup_gui.browser_cookies import discover_profiles, load_remembered_source, remember_source
from tzbackup_gui.ui.sign_in_dialog import SignInDialog

from .conftest import run
from .window_support import make_context


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    return h


@pytest.fixture
def ctx(qloop: Any, qtbot: Any, sandbox: Any, tmp_path: Path) -> Iterator[AppContext]:
    context = make_context(sandbox, tmp_path / "data", signed_in=False)
    yield context
    run(qloop, qtbot, context.aclose())


def _profiles(home: Path, firefox_value: str, work_value: str) -> None:
    firefox_profile(home, "k3x9.default-release", "default-release", good_rows(firefox_value))
    chromium_profile(home, ".config/chromium", "Default", "Work", good_rows(work_value))
    chromium_profile(home, ".config/chromium", "Profile 1", "Old",
                     [Row(".shapes.inc", SESSION, EXPIRED_VALUE, time.time() - 86400)])
    chromium_profile(home, ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser", "Default",
                     "Person 1", [Row("talk.shapes.inc", SESSION, TALK_VALUE, time.time() + 3600)])


def _dialog(qtbot: Any, ctx: AppContext, config: Path, **kw: Any) -> SignInDialog:
    async def sign_in(credential: Any, session_only: bool) -> Any:
        return await ctx.sign_in(credential, session_only=session_only)

    dialog = SignInDialog(sign_in, keyring_available=True, keyring_name="the test keyring",
                          config_dir=config, **kw)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: len(dialog.browser_statuses) == 4, timeout=20_000)
    return dialog


def _texts(dialog: SignInDialog) -> list[str]:
    items = [dialog.browser_list.item(i) for i in range(dialog.browser_list.count())]
    return [f"{it.text()} {it.toolTip()}" for it in items]


def test_pick_a_browser_profile_and_sign_in(
    qloop: Any, qtbot: Any, sandbox: Any, home: Path, tmp_path: Path, ctx: AppContext
) -> None:
    _profiles(home, sandbox.cookie, CHROMIUM_GOOD)
    config = tmp_path / "config"
    dialog = _dialog(qtbot, ctx, config)
    texts = _texts(dialog)
    assert texts[0].startswith("Firefox, profile default-release\n    ✓ A shapes.inc session cookie is here")
    assert "Chromium, profile Work" in texts[1] and "✓" in texts[1]
    assert "Chromium, profile Old" in texts[2] and "expired on" in texts[2]
    assert "Brave (Flatpak), profile Person 1" in texts[3] and "talk.shapes.inc" in texts[3]
    shown = " ".join(texts) + dialog.browser_detail.text()
    for secret in (sandbox.cookie, CHROMIUM_GOOD, EXPIRED_VALUE, TALK_VALUE):
        assert secret not in shown
    assert "one cookie" in dialog.findChild(object, "browserExplain").text()

    dialog.browser_list.setCurrentRow(2)  # the expired one: not usable, says what to do
    assert not dialog.use_browser_button.isEnabled()
    assert "sign in again" in dialog.browser_detail.text()
    dialog.browser_list.setCurrentRow(0)
    assert dialog.use_browser_button.isEnabled()
    assert "Reads one cookie for shapes.inc from <b>Firefox, profile default-release</b>" in (
        dialog.browser_detail.text())

    qtbot.mouseClick(dialog.use_browser_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.done_button.isEnabled, timeout=20_000)
    assert "Signed in as" in dialog.result_label.text()
    assert sandbox.demo_user["displayName"] in dialog.result_label.text()
    assert ctx.credential is not None and dict(ctx.credential.cookies) == {SESSION: sandbox.cookie}
    assert dialog.used_profile is not None and dialog.used_profile.browser == "firefox"
    remembered = load_remembered_source(config)
    assert remembered is not None and remembered.browser == "firefox"
    assert remembered.path == home / ".mozilla/firefox/k3x9.default-release"


def test_after_an_expired_session_the_same_profile_is_offered_first(
    qloop: Any, qtbot: Any, sandbox: Any, home: Path, tmp_path: Path, ctx: AppContext
) -> None:
    _profiles(home, FIREFOX_GOOD, sandbox.cookie)  # Firefox's cookie is not the sandbox's
    config = tmp_path / "config"
    work = next(p for p in discover_profiles(home) if p.name == "Work")
    remember_source(work, config)
    dialog = _dialog(qtbot, ctx, config, resume_prompt="Your shapes.inc session ended during the backup.")
    assert dialog.browser_list.currentRow() == 1  # not the first usable one: the one used last time
    assert "last time" in dialog.browser_detail.text()
    assert dialog.use_browser_button.isDefault()
    qtbot.mouseClick(dialog.use_browser_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.done_button.isEnabled, timeout=20_000)
    assert dialog.done_button.text() == "&Resume Backup"
    assert ctx.credential is not None and dict(ctx.credential.cookies) == {SESSION: sandbox.cookie}


def test_a_locked_profile_says_close_the_browser_and_a_wrong_cookie_is_refused(
    qloop: Any, qtbot: Any, sandbox: Any, home: Path, tmp_path: Path, ctx: AppContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _profiles(home, FIREFOX_GOOD, sandbox.cookie)
    dialog = _dialog(qtbot, ctx, tmp_path / "config")

    dialog.browser_list.setCurrentRow(0)  # Firefox: a cookie the service does not accept
    qtbot.mouseClick(dialog.use_browser_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "✗" in dialog.result_label.text(), timeout=20_000)
    assert not dialog.done_button.isEnabled() and ctx.credential is None
    assert dialog.use_browser_button.isEnabled()  # another try is possible

    def held(src: Path, dst: Path) -> None:
        raise PermissionError(errno.EACCES, "locked by another process")

    monkeypatch.setattr(bc, "_copy_file", held)  # the browser now holds its database (as on Windows)
    dialog.browser_list.setCurrentRow(1)
    qtbot.mouseClick(dialog.use_browser_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "holding its cookie database" in dialog.result_label.text(), timeout=20_000)
    assert "Close Chromium completely" in dialog.result_label.text()
    assert ctx.credential is None and not dialog.done_button.isEnabled()


def test_no_browsers_points_to_the_paste_path(
    qloop: Any, qtbot: Any, home: Path, tmp_path: Path, ctx: AppContext
) -> None:
    async def sign_in(credential: Any, session_only: bool) -> Any:
        raise AssertionError("not called")

    dialog = SignInDialog(sign_in, keyring_available=True, keyring_name="k", config_dir=tmp_path / "c")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: "No browser profile" in dialog.browser_list.item(0).text(), timeout=20_000)
    assert "Paste the cookie below" in dialog.browser_list.item(0).text()
    assert not dialog.use_browser_button.isEnabled() and dialog.rescan_button.isEnabled()
