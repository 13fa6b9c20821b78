"""The one journal of an unfinished walk, shared by memories (``journal.py``) and chat (``chat_journal.py``).

A journal is a JSONL file under ``.tzbackup/``: a ``{"kind": "start", ...}`` line, then one fsync'd line per
thing the walk must not lose (a fetched page or batch, a state), then ``{"kind": "done"}`` when the walk
reached its end. Each line is appended durably the moment it happens, so a run killed at any point resumes
without fetching again. Only a small summary stays in RAM; raw records are read back from their line (by
byte offset) when they are committed. A kind of walk says what its start line holds and what its other
lines mean (:meth:`JournalFile.from_start`, :meth:`JournalFile.replay`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from .store import append_line, read_jsonl, remove_file

__all__ = ["JournalFile"]

#: journal lines whose records are kept in RAM at once while a commit reads them back
_LINES_CACHED = 64


@dataclass
class JournalFile:
    """An open journal: its file, when the walk started, whether it is done, whether it was resumed."""

    path: Path
    started: str = ""
    done: bool = False
    resumed: bool = False
    _line_cache: dict[int, list[Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_start(cls, path: Path, record: dict[str, Any]) -> Self:
        """The journal a start line describes (a kind reads its own fields from it)."""
        return cls(path, started=str(record.get("started", "")))

    def replay(self, kind: object, offset: int, record: dict[str, Any]) -> None:
        """Account for one line other than start and done, read back from the file at ``offset``."""

    @classmethod
    def open_existing(cls, path: Path) -> Self | None:
        """The journal an earlier run left, or None when there is none (or it has no start line: then the
        file goes). A later start line starts over; lines before the first start line are ignored."""
        if not path.exists():
            return None
        journal: Self | None = None
        for offset, record in read_jsonl(path):
            if not isinstance(record, dict):
                continue
            kind = record.get("kind")
            if kind == "start":
                journal = cls.from_start(path, record)
            elif journal is None:
                continue
            elif kind == "done":
                journal.done = True
            else:
                journal.replay(kind, offset, record)
        if journal is None:
            remove_file(path)
            return None
        journal.resumed = True
        return journal

    @staticmethod
    def write_start(path: Path, fields: dict[str, Any]) -> None:
        """Begin a new journal file (any old one goes) with a start line holding ``fields``."""
        remove_file(path)
        append_line(path, {"kind": "start", **fields})

    def append(self, record: dict[str, Any]) -> int:
        """Append one line durably; the byte offset where it starts."""
        return append_line(self.path, record)

    def mark_done(self) -> None:
        self.append({"kind": "done"})
        self.done = True

    def delete(self) -> None:
        remove_file(self.path)

    def line_items(self, offset: int) -> list[Any]:
        """The ``items`` of the line at ``offset``, verbatim (a few lines are cached)."""
        cached = self._line_cache.get(offset)
        if cached is None:
            with self.path.open("rb") as fh:
                fh.seek(offset)
                record = json.loads(fh.readline())
            items = record.get("items") if isinstance(record, dict) else None
            cached = list(items) if isinstance(items, list) else []
            if len(self._line_cache) > _LINES_CACHED:
                self._line_cache.clear()
            self._line_cache[offset] = cached
        return cached
