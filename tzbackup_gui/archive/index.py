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
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import (
    ArchiveError,
    CorruptBackupError,
    TzBackupError,
    UnsupportedFormatError,
)
from ..model.memory import memory_id, memory_ts
from .browse import BackupSource, memory_fields, resolve_source
from .chat import ChatArchive
from .chat_browse import chat_fields
from .export_common import knowledge_items, knowledge_path
from .index_query import IndexQueries
from .index_schema import (
    _SCHEMA,
    _SIDE_SUFFIXES,
    FLAG_DELETED,
    FLAG_UPSTREAM,
    HIT_END,
    HIT_START,
    KINDS,
    ORDERS,
    SCHEMA_VERSION,
    IndexCancelled,
    IndexProgress,
    IndexUpdate,
    MemoryRows,
    ProgressCallback,
    SearchHit,
    _connect,
    _fallback_path,
    _id_range,
    _use_wal,
)
from .index_text import _entry_ts, _knowledge_text, _profile_text, _text_id, fts_query
from .layout import METADATA_NAME, chunk_number, profile_file_name
from .personality import check_format
from .store import make_private_dirs, read_json

__all__ = [
    "FLAG_DELETED",
    "FLAG_UPSTREAM",
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
    "update_index",
]

class SearchIndex(IndexQueries):
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

def update_index(data_dir: Path) -> IndexUpdate:
    """Open (or rebuild) the index of ``data_dir`` and bring it up to date; for the CLI after a backup."""
    with SearchIndex.for_path(data_dir) as index:
        return index.update()

