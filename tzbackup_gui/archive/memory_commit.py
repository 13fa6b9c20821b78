"""A memory commit: the journal's memories merged into the chunk files, staged, then moved into place.

A commit is staged first: every new or rewritten chunk file, the history lines and the new metadata are
written to ``.tzbackup/staging/``, then ``.tzbackup/commit.json`` lists what to move where, then the moves
happen (memory files first, metadata last: :meth:`~.records.RecordStore._apply`). A crash at any point is
rolled forward by ``recover`` the next time the folder is opened, so memory files never disagree and the
metadata never claims memories that are not on disk.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from ..model.memory import content_hash, memory_id
from .journal import Journal
from .layout import MEMORY_DIR, chunk_file_name
from .memory_index import MEMORY_KIND, IndexEntry, MemoryFiles, MemoryIndex
from .records import HISTORY_STAGED, STEP_RECORDS
from .store import append_line, atomic_write_json, ensure_dir

__all__ = ["STEP_MEMORIES", "CommitResult", "commit_steps"]

#: Memories encoded (or read back from the journal) per commit step: small enough that one step holds the
#: GIL for a few milliseconds (see :func:`commit_steps`).
STEP_MEMORIES = STEP_RECORDS
#: id-less page entries staged for the quarantine file, inside the staging folder
_QUARANTINE_STAGED = "quarantine.jsonl"


@dataclass
class CommitResult:
    new: int = 0
    edited: int = 0
    total: int = 0
    last_id: str | None = None
    files_written: int = 0


def commit_steps(
    archive: MemoryFiles,
    journal: Journal,
    index: MemoryIndex,
    chunk_size: int,
    now: str,
    make_metadata: Callable[[CommitResult], dict[str, Any]],
    *,
    keep_journal: bool = False,
) -> Generator[None, None, MemoryIndex]:
    """Merge the journal's memories into the chunk files in short steps (about one chunk file each), write
    the metadata, drop the journal (unless ``keep_journal``: an unfinished walk commits what it fetched and
    keeps its journal for the resume); returns the fresh index.

    Encoding a chunk file is pure-Python work that holds the GIL: run as one block in a worker thread,
    a large commit starves the GUI thread for its whole length. A caller that runs each step in a
    thread (see the engine) hands the event loop the GIL between steps. Every step must run, in order,
    for the commit to complete; stopping between steps is as safe as a crash (the staging area is only
    acted upon once ``commit.json`` exists, which the last steps write).
    """
    ensure_dir(archive.memory_dir)
    archive.start_staging()
    new_ids = sorted(
        (mid for mid in journal.items if mid not in index.pos),
        key=lambda mid: (journal.items[mid].ts, mid),
    )
    edited = {
        mid
        for mid, item in journal.items.items()
        if mid in index.pos and index.entries[index.pos[mid]].hash != item.hash
    }
    start = _rewrite_start(index, new_ids, journal, chunk_size)
    writer = _StagingWriter(archive, now, delete_journal=not keep_journal)
    new_entries: list[IndexEntry] = []
    # Files before ``start`` keep their place; the ones holding an edit are rewritten in place.
    edited_files = {index.entries[index.pos[mid]].file_pos for mid in edited}
    for file_pos in sorted(p for p in edited_files if p < start):
        number, name = index.files[file_pos]
        memories = [writer.replace(m, journal, edited) for m in archive.load_chunk(name)]
        yield from writer.stage_chunk(number, memories)
    for entry in index.entries:
        if entry.file_pos < start:
            fresh_hash = journal.items[entry.id].hash if entry.id in edited else entry.hash
            new_entries.append(IndexEntry(entry.id, entry.file_pos, fresh_hash, entry.ts))
    if start < len(index.files) or new_ids:
        merged = _merge(_stream_from(archive, index, start, writer, journal, edited), new_ids, journal)
        yield from _write_tail(merged, start, chunk_size, writer, new_entries)
        kept = {chunk_file_name(archive.folder, n) for n in range(start + 1, writer.last_number + 1)}
        writer.remove = [f"{MEMORY_DIR}/{name}" for _, name in index.files[start:] if name not in kept]
    result = CommitResult(
        new=len(new_ids),
        edited=len(edited),
        total=len(new_entries),
        last_id=new_entries[-1].id if new_entries else None,
        files_written=len(writer.renames),
    )
    for entry in journal.unreadable_entries():
        writer.quarantine(entry)
    writer.finish(make_metadata(result))
    archive._apply(writer.plan())
    yield
    files = archive.chunk_files()
    fresh = MemoryIndex(files=files, entries=new_entries)
    fresh.pos = {e.id: i for i, e in enumerate(new_entries)}
    yield from archive.save_index_cache_steps(fresh, archive.file_stats(files), chunk_size)
    return fresh


def _rewrite_start(index: MemoryIndex, new_ids: list[str], journal: Journal, chunk_size: int) -> int:
    """Position of the first chunk file whose contents change order or size (the index comes from a
    folder that passed ``check_chunks``, so every file before it keeps its place)."""
    start = len(index.files)
    if new_ids:
        first = journal.items[new_ids[0]]
        keys = [(e.ts, e.id) for e in index.entries]
        at = bisect.bisect_right(keys, (first.ts, new_ids[0]))
        if at < len(index.entries):
            start = index.entries[at].file_pos
        elif index.entries and len(index.entries) % chunk_size != 0:
            start = index.entries[-1].file_pos
    return start


def _stream_from(
    archive: MemoryFiles,
    index: MemoryIndex,
    start: int,
    writer: _StagingWriter,
    journal: Journal,
    edited: set[str],
) -> Iterator[tuple[tuple[float, str], dict[str, Any], str]]:
    """Stored memories from file ``start`` on, one file in RAM at a time, edits applied. Follows the
    index entry by entry, so a duplicate copy of an id (never written by us) is dropped."""
    at = next((i for i, e in enumerate(index.entries) if e.file_pos >= start), len(index.entries))
    for file_pos in range(start, len(index.files)):
        for raw in archive.load_chunk(index.files[file_pos][1]):
            if at >= len(index.entries):
                return
            entry = index.entries[at]
            if entry.file_pos != file_pos or memory_id(raw) != entry.id:
                continue
            at += 1
            digest = journal.items[entry.id].hash if entry.id in edited else entry.hash
            yield (entry.ts, entry.id), writer.replace(raw, journal, edited), digest


def _write_tail(
    merged: Iterator[tuple[dict[str, Any], str, str, float]],
    start: int,
    chunk_size: int,
    writer: _StagingWriter,
    new_entries: list[IndexEntry],
) -> Iterator[None]:
    """Stage the merged memories as chunk files, yielding after each file (see :func:`commit_steps`)."""
    batch: list[dict[str, Any]] = []
    number = start + 1
    for raw, mid, digest, ts in merged:
        batch.append(raw)
        new_entries.append(IndexEntry(mid, number - 1, digest, ts))
        if len(batch) == chunk_size:
            yield from writer.stage_chunk(number, batch)
            batch = []
            number += 1
        elif len(batch) % STEP_MEMORIES == 0:
            yield  # reading the journal back costs too
    if batch:
        yield from writer.stage_chunk(number, batch)


def _merge(
    stored: Iterator[tuple[tuple[float, str], dict[str, Any], str]], new_ids: list[str], journal: Journal
) -> Iterator[tuple[dict[str, Any], str, str, float]]:
    """Stored and new memories in chronological order (both inputs are already ordered), each with its id,
    content hash and timestamp (taken from the index / journal rather than computed again)."""
    at = 0
    for key, raw, digest in stored:
        while at < len(new_ids) and (journal.items[new_ids[at]].ts, new_ids[at]) < key:
            yield _from_journal(journal, new_ids[at])
            at += 1
        yield raw, key[1], digest, key[0]
    for mid in new_ids[at:]:
        yield _from_journal(journal, mid)


def _from_journal(journal: Journal, mid: str) -> tuple[dict[str, Any], str, str, float]:
    item = journal.items[mid]
    return journal.raw(item), mid, item.hash, item.ts


class _StagingWriter:
    """Collects the staged files of one commit and the plan that moves them into place."""

    def __init__(self, archive: MemoryFiles, now: str, *, delete_journal: bool = True) -> None:
        self.archive = archive
        self.now = now
        self.delete_journal = delete_journal
        self.quarantined = False
        self.renames: list[list[str]] = []
        self.remove: list[str] = []
        self.last_number = 0
        self.history = False

    def replace(self, raw: dict[str, Any], journal: Journal, edited: set[str]) -> dict[str, Any]:
        """The newest version of ``raw``; an edited memory's old version goes to the history."""
        mid = memory_id(raw)
        if mid not in edited:
            return raw
        self.archive.stage_history(mid, content_hash(raw), self.now, raw)
        self.history = True
        return journal.raw(journal.items[mid])

    def quarantine(self, entry: Any) -> None:
        """Keep a page entry without an id verbatim (appended once to the quarantine file at apply)."""
        append_line(self.archive.staging_dir / _QUARANTINE_STAGED, {"entry": entry})
        self.quarantined = True

    def stage_chunk(self, number: int, memories: list[dict[str, Any]]) -> Iterator[None]:
        """Stage one chunk file, yielding between slices of its encoding (see :func:`commit_steps`)."""
        name = chunk_file_name(self.archive.folder, number)
        data = yield from self.archive.encode_chunk_steps(memories)
        self.archive.stage_file(name, data)
        self.renames.append([name, f"{MEMORY_DIR}/{name}"])
        self.last_number = max(self.last_number, number)

    def finish(self, metadata: dict[str, Any]) -> None:
        atomic_write_json(self.archive.staging_dir / MEMORY_KIND.sidecar[0], metadata)

    def plan(self) -> dict[str, Any]:
        plan = {
            "renames": self.renames,
            "remove": self.remove,
            "history": HISTORY_STAGED if self.history else None,
            "deleteJournal": self.delete_journal,
            "quarantine": _QUARANTINE_STAGED if self.quarantined else None,
        }
        atomic_write_json(self.archive.commit_path, plan)
        return plan
