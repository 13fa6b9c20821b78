"""The journal of an unfinished memory walk: ``.tzbackup/journal.jsonl``.

Each fetched page is appended (and fsync'd) as one JSON line the moment it arrives, so a run killed at any
point resumes without fetching those pages again. Only a small per-id summary is kept in RAM (line offset,
position, timestamp, hash); raw memories are read back from the file when they are committed.

Lines: ``{"kind": "start", "mode", "reason", "started"}``, ``{"kind": "page", "page", "items", "hasNext",
"totalPages", "total", "topUp"}``, ``{"kind": "mode", "mode", "reason"}`` and ``{"kind": "done"}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .memories import content_hash, memory_id, memory_ts
from .store import append_line, read_jsonl, remove_file

__all__ = ["Journal", "JournalItem", "PageRecord"]


@dataclass(frozen=True, slots=True)
class JournalItem:
    """Where the newest fetched version of one memory sits in the journal."""

    offset: int
    index: int
    ts: float
    hash: str


@dataclass
class PageRecord:
    """What one page brought, as seen when it was added."""

    page: int
    ids: list[str]
    has_next: bool | None
    total_pages: int | None
    total: int | None
    unseen: int = 0  # ids not met before in this walk
    top_up: bool = False
    count: int = 0  # memories on the page


@dataclass
class Journal:
    """An open journal. ``items`` maps id -> newest version fetched in this walk."""

    path: Path
    mode: str = "incremental"
    reason: str = ""
    started: str = ""
    done: bool = False
    resumed: bool = False
    items: dict[str, JournalItem] = field(default_factory=dict)
    #: page entries that were not memory objects with an id (counted for the run record; kept in the journal)
    unreadable: int = 0
    pages: dict[int, PageRecord] = field(default_factory=dict)
    totals: list[int] = field(default_factory=list)
    top_up_pages: int = 0
    #: ids in ``items`` that ``is_known`` (set by the engine) says are not stored yet; kept up to date
    new_count: int = 0
    is_stored: Callable[[str], bool] = field(default=lambda _mid: False, repr=False)
    _line_cache: dict[int, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    # --- opening -----------------------------------------------------------------------------------------

    @classmethod
    def open_existing(cls, path: Path) -> Journal | None:
        """Load a journal left by an earlier run, or None when there is none (or it has no start line)."""
        if not path.exists():
            return None
        journal: Journal | None = None
        for offset, record in read_jsonl(path):
            if not isinstance(record, dict):
                continue
            kind = record.get("kind")
            if kind == "start":
                journal = cls(
                    path,
                    mode=str(record.get("mode", "incremental")),
                    reason=str(record.get("reason", "")),
                    started=str(record.get("started", "")),
                )
            elif journal is None:
                continue
            elif kind == "page":
                journal._absorb(offset, record)
            elif kind == "mode":
                journal.mode = str(record.get("mode", journal.mode))
                journal.reason = str(record.get("reason", journal.reason))
            elif kind == "done":
                journal.done = True
        if journal is None:
            remove_file(path)
            return None
        journal.resumed = True
        return journal

    @classmethod
    def start(cls, path: Path, *, mode: str, reason: str, started: str) -> Journal:
        remove_file(path)
        journal = cls(path, mode=mode, reason=reason, started=started)
        append_line(path, {"kind": "start", "mode": mode, "reason": reason, "started": started})
        return journal

    # --- writing -----------------------------------------------------------------------------------------

    def count_new(self, is_stored: Callable[[str], bool]) -> None:
        """From now on, keep ``new_count`` = ids fetched in this walk for which ``is_stored`` is False."""
        self.is_stored = is_stored
        self.new_count = sum(1 for mid in self.items if not is_stored(mid))

    def add_page(
        self,
        page: int,
        items: list[dict[str, Any]],
        *,
        has_next: bool | None,
        total_pages: int | None,
        total: int | None,
        top_up: bool = False,
    ) -> PageRecord:
        """Append a page durably, then account for it. Returns what the page brought."""
        record = {
            "kind": "page",
            "page": page,
            "items": items,
            "hasNext": has_next,
            "totalPages": total_pages,
            "total": total,
            "topUp": top_up,
        }
        offset = append_line(self.path, record)
        return self._absorb(offset, record, items=items)

    def switch_mode(self, mode: str, reason: str) -> None:
        append_line(self.path, {"kind": "mode", "mode": mode, "reason": reason})
        self.mode, self.reason = mode, reason

    def mark_done(self) -> None:
        append_line(self.path, {"kind": "done"})
        self.done = True

    def delete(self) -> None:
        remove_file(self.path)

    def _absorb(
        self, offset: int, record: dict[str, Any], items: list[dict[str, Any]] | None = None
    ) -> PageRecord:
        raw_items = items if items is not None else record.get("items")
        raw_items = raw_items if isinstance(raw_items, list) else []
        ids: list[str] = []
        unseen = 0
        for index, item in enumerate(raw_items):
            mid = memory_id(item) if isinstance(item, dict) else ""
            if not mid:
                self.unreadable += 1  # not a memory object with an id: reported, never guessed at
                continue
            if mid not in self.items:
                unseen += 1
                if not self.is_stored(mid):
                    self.new_count += 1
            ids.append(mid)
            self.items[mid] = JournalItem(offset, index, memory_ts(item), content_hash(item))
        total = record.get("total")
        page = PageRecord(
            page=int(record.get("page", 0)),
            ids=ids,
            has_next=record.get("hasNext"),
            total_pages=record.get("totalPages"),
            total=total if isinstance(total, int) else None,
            unseen=unseen,
            top_up=bool(record.get("topUp")),
            count=len(ids),
        )
        if page.total is not None:
            self.totals.append(page.total)
        if page.top_up:
            self.top_up_pages += 1
        else:
            # Only the pagination is kept per page (not its ids): RAM stays small for long walks.
            self.pages[page.page] = PageRecord(
                page.page, [], page.has_next, page.total_pages, page.total, count=page.count
            )
        return page

    # --- reading -----------------------------------------------------------------------------------------

    @property
    def next_page(self) -> int:
        return max(self.pages, default=0) + 1

    @property
    def last_total(self) -> int | None:
        return self.totals[-1] if self.totals else None

    def raw(self, item: JournalItem) -> dict[str, Any]:
        """The raw memory behind ``item`` (reads its line; a few lines are cached)."""
        cached = self._line_cache.get(item.offset)
        if cached is None:
            with self.path.open("rb") as fh:
                fh.seek(item.offset)
                record = json.loads(fh.readline())
            cached = list(record.get("items", []))
            if len(self._line_cache) > 64:
                self._line_cache.clear()
            self._line_cache[item.offset] = cached
        value = cached[item.index]
        assert isinstance(value, dict)
        return value
