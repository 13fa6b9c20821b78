"""The memory files of one personality folder, checked: the id index, the layout contract, the index cache.

The id index (id -> file, content hash, timestamp) is all the engine keeps in RAM about stored memories; raw
memories are only loaded one chunk file at a time. Before the engine touches a folder,
:meth:`MemoryFiles.load_index` checks its memory files against the layout contract
(:meth:`MemoryFiles.check_chunks`, shared with ``verify``) and refuses a damaged folder without writing a
byte: a backup never renumbers chunk files around a gap, never drops a record that lacks an id, and never
rewrites the evidence of damage it did not cause. The files themselves are the shared
:class:`~.records.RecordStore` of :data:`MEMORY_KIND`.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CorruptBackupError
from ..model.memory import content_hash, memory_id, memory_ts
from .layout import (
    CHUNK_SIZE,
    HISTORY_NAME,
    MEMORY_DIR,
    MEMORY_NOUN,
    METADATA_NAME,
    QUARANTINE_NAME,
    chunk_file_name,
)
from .records import RecordKind, RecordStore, run_steps
from .store import atomic_write_bytes, dump_json, ensure_dir, read_json

__all__ = [
    "DAMAGE_HINT",
    "MEMORY_KIND",
    "STEP_INDEX_ENTRIES",
    "ChunkCheck",
    "Damage",
    "IndexEntry",
    "MemoryFiles",
    "MemoryIndex",
]

#: 2: the cache is only written for a folder that passed the check, keys files on (size, mtime, ctime, inode)
#: and no longer carries ``firstIrregular`` (a version-1 cache may describe a damaged folder: never trusted).
_INDEX_VERSION = 2
#: index entries encoded per step (see ``PersonalityArchive.commit_steps``)
STEP_INDEX_ENTRIES = 2000

#: Memories on disk: ``memory/<folder>_memory_N.json`` = ``{"memories": [...]}``, ``.memory-history.jsonl``,
#: ``.memory-quarantine.jsonl``, and under ``.tzbackup/`` ``journal.jsonl``, ``staging/`` + ``commit.json``
#: (a commit moves the staged metadata in last).
MEMORY_KIND = RecordKind(
    noun=MEMORY_NOUN,
    records_dir=MEMORY_DIR,
    frame_key="memories",
    label="memory file",
    chunk_size=CHUNK_SIZE,
    history_name=HISTORY_NAME,
    history_field="memory",
    journal_name="journal.jsonl",
    commit_name="commit.json",
    staging_name="staging",
    sidecar=("metadata.json", METADATA_NAME),
    record_id=memory_id,
    record_hash=content_hash,
    quarantine_name=QUARANTINE_NAME,
)


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


class MemoryFiles(RecordStore):
    """The memory files of one personality folder and their id index. All methods block."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, MEMORY_KIND)
        self.folder = path.name

    @property
    def memory_dir(self) -> Path:
        return self.records_dir

    @property
    def metadata_path(self) -> Path:
        return self.path / METADATA_NAME

    @property
    def index_path(self) -> Path:
        return self.state_dir / "index.json"

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

    def file_stats(self, files: list[tuple[int, str]]) -> dict[str, list[int]]:
        """What the index cache is keyed on, per chunk file. The change time and inode catch what size and
        mtime miss: an edit that keeps both (``touch -r``), a file swapped or renamed in (ctime cannot be set
        back by hand)."""
        stats = {}
        for _, name in files:
            st = (self.memory_dir / name).stat()
            stats[name] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        return stats

    def load_index(self, chunk_size: int) -> MemoryIndex:
        """The id index of a folder whose memory files keep the layout contract, from the cache when it
        matches the files (and itself), else from a full :meth:`check_chunks`.

        A damaged folder raises :class:`CorruptBackupError` naming the file, and nothing is written (no
        cache either): the engine calls this before it touches the folder, so damage is refused, never
        renumbered away or absorbed into the next commit. Run :meth:`recover` first: a staged commit that a
        crash interrupted is our own unfinished work, not damage.
        """
        files = self.chunk_files()
        stats = self.file_stats(files)
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
        run_steps(self.save_index_cache_steps(index, stats, chunk_size))

    def save_index_cache_steps(
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


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _few(items: list[Any], shown: int = 5) -> str:
    """The first ``shown`` items, comma-separated, with how many more."""
    head = ", ".join(str(item) for item in items[:shown])
    return head if len(items) <= shown else f"{head} and {len(items) - shown} more"
