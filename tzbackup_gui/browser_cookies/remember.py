"""Remembering which browser profile the last browser sign-in used (paths and a label, never the cookie), so
an expired session can offer a fresh cookie from the same profile."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ..paths import APP_NAME
from .profiles import BrowserProfile, real_path

__all__ = [
    "REMEMBERED_FILE",
    "RememberedSource",
    "find_remembered",
    "forget_source",
    "load_remembered_source",
    "remember_source",
]

REMEMBERED_FILE = "browser-session.json"


@dataclass(frozen=True)
class RememberedSource:
    """The browser profile the last browser sign-in came from. Paths and a label only."""

    browser: str
    path: Path
    label: str
    name: str = ""  # the profile's own name

    @property
    def cli_args(self) -> str:
        """The ``login`` arguments that take a fresh cookie from this profile."""
        import shlex

        return f"--from-browser {self.browser} --profile {shlex.quote(self.path.name)}"


def _remember_path(config_dir: Path | None) -> Path:
    if config_dir is None:
        config_dir = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    base = config_dir
    return base / REMEMBERED_FILE


def remember_source(profile: BrowserProfile, config_dir: Path | None = None) -> None:
    """Note which profile the cookie came from, so an expired session can offer a fresh one from it."""
    from ..archive.store import atomic_write_json, ensure_dir

    path = _remember_path(config_dir)
    ensure_dir(path.parent)
    atomic_write_json(path, {"browser": profile.browser, "path": str(profile.path), "label": profile.label,
                             "name": profile.name})


def load_remembered_source(config_dir: Path | None = None) -> RememberedSource | None:
    """The remembered profile, or None (never signed in from a browser, or the note is unreadable)."""
    path = _remember_path(config_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RememberedSource(str(data["browser"]), Path(str(data["path"])), str(data.get("label", "")),
                                str(data.get("name", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget_source(config_dir: Path | None = None) -> None:
    """Drop the note (a sign-in by pasting replaces the browser as the source)."""
    with contextlib.suppress(OSError):
        _remember_path(config_dir).unlink()


def find_remembered(
    profiles: Sequence[BrowserProfile], remembered: RememberedSource | None
) -> BrowserProfile | None:
    """The profile among ``profiles`` that ``remembered`` names, if it is still there."""
    if remembered is None:
        return None
    for profile in profiles:
        if profile.browser == remembered.browser and real_path(profile.path) == real_path(remembered.path):
            return profile
    return None

