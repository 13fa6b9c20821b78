"""Crash-safe file primitives: atomic replace, fsync'd appends, private permissions.

Private by construction: every file made here is 0600 and every folder 0700 whatever the process umask
(the mode is set explicitly after creating, since ``open``/``mkdir`` modes are filtered by the umask), and a
file of ours found with looser bits (written by an older version) is tightened when it is written again. A
folder that already existed (a data dir the user chose) keeps its mode: everything we put in it is private.

Every file is written to a temp file in the same folder, fsync'd, renamed over the target, and the folder is
fsync'd, so a crash (SIGKILL, power loss) leaves either the old or the new file, never half of one. A full
disk (ENOSPC / EDQUOT) raises :class:`DiskFullError` after removing the temp file, so the previous file is
intact. All functions block: the engine calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import ArchiveError, CorruptBackupError, DiskFullError
from ..paths import DIR_MODE, FILE_MODE, make_private_dirs, open_private

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "append_line",
    "append_missing",
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_json",
    "clear_dir",
    "dump_json",
    "ensure_dir",
    "fsync_dir",
    "id_hash_key",
    "make_private_dirs",
    "open_private",
    "pending_commit",
    "read_json",
    "read_jsonl",
    "record_key",
    "remove_file",
    "write_error",
]

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def _disk_full(err: OSError, path: Path) -> DiskFullError:
    return DiskFullError(f"The disk is full: could not write {path.name} in {path.parent}.")


def write_error(err: OSError, path: Path) -> ArchiveError:
    """A user-facing error for a failed write: disk full, or any other OS error (EIO, EACCES, EROFS...)."""
    if err.errno in _DISK_FULL:
        return _disk_full(err, path)
    return ArchiveError(
        f"Could not write {path.name} in {path.parent}: {err.strerror or err}. The previous backup files are "
        "intact.",
        hint="Check that the data folder is writable and the disk is healthy, then run the backup again.",
    )


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is out (it may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def ensure_dir(path: Path) -> None:
    """:func:`make_private_dirs`, with OS errors turned into user-facing archive errors."""
    try:
        make_private_dirs(path)
    except OSError as err:
        if err.errno in _DISK_FULL:
            raise _disk_full(err, path) from err
        raise ArchiveError(f"Could not create the folder {path}: {err.strerror}") from err


def fsync_dir(path: Path) -> None:
    """Make a rename / create / unlink in ``path`` durable. A no-op on Windows (a folder cannot be opened
    there; NTFS journals the rename itself) and where the folder cannot be opened for reading."""
    if sys.platform == "win32":
        return
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # nothing to sync through; the write itself was already fsync'd and renamed
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it over ``path`` and fsync the folder. On any
    failure the temp file goes and ``path`` is untouched; OS errors become user-facing archive errors."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(err, OSError):
            raise write_error(err, path) from err
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temp + fsync + rename + fsync dir), mode 0600."""
    with _replacing(path) as tmp:
        fd = open_private(tmp, os.O_WRONLY | os.O_EXCL)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[IO[bytes]]:
    """A binary file (for streamed output) that replaces ``path`` only when the block completes; 0600, and
    any folder it has to create 0700."""
    make_private_dirs(path.parent)
    with _replacing(path) as tmp:
        fd = open_private(tmp, os.O_WRONLY | os.O_EXCL)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def dump_json(obj: Any, *, indent: int | None = 2) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=indent) + "\n").encode("utf-8")


def atomic_write_json(path: Path, obj: Any, *, indent: int | None = 2) -> None:
    atomic_write_bytes(path, dump_json(obj, indent=indent))


def read_json(path: Path) -> Any:
    """Parse a JSON file; a file that does not parse raises :class:`CorruptBackupError` naming it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as err:
        raise CorruptBackupError(f"Could not read {path}: {err.strerror}", path=str(path)) from err
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptBackupError(f"The backup file {path} is damaged: {err}", path=str(path)) from err


def _complete_length(path: Path) -> int:
    """Byte length of the file up to and including its last newline (a torn last line is dropped)."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        pos = size
        while pos > 0:
            step = min(65536, pos)
            fh.seek(pos - step)
            block = fh.read(step)
            nl = block.rfind(b"\n")
            if nl >= 0:
                return pos - step + nl + 1
            pos -= step
        return 0


def append_line(path: Path, record: Any) -> int:
    """Append one JSON line durably (fsync); returns the byte offset where the line starts.

    A line torn by an earlier crash is cut off first, so the file always holds whole lines.
    """
    line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    try:
        fd = open_private(path, os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            if size:
                good = _complete_length(path)
                if good != size:
                    os.ftruncate(fd, good)
                size = good
            os.lseek(fd, size, os.SEEK_SET)
            try:
                _write_all(fd, line)
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)  # never leave a torn line behind
                raise
        finally:
            os.close(fd)
    except OSError as err:
        raise write_error(err, path) from err
    return size


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(offset, record)`` for each complete, parseable line; a torn last line is skipped."""
    if not path.exists():
        return
    offset = 0
    with path.open("rb") as fh:
        for line in fh:
            start = offset
            offset += len(line)
            if not line.endswith(b"\n"):
                return
            try:
                yield start, json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue


def id_hash_key(record: dict[str, Any]) -> object:
    """A history record's identity: the entry it is a version of and that version's hash."""
    return (record.get("id"), record.get("hash"))


def record_key(record: dict[str, Any]) -> object:
    """A record's identity as a whole (for histories whose records carry no version hash)."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def append_missing(
    target: Path, source: Path, key: Callable[[dict[str, Any]], object] = id_hash_key
) -> int:
    """Append to the append-only history ``target`` the records of ``source`` it does not hold yet (by
    ``key``), so replaying a staged commit or merging two copies never adds a line twice. Returns how many
    were appended."""
    present = {key(rec) for _, rec in read_jsonl(target) if isinstance(rec, dict)}
    added = 0
    for _, rec in read_jsonl(source):
        if isinstance(rec, dict) and key(rec) not in present:
            append_line(target, rec)
            present.add(key(rec))
            added += 1
    return added


def clear_dir(path: Path) -> None:
    """Remove a flat folder of our own (a staging area) and its files; nothing when it is not there."""
    if path.is_dir():
        for entry in os.listdir(path):
            remove_file(path / entry)
        path.rmdir()


def pending_commit(commit_path: Path, staging_dir: Path) -> dict[str, Any] | None:
    """The plan of a staged commit a crash interrupted (to be rolled forward), else None: then the staging
    area was never committed and is dropped. A damaged commit record was never acted upon (it is written
    atomically), so it is removed as well."""
    try:
        plan = read_json(commit_path)
    except FileNotFoundError:
        clear_dir(staging_dir)
        return None
    except CorruptBackupError:
        remove_file(commit_path)
        clear_dir(staging_dir)
        return None
    return plan if isinstance(plan, dict) else {}


def remove_file(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
