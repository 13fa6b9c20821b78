"""The journal of a chat walk: ``.tzbackup/chat-journal.jsonl``, one fsync'd line per fetched batch.

Lines: ``{"kind": "start", "full", "storedNewest", "started"}``, ``{"kind": "batch", "before", "strict",
"items"}`` and ``{"kind": "done"}`` (see :mod:`.journal_file`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from .journal_file import JournalFile
from .messages import message_hash, message_id, message_ts

__all__ = ["BatchInfo", "ChatJournal"]


@dataclass
class BatchInfo:
    """One fetched batch as the journal keeps it in RAM: where its line is, what it asked, what it brought."""

    offset: int
    before: float | None
    strict: bool
    count: int
    new: int
    min_ts: float | None
    max_ts: float | None


@dataclass
class ChatJournal(JournalFile):
    """An open chat journal. ``seen`` maps id -> hash of the first version fetched in this walk (all that
    stays in RAM about fetched messages; raw messages are read back from the file at commit time)."""

    full: bool = False
    stored_newest: float | None = None
    seen: dict[str, str] = field(default_factory=dict)
    batches: list[BatchInfo] = field(default_factory=list)
    min_ts: float | None = None
    #: numeric-string ts values met in this walk (tolerated; reported as drift)
    string_ts: int = 0

    @classmethod
    def from_start(cls, path: Path, record: dict[str, Any]) -> Self:
        newest = record.get("storedNewest")
        return cls(
            path,
            full=bool(record.get("full")),
            stored_newest=float(newest) if isinstance(newest, (int, float)) else None,
            started=str(record.get("started", "")),
        )

    def replay(self, kind: object, offset: int, record: dict[str, Any]) -> None:
        if kind == "batch":
            items = record.get("items")
            before = record.get("before")
            self._absorb(
                offset,
                items if isinstance(items, list) else [],
                float(before) if isinstance(before, (int, float)) else None,
                bool(record.get("strict")),
            )

    @classmethod
    def start(cls, path: Path, *, full: bool, stored_newest: float | None, started: str) -> Self:
        cls.write_start(path, {"full": full, "storedNewest": stored_newest, "started": started})
        return cls(path, full=full, stored_newest=stored_newest, started=started)

    def add_batch(self, items: list[dict[str, Any]], before: float | None, strict: bool) -> BatchInfo:
        """Append one fetched batch durably, then account for it."""
        offset = self.append({"kind": "batch", "before": before, "strict": strict, "items": items})
        return self._absorb(offset, items, before, strict)

    def preview(self, items: list[dict[str, Any]]) -> tuple[int, float | None, float | None]:
        """(ids not fetched before in this walk, lowest ts, highest ts) of a batch, without keeping it."""
        new = len({mid for mid in map(message_id, items) if mid and mid not in self.seen})
        stamps = [message_ts(m) for m in items]
        return new, min(stamps, default=None), max(stamps, default=None)

    def _absorb(self, offset: int, items: list[Any], before: float | None, strict: bool) -> BatchInfo:
        messages = [m for m in items if isinstance(m, dict)]
        new, lo, hi = self.preview(messages)
        for item in messages:
            mid = message_id(item)
            if isinstance(item.get("ts"), str):
                self.string_ts += 1
            if mid and mid not in self.seen:
                self.seen[mid] = message_hash(item)
        if lo is not None:
            self.min_ts = lo if self.min_ts is None else min(self.min_ts, lo)
        info = BatchInfo(offset, before, strict, len(messages), new, lo, hi)
        self.batches.append(info)
        return info

    def batch_items(self, info: BatchInfo) -> list[dict[str, Any]]:
        """The raw messages of one batch, read back from its line."""
        return [m for m in self.line_items(info.offset) if isinstance(m, dict)]

    def ascending(self) -> Iterator[dict[str, Any]]:
        """Every fetched message once, oldest first: batches in reverse walk order, each sorted by ts
        (stable), an id met again (the overlap at a boundary) skipped."""
        emitted: set[str] = set()
        for info in reversed(self.batches):
            items = sorted(self.batch_items(info), key=message_ts)
            for item in items:
                mid = message_id(item)
                if not mid or mid in emitted:
                    continue
                emitted.add(mid)
                yield item
