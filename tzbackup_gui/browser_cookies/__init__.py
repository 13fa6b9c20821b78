"""Take the shapes.inc session cookie from the user's own browser profile, with consent (Qt-free).

Copying an httpOnly cookie out of DevTools is the hardest step for most users, so tzbackup can read it from a
browser profile the user is already signed in with. What this module does, and nothing more:

1. :func:`discover_profiles` lists browser profiles on this machine (Firefox and its forks; Chrome, Chromium,
   Edge, Brave, Vivaldi, Opera; native, Flatpak and Snap locations on Linux) by looking for their cookie
   databases. No database is opened for that.
2. :func:`inspect_profile` / :func:`take_session_cookie` read **one** profile: the cookie database is copied
   into a private temporary folder (so a running browser's lock does not matter and the live file is never
   touched), the copy is handed to `rookiepy <https://github.com/thewh1teagle/rookie>`_ with the one domain
   ``shapes.inc``, and of what comes back only the session cookie of exactly ``shapes.inc`` /
   ``.shapes.inc`` is kept (never ``talk.shapes.inc``, never another cookie). The copy is deleted at once.
   :func:`inspect_profile` returns presence and expiry only, never the value.

Why rookiepy (MIT, Rust wheels for Linux, Windows and macOS): it decrypts Chromium's v10/v11 values
(AES-128-CBC, PBKDF2 key; including the 32-byte SHA-256(host) prefix of database version >= 24) and
Windows' DPAPI/AES-GCM values, filters by domain in its SQL query, takes an explicit database path, and on a
machine without D-Bus / Secret Service it simply falls back to Chromium's default key instead of crashing.
(browser-cookie3 raises ``KeyError('DBUS_SESSION_BUS_ADDRESS')`` there, even for a v10 value.)

Every failure a user must act on has its own :class:`CookieState` with a plain message and a hint: a locked
database, a key that cannot be opened, no cookie, a talk.shapes.inc cookie only, an expired one.

This module reads one profile; ``profiles.py`` finds them, ``remember.py`` notes which one was used.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import logging
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CredentialError, MalformedCookieError
from ..service.auth import DEFAULT_COOKIE_NAME, SESSION_COOKIE_NAMES, SessionCredential, parse_cookie_input
from .profiles import BROWSERS, BrowserKind, BrowserProfile, browser_kind, discover_profiles
from .remember import (
    RememberedSource,
    find_remembered,
    forget_source,
    load_remembered_source,
    remember_source,
)

__all__ = [
    "BROWSERS",
    "COOKIE_DOMAIN",
    "BrowserCookieError",
    "BrowserKind",
    "BrowserProfile",
    "CookieState",
    "ProfileStatus",
    "RememberedSource",
    "browser_kind",
    "discover_profiles",
    "find_remembered",
    "forget_source",
    "inspect_profile",
    "load_remembered_source",
    "reader_unavailable",
    "remember_source",
    "scan_profiles",
    "take_session_cookie",
]

log = logging.getLogger("tzbackup.browser_cookies")

COOKIE_DOMAIN = "shapes.inc"
_EXACT_HOSTS = frozenset({COOKIE_DOMAIN, "." + COOKIE_DOMAIN})


# --- reading one profile ----------------------------------------------------------------------------------


class CookieState(enum.Enum):
    """What one profile holds for shapes.inc. Only FOUND can sign in."""

    FOUND = "found"
    NONE = "none"  # no shapes.inc session cookie at all
    TALK_ONLY = "talk-only"  # only talk.shapes.inc's (a different app)
    EXPIRED = "expired"
    LOCKED = "locked"  # the browser holds the database; it could not be copied or read
    ENCRYPTED = "encrypted"  # the value's key could not be obtained (keyring, app-bound encryption)
    UNREADABLE = "unreadable"  # not a cookie database we understand, or the reader is missing
    MISSING = "missing"  # the profile or its database is gone


@dataclass(frozen=True)
class ProfileStatus:
    """The outcome of looking into one profile. Presence and expiry only: never the cookie's value."""

    profile: BrowserProfile
    state: CookieState
    message: str
    hint: str = ""
    expires: float | None = None  # Unix seconds; None for a browser-session cookie or when unknown

    @property
    def usable(self) -> bool:
        return self.state is CookieState.FOUND


class BrowserCookieError(CredentialError):
    """The browser profile did not give a usable session cookie; ``state`` says why (message + hint)."""

    def __init__(self, status: ProfileStatus) -> None:
        super().__init__(f"{status.profile.label}: {status.message}", hint=status.hint)
        self.state = status.state
        self.status = status


@dataclass
class _Found:
    """Internal: the session cookies of exactly shapes.inc, split by expiry. Never leaves this module."""

    valid: dict[str, str] = field(default_factory=dict, repr=False)
    valid_expires: float | None = None
    expired_at: float | None = None
    talk_seen: bool = False


def inspect_profile(profile: BrowserProfile, *, now: float | None = None) -> ProfileStatus:
    """Whether ``profile`` holds a usable shapes.inc session cookie. Never raises, never returns the value."""
    status, _ = _read(profile, now)
    return status


def scan_profiles(profiles: Sequence[BrowserProfile], *, now: float | None = None) -> list[ProfileStatus]:
    """:func:`inspect_profile` for each profile, in order."""
    return [inspect_profile(p, now=now) for p in profiles]


def take_session_cookie(profile: BrowserProfile, *, now: float | None = None) -> SessionCredential:
    """The session cookie of ``profile`` as a credential, or :class:`BrowserCookieError` saying why not."""
    status, credential = _read(profile, now)
    if credential is None:
        raise BrowserCookieError(status)
    return credential


def _read(profile: BrowserProfile, now: float | None) -> tuple[ProfileStatus, SessionCredential | None]:
    now = time.time() if now is None else now
    browser = profile.browser_name
    paste = "or paste the cookie by hand."
    if not profile.cookie_db.is_file():
        return _status(
            profile, CookieState.MISSING,
            f"this profile has no cookie database any more ({profile.cookie_db}).",
            f"Start {browser} with this profile and sign in on https://shapes.inc, pick another profile, "
            f"{paste}",
        ), None
    try:
        found = _query(profile, now)
    except _ReadFailure as failure:
        return _status(profile, failure.state, failure.message, failure.hint), None

    if found.valid:
        try:
            credential = parse_cookie_input("; ".join(f"{k}={v}" for k, v in found.valid.items()))
        except MalformedCookieError:
            return _status(
                profile, CookieState.ENCRYPTED,
                "the session cookie is there but could not be decrypted into a usable value "
                f"({_key_reason(profile)}).",
                f"Paste the cookie by hand, or sign in on https://shapes.inc in {browser} again and retry.",
            ), None
        until = f" (valid until {_day(found.valid_expires)})" if found.valid_expires else ""
        return _status(profile, CookieState.FOUND, f"a shapes.inc session cookie is here{until}.",
                       expires=found.valid_expires), credential
    if found.expired_at is not None:
        return _status(
            profile, CookieState.EXPIRED,
            f"the shapes.inc session cookie here expired on {_day(found.expired_at)}.",
            f"Open https://shapes.inc in {browser}, sign in again, then try again.",
            expires=found.expired_at,
        ), None
    if found.talk_seen:
        return _status(
            profile, CookieState.TALK_ONLY,
            "only a talk.shapes.inc cookie is here; that is a different app and its cookie does not work "
            "for backups.",
            f"Open https://shapes.inc (not talk.shapes.inc) in {browser}, sign in there, then try again.",
        ), None
    return _status(
        profile, CookieState.NONE,
        "no shapes.inc session cookie in this profile.",
        f"Sign in on https://shapes.inc in {browser} first (this profile), then try again, {paste}",
    ), None


def _status(profile: BrowserProfile, state: CookieState, message: str, hint: str = "",
            expires: float | None = None) -> ProfileStatus:
    return ProfileStatus(profile, state, message[:1].upper() + message[1:], hint, expires)


def _day(ts: float | None) -> str:
    if ts is None:
        return "an unknown date"
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def _key_reason(profile: BrowserProfile) -> str:
    if sys.platform.startswith("win"):
        return (f"{profile.browser_label} on Windows protects cookies with app-bound encryption, which only "
                "the browser itself can open")
    if sys.platform == "darwin":
        return (f"the key is in the macOS Keychain entry '{profile.browser_label} Safe Storage', which was "
                "not opened")
    return ("the key is kept in the system keyring (GNOME Keyring / KWallet), which is locked, missing, or "
            "not reachable from here")


class _ReadFailure(Exception):
    def __init__(self, state: CookieState, message: str, hint: str) -> None:
        super().__init__(message)
        self.state, self.message, self.hint = state, message, hint


def _query(profile: BrowserProfile, now: float) -> _Found:
    """Copy the database, ask the library for shapes.inc's cookies, keep only the session cookie."""
    with _snapshot(profile) as db:
        rows = _library_read(profile, db)
    return _select(rows, now)


@contextlib.contextmanager
def _snapshot(profile: BrowserProfile) -> Iterator[Path]:
    """A private copy of the cookie database (with its WAL / journal replayed), deleted afterwards.

    A running browser holds an exclusive lock and may have recent cookies only in its ``-wal`` file; the
    library opens databases read-only and "immutable" (ignoring both), so we copy the files and let SQLite
    fold the WAL into the copy. The live files are only ever read.
    """
    browser = profile.browser_name
    with tempfile.TemporaryDirectory(prefix="tzbackup-cookies-") as tmp:
        os.chmod(tmp, 0o700)
        copy = Path(tmp) / profile.cookie_db.name
        try:
            _copy_file(profile.cookie_db, copy)
            for suffix in ("-wal", "-journal"):
                side = profile.cookie_db.with_name(profile.cookie_db.name + suffix)
                if side.exists():
                    _copy_file(side, copy.with_name(copy.name + suffix))
        except OSError as exc:
            log.info("Could not copy the cookie database of %s: %s", profile.label, exc.strerror)
            raise _ReadFailure(
                CookieState.LOCKED,
                f"{browser} is holding its cookie database, so it could not be read "
                f"({exc.strerror or type(exc).__name__}).",
                f"Close {browser} completely (every window) and try again, or paste the cookie by hand.",
            ) from exc
        try:
            con = sqlite3.connect(copy, timeout=2.0)
            try:
                con.execute("PRAGMA journal_mode=DELETE").fetchall()  # checkpoints and removes a WAL
                table = "moz_cookies" if profile.family == "firefox" else "cookies"
                known = con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,))
                if known.fetchone() is None:
                    raise _unreadable(profile, f"no {table} table: not a cookie database of this kind")
            finally:
                con.close()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise _ReadFailure(
                    CookieState.LOCKED,
                    f"{browser} was writing its cookie database, so it could not be read.",
                    f"Close {browser} completely (every window) and try again, or paste the cookie by hand.",
                ) from exc
            raise _unreadable(profile, str(exc)) from exc
        except sqlite3.DatabaseError as exc:
            raise _unreadable(profile, str(exc)) from exc
        yield copy


def _copy_file(src: Path, dst: Path) -> None:
    """Copy one file (bytes only). Separate so a test can simulate a file another program holds open."""
    shutil.copyfile(src, dst)


def _unreadable(profile: BrowserProfile, reason: str) -> _ReadFailure:
    short = " ".join(reason.split())[:120] or "unknown reason"
    return _ReadFailure(
        CookieState.UNREADABLE,
        f"the cookie database of this profile could not be read ({short}).",
        f"Pick another profile, update {profile.browser_label}, or paste the cookie by hand.",
    )


#: Pythons for which rookiepy 0.5.6 ships wheels (pyproject.toml installs it only there)
ROOKIEPY_PYTHONS = ((3, 11), (3, 12))


def reader_unavailable(python: tuple[int, int] | None = None) -> tuple[str, str] | None:
    """Why sign-in from the browser cannot work in this installation, as (message, hint); None when it can.

    The cookie reader (rookiepy) is installed only on the Pythons it has wheels for: on another one this says
    so plainly, before any profile is looked at, instead of a failure per profile. ``python``: the version
    to speak of (tests); this interpreter's by default."""
    import importlib.util

    if importlib.util.find_spec("rookiepy") is not None:
        return None
    python = python or (sys.version_info[0], sys.version_info[1])
    version = f"{python[0]}.{python[1]}"
    if python not in ROOKIEPY_PYTHONS:
        return (
            f"Sign-in from the browser is unavailable on Python {version}: its cookie reader (rookiepy) "
            "is only built for Python 3.11 and 3.12.",
            "Paste the cookie by hand (tzbackup login), or install tzbackup with Python 3.12 or 3.11 "
            "(bash scripts/setup picks one when the machine has it).",
        )
    return (
        "Sign-in from the browser is unavailable: its cookie reader (rookiepy) is not installed.",
        "Reinstall tzbackup with its dependencies (bash scripts/setup), or paste the cookie by hand.",
    )


def _library_read(profile: BrowserProfile, db: Path) -> list[dict[str, Any]]:
    """rookiepy on the copy, restricted to the shapes.inc domain (its filter is a substring match)."""
    try:
        import rookiepy as _rookiepy
    except ImportError as exc:
        message, hint = reader_unavailable() or (f"the cookie reader (rookiepy) cannot be loaded: {exc}.", "")
        raise _ReadFailure(CookieState.UNREADABLE, message, hint or "Paste the cookie by hand.") from exc
    rookiepy: Any = _rookiepy  # its stub's firefox_based signature is wrong (no key_path in 0.5.6)
    try:
        if profile.family == "firefox":
            rows = rookiepy.firefox_based(str(db), [COOKIE_DOMAIN])
        else:
            key = str(profile.key_file) if profile.key_file is not None else None
            rows = rookiepy.any_browser(str(db), [COOKIE_DOMAIN], key)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # rookiepy raises RuntimeError; a Rust panic is a BaseException
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        text = lines[0] if lines else type(exc).__name__
        log.info("rookiepy could not read %s: %s", profile.label, text)
        # the table is known to exist (see _snapshot), so "no cookies found ... key file" means: no key worked
        if any(word in str(exc).lower() for word in ("decrypt", "key")):
            raise _ReadFailure(
                CookieState.ENCRYPTED,
                f"the cookie is encrypted with a key tzbackup cannot open: {_key_reason(profile)}.",
                "Paste the cookie by hand (the steps are in the sign-in window and the README).",
            ) from exc
        if "locked" in text.lower() or "busy" in text.lower():
            raise _ReadFailure(
                CookieState.LOCKED,
                f"{profile.browser_name} is holding its cookie database, so it could not be read.",
                f"Close {profile.browser_name} completely and try again, or paste the cookie by hand.",
            ) from exc
        raise _unreadable(profile, text) from exc
    return [r for r in rows if isinstance(r, dict)]


def _select(rows: list[dict[str, Any]], now: float) -> _Found:
    """Keep only the session cookie(s) of exactly shapes.inc; note talk.shapes.inc; drop everything else."""
    found = _Found()
    for row in rows:
        host = str(row.get("domain") or "").lower()
        name = str(row.get("name") or "")
        if name not in SESSION_COOKIE_NAMES:
            continue
        if host not in _EXACT_HOSTS:
            if host.endswith("." + COOKIE_DOMAIN):  # talk.shapes.inc and other subdomains: never taken
                found.talk_seen = True
            continue
        expires = _expiry(row.get("expires"))
        if expires is not None and expires <= now:
            found.expired_at = max(expires, found.expired_at or 0.0)
            continue
        value = str(row.get("value") or "")
        if name == DEFAULT_COOKIE_NAME:
            # a host-only and a domain cookie can both exist: the one that lives longest is the newest
            later = (DEFAULT_COOKIE_NAME not in found.valid or expires is None
                     or (found.valid_expires is not None and expires > found.valid_expires))
            if later:
                found.valid[name], found.valid_expires = value, expires
        elif DEFAULT_COOKIE_NAME not in found.valid:
            found.valid[name] = value
    if DEFAULT_COOKIE_NAME in found.valid:  # the current cookie wins over a legacy appSession one
        found.valid = {DEFAULT_COOKIE_NAME: found.valid[DEFAULT_COOKIE_NAME]}
    rows.clear()
    return found


def _expiry(raw: Any) -> float | None:
    """Unix seconds, or None for a browser-session cookie. Newer Firefox stores milliseconds."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    if value <= 0:
        return None
    return value / 1000.0 if value > 1e11 else value
