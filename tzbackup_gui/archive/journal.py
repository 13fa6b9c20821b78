"""The journal of an unfinished memory walk: ``.tzbackup/journal.jsonl``.

Each fetched page is appended (and fsync'd) as one JSON line the moment it arrives, so a run killed at any
point resumes without fetching those pages again. Only a small per-id summary is kept in RAM (line offset,
position, timestamp, hash); raw memories are read back from the file when they are committed.

Lines: ``{"kind": "start", "mode", "reason", "started"}``, ``{"kind": "page", "page", "items", "hasNext",
"totalPages", "total", "topUp", "role"}``, ``{"kind": "walk", "state"}`` (the walk's bracket and certification
state after each request, see ``backup/walk.py``), ``{"kind": "mode", "mode", "reason"}`` and
``{"kind": "done"}``. Every memory any page brought (probes and re-reads included) is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from ..model.memory import content_hash, memory_id, memory_ts
from .journal_file import JournalFile

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
    #: the page's entries in order: each one's id, "" for an entry without one (it still holds a place)
    slots: list[str] = field(default_factory=list)
    role: str = "walk"
    #: the service answered 404 for this page (set by the walk; the journal stores it as an empty page)
    not_found: bool = False

    @property
    def raw_count(self) -> int:
        """Entries on the page, with or without an id: each one holds a place in the list."""
        return len(self.slots)


@dataclass
class Journal(JournalFile):
    """An open memory journal. ``items`` maps id -> newest version fetched in this walk."""

    mode: str = "incremental"
    reason: str = ""
    items: dict[str, JournalItem] = field(default_factory=dict)
    #: page entries that were not memory objects with an id (counted for the run record; kept in the journal)
    unreadable: int = 0
    #: ids-less entries told apart by content, so a page read twice does not count them twice
    _unreadable_seen: set[str] = field(default_factory=set, repr=False)
    #: where each distinct id-less entry sits (line offset, index): committed to the quarantine file
    unreadable_at: list[tuple[int, int]] = field(default_factory=list, repr=False)
    #: pages recorded after the last walk state line (a walk killed between the two replays them)
    trailing: list[PageRecord] = field(default_factory=list, repr=False)
    pages: dict[int, PageRecord] = field(default_factory=dict)
    totals: list[int] = field(default_factory=list)
    top_up_pages: int = 0
    #: the walk's state after its last recorded request (``backup/walk.py``), None in an older journal
    walk_state: dict[str, Any] | None = None
    #: ids in ``items`` that ``is_known`` (set by the engine) says are not stored yet; kept up to date
    new_count: int = 0
    is_stored: Callable[[str], bool] = field(default=lambda _mid: False, repr=False)

    # --- opening -----------------------------------------------------------------------------------------

    @classmethod
    def from_start(cls, path: Path, record: dict[str, Any]) -> Self:
        return cls(
            path,
            mode=str(record.get("mode", "incremental")),
            reason=str(record.get("reason", "")),
            started=str(record.get("started", "")),
        )

    def replay(self, kind: object, offset: int, record: dict[str, Any]) -> None:
        if kind == "page":
            self.trailing.append(self._absorb(offset, record))
        elif kind == "walk":
            state = record.get("state")
            self.walk_state = state if isinstance(state, dict) else None
            self.trailing.clear()
        elif kind == "mode":
            self.mode = str(record.get("mode", self.mode))
            self.reason = str(record.get("reason", self.reason))

    @classmethod
    def start(cls, path: Path, *, mode: str, reason: str, started: str) -> Self:
        cls.write_start(path, {"mode": mode, "reason": reason, "started": started})
        return cls(path, mode=mode, reason=reason, started=started)

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
        role: str = "walk",
    ) -> PageRecord:
        """Append a page durably, then account for it. Returns what the page brought. ``role`` says why it
        was read: "walk" (in order), "probe" (ahead of the walk), "topup" or "reread"."""
        record = {
            "kind": "page",
            "page": page,
            "items": items,
            "hasNext": has_next,
            "totalPages": total_pages,
            "total": total,
            "topUp": top_up,
            "role": role,
        }
        return self._absorb(self.append(record), record, items=items)

    def save_walk(self, state: dict[str, Any]) -> None:
        """Record the walk's state durably (a killed walk resumes from the last one)."""
        self.append({"kind": "walk", "state": state})
        self.walk_state = state

    def switch_mode(self, mode: str, reason: str) -> None:
        self.append({"kind": "mode", "mode": mode, "reason": reason})
        self.mode, self.reason = mode, reason

    def _absorb(
        self, offset: int, record: dict[str, Any], items: list[dict[str, Any]] | None = None
    ) -> PageRecord:
        raw_items = items if items is not None else record.get("items")
        raw_items = raw_items if isinstance(raw_items, list) else []
        ids: list[str] = []
        slots: list[str] = []
        unseen = 0
        for index, item in enumerate(raw_items):
            mid = memory_id(item) if isinstance(item, dict) else ""
            slots.append(mid)
            if not mid:
                # not a memory object with an id: kept in the journal, reported, never guessed at
                key = content_hash(item) if isinstance(item, dict) else repr(item)
                if key not in self._unreadable_seen:
                    self._unreadable_seen.add(key)
                    self.unreadable += 1
                    self.unreadable_at.append((offset, index))
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
            slots=slots,
            role=str(record.get("role") or ("topup" if record.get("topUp") else "walk")),
        )
        if page.total is not None:
            self.totals.append(page.total)
        if page.top_up or page.role == "topup":
            self.top_up_pages += 1
        elif page.role == "walk":
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
        value = self._entry(item.offset, item.index)
        assert isinstance(value, dict)
        return value

    def unreadable_entries(self) -> list[Any]:
        """The distinct page entries that were not memory objects with an id, verbatim."""
        return [self._entry(offset, index) for offset, index in self.unreadable_at]

    def _entry(self, offset: int, index: int) -> Any:
        return self.line_items(offset)[index]
