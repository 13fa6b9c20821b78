"""What the search index holds and how its file is opened: schema, record kinds, flags, result types, and
a private SQLite connection (see :mod:`.index` for the why of each rule).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from ..errors import TzBackupError
from .browse import BackupSource
from .store import FILE_MODE, open_private

__all__ = [
    "DEFAULT_KINDS",
    "FLAG_DELETED",
    "FLAG_UPSTREAM",
    "HIT_END",
    "HIT_START",
    "KINDS",
    "ORDERS",
    "SCHEMA_VERSION",
    "IndexCancelled",
    "IndexProgress",
    "IndexUpdate",
    "MemoryRows",
    "SearchHit",
]

SCHEMA_VERSION = "3"  # 2: chat messages and knowledge entries are indexed too; 3: ids in ranges per kind
HIT_START, HIT_END = "\x02", "\x03"  # snippet markers; callers turn them into <b> or brackets
FLAG_DELETED, FLAG_UPSTREAM = 1, 2  # ``deleted: true`` in the memory; gone upstream (metadata)
#: what a record can be, in the order the browser lists them
KINDS = ("memory", "chat", "profile", "knowledge")
#: what :meth:`SearchIndex.search` looks in unless told otherwise (what ``tzbackup search`` always searched)
DEFAULT_KINDS = ("memory", "profile")
#: result orders: best match first, or by date (records without a date come last either way)
ORDERS = ("relevance", "newest", "oldest")
#: each kind's records get ids (= FTS rowids) in a range of their own, so the matches of one kind are counted
#: by the FTS index alone (a rowid range), without looking up every matching record
_KIND_SPAN = 1 << 40


def _id_range(kind: str) -> tuple[int, int]:
    """``[low, high)`` of the ids of ``kind``'s records."""
    low = (KINDS.index(kind) + 1) * _KIND_SPAN if kind in KINDS else (len(KINDS) + 1) * _KIND_SPAN
    return low, low + _KIND_SPAN


_ORDER_SQL = {
    "relevance": "rank",
    "newest": "d.ts = 0, d.ts DESC, d.id DESC",
    "oldest": "d.ts = 0, d.ts ASC, d.id ASC",
}

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE files(id INTEGER PRIMARY KEY, folder TEXT NOT NULL, rel TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
                   mtime_ns INTEGER, size INTEGER, error TEXT);
CREATE TABLE docs(id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, folder TEXT NOT NULL, kind TEXT NOT NULL,
                  pos INTEGER NOT NULL, memory_id TEXT NOT NULL, ts REAL NOT NULL, deleted INTEGER NOT NULL);
CREATE INDEX docs_file ON docs(file_id);
CREATE INDEX docs_order ON docs(folder, kind, ts, memory_id, file_id, pos, deleted);
CREATE TABLE upstream(folder TEXT NOT NULL, memory_id TEXT NOT NULL, PRIMARY KEY(folder, memory_id))
    WITHOUT ROWID;
CREATE VIRTUAL TABLE fts USING fts5(text, tokenize='unicode61 remove_diacritics 2');
"""


@dataclass
class IndexUpdate:
    """What one :meth:`SearchIndex.update` did."""

    indexed_files: int = 0
    removed_files: int = 0
    rebuilt: bool = False
    seconds: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)  # relative path -> message


@dataclass(frozen=True)
class IndexProgress:
    """Reported while :meth:`SearchIndex.update` runs: ``done`` of ``total`` files that needed reading;
    ``folder`` names a personality whose rows were just committed (then readable by other connections)."""

    done: int
    total: int
    folder: str | None = None
    changed: bool = False  # the committed folder had files (re)read or dropped


class IndexCancelled(TzBackupError):
    """:meth:`SearchIndex.update` was asked to stop; folders committed before stay indexed."""


ProgressCallback = Callable[[IndexProgress], None]


@dataclass
class SearchHit:
    """One match. ``memory_id`` is the record's own id (a memory's, a chat message's, a knowledge entry's;
    "" for the profile); ``pos`` its position in ``path`` (the chunk file, or the knowledge file)."""

    folder: str
    kind: str  # one of KINDS
    memory_id: str
    ts: float  # 0 when the record has no date (the profile)
    path: Path
    pos: int
    snippet: str  # with HIT_START / HIT_END around the matches
    flags: int


@dataclass
class MemoryRows:
    """A personality's memories in chronological order, a few bytes per row."""

    paths: list[Path]
    file_idx: array[int] = field(default_factory=lambda: array("I"))
    pos: array[int] = field(default_factory=lambda: array("I"))
    ts: array[float] = field(default_factory=lambda: array("d"))
    flags: array[int] = field(default_factory=lambda: array("B"))

    def __len__(self) -> int:
        return len(self.pos)

    def find(self, path: Path, pos: int) -> int:
        """Row of the memory at ``pos`` in ``path``, or -1."""
        try:
            want = self.paths.index(path)
        except ValueError:
            return -1
        for row, (f, p) in enumerate(zip(self.file_idx, self.pos, strict=True)):
            if f == want and p == pos:
                return row
        return -1


_HIT_JOINS = (
    "JOIN docs d ON d.id = fts.rowid JOIN files f ON f.id = d.file_id "
    "LEFT JOIN upstream u ON u.folder = d.folder AND u.memory_id = d.memory_id"
)

#: files SQLite keeps beside the database; it creates them with the database file's mode
_SIDE_SUFFIXES = ("-journal", "-wal", "-shm")


def _private_db(path: Path) -> None:
    """Make sure the database file exists with mode 0600 before SQLite opens it (an empty file is an empty
    database), so the side files SQLite creates later copy that mode whatever the umask; side files an
    older version left with looser bits are tightened. Raises ``OSError`` (e.g. a read-only folder)."""
    os.close(open_private(path, os.O_RDONLY))
    for suffix in _SIDE_SUFFIXES:
        side = Path(f"{path}{suffix}")
        with contextlib.suppress(OSError):  # absent, or not ours: nothing to do
            st = side.lstat()
            if st.st_mode & 0o777 != FILE_MODE and st.st_uid == os.geteuid() and not side.is_symlink():
                side.chmod(FILE_MODE)


def _connect(path: Path) -> sqlite3.Connection:
    _private_db(path)
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # a cache: a crash means a rebuild, never lost data
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA busy_timeout=2000")
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Write-ahead log: a reader (the browser's GUI thread) is never blocked by the writer (the indexing
    thread) and sees each folder as soon as it is committed. Where WAL cannot be used the default journal
    still works, readers just wait for commits (busy_timeout)."""
    with contextlib.suppress(sqlite3.DatabaseError):
        conn.execute("PRAGMA journal_mode=WAL")


def _fallback_path(source: BackupSource) -> Path:
    """Where the index goes when the backup folder is read-only (a copy on a DVD, a mounted share): the
    user's own cache folder, not the shared temporary folder (the index holds every memory's text)."""
    digest = hashlib.sha256(str(source.root).encode("utf-8", errors="surrogatepass")).hexdigest()[:12]
    name = f"tzbackup-index-{digest}.sqlite3"
    return Path(platformdirs.user_cache_dir("tzbackup", appauthor=False)) / "indexes" / name
