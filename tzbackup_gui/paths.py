"""Where tzbackup keeps things by default, and how its files and folders are made private (Qt-free).

platformdirs is imported when a folder is asked for, not at import time: it brings ``tempfile`` and
``random``, which ``tzbackup --version`` / ``--help`` never need.

The private-creation primitives live here, below both the archive and the log, because both make files that
may name personalities: every file 0600, every folder 0700, whatever the umask.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = [
    "APP_NAME",
    "DIR_MODE",
    "FILE_MODE",
    "default_data_dir",
    "demo_data_dir",
    "make_private_dirs",
    "open_private",
    "personalities_dir",
]

APP_NAME = "tzbackup"
DIR_MODE = 0o700
FILE_MODE = 0o600


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


def open_private(path: Path | str, flags: int) -> int:
    """``os.open`` (``O_CREAT`` added) of a file that ends up mode 0600 whatever the umask; an existing file
    of ours with looser bits is tightened (one owned by someone else is left alone). Returns the fd."""
    fd = os.open(path, flags | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        st = os.fstat(fd)
        if st.st_mode & 0o777 != FILE_MODE and st.st_uid == os.geteuid():
            os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents, each mode 0700 whatever the umask; raises ``OSError``. An
    existing folder keeps its mode: it may be one the user chose (``--data-dir ~/Backups``) and is not ours
    to change."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):  # one level at a time: a strict umask must not lock us out half-way
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if folder.is_dir():
                continue  # made at the same moment by another thread or process: theirs to set
            raise
        folder.chmod(DIR_MODE)  # mkdir's mode is filtered by the umask
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
