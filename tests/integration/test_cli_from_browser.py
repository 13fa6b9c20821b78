"""``tzbackup login --from-browser``: real cookie stores in a temporary HOME, the real sandbox over loopback,
the in-memory keyring. The cookie taken must be exactly the shapes.inc one, and never printed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser_profiles import (
    EXPIRED_VALUE,
    SESSION,
    TALK_VALUE,
    Row,
    chromium_profile,
    firefox_profile,
    good_rows,
)
from tests.fake_keyring import MemoryKeyring
from tests.integration.cli_support import memory_keyring, run_inprocess, server_args
from tzbackup_gui.credentials import ACTIVE_ACCOUNT, KEYRING_SERVICE

__all__ = ["memory_keyring"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(h / ".config"))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    return h


def _home_with_the_sandbox_cookie(home: Path, sandbox: Any) -> None:
    """Firefox holds the sandbox's valid cookie (plus decoys); Chromium has only an expired one."""
    firefox_profile(home, "q1w2.default-release", "default-release", good_rows(sandbox.cookie))
    chromium_profile(home, ".config/chromium", "Default", "Old",
                     [Row(".shapes.inc", SESSION, EXPIRED_VALUE, time.time() - 86400)])


def test_login_from_the_one_browser_with_a_cookie_then_whoami(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Any,
    home: Path, memory_keyring: MemoryKeyring,
) -> None:
    _home_with_the_sandbox_cookie(home, sandbox)
    result = run_inprocess(capsys, monkeypatch, ["login", "--from-browser", *server_args(sandbox, tmp_path)])
    assert result.code == 0, result.err
    assert "Signed in as" in result.out and "stored in the system keyring" in result.out
    assert "Firefox, profile default-release" in result.err and "nothing else" in result.err
    user_id = sandbox.demo_user["id"]
    assert memory_keyring.entries[(KEYRING_SERVICE, ACTIVE_ACCOUNT)] == user_id
    assert memory_keyring.entries[(KEYRING_SERVICE, user_id)] == f"{SESSION}={sandbox.cookie}"
    assert sandbox.cookie not in result.out + result.err
    remembered = json.loads((home / ".config/tzbackup/browser-session.json").read_text())
    assert remembered["browser"] == "firefox" and sandbox.cookie not in json.dumps(remembered)

    whoami = run_inprocess(capsys, monkeypatch, ["whoami", *server_args(sandbox, tmp_path)])
    assert whoami.code == 0 and sandbox.demo_user["username"] in whoami.out

    # later the session ends: the hint offers a fresh cookie from the same browser profile
    sandbox.state.new_session(revoke_old=True)
    expired = run_inprocess(capsys, monkeypatch, ["whoami", *server_args(sandbox, tmp_path)])
    assert expired.code == 3
    assert "tzbackup login --from-browser firefox --profile q1w2.default-release" in expired.err


def test_naming_the_browser_and_its_failures(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Any,
    home: Path, memory_keyring: MemoryKeyring,
) -> None:
    _home_with_the_sandbox_cookie(home, sandbox)
    chromium_profile(home, ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser", "Default", "Me",
                     [Row("talk.shapes.inc", SESSION, TALK_VALUE, time.time() + 3600)])
    args = server_args(sandbox, tmp_path)

    talk = run_inprocess(capsys, monkeypatch, ["login", "--from-browser", "brave", *args])
    assert talk.code == 3 and "Only a talk.shapes.inc cookie" in talk.err and "hint:" in talk.err
    old = run_inprocess(capsys, monkeypatch, ["login", "--from-browser", "chromium", *args])
    assert old.code == 3 and "expired on" in old.err
    none = run_inprocess(capsys, monkeypatch, ["login", "--from-browser", "vivaldi", *args])
    assert none.code == 3 and "No Vivaldi profile" in none.err
    unknown = run_inprocess(capsys, monkeypatch, ["login", "--from-browser", "netscape", *args])
    assert unknown.code == 2 and "unknown browser" in unknown.err
    assert memory_keyring.entries == {}
    for r in (talk, old, none, unknown):
        assert TALK_VALUE not in r.out + r.err and EXPIRED_VALUE not in r.out + r.err

    ok = run_inprocess(capsys, monkeypatch,
                       ["login", "--from-browser", "firefox", "--profile", "default-release", *args])
    assert ok.code == 0, ok.err


def test_several_profiles_with_a_cookie_are_listed_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Any,
    home: Path, memory_keyring: MemoryKeyring,
) -> None:
    _home_with_the_sandbox_cookie(home, sandbox)
    chromium_profile(home, ".config/chromium", "Profile 2", "Work", good_rows(sandbox.cookie))
    result = run_inprocess(capsys, monkeypatch, ["login", "--from-browser", *server_args(sandbox, tmp_path)])
    assert result.code == 2
    assert "Firefox, profile default-release" in result.out and "Chromium, profile Work" in result.out
    assert "Chromium, profile Old" in result.out and "expired on" in result.out
    assert "--from-browser chromium --profile 'Profile 2'" in result.out
    assert sandbox.cookie not in result.out + result.err and memory_keyring.entries == {}
