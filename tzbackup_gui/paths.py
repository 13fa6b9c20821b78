"""Where tzbackup keeps things by default (Qt-free).

platformdirs is imported when a folder is asked for, not at import time: it brings ``tempfile`` and
``random``, which ``tzbackup --version`` / ``--help`` never need.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["APP_NAME", "default_data_dir", "demo_data_dir", "personalities_dir"]

APP_NAME = "tzbackup"


def default_data_dir() -> Path:
    """The platform's user data dir; backups live in ``<it>/personalities/``."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def demo_data_dir() -> Path:
    """Demo mode's own data dir, named so nobody mistakes it for real backups."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "demo-data-sandbox"


def personalities_dir(data_dir: Path) -> Path:
    return data_dir / "personalities"
