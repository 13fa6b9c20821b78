"""Build real browser cookie stores in a temporary HOME, as the browsers (and rookiepy) lay them out.

* Firefox: ``~/.mozilla/firefox/profiles.ini`` + ``<profile>/cookies.sqlite`` with the ``moz_cookies``
  schema (values in clear text, ``expiry`` in Unix seconds, or milliseconds as newer Firefox writes).
* Chromium family: ``<user data>/Local State`` (profile names) + ``<profile>/Cookies`` with the ``cookies``
  and ``meta`` tables; values encrypted as Chromium does on Linux without a keyring: ``v10`` +
  AES-128-CBC(key = PBKDF2-HMAC-SHA1('peanuts', 'saltysalt', 1 iteration, 16 bytes), IV = 16 spaces,
  PKCS#7), the plaintext prefixed with SHA-256(host_key) when the ``meta`` version is >= 24. ``v11`` uses a
  password from the system keyring instead of 'peanuts'.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SESSION = "__Secure-better-auth.session_token"
NT_EPOCH_OFFSET = 11644473600  # seconds from 1601-01-01 to 1970-01-01

# Values that look like real session tokens (32-512 chars, with % = + / ~); each one is unique so a test
# can tell exactly which cookie was taken.
FIREFOX_GOOD = "ffGOOD" + "a1B2c3D4" * 5 + "%2B/~x="
CHROMIUM_GOOD = "crGOOD" + "Z9y8X7w6" * 5 + "%2F+~q="
TALK_VALUE = "talkONLY" + "t" * 40
EXPIRED_VALUE = "expiredOLD" + "e" * 40
EVIL_VALUE = "notshapes" + "n" * 40
OTHER_SITE_VALUE = "otherSITE" + "o" * 40


@dataclass(frozen=True)
class Row:
    host: str
    name: str
    value: str
    expires: float  # Unix seconds; 0 = browser-session cookie
    path: str = "/"


def good_rows(good: str, now: float | None = None) -> list[Row]:
    """The right cookie plus decoys: talk.shapes.inc, a look-alike domain, another site, an analytics
    cookie on shapes.inc, and an expired session cookie for shapes.inc on another path."""
    now = time.time() if now is None else now
    return [
        Row(".shapes.inc", SESSION, good, now + 7 * 86400),
        Row("talk.shapes.inc", SESSION, TALK_VALUE, now + 7 * 86400),
        Row("notshapes.inc", SESSION, EVIL_VALUE, now + 7 * 86400),
        Row("example.com", "sid", OTHER_SITE_VALUE, now + 86400),
        Row("shapes.inc", "_ga", "GA1.1.123456.789", now + 86400),
        Row("shapes.inc", SESSION, EXPIRED_VALUE, now - 3600, path="/old"),
    ]


def chromium_encrypt(value: str, host: str, *, meta_version: int = 24, prefix: bytes = b"v10",
                     password: bytes = b"peanuts") -> bytes:
    key = hashlib.pbkdf2_hmac("sha1", password, b"saltysalt", 1, 16)
    data = value.encode()
    if meta_version >= 24:
        data = hashlib.sha256(host.encode()).digest() + data
    padder = padding.PKCS7(128).padder()
    data = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(b" " * 16)).encryptor()
    return prefix + encryptor.update(data) + encryptor.finalize()


_CHROMIUM_SCHEMA = (
    "CREATE TABLE meta(key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value LONGVARCHAR)",
    "CREATE TABLE cookies(creation_utc INTEGER NOT NULL, host_key TEXT NOT NULL, top_frame_site_key TEXT "
    "NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, encrypted_value BLOB NOT NULL, path TEXT NOT NULL, "
    "expires_utc INTEGER NOT NULL, is_secure INTEGER NOT NULL, is_httponly INTEGER NOT NULL, "
    "last_access_utc INTEGER NOT NULL, has_expires INTEGER NOT NULL, is_persistent INTEGER NOT NULL, "
    "priority INTEGER NOT NULL, samesite INTEGER NOT NULL, source_scheme INTEGER NOT NULL, source_port "
    "INTEGER NOT NULL, last_update_utc INTEGER NOT NULL, source_type INTEGER NOT NULL, "
    "has_cross_site_ancestor INTEGER NOT NULL, UNIQUE (host_key, top_frame_site_key, "
    "has_cross_site_ancestor, name, path, source_scheme, source_port))",
)


def _nt(ts: float) -> int:
    return int((ts + NT_EPOCH_OFFSET) * 1_000_000) if ts else 0


def chromium_cookies_db(path: Path, rows: Iterable[Row], *, meta_version: int = 24, prefix: bytes = b"v10",
                        password: bytes = b"peanuts") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    for statement in _CHROMIUM_SCHEMA:
        con.execute(statement)
    con.execute("INSERT INTO meta VALUES ('version', ?), ('last_compatible_version', '24')",
                (str(meta_version),))
    now = _nt(time.time())
    for r in rows:
        con.execute(
            "INSERT INTO cookies VALUES (?, ?, '', ?, '', ?, ?, ?, 1, 1, ?, ?, ?, 1, 0, 2, 443, ?, 0, 0)",
            (now, r.host, r.name,
             chromium_encrypt(r.value, r.host, meta_version=meta_version, prefix=prefix, password=password),
             r.path, _nt(r.expires), now, int(bool(r.expires)), int(bool(r.expires)), now),
        )
    con.commit()
    con.close()
    return path


_FIREFOX_SCHEMA = (
    "CREATE TABLE moz_cookies (id INTEGER PRIMARY KEY, originAttributes TEXT NOT NULL DEFAULT '', name TEXT, "
    "value TEXT, host TEXT, path TEXT, expiry INTEGER, lastAccessed INTEGER, creationTime INTEGER, isSecure "
    "INTEGER, isHttpOnly INTEGER, inBrowserElement INTEGER DEFAULT 0, sameSite INTEGER DEFAULT 0, "
    "rawSameSite INTEGER DEFAULT 0, schemeMap INTEGER DEFAULT 0, isPartitionedAttributeSet INTEGER "
    "DEFAULT 0, CONSTRAINT moz_uniqueid UNIQUE (name, host, path, originAttributes))"
)


def firefox_cookies_db(path: Path, rows: Iterable[Row], *, milliseconds: bool = False,
                       wal: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    if wal:
        con.execute("PRAGMA journal_mode=WAL")
    con.execute(_FIREFOX_SCHEMA)
    add_firefox_rows(con, rows, milliseconds=milliseconds)
    con.close()
    return path


def add_firefox_rows(con: sqlite3.Connection, rows: Iterable[Row], *, milliseconds: bool = False) -> None:
    now = int(time.time() * 1_000_000)
    for r in rows:
        expiry = int(r.expires * 1000) if milliseconds else int(r.expires)
        con.execute(
            "INSERT INTO moz_cookies (name, value, host, path, expiry, lastAccessed, creationTime, isSecure, "
            "isHttpOnly) VALUES (?, ?, ?, ?, ?, ?, ?, 1, 1)",
            (r.name, r.value, r.host, r.path, expiry, now, now),
        )
    con.commit()


def firefox_profile(home: Path, folder: str, name: str, rows: Iterable[Row], *,
                    root: str = ".mozilla/firefox", **kw: bool) -> Path:
    """A Firefox profile registered in profiles.ini (appended when the file exists)."""
    base = home / root
    ini = base / "profiles.ini"
    base.mkdir(parents=True, exist_ok=True)
    text = ini.read_text() if ini.exists() else "[General]\nStartWithLastProfile=1\nVersion=2\n"
    n = text.count("[Profile")
    text += f"\n[Profile{n}]\nName={name}\nIsRelative=1\nPath={folder}\nDefault={int(n == 0)}\n"
    ini.write_text(text)
    return firefox_cookies_db(base / folder / "cookies.sqlite", rows, **kw)


def chromium_profile(home: Path, user_data: str, folder: str, name: str, rows: Iterable[Row],
                     **kw: object) -> Path:
    """A Chromium-family profile with its name recorded in ``Local State``."""
    base = home / user_data
    base.mkdir(parents=True, exist_ok=True)
    state_file = base / "Local State"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"profile": {"info_cache": {}}}
    state["profile"]["info_cache"][folder] = {"name": name}
    state_file.write_text(json.dumps(state))
    return chromium_cookies_db(base / folder / "Cookies", rows, **kw)  # type: ignore[arg-type]


def standard_home(home: Path) -> dict[str, Path]:
    """The usual test machine: Firefox with the cookie, Chromium "Work" with the cookie, Chromium
    "Old" with only an expired one, a Flatpak Brave with only talk.shapes.inc, and a Chrome profile
    folder without any cookie database (not listed)."""
    now = time.time()
    paths = {
        "firefox": firefox_profile(home, "k3x9.default-release", "default-release",
                                   good_rows(FIREFOX_GOOD, now)),
        "chromium": chromium_profile(home, ".config/chromium", "Default", "Work",
                                     good_rows(CHROMIUM_GOOD, now)),
        "chromium-old": chromium_profile(home, ".config/chromium", "Profile 1", "Old", [
            Row(".shapes.inc", SESSION, EXPIRED_VALUE, now - 2 * 86400),
            Row("example.com", "sid", OTHER_SITE_VALUE, now + 86400),
        ]),
        "brave": chromium_profile(home, ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser",
                                  "Default", "Person 1",
                                  [Row("talk.shapes.inc", SESSION, TALK_VALUE, now + 86400)]),
    }
    (home / ".config/google-chrome/Default").mkdir(parents=True, exist_ok=True)
    return paths
