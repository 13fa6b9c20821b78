"""Where browsers keep their profiles: every browser profile on this machine with a cookie database, found by
folder names, ``profiles.ini`` and Chromium's ``Local State`` only. No cookie database is opened here."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from configparser import ConfigParser
from configparser import Error as ConfigParserError
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BROWSERS", "BrowserKind", "BrowserProfile", "browser_kind", "discover_profiles", "real_path"]

log = logging.getLogger("tzbackup.browser_cookies")


@dataclass(frozen=True)
class BrowserKind:
    """One browser: its CLI name, its label, its family, and its user-data folders per platform.

    Linux entries are ``(path relative to HOME, install kind)``; Windows ones are relative to ``%APPDATA%``
    (Firefox family) or ``%LOCALAPPDATA%`` (Chromium family); macOS ones to ``~/Library/Application Support``.
    For the Firefox family a folder holds ``profiles.ini``; for the Chromium family it is the "User Data"
    folder that holds ``Local State`` and the profile folders.
    """

    key: str
    label: str
    family: str  # "firefox" | "chromium"
    linux: tuple[tuple[str, str], ...]
    windows: tuple[str, ...] = ()
    macos: tuple[str, ...] = ()


def _installs(native: str, **others: str) -> tuple[tuple[str, str], ...]:
    """Linux folders: the native one, then each other install kind (``Flatpak=...``) in the order given."""
    return ((native, ""), *((path, kind) for kind, path in others.items()))


def _firefox_fork(key: str, label: str, flatpak_id: str, folder: str) -> BrowserKind:
    """A Firefox fork laid out like most: ``~/.<key>`` natively or in its Flatpak, ``<folder>`` under
    ``%APPDATA%`` and ``~/Library/Application Support``."""
    linux = ((f".{key}", ""), (f".var/app/{flatpak_id}/.{key}", "Flatpak"))
    return BrowserKind(key, label, "firefox", linux, windows=(folder,), macos=(folder,))


BROWSERS: tuple[BrowserKind, ...] = (
    BrowserKind("firefox", "Firefox", "firefox", (
        (".mozilla/firefox", ""),
        (".config/mozilla/firefox", ""),
        ("snap/firefox/common/.mozilla/firefox", "Snap"),
        (".var/app/org.mozilla.firefox/.mozilla/firefox", "Flatpak"),
        (".var/app/org.mozilla.firefox/config/mozilla/firefox", "Flatpak"),
    ), windows=("Mozilla/Firefox",), macos=("Firefox",)),
    _firefox_fork("librewolf", "LibreWolf", "io.gitlab.librewolf-community", "librewolf"),
    _firefox_fork("waterfox", "Waterfox", "net.waterfox.waterfox", "Waterfox"),
    _firefox_fork("floorp", "Floorp", "one.ablaze.floorp", "Floorp"),
    _firefox_fork("zen", "Zen", "app.zen_browser.zen", "zen"),
    BrowserKind("chrome", "Google Chrome", "chromium", _installs(
        ".config/google-chrome", Beta=".config/google-chrome-beta", Dev=".config/google-chrome-unstable",
        Flatpak=".var/app/com.google.Chrome/config/google-chrome",
    ), windows=("Google/Chrome/User Data",), macos=("Google/Chrome",)),
    BrowserKind("chromium", "Chromium", "chromium", _installs(
        ".config/chromium", Snap="snap/chromium/common/chromium",
        Flatpak=".var/app/org.chromium.Chromium/config/chromium",
    ), windows=("Chromium/User Data",), macos=("Chromium",)),
    BrowserKind("edge", "Microsoft Edge", "chromium", _installs(
        ".config/microsoft-edge", Beta=".config/microsoft-edge-beta", Dev=".config/microsoft-edge-dev",
        Flatpak=".var/app/com.microsoft.Edge/config/microsoft-edge",
    ), windows=("Microsoft/Edge/User Data",), macos=("Microsoft Edge",)),
    BrowserKind("brave", "Brave", "chromium", _installs(
        ".config/BraveSoftware/Brave-Browser", Snap="snap/brave/current/.config/BraveSoftware/Brave-Browser",
        Flatpak=".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser",
    ), windows=("BraveSoftware/Brave-Browser/User Data",), macos=("BraveSoftware/Brave-Browser",)),
    BrowserKind("vivaldi", "Vivaldi", "chromium", _installs(
        ".config/vivaldi", Snapshot=".config/vivaldi-snapshot",
        Flatpak=".var/app/com.vivaldi.Vivaldi/config/vivaldi",
    ), windows=("Vivaldi/User Data",), macos=("Vivaldi",)),
    BrowserKind("opera", "Opera", "chromium", _installs(
        ".config/opera", Snap="snap/opera/current/.config/opera",
        Flatpak=".var/app/com.opera.Opera/config/opera",
    ), macos=("com.operasoftware.Opera",)),
)
_BY_KEY = {b.key: b for b in BROWSERS}


@dataclass(frozen=True)
class BrowserProfile:
    """One browser profile with a cookie database. Holds paths only, never a cookie."""

    browser: str  # BrowserKind.key
    browser_label: str
    family: str
    name: str  # the profile's own name ("default-release", "Person 1", "Work")
    path: Path  # the profile folder
    cookie_db: Path
    install: str = ""  # "", "Flatpak", "Snap", "Beta", ...
    key_file: Path | None = None  # Chromium's "Local State" (the key on Windows)

    @property
    def browser_name(self) -> str:
        """"Firefox" or "Firefox (Flatpak)"."""
        return f"{self.browser_label} ({self.install})" if self.install else self.browser_label

    @property
    def label(self) -> str:
        """What a person reads in a list: "Firefox (Flatpak), profile default-release"."""
        return f"{self.browser_name}, profile {self.name}"


def _home(home: Path | None) -> Path:
    return home if home is not None else Path.home()


def discover_profiles(
    home: Path | None = None,
    *,
    platform: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[BrowserProfile]:
    """Every browser profile on this machine that has a cookie database, in :data:`BROWSERS` order.

    Only looks at folder names, ``profiles.ini`` and Chromium's ``Local State`` (for profile names); no
    cookie database is opened here.
    """
    home = _home(home)
    platform = platform or sys.platform
    env = os.environ if environ is None else environ
    found: list[BrowserProfile] = []
    seen: set[Path] = set()
    for kind in BROWSERS:
        for root, install in _roots(kind, home, platform, env):
            try:
                profiles = (
                    _firefox_profiles(kind, root, install)
                    if kind.family == "firefox"
                    else _chromium_profiles(kind, root, install)
                )
            except OSError as exc:  # an unreadable folder is skipped, never fatal
                log.debug("Skipping %s: %s", root, exc.strerror)
                continue
            for profile in profiles:
                key = real_path(profile.cookie_db)
                if key not in seen:  # a symlinked snap "current" and its target are the same profile
                    seen.add(key)
                    found.append(profile)
    return found


def real_path(path: Path) -> Path:
    """``path`` with symlinks resolved (as it was when that fails): two names of one folder compare equal."""
    try:
        return path.resolve()
    except OSError:
        return path


def _roots(
    kind: BrowserKind, home: Path, platform: str, env: Mapping[str, str]
) -> Iterator[tuple[Path, str]]:
    if platform.startswith("win"):
        base_env = "APPDATA" if kind.family == "firefox" else "LOCALAPPDATA"
        default = home / "AppData" / ("Roaming" if kind.family == "firefox" else "Local")
        base = Path(env.get(base_env) or default)
        for rel in kind.windows:
            yield base / rel, ""
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
        for rel in kind.macos:
            yield base / rel, ""
    else:
        for rel, install in kind.linux:
            yield home / rel, install


def _firefox_profiles(kind: BrowserKind, root: Path, install: str) -> list[BrowserProfile]:
    """Profiles named in ``profiles.ini`` (relative or absolute), plus any folder with a cookies.sqlite."""
    if not root.is_dir():
        return []
    dirs: list[tuple[str, Path]] = []
    ini = root / "profiles.ini"
    if ini.is_file():
        parser = ConfigParser(interpolation=None, strict=False)
        try:
            parser.read(ini, encoding="utf-8")
        except (ConfigParserError, UnicodeDecodeError) as exc:
            log.debug("Unreadable %s: %s", ini, type(exc).__name__)
        for section in parser.sections():
            if not section.lower().startswith("profile") or "Path" not in parser[section]:
                continue
            entry = parser[section]
            raw = entry.get("Path", "")
            relative = entry.get("IsRelative", "1").strip() != "0"
            path = root / raw if relative else Path(raw)
            dirs.append((entry.get("Name", "") or path.name, path))
    for sub in (root, root / "Profiles"):  # Windows and macOS keep them under Profiles/
        if sub.is_dir():
            for child in sorted(sub.iterdir()):
                known = all(real_path(child) != real_path(p) for _, p in dirs)
                if (child / "cookies.sqlite").is_file() and known:
                    dirs.append((child.name, child))
    profiles = []
    for name, path in dirs:
        db = path / "cookies.sqlite"
        if db.is_file():
            profiles.append(BrowserProfile(kind.key, kind.label, kind.family, name, path, db, install))
    return profiles


def _chromium_profiles(kind: BrowserKind, root: Path, install: str) -> list[BrowserProfile]:
    """``Default`` and ``Profile N`` folders (any folder with a Cookies database), named from Local State."""
    if not root.is_dir():
        return []
    local_state = root / "Local State"
    names: dict[str, str] = {}
    if local_state.is_file():
        try:
            state = json.loads(local_state.read_text(encoding="utf-8"))
            info = state.get("profile", {}).get("info_cache", {})
            names = {str(k): str(v.get("name") or k) for k, v in info.items() if isinstance(v, dict)}
        except (OSError, ValueError, AttributeError) as exc:
            log.debug("Unreadable %s: %s", local_state, type(exc).__name__)
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    profiles = []
    for folder in candidates:
        db = _chromium_cookie_db(folder)
        if db is None:
            continue
        name = names.get(folder.name) or (folder.name if folder != root else "Default")
        profiles.append(BrowserProfile(
            kind.key, kind.label, kind.family, name, folder, db, install,
            key_file=local_state if local_state.is_file() else None,
        ))
    return profiles


def _chromium_cookie_db(folder: Path) -> Path | None:
    for rel in ("Network/Cookies", "Cookies"):  # newer Chrome keeps it under Network/
        if (folder / rel).is_file():
            return folder / rel
    return None



def browser_kind(name: str) -> BrowserKind | None:
    """The browser called ``name`` (its CLI key, case-insensitive), or None."""
    return _BY_KEY.get(name.strip().lower())
