"""Every module imports on every OS: nothing imports a POSIX-only module (``fcntl``) at import time.

Windows has no ``fcntl``; the data-dir lock imports it (or ``msvcrt``) only when a lock is taken. A child
process hides ``fcntl`` (``sys.modules["fcntl"] = None`` makes ``import fcntl`` raise ImportError) and imports
every module of the package; the Windows branch of the lock itself runs here against a stand-in ``msvcrt``.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tzbackup_gui.archive import lock as lock_mod
from tzbackup_gui.archive.store import fsync_dir
from tzbackup_gui.errors import DataDirLockedError

IMPORT_ALL = r"""
import importlib, pkgutil, sys
sys.modules["fcntl"] = None  # as on Windows: import fcntl raises ImportError
import tzbackup_gui
failed = []
names = ["tzbackup_gui"] + [m.name for m in pkgutil.walk_packages(tzbackup_gui.__path__, "tzbackup_gui.")]
for name in names:
    try:
        importlib.import_module(name)
    except Exception as err:  # report every failure, not only the first
        failed.append(f"{name}: {type(err).__name__}: {err}")
print(len(names), "modules")
print("\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_without_fcntl() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL], capture_output=True, text=True, env=env,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    count = int(out.stdout.split()[0])
    assert count > 50  # the walk found the package's modules, ui/ included


class FakeMsvcrt(types.ModuleType):
    """``msvcrt.locking`` on byte ranges, shared by every "process" (fd) of one test, like the OS would."""

    LK_NBLCK, LK_UNLCK = 2, 0

    def __init__(self) -> None:
        super().__init__("msvcrt")
        self.held: dict[tuple[str, int], int] = {}  # (file, offset) -> fd holding it

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        assert nbytes == 1
        key = (os.readlink(f"/proc/self/fd/{fd}"), os.lseek(fd, 0, os.SEEK_CUR))
        if mode == self.LK_UNLCK:
            assert self.held.pop(key) == fd
        elif key in self.held:
            raise OSError(errno.EACCES, "Permission denied")
        else:
            self.held[key] = fd


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="the stand-in msvcrt names files via /proc")
def test_windows_branch_of_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeMsvcrt()
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    monkeypatch.setattr(lock_mod.sys, "platform", "win32")
    first = lock_mod.DataDirLock(tmp_path)
    first.acquire()
    # the lock byte lies past the PID, which stays readable by others
    assert (tmp_path / lock_mod.LOCK_NAME).read_text() == f"{os.getpid()}\n"
    assert [offset for _, offset in fake.held] == [lock_mod._WINDOWS_LOCK_OFFSET]
    assert lock_mod.is_locked(tmp_path)
    with pytest.raises(DataDirLockedError):
        lock_mod.DataDirLock(tmp_path).acquire()
    first.release()
    assert not fake.held
    assert not lock_mod.is_locked(tmp_path)
    with lock_mod.DataDirLock(tmp_path):
        assert fake.held


def test_is_locked_on_posix(tmp_path: Path) -> None:
    assert not lock_mod.is_locked(tmp_path)  # no lock file: not locked, and none is created
    assert not (tmp_path / lock_mod.LOCK_NAME).exists()
    code = ("import sys, time; from pathlib import Path; from tzbackup_gui.archive.lock import DataDirLock;"
            "DataDirLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(30)")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        assert lock_mod.is_locked(tmp_path)
    finally:
        child.kill()
        child.wait(10)
    assert not lock_mod.is_locked(tmp_path)  # the kernel released it with the process


def test_fsync_dir_tolerates_a_folder_it_cannot_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fsync_dir(tmp_path)  # the ordinary case
    fsync_dir(tmp_path / "missing")  # cannot be opened: nothing to sync, no error

    def no_open(*args: object, **kwargs: object) -> int:
        raise AssertionError("fsync_dir opened a folder on Windows")

    monkeypatch.setattr("tzbackup_gui.archive.store.sys.platform", "win32")
    monkeypatch.setattr("tzbackup_gui.archive.store.os.open", no_open)
    fsync_dir(tmp_path)
