"""Qt-free reading helpers of the offline browser (and of ``tzbackup search`` / ``show``).

Everything here only reads. A damaged file is reported for that file alone (the rest stays readable); a
folder written by a newer tzbackup (or an older tool) is refused with the message of
:func:`~tzbackup_gui.archive.personality.check_format`, never misread. Memory files are loaded one at a time
through a small LRU cache, so browsing a 100,000-memory archive never holds all of it in RAM.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..errors import CorruptBackupError, TzBackupError, UnsupportedFormatError
from ..model.memory import as_float, memory_id, memory_text, memory_ts
from ..model.words import plural
from .layout import METADATA_NAME, STATE_DIR, personalities_root
from .personality import PersonalityArchive, check_format
from .reader import LocalBackup, read_backup_status
from .store import read_json


def field_text(value: object) -> str:
    """A raw profile / metadata value as one line of text: lists joined, objects as JSON, None as ""."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)

__all__ = [
    "INDEX_FILE_NAME",
    "BackupSource",
    "ChunkCache",
    "MemoryFields",
    "PersonalityDetails",
    "format_iso_local",
    "format_ts",
    "format_utc",
    "load_personality",
    "memories_empty_reason",
    "memory_fields",
    "parse_iso",
    "plural",
    "resolve_source",
]

INDEX_FILE_NAME = ".tzbackup-index.sqlite3"
AVATAR_NAMES = ("avatar.png", "avatar.jpg", "avatar.jpeg", "avatar.webp", "avatar.gif")


@dataclass
class BackupSource:
    """What an opened folder holds: its personality folders and where their search index lives."""

    root: Path
    folders: list[Path]
    index_path: Path


def resolve_source(path: Path) -> BackupSource:
    """Accept a data dir (holding ``personalities/``), a ``personalities/`` folder itself, or one
    personality folder (holding ``.backup-metadata.json``), e.g. a copy from another machine."""
    path = path.expanduser().resolve()
    if (path / METADATA_NAME).is_file():
        return BackupSource(path, [path], path / STATE_DIR / "search-index.sqlite3")
    root = personalities_root(path)
    if not root.is_dir() and path.name == "personalities" and path.is_dir():
        root, path = path, path.parent
    folders = (
        sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if root.is_dir()
        else []
    )
    return BackupSource(path, folders, path / INDEX_FILE_NAME)


@dataclass
class PersonalityDetails:
    """One personality as the browser shows it: status, profile, run history, problems."""

    folder: Path
    status: LocalBackup
    profile: dict[str, Any] | None = None
    profile_error: str = ""
    refused: str = ""  # non-empty: the folder's format is not one we can read
    avatar: Path | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    deleted_upstream: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.status.display_name or self.status.slug or self.folder.name


def load_personality(folder: Path) -> PersonalityDetails:
    """Read metadata and profile of one folder; problems are reported in the result, never raised."""
    status = read_backup_status(folder)
    details = PersonalityDetails(folder=folder, status=status)
    meta = status.metadata
    if meta:
        try:
            check_format(meta, folder)
        except UnsupportedFormatError as err:
            details.refused = f"{err} {err.hint or ''}".strip()
    elif status.problem:
        details.refused = status.problem
    runs = meta.get("runs")
    details.runs = [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []
    deleted = meta.get("deletedUpstream")
    if isinstance(deleted, dict):
        details.deleted_upstream = {str(k): str(v) for k, v in deleted.items()}
    archive = PersonalityArchive(folder)
    try:
        profile = read_json(archive.profile_path)
        if isinstance(profile, dict):
            details.profile = profile
        else:
            details.profile_error = f"{archive.profile_path.name} is not a JSON object."
    except FileNotFoundError:
        details.profile_error = "No profile file was saved."
    except TzBackupError as err:
        details.profile_error = str(err)
    details.avatar = next((folder / n for n in AVATAR_NAMES if (folder / n).is_file()), None)
    return details


K = TypeVar("K")
V = TypeVar("V")


def lru_get(cache: OrderedDict[K, V], key: K, load: Callable[[K], V], limit: int) -> V:
    """``cache[key]``, loaded on a miss; the least recently used entries beyond ``limit`` are dropped. The
    chunk caches of the memory and chat views share it."""
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = load(key)
        while len(cache) > limit:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return hit


class ChunkCache:
    """The last few memory files parsed, least recently used dropped first. A damaged file is cached as
    its error, so a view asking for each of its rows does not parse it again and again."""

    def __init__(self, max_files: int = 8) -> None:
        self.max_files = max_files
        self._files: OrderedDict[Path, list[dict[str, Any]] | CorruptBackupError] = OrderedDict()
        self.loads = 0

    def memories(self, path: Path) -> list[dict[str, Any]]:
        """The memories of one chunk file; raises :class:`CorruptBackupError` for a damaged one."""
        hit = lru_get(self._files, path, self._load, self.max_files)
        if isinstance(hit, CorruptBackupError):
            raise hit
        return hit

    def memory(self, path: Path, pos: int) -> dict[str, Any] | None:
        """One memory by position, or None when the file is damaged or shorter than expected."""
        try:
            items = self.memories(path)
        except CorruptBackupError:
            return None
        return items[pos] if 0 <= pos < len(items) else None

    def _load(self, path: Path) -> list[dict[str, Any]] | CorruptBackupError:
        self.loads += 1
        try:
            data = read_json(path)
        except FileNotFoundError:
            return CorruptBackupError(f"The memory file {path} has disappeared.", path=str(path))
        except CorruptBackupError as err:
            return err
        items = data.get("memories") if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(isinstance(m, dict) for m in items):
            return CorruptBackupError(
                f"The memory file {path} does not hold a 'memories' list of objects.", path=str(path)
            )
        return items

    def clear(self) -> None:
        self._files.clear()


@dataclass
class MemoryFields:
    """The parts of a raw memory the browser shows (the raw object stays available for the JSON tree)."""

    id: str
    text: str
    summary_type: str
    senders: list[str]
    deleted: bool
    created: float
    start: float | None
    end: float | None
    msg_ids: list[str]


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def memory_fields(memory: Mapping[str, Any]) -> MemoryFields:
    """Pick the displayed fields out of a raw memory, tolerating missing or odd values."""
    meta = memory.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    senders = _strings(memory.get("senders")) or _strings(meta.get("senders"))
    return MemoryFields(
        id=memory_id(memory),
        text=memory_text(memory),
        summary_type=str(memory.get("summary_type") or ""),
        senders=senders,
        deleted=memory.get("deleted") is True,
        created=memory_ts(memory),
        start=as_float(meta.get("start_ts")),
        end=as_float(meta.get("end_ts")),
        msg_ids=_strings(meta.get("msg_ids")),
    )


def format_ts(ts: float | None, *, seconds: bool = False) -> str:
    """A Unix timestamp as local date and time ("" for none / zero)."""
    if not ts:
        return ""
    try:
        when = dt.datetime.fromtimestamp(ts)
    except (OverflowError, OSError, ValueError):
        return str(ts)
    return when.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def format_utc(when: float | str | None) -> str:
    """A Unix time or an ISO time as ``2026-12-06 03:49:20 UTC`` (for tooltips beside local times)."""
    moment = parse_iso(when) if isinstance(when, str) else _from_ts(when)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def format_iso_local(text: str | None, *, seconds: bool = False) -> str:
    """An ISO time from the metadata (``2026-12-06T03:49:20Z``) as local date and time, like
    :func:`format_ts`; "" for none, the text itself when it does not parse."""
    moment = parse_iso(text)
    if moment is None:
        return text or ""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def parse_iso(text: str | None) -> dt.datetime | None:
    """An ISO 8601 time as an aware datetime (no offset means UTC, as tzbackup writes them); None when
    there is none or it does not parse."""
    if not text or not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("z", "Z").replace(" UTC", "Z"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _from_ts(ts: float | None) -> dt.datetime | None:
    if not ts:
        return None
    try:
        return dt.datetime.fromtimestamp(ts, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def memories_empty_reason(details: PersonalityDetails) -> str:
    """Why a personality's backup holds no memory, in one plain sentence (for the empty Memories tab)."""
    meta = details.status.metadata if isinstance(details.status.metadata, dict) else {}
    runs = details.runs
    if not runs and not details.status.last_backup:
        return "This personality has not been backed up yet: its memories appear here after the first backup."
    if meta.get("profileOnly") is True:
        return ("Memories are backed up only for personalities you own; this backup holds the public profile "
                "only.")
    if runs and all("memories" in (r.get("skipped") or ()) for r in runs if isinstance(r, dict)):
        return ("The memories section was not chosen in the backups made so far (Settings → Sections, or "
                "tzbackup backup --sections).")
    when = format_iso_local(details.status.last_backup) if details.status.last_backup else ""
    return "The service had no memories for this personality" + (f" at the last backup ({when})." if when
                                                                   else ".")
