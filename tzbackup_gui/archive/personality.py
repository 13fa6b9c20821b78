"""One personality's backup folder: metadata, id index, and crash-safe commits of fetched memories.

The id index (id -> file, content hash, timestamp) is all the engine keeps in RAM about stored memories; raw
memories are only loaded one chunk file at a time while a commit rewrites that file.

A commit is staged first: every new or rewritten chunk file, the history lines and the new metadata are
written to ``.tzbackup/staging/``, then ``.tzbackup/commit.json`` lists what to move where, then the moves
happen (memory files first, metadata last). A crash at any point is rolled forward by
:meth:`PersonalityArchive.recover` the next time the folder is opened, so memory files never disagree and
the metadata never claims memories that are not on disk.

Before the engine touches a folder, :meth:`PersonalityArchive.load_index` checks its memory files against the
layout contract (:meth:`PersonalityArchive.check_chunks`, shared with ``verify``) and refuses a damaged folder
without writing a byte: a backup never renumbers chunk files around a gap, never drops a record that lacks an
id, and never rewrites the evidence of damage it did not cause.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from ..errors import CorruptBackupError, UnsupportedFormatError
from .journal import Journal
from .layout import (
    CHUNK_SIZE,
    FORMAT_VERSION,
    HISTORY_NAME,
    MEMORY_DIR,
    METADATA_NAME,
    QUARANTINE_NAME,
    STATE_DIR,
    chunk_file_name,
    chunk_number,
    profile_file_name,
)
from .memories import content_hash, memory_id, memory_ts
from .profile_history import FieldChanges, record_profile
from .store import (
    append_line,
    append_missing,
    atomic_write_bytes,
    atomic_write_json,
    clear_dir,
    dump_json,
    ensure_dir,
    fsync_dir,
    pending_commit,
    read_json,
    record_key,
    remove_file,
)

__all__ = [
    "DAMAGE_HINT",
    "ChunkCheck",
    "CommitResult",
    "Damage",
    "IndexEntry",
    "MemoryIndex",
    "PersonalityArchive",
    "check_format",
]

#: 2: the cache is only written for a folder that passed the check, keys files on (size, mtime, ctime, inode)
#: and no longer carries ``firstIrregular`` (a version-1 cache may describe a damaged folder: never trusted).
_INDEX_VERSION = 2
#: Memories encoded (or read back from the journal) per commit step, and index entries per step: small
#: enough that one step holds the GIL for a few milliseconds (see :meth:`PersonalityArchive.commit_steps`).
STEP_MEMORIES = 25
STEP_INDEX_ENTRIES = 2000

T = TypeVar("T")


@dataclass(slots=True)
class IndexEntry:
    id: str
    file_pos: int  # 0-based position of its chunk file in numeric order
    hash: str
    ts: float


@dataclass
class MemoryIndex:
    """The stored memories in chronological order, without their content."""

    files: list[tuple[int, str]] = field(default_factory=list)  # (N, file name) in numeric order
    entries: list[IndexEntry] = field(default_factory=list)
    pos: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, memory_id: object) -> bool:
        return memory_id in self.pos

    def get(self, memory_id: str) -> IndexEntry | None:
        at = self.pos.get(memory_id)
        return None if at is None else self.entries[at]

    @property
    def last_id(self) -> str | None:
        return self.entries[-1].id if self.entries else None


@dataclass
class CommitResult:
    new: int = 0
    edited: int = 0
    total: int = 0
    last_id: str | None = None
    files_written: int = 0


#: What to do about a damaged folder. Moved aside *within* ``personalities/`` the folder would be found again
#: by its shape id, hence "out of".
DAMAGE_HINT = (
    "Restore that file from a copy, or move the personality folder aside, out of the personalities folder "
    "(keep it), and back up again for a fresh, whole backup. 'tzbackup verify NAME' lists every problem."
)


@dataclass(frozen=True, slots=True)
class Damage:
    """One way the memory files break the layout contract: the file concerned and a sentence naming it."""

    path: Path
    text: str


@dataclass
class ChunkCheck:
    """What :meth:`PersonalityArchive.check_chunks` found: the id index of every memory that could be read
    (first copy of each id, in file order) and every damage, in file order."""

    index: MemoryIndex
    damage: list[Damage] = field(default_factory=list)
    files_read: int = 0  # chunk files that parsed


def check_format(metadata: dict[str, Any], folder: Path) -> None:
    """Refuse folders of an older tool (no ``formatVersion``) or a newer tzbackup."""
    version = metadata.get("formatVersion")
    if not isinstance(version, int):
        raise UnsupportedFormatError(
            f"The backup in {folder} has no formatVersion: it was written by an earlier backup tool "
            "(page-numbered files). tzbackup will not reinterpret it silently.",
            hint="Move that folder out of the personalities folder (keep it: it is your old backup), "
            "then back up again; tzbackup makes a fresh backup in its own format beside it.",
        )
    if version > FORMAT_VERSION:
        raise UnsupportedFormatError(
            f"The backup in {folder} uses format {version}; "
            f"this tzbackup understands up to {FORMAT_VERSION}.",
            hint="Upgrade tzbackup to work with this backup.",
        )


class PersonalityArchive:
    """Files of one personality folder. All methods block (call them through ``asyncio.to_thread``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.folder = path.name

    # --- paths -------------------------------------------------------------------------------------------

    @property
    def metadata_path(self) -> Path:
        return self.path / METADATA_NAME

    @property
    def profile_path(self) -> Path:
        return self.path / profile_file_name(self.folder)

    @property
    def memory_dir(self) -> Path:
        return self.path / MEMORY_DIR

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY_NAME

    @property
    def state_dir(self) -> Path:
        return self.path / STATE_DIR

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "journal.jsonl"

    @property
    def index_path(self) -> Path:
        return self.state_dir / "index.json"

    @property
    def commit_path(self) -> Path:
        return self.state_dir / "commit.json"

    @property
    def staging_dir(self) -> Path:
        return self.state_dir / "staging"

    def chunk_path(self, number: int) -> Path:
        return self.memory_dir / chunk_file_name(self.folder, number)

    # --- metadata and profile ----------------------------------------------------------------------------

    def read_metadata(self) -> dict[str, Any] | None:
        """The metadata, or None when the folder has none yet. Damaged metadata raises."""
        try:
            data = read_json(self.metadata_path)
        except FileNotFoundError:
            return None
        if not isinstance(data, dict):
            raise CorruptBackupError(
                f"{self.metadata_path} is not a JSON object.", path=str(self.metadata_path)
            )
        return data

    def create_dirs(self) -> None:
        for path in (self.path, self.memory_dir, self.state_dir):
            ensure_dir(path)

    def write_profile(self, profile: dict[str, Any], *, now: datetime | None = None) -> FieldChanges | None:
        """Save the freshly fetched profile as ``<folder>.json``; when its content (anything but the
        volatile counters) changed, the replaced version is kept first under ``history/profile/`` with a
        change record (:mod:`.profile_history`). Returns the changes, None when there were none."""
        return record_profile(self.path, self.profile_path, profile, now=now)

    def write_metadata(self, metadata: dict[str, Any]) -> None:
        atomic_write_json(self.metadata_path, metadata)

    def adopt_folder_name(self) -> None:
        """After the folder was renamed, rename the files that carry the folder's name to match it."""
        if self.memory_dir.is_dir():
            for entry in os.listdir(self.memory_dir):
                number = chunk_number(entry)
                if number is not None and chunk_number(entry, self.folder) is None:
                    target = self.chunk_path(number)
                    if not target.exists():
                        os.replace(self.memory_dir / entry, target)
            fsync_dir(self.memory_dir)
        if not self.profile_path.exists():
            for entry in os.listdir(self.path):
                if entry.endswith(".json") and not entry.startswith("."):
                    os.replace(self.path / entry, self.profile_path)
                    break
            fsync_dir(self.path)

    # --- index -------------------------------------------------------------------------------------------

    def chunk_files(self) -> list[tuple[int, str]]:
        if not self.memory_dir.is_dir():
            return []
        found = []
        for entry in os.listdir(self.memory_dir):
            number = chunk_number(entry, self.folder)
            if number is not None:
                found.append((number, entry))
        return sorted(found)

    def _file_stats(self, files: list[tuple[int, str]]) -> dict[str, list[int]]:
        """What the index cache is keyed on, per chunk file. The change time and inode catch what size and
        mtime miss: an edit that keeps both (``touch -r``), a file swapped or renamed in (ctime cannot be set
        back by hand)."""
        stats = {}
        for _, name in files:
            st = (self.memory_dir / name).stat()
            stats[name] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        return stats

    def load_chunk(self, name: str) -> list[dict[str, Any]]:
        """The memories of one chunk file; anything but ``{"memories": [objects]}`` is corruption."""
        path = self.memory_dir / name
        data = read_json(path)
        memories = data.get("memories") if isinstance(data, dict) else None
        if not isinstance(memories, list) or not all(isinstance(m, dict) for m in memories):
            raise CorruptBackupError(
                f"The memory file {path} does not hold a 'memories' list of objects.", path=str(path)
            )
        return memories

    def load_index(self, chunk_size: int) -> MemoryIndex:
        """The id index of a folder whose memory files keep the layout contract, from the cache when it
        matches the files (and itself), else from a full :meth:`check_chunks`.

        A damaged folder raises :class:`CorruptBackupError` naming the file, and nothing is written (no
        cache either): the engine calls this before it touches the folder, so damage is refused, never
        renumbered away or absorbed into the next commit. Run :meth:`recover` first: a staged commit that a
        crash interrupted is our own unfinished work, not damage.
        """
        files = self.chunk_files()
        stats = self._file_stats(files)
        total = self._recorded_total()
        cached = self._load_index_cache(files, stats, chunk_size, total)
        if cached is not None:
            return cached
        check = self.check_chunks(chunk_size, total, files=files)
        if check.damage:
            raise self._damage_error(check.damage)
        self._save_index_cache(check.index, stats, chunk_size)
        return check.index

    def _recorded_total(self) -> int | None:
        """The metadata's ``totalMemories``; None when there is no metadata or no such field. A value that
        is not a count is damage (the metadata is ours: never guess)."""
        metadata = self.read_metadata()
        total = None if metadata is None else metadata.get("totalMemories")
        if total is None or (isinstance(total, int) and not isinstance(total, bool) and total >= 0):
            return total
        raise self._damage_error(
            [Damage(self.metadata_path, f"{METADATA_NAME} records totalMemories={total!r}, not a count.")]
        )

    def _damage_error(self, damage: list[Damage]) -> CorruptBackupError:
        """The refusal for a damaged folder: the first damage in full, how many more ``verify`` lists."""
        more = len(damage) - 1
        tail = f" ({more} more problem{'s' if more > 1 else ''}: see 'tzbackup verify'.)" if more else ""
        return CorruptBackupError(
            f"The backup in {self.path} is damaged; its memory files were left as they are: "
            f"{damage[0].text}{tail}",
            path=str(damage[0].path),
            hint=DAMAGE_HINT,
        )

    def check_chunks(
        self, chunk_size: int, total: int | None, *, files: list[tuple[int, str]] | None = None
    ) -> ChunkCheck:
        """Read every chunk file once (one in RAM at a time) and check the layout contract: files numbered
        1..N without gaps, each ``{"memories": [objects]}``, every memory with an id, no id twice, every file
        but the last holding ``chunk_size`` memories and the last 1..``chunk_size``, and (unless ``total``
        is None) ``total`` distinct memories. The one check behind both ``load_index`` and ``verify``."""
        files = self.chunk_files() if files is None else files
        check = ChunkCheck(MemoryIndex(files=files))
        self._check_numbering(files, check)
        for file_pos, (_, name) in enumerate(files):
            self._check_chunk(file_pos, name, chunk_size, file_pos == len(files) - 1, check)
        held = len(check.index)
        if total is not None and total != held:
            last = f" (the last memory file is {files[-1][1]})" if files else ""
            check.damage.append(
                Damage(
                    self.metadata_path,
                    f"The metadata says totalMemories={total}, but the memory files hold {held}{last}: a "
                    f"memory file was deleted, cut or added by hand, or {METADATA_NAME} was replaced.",
                )
            )
        return check

    def _check_numbering(self, files: list[tuple[int, str]], check: ChunkCheck) -> None:
        """Each run of numbers missing from 1..N, named (the files present are sorted by number)."""
        expected = 1
        last = files[-1][0] if files else 0
        for number, _ in files:
            if number > expected:
                first_gone, last_gone = expected, number - 1
                names = chunk_file_name(self.folder, first_gone)
                if last_gone > first_gone:
                    names = f"{names} to {chunk_file_name(self.folder, last_gone)}"
                check.damage.append(
                    Damage(
                        self.chunk_path(first_gone),
                        f"Memory file{'s' if last_gone > first_gone else ''} {names} "
                        f"{'are' if last_gone > first_gone else 'is'} missing: the memory files must be "
                        f"numbered 1 to {last} without gaps.",
                    )
                )
            expected = number + 1

    def _check_chunk(self, file_pos: int, name: str, chunk_size: int, last: bool, check: ChunkCheck) -> None:
        """Parse one chunk file, add its memories to the index, and record what is wrong with it."""
        path = self.memory_dir / name
        try:
            memories = self.load_chunk(name)
        except CorruptBackupError as err:
            check.damage.append(Damage(path, f"Memory file {name} is damaged: {err}"))
            return
        check.files_read += 1
        size = len(memories)
        if not last and size != chunk_size:
            check.damage.append(
                Damage(path, f"Memory file {name} holds {size} memories; every file but the last must "
                       f"hold {chunk_size}.")
            )
        elif last and not 1 <= size <= chunk_size:
            check.damage.append(
                Damage(path, f"Memory file {name}, the last, holds {size} memories; it must hold 1 to "
                       f"{chunk_size}.")
            )
        index = check.index
        no_id: list[int] = []
        repeated: list[str] = []
        for at, raw in enumerate(memories, 1):
            mid = memory_id(raw)
            if not mid:
                no_id.append(at)
            elif mid in index.pos:
                first_file = index.files[index.entries[index.pos[mid]].file_pos][1]
                repeated.append(f"{mid} (first in {first_file})")
            else:
                index.pos[mid] = len(index.entries)
                index.entries.append(IndexEntry(mid, file_pos, content_hash(raw), memory_ts(raw)))
        if no_id:
            where = f"position{'s' if len(no_id) > 1 else ''} {_few(no_id)}"
            check.damage.append(
                Damage(path, f"Memory file {name} holds {_count(len(no_id), 'memory', 'memories')} without "
                       f"an id (at {where}); such a record is kept as it is, never dropped.")
            )
        if repeated:
            check.damage.append(
                Damage(path, f"Memory file {name} holds {_count(len(repeated), 'memory', 'memories')} whose "
                       f"id is stored already: {_few(repeated)}.")
            )

    def _load_index_cache(
        self, files: list[tuple[int, str]], stats: dict[str, list[int]], chunk_size: int, total: int | None
    ) -> MemoryIndex | None:
        """The cached index when it matches the files' stats and is consistent in itself (files 1..N, ids
        unique, full chunks but the last, the recorded total): the fast path costs one ``stat`` per file
        and no parse. Anything off means None, and the caller checks the files in full."""
        try:
            data = read_json(self.index_path)
        except (FileNotFoundError, CorruptBackupError):
            return None
        if (
            not isinstance(data, dict)
            or data.get("version") != _INDEX_VERSION
            or data.get("chunkSize") != chunk_size
            or data.get("files") != stats
            or [number for number, _ in files] != list(range(1, len(files) + 1))
        ):
            return None
        index = MemoryIndex(files=files)
        sizes = [0] * len(files)
        try:
            for mid, file_pos, digest, ts in data["entries"]:
                entry = IndexEntry(str(mid), int(file_pos), str(digest), float(ts))
                if entry.id in index.pos or not 0 <= entry.file_pos < len(files) or not entry.id:
                    return None
                if index.entries and entry.file_pos < index.entries[-1].file_pos:
                    return None
                sizes[entry.file_pos] += 1
                index.pos[entry.id] = len(index.entries)
                index.entries.append(entry)
        except (KeyError, TypeError, ValueError):
            return None
        if any(size != chunk_size for size in sizes[:-1]) or (sizes and not 1 <= sizes[-1] <= chunk_size):
            return None
        if total is not None and total != len(index.entries):
            return None
        return index

    def _save_index_cache(self, index: MemoryIndex, stats: dict[str, list[int]], chunk_size: int) -> None:
        _run_steps(self._save_index_cache_steps(index, stats, chunk_size))

    def _save_index_cache_steps(
        self, index: MemoryIndex, stats: dict[str, list[int]], chunk_size: int
    ) -> Generator[None, None, None]:
        """Write the id index cache, encoding its entries in slices (one C ``json.dumps`` of 50,000 entries
        holds the GIL for tens of milliseconds). The bytes equal ``dump_json(cache, indent=None)``."""
        ensure_dir(self.state_dir)
        head = dump_json(
            {
                "version": _INDEX_VERSION,
                "chunkSize": chunk_size,
                "files": stats,
                "entries": [],
            },
            indent=None,
        )
        parts: list[str] = []
        for at in range(0, len(index.entries), STEP_INDEX_ENTRIES):
            rows = [[e.id, e.file_pos, e.hash, e.ts] for e in index.entries[at : at + STEP_INDEX_ENTRIES]]
            parts.append(json.dumps(rows, ensure_ascii=False)[1:-1])
            yield
        assert head.endswith(b"[]}\n")
        atomic_write_bytes(self.index_path, head[:-4] + ("[" + ", ".join(parts) + "]}\n").encode("utf-8"))

    # --- commit ------------------------------------------------------------------------------------------

    def recover(self) -> bool:
        """Finish a commit that a crash interrupted (roll forward). True when there was one."""
        plan = pending_commit(self.commit_path, self.staging_dir)
        if plan is None:
            return False
        self._apply(plan)
        return True

    def _clear_staging(self) -> None:
        clear_dir(self.staging_dir)

    def _apply(self, plan: dict[str, Any]) -> None:
        history = plan.get("history")
        if history and (self.staging_dir / history).exists():
            self._append_history(self.staging_dir / history)
        quarantine = plan.get("quarantine")
        if quarantine and (self.staging_dir / quarantine).exists():
            append_missing(self.path / QUARANTINE_NAME, self.staging_dir / quarantine, record_key)
        for staged, target in plan.get("renames", []):
            source = self.staging_dir / staged
            if source.exists():
                os.replace(source, self.path / target)
        for target in plan.get("remove", []):
            remove_file(self.path / target)
        fsync_dir(self.memory_dir)
        metadata = self.staging_dir / "metadata.json"
        if metadata.exists():
            os.replace(metadata, self.metadata_path)
            fsync_dir(self.path)
        if plan.get("deleteJournal"):
            remove_file(self.journal_path)
        remove_file(self.commit_path)
        self._clear_staging()
        fsync_dir(self.state_dir)

    def _append_history(self, staged: Path) -> None:
        """Append the staged history lines not there yet (replaying a commit adds nothing twice)."""
        append_missing(self.history_path, staged)

    def commit(
        self,
        journal: Journal,
        index: MemoryIndex,
        chunk_size: int,
        now: str,
        make_metadata: Callable[[CommitResult], dict[str, Any]],
    ) -> MemoryIndex:
        """Merge the journal's memories into the chunk files, write the metadata, drop the journal."""
        return _run_steps(self.commit_steps(journal, index, chunk_size, now, make_metadata))

    def commit_steps(
        self,
        journal: Journal,
        index: MemoryIndex,
        chunk_size: int,
        now: str,
        make_metadata: Callable[[CommitResult], dict[str, Any]],
        *,
        keep_journal: bool = False,
    ) -> Generator[None, None, MemoryIndex]:
        """:meth:`commit` cut into short steps (about one chunk file each); returns the fresh index.
        ``keep_journal`` commits what an unfinished walk fetched and keeps its journal for the resume.

        Encoding a chunk file is pure-Python work that holds the GIL: run as one block in a worker thread,
        a large commit starves the GUI thread for its whole length. A caller that runs each step in a
        thread (see the engine) hands the event loop the GIL between steps. Every step must run, in order,
        for the commit to complete; stopping between steps is as safe as a crash (the staging area is only
        acted upon once ``commit.json`` exists, which the last steps write).
        """
        ensure_dir(self.memory_dir)
        self._clear_staging()
        ensure_dir(self.staging_dir)
        new_ids = sorted(
            (mid for mid in journal.items if mid not in index.pos),
            key=lambda mid: (journal.items[mid].ts, mid),
        )
        edited = {
            mid
            for mid, item in journal.items.items()
            if mid in index.pos and index.entries[index.pos[mid]].hash != item.hash
        }
        start = self._rewrite_start(index, new_ids, journal, chunk_size)
        writer = _StagingWriter(self, now, delete_journal=not keep_journal)
        new_entries: list[IndexEntry] = []
        # Files before ``start`` keep their place; the ones holding an edit are rewritten in place.
        edited_files = {index.entries[index.pos[mid]].file_pos for mid in edited}
        for file_pos in sorted(p for p in edited_files if p < start):
            number, name = index.files[file_pos]
            memories = [writer.replace(m, journal, edited) for m in self.load_chunk(name)]
            yield from writer.stage_chunk(number, memories)
        for entry in index.entries:
            if entry.file_pos < start:
                fresh_hash = journal.items[entry.id].hash if entry.id in edited else entry.hash
                new_entries.append(IndexEntry(entry.id, entry.file_pos, fresh_hash, entry.ts))
        if start < len(index.files) or new_ids:
            merged = _merge(self._stream_from(index, start, writer, journal, edited), new_ids, journal)
            yield from self._write_tail(merged, start, chunk_size, writer, new_entries)
            kept = {chunk_file_name(self.folder, n) for n in range(start + 1, writer.last_number + 1)}
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
        self._apply(writer.plan())
        yield
        files = self.chunk_files()
        fresh = MemoryIndex(files=files, entries=new_entries)
        fresh.pos = {e.id: i for i, e in enumerate(new_entries)}
        yield from self._save_index_cache_steps(fresh, self._file_stats(files), chunk_size)
        return fresh

    def _rewrite_start(
        self, index: MemoryIndex, new_ids: list[str], journal: Journal, chunk_size: int
    ) -> int:
        """Position of the first chunk file whose contents change order or size (the index comes from a
        folder that passed :meth:`check_chunks`, so every file before it keeps its place)."""
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
        self, index: MemoryIndex, start: int, writer: _StagingWriter, journal: Journal, edited: set[str]
    ) -> Iterator[tuple[tuple[float, str], dict[str, Any], str]]:
        """Stored memories from file ``start`` on, one file in RAM at a time, edits applied. Follows the
        index entry by entry, so a duplicate copy of an id (never written by us) is dropped."""
        at = next((i for i, e in enumerate(index.entries) if e.file_pos >= start), len(index.entries))
        for file_pos in range(start, len(index.files)):
            for raw in self.load_chunk(index.files[file_pos][1]):
                if at >= len(index.entries):
                    return
                entry = index.entries[at]
                if entry.file_pos != file_pos or memory_id(raw) != entry.id:
                    continue
                at += 1
                digest = journal.items[entry.id].hash if entry.id in edited else entry.hash
                yield (entry.ts, entry.id), writer.replace(raw, journal, edited), digest

    def _write_tail(
        self,
        merged: Iterator[tuple[dict[str, Any], str, str, float]],
        start: int,
        chunk_size: int,
        writer: _StagingWriter,
        new_entries: list[IndexEntry],
    ) -> Iterator[None]:
        """Stage the merged memories as chunk files, yielding after each file (see :meth:`commit_steps`)."""
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


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _few(items: list[Any], shown: int = 5) -> str:
    """The first ``shown`` items, comma-separated, with how many more."""
    head = ", ".join(str(item) for item in items[:shown])
    return head if len(items) <= shown else f"{head} and {len(items) - shown} more"


def _run_steps(steps: Generator[None, None, T]) -> T:
    """Run a generator of steps to its end in one go; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            value: T = done.value
            return value


def _chunk_item(memory: dict[str, Any]) -> str:
    """One memory as it appears inside a chunk file: ``indent=1`` at nesting depth 2. JSON text never
    holds a raw newline inside a string, so every newline is indentation and can be deepened by 2."""
    return json.dumps(memory, ensure_ascii=False, indent=1).replace("\n", "\n  ")


def _chunk_bytes(items: list[str]) -> bytes:
    """A chunk file from :func:`_chunk_item` texts; equal to ``dump_json({"memories": [...]}, indent=1)``."""
    if not items:
        return dump_json({"memories": []}, indent=1)
    return ('{\n "memories": [\n  ' + ",\n  ".join(items) + "\n ]\n}\n").encode("utf-8")


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

    def __init__(self, archive: PersonalityArchive, now: str, *, delete_journal: bool = True) -> None:
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
        append_line(
            self.archive.staging_dir / "history.jsonl",
            {"id": mid, "hash": content_hash(raw), "replacedAt": self.now, "memory": raw},
        )
        self.history = True
        return journal.raw(journal.items[mid])

    def quarantine(self, entry: Any) -> None:
        """Keep a page entry without an id verbatim (appended once to the quarantine file at apply)."""
        append_line(self.archive.staging_dir / "quarantine.jsonl", {"entry": entry})
        self.quarantined = True

    def stage_chunk(self, number: int, memories: list[dict[str, Any]]) -> Iterator[None]:
        """Stage one chunk file, yielding between slices of its encoding (see ``commit_steps``)."""
        name = chunk_file_name(self.archive.folder, number)
        parts: list[str] = []
        for at in range(0, len(memories), STEP_MEMORIES):
            parts.extend(_chunk_item(m) for m in memories[at : at + STEP_MEMORIES])
            yield
        atomic_write_bytes(self.archive.staging_dir / name, _chunk_bytes(parts))
        self.renames.append([name, f"{MEMORY_DIR}/{name}"])
        self.last_number = max(self.last_number, number)

    def finish(self, metadata: dict[str, Any]) -> None:
        atomic_write_json(self.archive.staging_dir / "metadata.json", metadata)

    def plan(self) -> dict[str, Any]:
        plan = {
            "renames": self.renames,
            "remove": self.remove,
            "history": "history.jsonl" if self.history else None,
            "deleteJournal": self.delete_journal,
            "quarantine": "quarantine.jsonl" if self.quarantined else None,
        }
        atomic_write_json(self.archive.commit_path, plan)
        return plan


def new_metadata_defaults() -> dict[str, Any]:
    """Fields every metadata file starts with."""
    return {"formatVersion": FORMAT_VERSION, "chunkSize": CHUNK_SIZE}
