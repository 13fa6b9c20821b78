"""What every export shares: the result record, opening a backup folder for export, the profile and the
knowledge as saved, and the redaction of credentials from what is made to be shared.

Exports only read the backup (call them while holding the data dir's :class:`~.lock.DataDirLock`, as
``tzbackup export`` does, so a running backup cannot change files half-way) and write their output
atomically (temp file in the target folder, fsync, rename): an interrupted export never leaves a half file.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ArchiveError, CorruptBackupError, TzBackupError
from .layout import METADATA_NAME
from .personality import PersonalityArchive, check_format
from .store import read_json

__all__ = [
    "KNOWLEDGE_NAMES",
    "REDACTED",
    "TOOL",
    "ExportResult",
    "failure_reason",
    "field_label",
    "knowledge_items",
    "knowledge_path",
    "load_knowledge",
    "open_damaged",
    "open_folder",
    "read_profile",
    "recorded_total",
    "redact_profile",
    "ts_text",
    "utc_now",
]

TOOL = "tzbackup"
#: Knowledge (``/story``) files a backup may hold; read defensively, the section may not exist yet.
KNOWLEDGE_NAMES = ("knowledge.json", "story.json", "{folder}_knowledge.json", "{folder}_story.json")


@dataclass
class ExportResult:
    """What an export wrote."""

    format: str
    paths: list[Path] = field(default_factory=list)
    bytes: int = 0
    memories: int = 0
    files: int = 0
    notes: list[str] = field(default_factory=list)  # e.g. "placeholder picture", skipped files
    #: files of the backup that could not be read, so their content is missing from the export: "name: why"
    unreadable: list[str] = field(default_factory=list)
    #: the memory count the backup's metadata records (``memories`` is what the export holds)
    recorded: int | None = None
    #: stored chat messages the export holds (chat exports only)
    messages: int = 0


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_folder(folder: Path) -> tuple[PersonalityArchive, dict[str, Any]]:
    """The archive and its metadata, refusing folders we must not export as they are."""
    archive = PersonalityArchive(folder)
    meta = archive.read_metadata()
    if meta is None:
        raise ArchiveError(f"{folder} has no {METADATA_NAME}: it is not a tzbackup backup.")
    check_format(meta, folder)
    if archive.commit_path.exists():
        raise ArchiveError(
            f"A backup of {folder.name} was interrupted while saving; its files are being completed.",
            hint="Run 'tzbackup backup' for it once (it finishes the save), then export again.",
        )
    return archive, meta


def open_damaged(folder: Path) -> tuple[PersonalityArchive, dict[str, Any], str]:
    """:func:`open_folder` for exports that take whatever can be read: damaged metadata gives ``{}`` and a
    sentence saying so (a backup without metadata, of another format, or mid-save is still refused)."""
    try:
        archive, meta = open_folder(folder)
    except CorruptBackupError as err:
        if not Path(err.path or "").name == METADATA_NAME:
            raise
        return PersonalityArchive(folder), {}, f"{METADATA_NAME}: {failure_reason(err)}"
    return archive, meta, ""


def read_profile(archive: PersonalityArchive) -> tuple[dict[str, Any], str]:
    """The raw profile, or ``{}`` and a sentence saying why there is none."""
    try:
        profile = read_json(archive.profile_path)
    except FileNotFoundError:
        return {}, "No profile file was saved."
    except TzBackupError as err:
        return {}, str(err)
    if not isinstance(profile, dict):
        return {}, f"{archive.profile_path.name} is not a JSON object."
    return profile, ""


def knowledge_path(folder: Path) -> Path | None:
    """The knowledge (``/story``) file a backup holds, under any of the names it may have."""
    for pattern in KNOWLEDGE_NAMES:
        path = folder / pattern.format(folder=folder.name)
        if path.is_file():
            return path
    return None


def _knowledge_list(data: Any) -> list[Any] | None:
    """The list inside a knowledge file's envelope (any SERVICE_API.md lists); None when there is none."""
    if isinstance(data, dict):
        inner = next((data[k] for k in ("items", "story", "knowledge", "entries") if k in data), None)
        data = inner if inner is not None else ([data] if "content" in data else [])
    return data if isinstance(data, list) else None


def knowledge_items(data: Any) -> list[dict[str, Any]]:
    """The entries of a knowledge file's data (what :func:`load_knowledge` returns, so a position in the
    search index is a position there)."""
    return [e for e in _knowledge_list(data) or () if isinstance(e, dict)]


def load_knowledge(folder: Path) -> tuple[list[dict[str, Any]], str]:
    """Knowledge entries of a saved knowledge file (any envelope SERVICE_API.md lists), and a problem."""
    path = knowledge_path(folder)
    if path is None:
        return [], ""
    try:
        data = read_json(path)
    except (OSError, TzBackupError) as err:
        return [], str(err)
    if _knowledge_list(data) is None:
        return [], f"{path.name} does not hold a list of knowledge entries."
    return knowledge_items(data), ""


#: Profile keys whose values are credentials (``engine_api_key``...): never copied into a card or a
#: Markdown file meant for sharing (the zip is a backup copy and keeps the profile file untouched).
_SECRET_KEY = re.compile(r"(api_?key|secret|token|password)", re.IGNORECASE)
REDACTED = "<redacted by tzbackup>"


def redact_profile(value: Any) -> Any:
    """A copy of ``value`` with every non-empty credential-like field replaced by :data:`REDACTED`."""
    if isinstance(value, dict):
        return {k: (REDACTED if _SECRET_KEY.search(str(k)) and v not in (None, "", [], {}) else
                    redact_profile(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_profile(v) for v in value]
    return value


def recorded_total(meta: dict[str, Any]) -> int | None:
    """The memory count the metadata records, when it is a sane number."""
    total = meta.get("totalMemories")
    return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None


def failure_reason(err: Exception) -> str:
    """Why a file could not be read, without repeating its path."""
    if isinstance(err, OSError):
        return err.strerror or str(err)
    cause = err.__cause__
    if isinstance(cause, OSError):
        return cause.strerror or str(cause)
    if cause is not None:
        return f"damaged ({cause})"
    return str(err)


def ts_text(value: object) -> str:
    """A Unix timestamp as "YYYY-MM-DD HH:MM UTC" (anything else as it is, None as "")."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value:
        return str(value) if value not in (None, "") else ""
    try:
        return dt.datetime.fromtimestamp(float(value), dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return str(value)


def field_label(key: str) -> str:
    """``personality_physical_traits`` -> "Physical traits"."""
    return key.removeprefix("personality_").replace("_", " ").capitalize()
