"""Qt-free reading helpers of the browser's Chat tab: chunk cache, message fields, substring search, state.

The chat of a personality lives in chronological chunk files of :data:`CHAT_CHUNK_SIZE` messages (every file
but the last is full), so message ``i`` (oldest first) is at position ``i % size`` of file ``i // size + 1``
and the total comes from the number of files and the length of the last one. Nothing here reads more than
one chunk file at a time; a view of a 100,000-message chat touches only the files it shows.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CorruptBackupError
from ..model.memory import as_float
from .browse import format_iso_local, lru_get
from .chat import CHAT_CHUNK_SIZE, ChatArchive
from .layout import METADATA_NAME
from .store import read_json

__all__ = [
    "ChatChunks",
    "ChatFields",
    "ChatSectionState",
    "chat_fields",
    "chat_message_number",
    "chat_search_text",
    "chat_section_state",
    "scan_chat",
]


class ChatChunks:
    """The chat files of one folder, read through a small LRU of parsed files.

    :attr:`loads` counts the files parsed (a view test asserts that opening a large chat reads few). A damaged
    file is cached as its error, so a view asking for each of its rows does not parse it again and again."""

    def __init__(self, folder: Path | None = None, max_files: int = 6) -> None:
        self.max_files = max_files
        self.loads = 0
        self._files: OrderedDict[int, list[dict[str, Any]] | CorruptBackupError] = OrderedDict()
        self.archive: ChatArchive | None = None
        self.chunks = 0
        self.count = 0
        if folder is not None:
            self.open(folder)

    def open(self, folder: Path) -> None:
        """Point at ``folder``'s chat; counts its messages from the file list and the last file alone.
        Raises :class:`CorruptBackupError` when the files are not numbered 1..K."""
        self._files.clear()
        self.archive = ChatArchive(folder)
        self.chunks = self.count = 0
        chunks = self.archive.checked_chunk_count()
        if chunks:
            last = self.chunk(chunks)
            self.chunks = chunks
            self.count = (chunks - 1) * CHAT_CHUNK_SIZE + len(last)

    def close(self) -> None:
        self._files.clear()
        self.archive = None
        self.chunks = self.count = 0

    def chunk(self, number: int) -> list[dict[str, Any]]:
        """The messages of file ``number`` (1-based); raises :class:`CorruptBackupError` for a damaged one."""
        hit = lru_get(self._files, number, self._load, self.max_files)
        if isinstance(hit, CorruptBackupError):
            raise hit
        return hit

    def _load(self, number: int) -> list[dict[str, Any]] | CorruptBackupError:
        if self.archive is None:
            return CorruptBackupError("No chat is open.")
        self.loads += 1
        try:
            return self.archive.load_chunk(number)
        except CorruptBackupError as err:
            return err

    def message(self, index: int) -> dict[str, Any] | None:
        """Message ``index`` (0 = oldest), or None when its file is damaged or shorter than expected."""
        if not 0 <= index < self.count:
            return None
        try:
            items = self.chunk(index // CHAT_CHUNK_SIZE + 1)
        except CorruptBackupError:
            return None
        pos = index % CHAT_CHUNK_SIZE
        return items[pos] if pos < len(items) else None

    def file_of(self, index: int) -> Path | None:
        """The chunk file holding message ``index``."""
        return self.archive.chunk_path(index // CHAT_CHUNK_SIZE + 1) if self.archive else None


@dataclass
class ChatFields:
    """The parts of a raw chat message the browser shows (the raw object stays available for the JSON)."""

    id: str
    ts: float | None
    message: str | None
    reply: str | None
    regenerated: list[str]
    voice_url: str
    attachment_url: str
    attachment_type: str
    fallback_model: bool


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def chat_fields(raw: Mapping[str, Any]) -> ChatFields:
    """Read a raw message leniently: a missing or odd-typed field becomes empty, never an error."""
    regen = raw.get("regenerated_replies")
    regenerated = [t for t in (_text(r) for r in regen) if t] if isinstance(regen, list) else []
    return ChatFields(
        id=str(raw.get("id") or ""),
        ts=as_float(raw.get("ts")),
        message=_text(raw.get("message")),
        reply=_text(raw.get("reply")),
        regenerated=regenerated,
        voice_url=_text(raw.get("voice_reply_url")) or "",
        attachment_url=_text(raw.get("attachment_url")) or "",
        attachment_type=_text(raw.get("attachment_type")) or "",
        fallback_model=raw.get("fallback_model_used") is True,
    )


def chat_message_number(path: Path, pos: int) -> int | None:
    """The number (0 = oldest) of the message at ``pos`` in the chat file ``path``
    (``<folder>_chat_N.json``); None when ``path`` is not a chat file."""
    stem, _, number = path.stem.rpartition("_chat_")
    if not stem or not number.isdigit() or int(number) < 1:
        return None
    return (int(number) - 1) * CHAT_CHUNK_SIZE + pos


def chat_search_text(raw: Mapping[str, Any]) -> str:
    """What the chat filter searches, case-folded: the message, the reply and the regenerated replies."""
    regen = raw.get("regenerated_replies")
    parts = [raw.get("message"), raw.get("reply"), *(regen if isinstance(regen, list) else ())]
    return "\n".join(p if isinstance(p, str) else json.dumps(p, ensure_ascii=False)
                     for p in parts if p).casefold()


def scan_chat(
    folder: Path, needle: str, *, newest_first: bool = True
) -> Iterator[tuple[int, list[int], str | None]]:
    """Search the chat for ``needle`` (substring, case-insensitive), one chunk file per step.

    Yields ``(files done, matching message indexes (0 = oldest) of this file in the given order, problem)``;
    ``problem`` names a file that cannot be read (the scan goes on). Reads the files directly, not through a
    view's cache, so a search never evicts what the view shows. The caller drives it (e.g. one step per
    timer tick), so the GUI stays responsive and a new search simply drops the old generator."""
    archive = ChatArchive(folder)
    chunks = archive.checked_chunk_count()
    wanted = needle.casefold()
    numbers = range(chunks, 0, -1) if newest_first else range(1, chunks + 1)
    for done, number in enumerate(numbers, start=1):
        base = (number - 1) * CHAT_CHUNK_SIZE
        try:
            messages = archive.load_chunk(number)
        except CorruptBackupError as err:
            yield done, [], str(err)
            continue
        hits = [base + i for i, m in enumerate(messages) if wanted in chat_search_text(m)]
        yield done, (hits[::-1] if newest_first else hits), None


@dataclass
class ChatSectionState:
    """What the metadata says about a personality's chat section (for the empty state and the banner)."""

    recorded: bool = False  # a backup has recorded the chat section at least once
    status: str = ""  # "ok" | "failed" | "" (never recorded)
    count: int | None = None
    new: int | None = None
    last_sync: str = ""
    error: str = ""
    profile_only: bool = False  # not owned: only the public profile is backed up
    extra: dict[str, Any] = field(default_factory=dict)

    def empty_reason(self) -> str:
        """Why a folder has no chat file, in one plain sentence."""
        if self.status == "failed":
            return f"The last chat sync failed: {self.error or 'unknown error'}"
        if self.recorded:
            when = f" at the last sync ({format_iso_local(self.last_sync)})" if self.last_sync else ""
            return f"The service had no chat messages with this personality{when}."
        if self.profile_only:
            return ("Chat history is backed up only for personalities you own; this backup holds the public "
                    "profile only.")
        return ("The chat section was not chosen in the backups made so far (Settings → Sections, or "
                "tzbackup backup --sections).")


def chat_section_state(folder: Path) -> ChatSectionState:
    """``sections.chat`` of the folder's metadata (an unreadable metadata file reads as never recorded)."""
    try:
        meta = read_json(folder / METADATA_NAME)
    except (FileNotFoundError, CorruptBackupError):
        return ChatSectionState()
    if not isinstance(meta, dict):
        return ChatSectionState()
    state = ChatSectionState(profile_only=meta.get("profileOnly") is True)
    sections = meta.get("sections")
    entry = sections.get("chat") if isinstance(sections, dict) else None
    if not isinstance(entry, dict):
        return state
    state.recorded = True
    state.status = str(entry.get("status") or "")
    count, new = entry.get("count"), entry.get("new")
    state.count = count if isinstance(count, int) and not isinstance(count, bool) else None
    state.new = new if isinstance(new, int) and not isinstance(new, bool) else None
    state.last_sync = str(entry.get("lastSync") or "")
    state.error = str(entry.get("error") or "")
    known = {"count", "new", "lastSync", "status", "error"}
    state.extra = {k: v for k, v in entry.items() if k not in known}
    return state
