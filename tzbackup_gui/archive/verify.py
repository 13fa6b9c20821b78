"""``verify``: check one backup folder against the layout contract; problems as plain sentences."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TzBackupError
from .layout import CHUNK_SIZE, FORMAT_VERSION
from .memories import memory_id, sort_key
from .personality import PersonalityArchive

__all__ = ["VerifyReport", "verify_backup"]


@dataclass
class VerifyReport:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    checked_files: int = 0
    memories: int = 0

    def add(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)


def verify_backup(folder: Path, *, server_total: int | None = None) -> VerifyReport:
    """Files parse, ids are unique, chunks are numbered 1..n, full and in order, metadata matches the files.
    Reads one memory file at a time."""
    report = VerifyReport()
    archive = PersonalityArchive(folder)
    try:
        meta = archive.read_metadata()
    except TzBackupError as err:
        report.add(str(err))
        return report
    if meta is None:
        report.add(f"{folder} has no .backup-metadata.json.")
        return report
    version = meta.get("formatVersion")
    if not isinstance(version, int):
        report.add("The metadata has no formatVersion: this folder was written by an earlier tool.")
        return report
    if version > FORMAT_VERSION:
        report.add(f"The backup uses format {version}; this tzbackup understands up to {FORMAT_VERSION}.")
        return report
    chunk_size = meta.get("chunkSize")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        report.add(
            f"The metadata's chunkSize ({chunk_size!r}) is not a positive number; assuming {CHUNK_SIZE}."
        )
        chunk_size = CHUNK_SIZE
    if not archive.profile_path.exists():
        report.add(f"The profile file {archive.profile_path.name} is missing.")
    _check_chunks(archive, chunk_size, meta, report)
    if server_total is not None and server_total != report.memories - len(meta.get("deletedUpstream") or {}):
        report.add(
            f"The service reports {server_total} memories; the backup holds {report.memories}, of which "
            f"{len(meta.get('deletedUpstream') or {})} are deleted upstream."
        )
    return report


def _check_chunks(
    archive: PersonalityArchive, chunk_size: int, meta: dict[str, object], report: VerifyReport
) -> None:
    files = archive.chunk_files()
    seen: set[str] = set()
    last_key: tuple[float, str] | None = None
    last_id: str | None = None
    for position, (number, name) in enumerate(files):
        if number != position + 1:
            report.add(f"Memory file {name} is out of sequence: expected number {position + 1}.")
        try:
            memories = archive.load_chunk(name)
        except TzBackupError as err:
            report.add(f"Memory file {name} is damaged: {err}")
            continue
        report.checked_files += 1
        if position < len(files) - 1 and len(memories) != chunk_size:
            report.add(
                f"Memory file {name} holds {len(memories)} memories; every file but the last must hold "
                f"{chunk_size}."
            )
        if not memories:
            report.add(f"Memory file {name} is empty.")
        for raw in memories:
            mid = memory_id(raw)
            if not mid:
                report.add(f"Memory file {name} holds a memory without an id.")
                continue
            if mid in seen:
                report.add(f"Memory {mid} appears more than once (again in {name}).")
            seen.add(mid)
            key = sort_key(raw)
            if last_key is not None and key < last_key:
                report.add(f"Memory {mid} in {name} is out of chronological order.")
            last_key, last_id = key, mid
    report.memories = len(seen)
    total = meta.get("totalMemories")
    if total != report.memories:
        report.add(f"The metadata says totalMemories={total}, but the memory files hold {report.memories}.")
    if meta.get("lastMemoryId") != last_id and (last_id is not None or meta.get("lastMemoryId")):
        report.add(
            f"The metadata's lastMemoryId is {meta.get('lastMemoryId')!r}, the newest stored is {last_id!r}."
        )
    deleted = meta.get("deletedUpstream")
    if isinstance(deleted, dict):
        missing = [mid for mid in deleted if mid not in seen]
        if missing:
            report.add(f"{len(missing)} memories marked deleted upstream are not in the memory files.")
