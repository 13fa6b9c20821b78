"""Crash-safe writes: atomic replace, torn journal lines, disk full, private modes, the data-dir lock."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from tzbackup_gui.archive import store
from tzbackup_gui.archive.lock import DataDirLock
from tzbackup_gui.archive.store import append_line, atomic_write_json, ensure_dir, read_json, read_jsonl
from tzbackup_gui.errors import CorruptBackupError, DataDirLockedError, DiskFullError


def test_atomic_write_mode_and_content(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    atomic_write_json(target, {"a": "ü"})
    assert json.loads(target.read_text("utf-8")) == {"a": "ü"}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["x.json"]


def test_ensure_dir_is_private(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        folder = tmp_path / "a" / "b"
        ensure_dir(folder)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    tmp_path.chmod(0o755)
    ensure_dir(tmp_path)  # a folder that already existed (maybe the user's) keeps its mode
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_disk_full_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    target = tmp_path / "x.json"
    atomic_write_json(target, {"v": 1})
    calls = {"n": 0}
    real_write = os.write

    def failing_write(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] >= 1:
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(store.os, "write", failing_write)
    with pytest.raises(DiskFullError) as info:
        atomic_write_json(target, {"v": 2, "big": "x" * 10000})
    assert "full" in str(info.value)
    assert read_json(target) == {"v": 1}
    assert os.listdir(tmp_path) == ["x.json"]  # the temp file was removed


def test_append_line_cuts_torn_tail(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    append_line(journal, {"n": 1})
    with journal.open("ab") as fh:
        fh.write(b'{"n": 2, "torn')  # a crash mid-append
    assert [rec for _, rec in read_jsonl(journal)] == [{"n": 1}]
    offset = append_line(journal, {"n": 3})
    assert [rec for _, rec in read_jsonl(journal)] == [{"n": 1}, {"n": 3}]
    with journal.open("rb") as fh:
        fh.seek(offset)
        assert json.loads(fh.readline()) == {"n": 3}


def test_append_line_disk_full_leaves_no_torn_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = tmp_path / "j.jsonl"
    append_line(journal, {"n": 1})
    real_write = os.write

    def half_then_fail(fd: int, data: bytes | memoryview) -> int:
        monkeypatch.setattr(store.os, "write", _raise_enospc)
        return real_write(fd, bytes(data)[:5])

    monkeypatch.setattr(store.os, "write", half_then_fail)
    with pytest.raises(DiskFullError):
        append_line(journal, {"n": 2, "pad": "y" * 100})
    monkeypatch.undo()
    assert journal.read_bytes() == b'{"n":1}\n'


def _raise_enospc(fd: int, data: bytes | memoryview) -> int:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_read_json_names_damaged_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"memories": [', "utf-8")
    with pytest.raises(CorruptBackupError) as info:
        read_json(bad)
    assert info.value.path == str(bad)
    assert "bad.json" in str(info.value)


def test_lock_is_exclusive(tmp_path: Path) -> None:
    with DataDirLock(tmp_path) as first:
        assert first.held
        second = DataDirLock(tmp_path, wait=0.2)
        with pytest.raises(DataDirLockedError):
            second.acquire()
    with DataDirLock(tmp_path) as again:
        assert again.held
