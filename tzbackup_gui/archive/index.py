"""The on-disk search index of the offline browser: SQLite FTS5 over memories, chat, profile and knowledge.

The JSON files stay the source of truth; the index (``DATA_DIR/.tzbackup-index.sqlite3``) is a cache that
can be deleted at any time. Each indexed file is recorded with its ``mtime_ns`` and size; :meth:`update`
re-reads only files whose signature changed (after a backup that is the last chunk file or two) and drops
rows of files that disappeared. A missing, damaged or older-schema index is rebuilt from scratch.

The index holds the full text of every memory, so it is private like the backups: the database file is
created 0600 before SQLite opens it (SQLite would make it 0644 minus the umask), and SQLite gives its
``-wal``, ``-shm`` and ``-journal`` files the database file's own mode, so they are 0600 too, for the writer
and for a concurrent reader alike. An index of an older version with looser bits is tightened on open. A
backup folder that cannot be written gets its index in the user's cache folder (0700), never in a shared
temporary folder under a name others could guess.

Each indexed record has a *kind* (:data:`KINDS`): a memory, a chat exchange (message, reply and regenerated
replies), the profile's text fields, or a knowledge entry (title and content). Search filters by kind, by
date (records without a date, i.e. the profile, are left out while a date filter is on) and sorts by
relevance, newest or oldest first; :meth:`SearchIndex.count_hits` gives the totals per kind.

Besides full-text search the index gives the memory list of a personality in chronological order as compact
``(file, position)`` records, so the browser can show 100,000 memories while parsing only the files on screen.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from ..errors import (
    ArchiveError,
    CorruptBackupError,
    SearchIndexError,
    TzBackupError,
    UnsupportedFormatError,
)
from .browse import BackupSource, memory_fields, resolve_source
from .chat import ChatArchive
from .chat_browse import chat_fields
from .export import KNOWLEDGE_NAMES
from .layout import METADATA_NAME, chunk_number, profile_file_name
from .memories import memory_id, memory_ts
from .personality import check_format
from .store import FILE_MODE, make_private_dirs, open_private, read_json

__all__ = [
    "DEFAULT_KINDS",
    "HIT_END",
    "HIT_START",
    "KINDS",
    "ORDERS",
    "IndexCancelled",
    "IndexProgress",
    "IndexUpdate",
    "MemoryRows",
    "SearchHit",
    "SearchIndex",
    "fts_query",
    "knowledge_items",
    "knowledge_path",
    "update_index",
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

_TERM_RE = re.compile(r'"([^"]*)"|(\S+)')


def fts_query(text: str) -> str:
    """Turn what a user typed into a safe FTS5 query: words are ANDed, ``"quoted phrases"`` kept together,
    the last word matches as a prefix (search-as-you-type); FTS5 operators typed by accident are quoted.
    A NUL character (pasted from a binary) separates words: FTS5 would read it as the end of the query."""
    parts: list[str] = []
    for match in _TERM_RE.finditer(text.replace("\x00", " ")):
        phrase, word = match.group(1), match.group(2)
        value = (phrase if phrase is not None else word).strip()
        if value:
            parts.append('"' + value.replace('"', '""') + '"')
    if parts and not text.rstrip().endswith('"'):
        parts[-1] += "*"
    return " ".join(parts)


def _profile_text(profile: dict[str, Any]) -> str:
    """The searchable text of a profile: every non-empty string field, as ``key: value`` lines."""
    lines = []
    for key, value in profile.items():
        if isinstance(value, str) and value.strip() and not value.startswith(("http://", "https://")):
            lines.append(f"{key.replace('_', ' ')}: {value}")
    return "\n".join(lines)


def knowledge_path(folder: Path) -> Path | None:
    """The knowledge (``/story``) file a backup holds, under any of the names it may have."""
    for pattern in KNOWLEDGE_NAMES:
        path = folder / pattern.format(folder=folder.name)
        if path.is_file():
            return path
    return None


def knowledge_items(data: Any) -> list[dict[str, Any]]:
    """The entries of a knowledge file in any envelope SERVICE_API.md lists (as ``export.load_knowledge``
    reads them, so a position here is a position there)."""
    if isinstance(data, dict):
        inner = next((data[k] for k in ("items", "story", "knowledge", "entries") if k in data), None)
        data = inner if inner is not None else ([data] if "content" in data else [])
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []


def _text_id(entry: dict[str, Any]) -> str:
    value = entry.get("id")
    return "" if value is None or isinstance(value, dict | list) else str(value)


def _entry_ts(entry: dict[str, Any]) -> float:
    meta = entry.get("metadata")
    value = meta.get("created_at") if isinstance(meta, dict) else entry.get("created_at")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def _knowledge_text(entry: dict[str, Any]) -> str:
    parts = (entry.get("title"), entry.get("content"))
    return "\n".join(p for p in parts if isinstance(p, str) and p.strip())


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


class SearchIndex:
    """The index of one :class:`BackupSource`. Blocking; one instance per thread.

    ``SearchIndex(source)`` opens (creating or rebuilding when needed) the index and may write it;
    ``SearchIndex(source, reader_of=path)`` only reads an index that another connection (e.g. an indexing
    thread) has opened at ``path`` and keeps up to date."""

    def __init__(self, source: BackupSource, *, reader_of: Path | None = None) -> None:
        self.source = source
        self.path = source.index_path if reader_of is None else reader_of
        self.rebuilt = False
        self._paths: dict[str, Path] = {}  # relative path -> Path under the root (a search makes 200)
        if reader_of is None:
            self.conn = self._open()
            _use_wal(self.conn)
        else:
            self.conn = _connect(reader_of)
            self.conn.execute("PRAGMA query_only=ON")

    @classmethod
    def for_path(cls, path: Path) -> SearchIndex:
        return cls(resolve_source(path))

    # --- opening and rebuilding --------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            make_private_dirs(self.path.parent)
            conn = _connect(self.path)
        except (OSError, sqlite3.OperationalError):
            self.path = _fallback_path(self.source)
            try:
                make_private_dirs(self.path.parent)
                conn = _connect(self.path)
            except (OSError, sqlite3.DatabaseError):
                return self._create()
        except sqlite3.DatabaseError:
            return self._create()
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            conn.execute("SELECT count(*) FROM files").fetchone()
            if row is not None and row[0] == SCHEMA_VERSION:
                return conn
        except sqlite3.DatabaseError:
            pass
        conn.close()
        return self._create()

    def _create(self) -> sqlite3.Connection:
        """A fresh, empty index (the old file, if any, is damaged or from another version); in the user's
        cache folder when the backup folder cannot be written."""
        try:
            return self._create_at()
        except (OSError, sqlite3.OperationalError):
            if self.path == _fallback_path(self.source):
                raise
            self.path = _fallback_path(self.source)
            try:
                make_private_dirs(self.path.parent)
            except OSError as err:
                raise ArchiveError(
                    f"Could not create the search index: neither {self.source.root} nor "
                    f"{self.path.parent} can be written ({err.strerror or err})."
                ) from err
            return self._create_at()

    def _create_at(self) -> sqlite3.Connection:
        for suffix in ("", *_SIDE_SUFFIXES):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")
        conn = _connect(self.path)
        conn.executescript(_SCHEMA)
        conn.execute("INSERT INTO meta VALUES('schema', ?)", (SCHEMA_VERSION,))
        self.rebuilt = True
        return conn

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- incremental update ------------------------------------------------------------------------------

    def update(
        self,
        *,
        first: str | None = None,
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> IndexUpdate:
        """Bring the index in line with the files; cheap (a few ``stat`` calls) when nothing changed.

        Each personality folder is committed on its own (``first`` is done first, so the one on screen
        becomes readable soonest); ``progress`` hears about every file read and every folder committed;
        ``should_stop`` is polled between files and ends the update with :class:`IndexCancelled`."""
        started = time.perf_counter()
        try:
            report = self._update(first, progress, should_stop)
        except sqlite3.DatabaseError:
            self.conn.close()
            self.conn = self._create()
            _use_wal(self.conn)
            report = self._update(first, progress, should_stop)
        report.rebuilt = self.rebuilt
        report.seconds = time.perf_counter() - started
        return report

    def _update(
        self, first: str | None, progress: ProgressCallback | None, should_stop: Callable[[], bool] | None
    ) -> IndexUpdate:
        report = IndexUpdate()
        known = {
            rel: (fid, mtime, size, err)
            for fid, rel, mtime, size, err in self.conn.execute(
                "SELECT id, rel, mtime_ns, size, error FROM files"
            )
        }
        seen: set[str] = set()
        folders = sorted(self.source.folders, key=lambda f: f.name != first)  # stable: `first` leads
        plan = [(folder, self._changed_files(folder, known, seen, report)) for folder in folders]
        gone = [fid for rel, (fid, *_rest) in known.items() if rel not in seen]
        total, done = sum(len(todo) for _folder, todo in plan), 0
        if progress is not None:
            progress(IndexProgress(0, total))
        for folder, todo in plan:
            with self._transaction():
                for kind, path, rel, st, old_id in todo:
                    if should_stop is not None and should_stop():
                        raise IndexCancelled("Indexing was stopped.")
                    if old_id is not None:
                        self._drop_file(old_id)
                    error = self._index_file(folder, kind, path, rel, st)
                    report.indexed_files += 1
                    done += 1
                    if error:
                        report.errors[rel] = error
                    if progress is not None:
                        progress(IndexProgress(done, total))
            if progress is not None:
                progress(IndexProgress(done, total, folder.name, changed=bool(todo)))
        with self._transaction():
            for fid in gone:
                self._drop_file(fid)
                report.removed_files += 1
        return report

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _changed_files(
        self,
        folder: Path,
        known: dict[str, tuple[int, int, int, str | None]],
        seen: set[str],
        report: IndexUpdate,
    ) -> list[tuple[str, Path, str, os.stat_result, int | None]]:
        """Files of one folder whose signature differs from the indexed one (stat only, nothing read):
        ``(kind, path, relative path, stat, id of the stale indexed version or None)``."""
        todo: list[tuple[str, Path, str, os.stat_result, int | None]] = []
        for kind, path in self._folder_files(folder, report):
            rel = self._rel(path)
            seen.add(rel)
            try:
                st = path.stat()
            except OSError:
                continue
            old = known.get(rel)
            if old is not None and old[1] == st.st_mtime_ns and old[2] == st.st_size:
                if old[3]:
                    report.errors[rel] = old[3]
                continue
            todo.append((kind, path, rel, st, None if old is None else old[0]))
        return todo

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.source.root).as_posix()

    def _folder_files(self, folder: Path, report: IndexUpdate) -> Iterator[tuple[str, Path]]:
        """Metadata, profile, knowledge, memory and chat files of one folder (only the metadata when the
        format is not ours)."""
        meta_path = folder / METADATA_NAME
        yield "metadata", meta_path
        try:
            meta = read_json(meta_path)
            check_format(meta if isinstance(meta, dict) else {}, folder)
        except FileNotFoundError:
            return
        except (UnsupportedFormatError, CorruptBackupError):
            return  # recorded as the metadata file's error by _index_file
        yield "profile", folder / profile_file_name(folder.name)
        knowledge = knowledge_path(folder)
        if knowledge is not None:
            yield "knowledge", knowledge
        memory_dir = folder / "memory"
        if memory_dir.is_dir():
            for entry in sorted(os.listdir(memory_dir)):
                if chunk_number(entry, folder.name) is not None:
                    yield "memory", memory_dir / entry
        chat = ChatArchive(folder)
        for number in chat.chunk_numbers():
            yield "chat", chat.chunk_path(number)

    def _drop_file(self, file_id: int) -> None:
        self.conn.execute("DELETE FROM fts WHERE rowid IN (SELECT id FROM docs WHERE file_id=?)", (file_id,))
        self.conn.execute("DELETE FROM docs WHERE file_id=?", (file_id,))
        row = self.conn.execute("SELECT folder, kind FROM files WHERE id=?", (file_id,)).fetchone()
        if row is not None and row[1] == "metadata":
            self.conn.execute("DELETE FROM upstream WHERE folder=?", (row[0],))
        self.conn.execute("DELETE FROM files WHERE id=?", (file_id,))

    def _index_file(self, folder: Path, kind: str, path: Path, rel: str, st: os.stat_result) -> str:
        """Index one file; returns the error message for a damaged / refused one ("" when fine)."""
        error = ""
        docs: list[tuple[int, str, float, int, str]] = []  # pos, id, ts, deleted, text
        upstream: Iterable[str] = ()
        try:
            data = read_json(path)
            if kind == "metadata":
                check_format(data if isinstance(data, dict) else {}, folder)
                deleted = data.get("deletedUpstream")
                upstream = [str(k) for k in deleted] if isinstance(deleted, dict) else []
            elif kind == "profile":
                if isinstance(data, dict):
                    docs.append((-1, "", 0.0, 0, _profile_text(data)))
            elif kind == "knowledge":
                for pos, entry in enumerate(knowledge_items(data)):
                    docs.append((pos, _text_id(entry), _entry_ts(entry), 0, _knowledge_text(entry)))
            elif kind == "chat":
                messages = data.get("messages") if isinstance(data, dict) else None
                if not isinstance(messages, list):
                    raise CorruptBackupError(f"The chat file {path} has no 'messages' list.")
                for pos, raw in enumerate(messages):
                    if isinstance(raw, dict):
                        msg = chat_fields(raw)
                        text = "\n".join(t for t in (msg.message, msg.reply, *msg.regenerated) if t)
                        docs.append((pos, msg.id, msg.ts or 0.0, 0, text))
            else:
                items = data.get("memories") if isinstance(data, dict) else None
                if not isinstance(items, list):
                    raise CorruptBackupError(f"The memory file {path} has no 'memories' list.")
                for pos, raw in enumerate(items):
                    if isinstance(raw, dict):
                        fields = memory_fields(raw)
                        docs.append((pos, memory_id(raw), memory_ts(raw), int(fields.deleted), fields.text))
        except TzBackupError as err:
            error = str(err)
        cur = self.conn.execute(
            "INSERT INTO files(folder, rel, kind, mtime_ns, size, error) VALUES(?,?,?,?,?,?)",
            (folder.name, rel, kind, st.st_mtime_ns, st.st_size, error or None),
        )
        file_id = cur.lastrowid
        self.conn.executemany(
            "INSERT OR IGNORE INTO upstream VALUES(?, ?)", ((folder.name, mid) for mid in upstream)
        )
        if docs:  # explicit ids (docs.id = fts.rowid) so both tables take one executemany each
            low, high = _id_range(kind)
            first = int(self.conn.execute(
                "SELECT coalesce(max(id), ?) + 1 FROM docs WHERE id >= ? AND id < ?", (low - 1, low, high)
            ).fetchone()[0])
            self.conn.executemany(
                "INSERT INTO docs(id, file_id, folder, kind, pos, memory_id, ts, deleted) "
                "VALUES(?,?,?,?,?,?,?,?)",
                (
                    (first + i, file_id, folder.name, kind, pos, mid, ts, deleted)
                    for i, (pos, mid, ts, deleted, _text) in enumerate(docs)
                ),
            )
            self.conn.executemany(
                "INSERT INTO fts(rowid, text) VALUES(?, ?)",
                ((first + i, doc[4]) for i, doc in enumerate(docs)),
            )
        return error

    # --- queries -----------------------------------------------------------------------------------------

    def file_errors(self, folder: str | None = None) -> list[tuple[str, str]]:
        """``(relative path, message)`` of every damaged or refused file (of one folder, or all)."""
        sql = "SELECT rel, error FROM files WHERE error IS NOT NULL"
        args: tuple[str, ...] = ()
        if folder is not None:
            sql += " AND folder=?"
            args = (folder,)
        return list(self.conn.execute(sql + " ORDER BY rel", args))

    def count(self, folder: str) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM docs WHERE folder=? AND kind='memory'", (folder,)
        ).fetchone()
        return int(row[0])

    def date_range(self, folder: str | None = None) -> tuple[float, float] | None:
        """Time of the first and the last memory (of one folder, or all); None when there are none.
        One ``min`` and one ``max`` per folder, each a single seek in the ordered index."""
        folders = [folder] if folder is not None else [f.name for f in self.source.folders]
        lows, highs = [], []
        for name in folders:
            args = (name,)
            where = "FROM docs WHERE folder=? AND kind='memory' AND ts > 0"
            low = self.conn.execute(f"SELECT min(ts) {where}", args).fetchone()[0]
            if low is not None:
                lows.append(float(low))
                highs.append(float(self.conn.execute(f"SELECT max(ts) {where}", args).fetchone()[0]))
        return (min(lows), max(highs)) if lows else None

    def locate(self, folder: str, memory_id: str) -> list[tuple[Path, int]]:
        """Where a memory lives: an exact id, else every memory whose id starts with ``memory_id``."""
        sql = "SELECT f.rel, d.pos FROM docs d JOIN files f ON f.id = d.file_id WHERE d.folder=? AND "
        found = self.conn.execute(sql + "d.memory_id=?", (folder, memory_id)).fetchall()
        if not found and memory_id:
            like = memory_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            found = self.conn.execute(
                sql + "d.kind='memory' AND d.memory_id LIKE ? ESCAPE '\\' LIMIT 20", (folder, like)
            ).fetchall()
        return [(self.source.root / rel, pos) for rel, pos in found]

    def memory_rows(self, folder: str) -> MemoryRows:
        """All memories of one folder in chronological order, as compact (file, position) records.

        Runs on the GUI thread when a personality is opened, so the per-row work stays in C: a covering
        index gives the order, ``zip`` splits the columns, and the (usually empty) deleted-upstream set is
        joined only when the folder has one."""
        paths = {
            fid: self.source.root / rel
            for fid, rel in self.conn.execute(
                "SELECT id, rel FROM files WHERE folder=? AND kind='memory'", (folder,)
            )
        }
        upstream = "SELECT 1 FROM upstream WHERE folder=? LIMIT 1"
        has_upstream = self.conn.execute(upstream, (folder,)).fetchone()
        gone = (
            "EXISTS(SELECT 1 FROM upstream u WHERE u.folder = d.folder AND u.memory_id = d.memory_id)"
            if has_upstream
            else "0"
        )
        found = self.conn.execute(
            f"SELECT d.file_id, d.pos, d.ts, d.deleted * {FLAG_DELETED} + {gone} * {FLAG_UPSTREAM} "
            "FROM docs d WHERE d.folder=? AND d.kind='memory' ORDER BY d.ts, d.memory_id",
            (folder,),
        ).fetchall()
        rows = MemoryRows(paths=[])
        if not found:
            return rows
        file_ids, positions, times, flags = zip(*found, strict=True)
        order = {fid: at for at, fid in enumerate(sorted(set(file_ids)))}
        rows.paths = [paths[fid] for fid in sorted(order)]
        rows.file_idx = array("I", map(order.__getitem__, file_ids))
        rows.pos = array("I", positions)
        rows.ts = array("d", times)
        rows.flags = array("B", flags)
        return rows

    def _match(
        self,
        text: str,
        folder: str | None,
        since: float | None,
        until: float | None,
        kinds: Iterable[str],
    ) -> tuple[str, list[Any]] | None:
        """The FROM / WHERE part shared by :meth:`search` and :meth:`count_hits` (None: nothing to match)."""
        query = fts_query(text)
        wanted = [k for k in KINDS if k in set(kinds)]
        if not query or not wanted:
            return None
        sql = "FROM fts JOIN docs d ON d.id = fts.rowid WHERE fts MATCH ?"
        args: list[Any] = [query]
        if folder is not None:
            sql += " AND d.folder = ?"
            args.append(folder)
        if len(wanted) < len(KINDS):
            sql += f" AND d.kind IN ({', '.join('?' * len(wanted))})"
            args += wanted
        if since is not None:
            sql += " AND d.ts >= ?"
            args.append(since)
        if until is not None:
            sql += " AND d.ts > 0 AND d.ts < ?"
            args.append(until)
        return sql, args

    def search(
        self,
        text: str,
        *,
        folder: str | None = None,
        since: float | None = None,
        until: float | None = None,
        kinds: Iterable[str] = DEFAULT_KINDS,
        order: str = "relevance",
        limit: int = 200,
    ) -> list[SearchHit]:
        """The first ``limit`` matches in ``order`` (:data:`ORDERS`); ``since`` / ``until`` (Unix time, until
        exclusive) filter by date, leaving out records without one (the profile). Raises
        :class:`SearchIndexError` when the index cannot be queried (locked, damaged): never a silent [].
        """
        match = self._match(text, folder, since, until, kinds)
        if match is None:
            return []
        where, args = match
        sql = (
            "SELECT d.folder, d.kind, d.memory_id, d.ts, f.rel, d.pos, d.deleted, "
            f"u.memory_id IS NOT NULL, snippet(fts, 0, '{HIT_START}', '{HIT_END}', '…', 16) "
            f"{where.replace('JOIN docs d ON d.id = fts.rowid', _HIT_JOINS)} "
            f"ORDER BY {_ORDER_SQL.get(order, 'rank')} LIMIT ?"
        )
        found = self._fetch(sql, [*args, limit])
        paths = self._paths
        return [
            SearchHit(
                folder=fol,
                kind=kind,
                memory_id=mid,
                ts=ts,
                path=paths[rel] if rel in paths else paths.setdefault(rel, self.source.root / rel),
                pos=pos,
                snippet=snip,
                flags=(FLAG_DELETED if deleted else 0) | (FLAG_UPSTREAM if gone else 0),
            )
            for fol, kind, mid, ts, rel, pos, deleted, gone, snip in found
        ]

    def count_hits(
        self,
        text: str,
        *,
        folder: str | None = None,
        since: float | None = None,
        until: float | None = None,
        kinds: Iterable[str] = KINDS,
    ) -> dict[str, int]:
        """How many records of each kind match (all of them, not only the first ``limit``); raises
        :class:`SearchIndexError` as :meth:`search` does. Over every personality and date this is a count
        of FTS rowids in each kind's id range (no record is looked up): a few milliseconds at 100,000."""
        match = self._match(text, folder, since, until, kinds)
        if match is None:
            return {}
        if folder is None and since is None and until is None:
            query = fts_query(text)
            counts = {}
            for kind in (k for k in KINDS if k in set(kinds)):
                low, high = _id_range(kind)
                sql = "SELECT count(*) FROM fts WHERE fts MATCH ? AND rowid >= ? AND rowid < ?"
                n = int(self._fetch(sql, [query, low, high])[0][0])
                if n:
                    counts[kind] = n
            return counts
        where, args = match
        found = self._fetch(f"SELECT d.kind, count(*) {where} GROUP BY d.kind", args)
        return {str(kind): int(n) for kind, n in found}

    def _fetch(self, sql: str, args: list[Any]) -> list[Any]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as err:
            # "database is locked", a damaged file, a disk error: say so. fts_query quotes every term, so a
            # syntax error is a bug of ours and is reported the same way rather than shown as "no results".
            raise SearchIndexError(f"Could not search the index {self.path}: {err}.") from err

    def size_bytes(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0


def update_index(data_dir: Path) -> IndexUpdate:
    """Open (or rebuild) the index of ``data_dir`` and bring it up to date; for the CLI after a backup."""
    with SearchIndex.for_path(data_dir) as index:
        return index.update()

