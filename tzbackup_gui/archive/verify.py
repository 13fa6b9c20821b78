"""``verify``: check one backup folder against the layout contract; problems as plain sentences.

Besides the memory files: the section files (knowledge, training, personalization) parse and hold the counts
the metadata records, ``.section-history.jsonl`` parses line by line, the saved images match their recorded
SHA-256, and the chat history passes ``archive.chat.verify_chat``. Only the archive layer is imported:
``status`` and ``verify`` never load the engine or its HTTP client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TzBackupError
from .chat import verify_chat
from .images import verify_images
from .layout import CHUNK_SIZE, FORMAT_VERSION, METADATA_NAME
from .personality import PersonalityArchive
from .profile_history import ProfileHistory, history_dir

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
    """Files parse, every memory has an id and no id is stored twice, chunks are numbered 1..n without gaps,
    full but the last and in order, metadata matches the files. Reads one memory file at a time. Reports
    every problem, each naming its file, for as long as it is there (the engine never repairs it silently)."""
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
    _check_sections(folder, meta, report)
    _check_profile_history(folder, archive.profile_path, report)
    if server_total is not None and server_total != report.memories - len(meta.get("deletedUpstream") or {}):
        report.add(
            f"The service reports {server_total} memories; the backup holds {report.memories}, of which "
            f"{len(meta.get('deletedUpstream') or {})} are deleted upstream."
        )
    return report


def _check_chunks(
    archive: PersonalityArchive, chunk_size: int, meta: dict[str, object], report: VerifyReport
) -> None:
    """The memory files: the layout check the engine runs before every backup
    (:meth:`PersonalityArchive.check_chunks`: whatever makes the engine refuse a folder, ``verify`` reports),
    then what only ``verify`` looks at: chronological order, ``lastMemoryId`` and the memories marked deleted
    upstream."""
    total = meta.get("totalMemories")
    expected = total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None
    if expected is None:  # the engine always writes it: absent is a problem here (not so for load_index)
        report.add(f"{METADATA_NAME} records totalMemories={total!r}, not a count of the memories held.")
    check = archive.check_chunks(chunk_size, expected)
    for damage in check.damage:
        report.add(damage.text)
    report.checked_files += check.files_read
    index = check.index
    report.memories = len(index)
    last_key: tuple[float, str] | None = None
    for entry in index.entries:
        key = (entry.ts, entry.id)
        if last_key is not None and key < last_key:
            name = index.files[entry.file_pos][1]
            report.add(f"Memory {entry.id} in {name} is out of chronological order.")
        last_key = key
    last_id = index.last_id
    seen = index.pos
    if meta.get("lastMemoryId") != last_id and (last_id is not None or meta.get("lastMemoryId")):
        report.add(
            f"The metadata's lastMemoryId is {meta.get('lastMemoryId')!r}, the newest stored is {last_id!r}."
        )
    deleted = meta.get("deletedUpstream")
    if isinstance(deleted, dict):
        missing = [mid for mid in deleted if mid not in seen]
        if missing:
            report.add(f"{len(missing)} memories marked deleted upstream are not in the memory files.")


#: section name -> file name (as ``backup.sections.SECTION_FILES`` writes them; kept here so that the archive
#: layer does not import the engine)
_SECTION_FILES = {
    "knowledge": "knowledge.json",
    "training": "training.json",
    "personalization": "personalization.json",
}
_SECTION_HISTORY = ".section-history.jsonl"


def _section_count(name: str, content: Any) -> int | None:
    """Entries in a section file, or None when its shape is not the one the engine writes."""
    if name == "personalization":
        return (1 if content else 0) if isinstance(content, dict) else None
    items = content.get("items") if isinstance(content, dict) else None
    return len(items) if isinstance(items, list) else None


def _check_sections(folder: Path, meta: dict[str, Any], report: VerifyReport) -> None:
    sections = meta.get("sections")
    sections = sections if isinstance(sections, dict) else {}
    for name, file_name in _SECTION_FILES.items():
        path = folder / file_name
        summary = sections.get(name)
        recorded = summary.get("count") if isinstance(summary, dict) else None
        if not path.exists():
            if isinstance(recorded, int) and recorded > 0:
                report.add(f"The {name} file {file_name} is missing (the metadata records {recorded}).")
            continue
        try:
            content = json.loads(path.read_bytes())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            report.add(f"The {name} file {file_name} is damaged: {err}")
            continue
        report.checked_files += 1
        count = _section_count(name, content)
        if count is None:
            report.add(f"The {name} file {file_name} does not hold what tzbackup writes there.")
        elif isinstance(recorded, int) and count != recorded:
            report.add(f"The metadata records {recorded} {name} entries, but {file_name} holds {count}.")
    _check_history(folder / _SECTION_HISTORY, report)
    images = sections.get("images")
    if images is not None:
        for problem in verify_images(folder, images):
            report.add(problem)
    if "chat" in sections:
        for problem in verify_chat(folder):
            report.add(problem)


def _check_history(path: Path, report: VerifyReport) -> None:
    """Every line of the section history is a JSON object (a torn last line is the only excuse)."""
    if not path.exists():
        return
    try:
        data = path.read_bytes()
    except OSError as err:
        report.add(f"{path.name} cannot be read: {err.strerror or err}.")
        return
    report.checked_files += 1
    lines = data.split(b"\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            ok = isinstance(json.loads(line), dict)
        except (UnicodeDecodeError, json.JSONDecodeError):
            ok = False
        if not ok:
            torn = number == len(lines)  # no newline after it: a write cut short, ignored by readers
            report.add(f"{path.name} line {number} is {'cut short' if torn else 'not a JSON record'}.")


def _check_profile_history(folder: Path, profile_path: Path, report: VerifyReport) -> None:
    """Every kept profile version can be rebuilt and matches its recorded hash."""
    if not history_dir(folder).exists():
        return
    history = ProfileHistory(folder, profile_path)
    for problem in history.problems:
        report.add(problem)
    for version in history.versions[:-1]:
        try:
            history.load(version)
        except TzBackupError as err:
            report.add(str(err))
