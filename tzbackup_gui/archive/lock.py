"""One writer per data dir: an OS lock on ``DATA_DIR/.tzbackup.lock``.

A scheduled run and the GUI must never write the same backup at once. The lock is released by the kernel when
the process dies (SIGKILL included), so a crash never leaves a stale lock behind.

POSIX uses ``fcntl.flock``; Windows uses ``msvcrt.locking`` on one byte far past the end of the file (locking
beyond the end is allowed there, and it keeps the PID written at the start readable by others). Both modules
are imported when a lock is taken, never at import time, so every module of the package imports on every OS.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from ..errors import ArchiveError, DataDirLockedError
from .store import ensure_dir, open_private

__all__ = ["LOCK_NAME", "DataDirLock", "is_locked", "reading_lock"]

LOCK_NAME = ".tzbackup.lock"
_WINDOWS_LOCK_OFFSET = 1 << 30  # the byte Windows locks: past any PID we write, so reads are never blocked


def _try_lock(fd: int, *, shared: bool = False) -> None:
    """Lock ``fd`` without waiting; raises BlockingIOError when another process holds the lock. Windows has
    no shared locks: ``shared`` takes an exclusive one there (callers only probe with it, then close)."""
    if sys.platform == "win32":
        import msvcrt

        here = os.lseek(fd, 0, os.SEEK_CUR)
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as err:  # EACCES / EDEADLOCK: held by another process
            raise BlockingIOError(err.errno, err.strerror) from err
        finally:
            os.lseek(fd, here, os.SEEK_SET)
        return
    import fcntl

    fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        os.lseek(fd, 0, os.SEEK_SET)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def is_locked(data_dir: Path) -> bool:
    """Whether another process holds ``data_dir``'s lock now (asked without creating the lock file; the probe
    lock is released at once). A data dir without a lock file, or one we cannot open, is not locked."""
    try:
        fd = os.open(data_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        _try_lock(fd, shared=True)
        _unlock(fd)  # closing would release it too; Windows may do so only later
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


class DataDirLock:
    """Exclusive lock on a data dir. ``wait`` seconds to wait for another writer (0 = fail at once)."""

    def __init__(self, data_dir: Path, *, wait: float = 0.0) -> None:
        self.path = data_dir / LOCK_NAME
        self.wait = wait
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, polling up to ``wait`` seconds; raises :class:`DataDirLockedError`."""
        if self._fd is not None:
            return
        try:
            ensure_dir(self.path.parent)
            fd = open_private(self.path, os.O_RDWR)  # 0600 whatever the umask, like every file of ours
        except OSError as err:  # read-only, under a file, an unmounted drive: say so, never a raw error
            raise ArchiveError(
                f"Cannot write to {self.path.parent}: {err.strerror or err}.",
                hint="Choose a data folder you can write to (--data-dir, or Settings in the app).",
            ) from err
        deadline = time.monotonic() + max(0.0, self.wait)
        while True:
            try:
                _try_lock(fd)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise DataDirLockedError(
                        f"Another tzbackup is writing to {self.path.parent} (lock file {self.path.name})."
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


@contextlib.contextmanager
def reading_lock(data_dir: Path | None) -> Iterator[None]:
    """The data dir's lock while reading a whole backup (an export), so a backup cannot change its files
    half-way. None (a personality folder opened on its own) or a data dir that cannot hold a lock file
    (read-only media) reads without one; a data dir locked by a running backup raises DataDirLockedError."""
    if data_dir is None:
        yield
        return
    lock = DataDirLock(data_dir)
    try:
        lock.acquire()
    except DataDirLockedError:
        raise
    except ArchiveError:  # cannot write a lock file there (read-only media): read without one
        yield
        return
    try:
        yield
    finally:
        lock.release()
