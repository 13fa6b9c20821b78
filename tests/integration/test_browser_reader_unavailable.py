"""Sign-in from the browser on a Python without the cookie reader (rookiepy has wheels for CPython 3.11 and
3.12 only; pyproject installs it only there): said once and plainly, with what to do instead."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser_profiles import SESSION, Row, firefox_profile
from tests.fake_keyring import MemoryKeyring
from tests.integration.cli_support import memory_keyring, run_inprocess, server_args
from tzbackup_gui import browser_cookies
from tzbackup_gui.browser_cookies import CookieState, discover_profiles, reader_unavailable, scan_profiles
from tzbackup_gui.cli.options import EXIT_AUTH

__all__ = ["memory_keyring"]


@pytest.fixture
def without_rookiepy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rookiepy", None)  # import rookiepy raises ImportError, as when absent


def test_available_here() -> None:
    assert reader_unavailable() is None  # the suite runs on 3.11/3.12, where rookiepy is installed


@pytest.mark.usefixtures("without_rookiepy")
def test_on_python_3_13_it_names_the_python_and_the_way_out() -> None:
    found = reader_unavailable((3, 13))
    assert found is not None
    message, hint = found
    assert message == ("Sign-in from the browser is unavailable on Python 3.13: its cookie reader (rookiepy) "
                       "is only built for Python 3.11 and 3.12.")
    assert "Paste the cookie by hand (tzbackup login)" in hint and "Python 3.12 or 3.11" in hint
    message, hint = reader_unavailable((3, 12)) or ("", "")  # a supported Python with a broken install
    assert "is not installed" in message and "scripts/setup" in hint


@pytest.mark.usefixtures("without_rookiepy")
def test_cli_login_from_browser_says_so_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Any,
    memory_keyring: MemoryKeyring,
) -> None:
    monkeypatch.setattr(browser_cookies, "ROOKIEPY_PYTHONS", ())  # as if this Python had no wheel
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    result = run_inprocess(capsys, monkeypatch, ["login", "--from-browser", *server_args(sandbox, tmp_path)])
    assert result.code == EXIT_AUTH
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert result.err.count("unavailable on Python") == 1
    assert f"error: Sign-in from the browser is unavailable on Python {version}" in result.err
    assert "hint: Paste the cookie by hand" in result.err
    assert "Looking for the shapes.inc session cookie" not in result.err  # no profile was looked at
    assert memory_keyring.entries == {}


@pytest.mark.usefixtures("without_rookiepy")
def test_each_profile_of_the_window_list_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The window's sign-in dialog lists profiles: each one carries the same plain reason."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setattr(browser_cookies, "ROOKIEPY_PYTHONS", ())
    firefox_profile(home, "a1.default-release", "default-release",
                    [Row(".shapes.inc", SESSION, "value", time.time() + 86400)])
    statuses = scan_profiles(discover_profiles())
    assert statuses and all(s.state == CookieState.UNREADABLE and not s.usable for s in statuses)
    assert all("unavailable on Python" in s.message for s in statuses)
