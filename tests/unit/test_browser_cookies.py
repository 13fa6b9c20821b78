"""Reading the shapes.inc session cookie from real browser cookie stores built in a temporary HOME.

The stores are real SQLite databases in the browsers' own schemas (see tests/browser_profiles.py); the
Chromium values are really encrypted. Only the one right cookie may come out, and never in a message.
"""

from __future__ import annotations

import errno
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_profiles import (
    CHROMIUM_GOOD,
    EVIL_VALUE,
    EXPIRED_VALUE,
    FIREFOX_GOOD,
    OTHER_SITE_VALUE,
    SESSION,
    TALK_VALUE,
    Row,
    add_firefox_rows,
    chromium_cookies_db,
    chromium_profile,
    firefox_profile,
    good_rows,
    standard_home,
)
from tzbackup_gui import browser_cookies as bc
from tzbackup_gui.browser_cookies import (
    BrowserCookieError,
    CookieState,
    discover_profiles,
    find_remembered,
    inspect_profile,
    load_remembered_source,
    remember_source,
    scan_profiles,
    take_session_cookie,
)
from tzbackup_gui.errors import CredentialError

ALL_DECOYS = (TALK_VALUE, EXPIRED_VALUE, EVIL_VALUE, OTHER_SITE_VALUE, "GA1.1.123456.789")


@pytest.fixture(autouse=True)
def _no_dbus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like CI's main stage: no D-Bus session, so no Secret Service (must neither hang nor crash)."""
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    h = tmp_path / "home"
    h.mkdir()
    yield h


def _by_label(home: Path) -> dict[str, bc.BrowserProfile]:
    return {p.label: p for p in discover_profiles(home, platform="linux")}


def test_discovery_lists_profiles_with_names_and_install_kinds(home: Path) -> None:
    standard_home(home)
    profiles = discover_profiles(home, platform="linux")
    assert [(p.browser, p.name, p.install) for p in profiles] == [
        ("firefox", "default-release", ""),
        ("chromium", "Work", ""),
        ("chromium", "Old", ""),
        ("brave", "Person 1", "Flatpak"),
    ]  # the Chrome folder without a Cookies database is not listed
    assert profiles[3].label == "Brave (Flatpak), profile Person 1"
    assert profiles[1].key_file == home / ".config/chromium/Local State"


def test_snap_and_network_subfolder_locations(home: Path) -> None:
    firefox_profile(home, "abc.default", "default", [], root="snap/firefox/common/.mozilla/firefox")
    chromium_cookies_db(home / ".config/google-chrome/Profile 3/Network/Cookies", [])
    found = {(p.browser, p.install, p.name, p.cookie_db.relative_to(home).as_posix())
             for p in discover_profiles(home, platform="linux")}
    assert found == {
        ("firefox", "Snap", "default", "snap/firefox/common/.mozilla/firefox/abc.default/cookies.sqlite"),
        ("chrome", "", "Profile 3", ".config/google-chrome/Profile 3/Network/Cookies"),
    }


def test_firefox_gives_exactly_the_shapes_cookie(home: Path) -> None:
    standard_home(home)
    profile = _by_label(home)["Firefox, profile default-release"]
    credential = take_session_cookie(profile)
    assert dict(credential.cookies) == {SESSION: FIREFOX_GOOD}
    status = inspect_profile(profile)
    assert status.state is CookieState.FOUND and status.usable
    assert status.expires is not None and status.expires > time.time() + 6 * 86400
    for secret in (FIREFOX_GOOD, *ALL_DECOYS):
        assert secret not in repr(status) and secret not in status.message and secret not in repr(credential)


@pytest.mark.parametrize("meta_version", [24, 23])
def test_chromium_encrypted_value_is_decrypted_with_and_without_host_hash(
    home: Path, meta_version: int
) -> None:
    db = chromium_profile(home, ".config/chromium", "Default", "Work", good_rows(CHROMIUM_GOOD),
                          meta_version=meta_version)
    raw = sqlite3.connect(db).execute("SELECT encrypted_value FROM cookies WHERE host_key='.shapes.inc' "
                                      "AND path='/'").fetchone()[0]
    assert raw.startswith(b"v10") and CHROMIUM_GOOD.encode() not in raw  # really encrypted
    (profile,) = discover_profiles(home, platform="linux")
    assert dict(take_session_cookie(profile).cookies) == {SESSION: CHROMIUM_GOOD}


def test_expired_talk_only_and_absent_cookies_say_what_to_do(home: Path) -> None:
    standard_home(home)
    firefox_profile(home, "zz.empty", "empty",
                    [Row("example.com", "sid", OTHER_SITE_VALUE, time.time() + 99)])
    statuses = {s.profile.label: s for s in scan_profiles(discover_profiles(home, platform="linux"))}
    old = statuses["Chromium, profile Old"]
    assert old.state is CookieState.EXPIRED and "expired on" in old.message and "sign in again" in old.hint
    talk = statuses["Brave (Flatpak), profile Person 1"]
    assert talk.state is CookieState.TALK_ONLY and "talk.shapes.inc" in talk.message
    assert "not talk.shapes.inc" in talk.hint
    empty = statuses["Firefox, profile empty"]
    assert empty.state is CookieState.NONE and "Sign in on https://shapes.inc" in empty.hint
    assert "paste the cookie by hand" in empty.hint
    with pytest.raises(BrowserCookieError) as info:
        take_session_cookie(talk.profile)
    assert isinstance(info.value, CredentialError) and info.value.state is CookieState.TALK_ONLY
    assert "Brave (Flatpak), profile Person 1" in info.value.message
    for status in statuses.values():
        for secret in (FIREFOX_GOOD, CHROMIUM_GOOD, *ALL_DECOYS):
            assert secret not in status.message + status.hint


def test_the_newest_of_a_host_only_and_a_domain_cookie_wins(home: Path) -> None:
    now = time.time()
    chromium_profile(home, ".config/chromium", "Default", "Two", [
        Row("shapes.inc", SESSION, EXPIRED_VALUE, now + 600),  # older, still valid for 10 minutes
        Row(".shapes.inc", SESSION, CHROMIUM_GOOD, now + 7 * 86400),
        Row("shapes.inc", SESSION, TALK_VALUE, now + 60, path="/api"),
    ])
    (profile,) = discover_profiles(home, platform="linux")
    assert dict(take_session_cookie(profile).cookies) == {SESSION: CHROMIUM_GOOD}


def test_firefox_millisecond_expiry_is_understood(home: Path) -> None:
    now = time.time()
    firefox_profile(home, "ms.default", "ms", [Row(".shapes.inc", SESSION, FIREFOX_GOOD, now + 3600)],
                    milliseconds=True)
    firefox_profile(home, "ms2.default", "ms-old", [Row("shapes.inc", SESSION, EXPIRED_VALUE, now - 60)],
                    milliseconds=True)
    fresh, old = scan_profiles(discover_profiles(home, platform="linux"))
    assert fresh.state is CookieState.FOUND and fresh.expires == pytest.approx(now + 3600, abs=2)
    assert old.state is CookieState.EXPIRED


def test_running_browser_lock_and_wal_only_cookie(home: Path) -> None:
    """Like a running Firefox: WAL mode, an exclusive lock held, the new cookie only in the -wal file."""
    db = firefox_profile(home, "run.default", "running", [Row("example.com", "sid", OTHER_SITE_VALUE,
                                                                time.time() + 99)], wal=True)
    browser = sqlite3.connect(db, isolation_level=None)
    try:
        browser.execute("PRAGMA wal_autocheckpoint=0")
        browser.execute("PRAGMA locking_mode=EXCLUSIVE")
        add_firefox_rows(browser, [Row(".shapes.inc", SESSION, FIREFOX_GOOD, time.time() + 3600)])
        browser.execute("BEGIN EXCLUSIVE")  # and a write in progress: the lock is held
        browser.execute("UPDATE moz_cookies SET lastAccessed = lastAccessed + 1")
        assert Path(str(db) + "-wal").stat().st_size > 0
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1).execute(
                "SELECT count(*) FROM moz_cookies").fetchall()
        (profile,) = discover_profiles(home, platform="linux")
        assert dict(take_session_cookie(profile).cookies) == {SESSION: FIREFOX_GOOD}
    finally:
        browser.close()


def test_a_database_the_browser_holds_open_says_close_the_browser(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows browsers open their database without sharing: copying it fails (here: EACCES / EBUSY)."""
    standard_home(home)
    profile = _by_label(home)["Chromium, profile Work"]

    def held(src: Path, dst: Path) -> None:
        raise PermissionError(errno.EACCES, "The process cannot access the file because another process "
                                            "has locked a portion of the file")

    monkeypatch.setattr(bc, "_copy_file", held)
    status = inspect_profile(profile)
    assert status.state is CookieState.LOCKED
    assert "Chromium is holding its cookie database" in status.message
    assert "Close Chromium completely" in status.hint and "paste the cookie by hand" in status.hint


def test_missing_profile_and_broken_database(home: Path) -> None:
    standard_home(home)
    profiles = _by_label(home)
    gone = profiles["Firefox, profile default-release"]
    gone.cookie_db.unlink()
    status = inspect_profile(gone)
    assert status.state is CookieState.MISSING and "no cookie database any more" in status.message
    assert "Start Firefox with this profile" in status.hint
    broken = profiles["Chromium, profile Work"]
    broken.cookie_db.write_bytes(b"this is not sqlite at all" * 50)
    status = inspect_profile(broken)
    assert status.state is CookieState.UNREADABLE and "could not be read" in status.message


def test_keyring_encrypted_value_without_a_keyring_is_reported_not_crashed(home: Path) -> None:
    """v11 values need the browser's key from the Secret Service; without D-Bus there is none."""
    chromium_profile(home, ".config/google-chrome", "Default", "Me",
                     [Row(".shapes.inc", SESSION, CHROMIUM_GOOD, time.time() + 3600)],
                     prefix=b"v11", password=b"a-keyring-password")
    (profile,) = discover_profiles(home, platform="linux")
    started = time.monotonic()
    status = inspect_profile(profile)
    assert time.monotonic() - started < 10
    assert status.state is CookieState.ENCRYPTED
    assert "system keyring" in status.message and "Paste the cookie by hand" in status.hint


def test_remembered_source_round_trip(home: Path, tmp_path: Path) -> None:
    standard_home(home)
    profiles = discover_profiles(home, platform="linux")
    config = tmp_path / "config"
    assert load_remembered_source(config) is None
    remember_source(profiles[1], config)
    text = (config / "browser-session.json").read_text()
    assert CHROMIUM_GOOD not in text and "Work" in text
    remembered = load_remembered_source(config)
    assert remembered is not None and find_remembered(profiles, remembered) == profiles[1]
    bc.forget_source(config)
    assert load_remembered_source(config) is None
