"""Queries over an open search index: file errors, counts, dates, memory rows, search, hit counts."""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import SearchIndexError
from .browse import BackupSource
from .index_schema import (
    _HIT_JOINS,
    _ORDER_SQL,
    DEFAULT_KINDS,
    FLAG_DELETED,
    FLAG_UPSTREAM,
    HIT_END,
    HIT_START,
    KINDS,
    MemoryRows,
    SearchHit,
    _id_range,
)
from .index_text import fts_query

__all__ = ["IndexQueries"]


class IndexQueries:
    """The read side of :class:`~.index.SearchIndex` (which opens, rebuilds and updates the file)."""

    source: BackupSource
    path: Path
    conn: sqlite3.Connection
    _paths: dict[str, Path]

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
