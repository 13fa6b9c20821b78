"""One personality's backup folder: metadata, profile, memory files and crash-safe commits of memories.

The memory files are the shared chunked record store (:mod:`.records`) with their id index and layout check
(:mod:`.memory_index`); a commit of fetched memories is :mod:`.memory_commit`. This class adds what only a
personality folder has: its metadata, its profile (with the profile's history), and the renaming of its
files when the folder is renamed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import UnsupportedFormatError
from .journal import Journal
from .layout import FORMAT_VERSION, profile_file_name, record_file_name, record_file_number
from .memory_commit import CommitResult, commit_steps
from .memory_index import DAMAGE_HINT, MEMORY_KIND, ChunkCheck, Damage, IndexEntry, MemoryFiles, MemoryIndex
from .messages import CHAT_KIND
from .profile_history import FieldChanges, record_profile
from .records import run_steps
from .store import atomic_write_json, ensure_dir, fsync_dir

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


class PersonalityArchive(MemoryFiles):
    """Files of one personality folder. All methods block (call them through ``asyncio.to_thread``)."""

    @property
    def profile_path(self) -> Path:
        return self.path / profile_file_name(self.folder)

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
        """After the folder was renamed, rename the files that carry the folder's name to match it: the memory
        chunk files and the chat chunk files alike (left behind, the chat would read as empty under the new
        name and be fetched and stored a second time)."""
        for kind in (MEMORY_KIND, CHAT_KIND):
            records_dir = self.path / kind.records_dir
            if not records_dir.is_dir():
                continue
            for entry in os.listdir(records_dir):
                number = record_file_number(entry, kind.noun)
                if number is not None and record_file_number(entry, kind.noun, self.folder) is None:
                    target = records_dir / record_file_name(self.folder, kind.noun, number)
                    if not target.exists():
                        os.replace(records_dir / entry, target)
            fsync_dir(records_dir)
        if not self.profile_path.exists():
            for entry in os.listdir(self.path):
                if entry.endswith(".json") and not entry.startswith("."):
                    os.replace(self.path / entry, self.profile_path)
                    break
            fsync_dir(self.path)

    # --- commit ------------------------------------------------------------------------------------------

    def commit(
        self,
        journal: Journal,
        index: MemoryIndex,
        chunk_size: int,
        now: str,
        make_metadata: Callable[[CommitResult], dict[str, Any]],
    ) -> MemoryIndex:
        """Merge the journal's memories into the chunk files, write the metadata, drop the journal."""
        return run_steps(self.commit_steps(journal, index, chunk_size, now, make_metadata))

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
        """:meth:`commit` cut into short steps (about one chunk file each); see
        :func:`.memory_commit.commit_steps`."""
        return commit_steps(self, journal, index, chunk_size, now, make_metadata, keep_journal=keep_journal)

