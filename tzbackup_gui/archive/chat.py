"""Chat history on disk: chronological chunk files, the walk journal, crash-safe commits, reader and verify.

Layout inside a personality folder (``<folder>`` = the folder's own name):

- ``chat/<folder>_chat_N.json``: ``{"messages": [...]}``, N=1 holds the oldest messages, every file but the
  last holds exactly :data:`CHAT_CHUNK_SIZE` messages, so a later run rewrites only the last file and appends;
- ``.chat-history.jsonl``: previous versions of stored messages that were edited or regenerated upstream
  (``{id, hash, replacedAt, message}`` per line), written before the new version replaces them;
- ``.tzbackup/chat-journal.jsonl``: the walk of an unfinished run, one fsync'd line per fetched batch, so a
  killed run resumes without fetching those batches again;
- ``.tzbackup/chat-state.json``: SHA-256 of every chunk file as last committed (lets ``verify`` notice a
  file changed outside tzbackup);
- ``.tzbackup/chat-staging/`` + ``.tzbackup/chat-commit.json``: a commit in progress (rolled forward after a
  crash, like the memory commit, under names of its own so the two never touch each other's files).

Messages are stored raw, as the service sent them; order and comparisons use :func:`message_ts` (a float,
also when ``ts`` arrived as a numeric string). Only one chunk file of raw messages is in RAM at a time, plus
a small per-id hash while a commit runs. Everything here blocks: callers run it in a worker thread.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CorruptBackupError, DriftError
from .chat_journal import BatchInfo, ChatJournal
from .layout import METADATA_NAME, record_file_name, record_file_number
from .messages import (
    CHAT_CHUNK_SIZE,
    CHAT_DIR,
    CHAT_HISTORY_NAME,
    CHAT_KIND,
    CHAT_STATE_NAME,
    message_hash,
    message_id,
    message_ts,
)
from .records import RecordStore
from .store import atomic_write_json, read_json

__all__ = [
    "CHAT_CHUNK_SIZE",
    "CHAT_DIR",
    "CHAT_HISTORY_NAME",
    "BatchInfo",
    "ChatArchive",
    "ChatCommit",
    "ChatJournal",
    "chat_chunk_name",
    "iter_chat",
    "message_hash",
    "message_id",
    "message_ts",
    "verify_chat",
]


def chat_chunk_name(folder: str, number: int) -> str:
    return record_file_name(folder, CHAT_KIND.noun, number)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the archive ------------------------------------------------------------------------------------------


@dataclass
class ChatCommit:
    """What a commit changed."""

    count: int = 0
    new: int = 0
    edited: int = 0
    chunks: int = 0
    newest_ts: float | None = None
    oldest_ts: float | None = None
    rewritten: int = 0


class ChatArchive(RecordStore):
    """The chat part of one personality folder (the shared :class:`RecordStore` of :data:`CHAT_KIND`)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, CHAT_KIND)
        self.folder = folder

    @property
    def chat_dir(self) -> Path:
        return self.records_dir

    @property
    def state_path(self) -> Path:
        return self.state_dir / CHAT_STATE_NAME

    # --- reading -------------------------------------------------------------------------------------------

    def checked_chunk_count(self) -> int:
        """How many chunk files there are, checking they are numbered 1..K without holes."""
        numbers = self.chunk_numbers()
        if numbers != list(range(1, len(numbers) + 1)):
            raise CorruptBackupError(
                f"The chat files in {self.chat_dir} are not numbered 1..{len(numbers)} (found "
                f"{', '.join(map(str, numbers[:10]))}).",
                path=str(self.chat_dir),
            )
        return len(numbers)

    def load_checked_chunk(self, number: int, sums: Mapping[str, Any]) -> list[dict[str, Any]]:
        """:meth:`load_chunk`, refusing a file whose SHA-256 differs from the one recorded when tzbackup
        wrote it (``sums``: name -> hex digest; a file without a record is accepted): merging it would
        record the outside change as good and ``verify`` could no longer notice it."""
        path = self.chunk_path(number)
        raw = self.read_chunk_bytes(path)
        recorded = sums.get(path.name)
        if isinstance(recorded, str) and recorded != _sha256(raw):
            raise CorruptBackupError(
                f"The chat file {path.name} was changed after tzbackup wrote it (its checksum does not "
                "match), so the chat history was not updated. Run 'tzbackup verify' to see the problem, then "
                "put the original file back from a copy, or move the chat folder aside to back up the chat "
                "history again from the start.",
                path=str(path),
            )
        return self.parse_chunk(raw, path)

    def tail(self) -> tuple[int, int, float | None]:
        """(chunk files, messages stored, newest ts) from the last file alone (every other file is full)."""
        chunks = self.checked_chunk_count()
        if chunks == 0:
            return 0, 0, None
        last = self.load_chunk(chunks)
        newest = max((message_ts(m, str(self.chunk_path(chunks))) for m in last), default=None)
        return chunks, (chunks - 1) * CHAT_CHUNK_SIZE + len(last), newest

    def read_state(self) -> dict[str, Any]:
        try:
            data = read_json(self.state_path)
        except (FileNotFoundError, CorruptBackupError):
            return {}
        return data if isinstance(data, dict) else {}

    # --- commit --------------------------------------------------------------------------------------------

    def _first_affected(self, chunks: int, oldest_new: float) -> int:
        """The first chunk whose newest message is not older than ``oldest_new`` (binary search: every
        chunk before it stays as it is). ``chunks + 1`` when none is."""
        lo, hi = 1, chunks + 1
        while lo < hi:
            mid = (lo + hi) // 2
            messages = self.load_chunk(mid)
            last = message_ts(messages[-1]) if messages else -math.inf
            if last < oldest_new:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def commit_steps(self, journal: ChatJournal, now: str) -> Generator[None, None, ChatCommit]:
        """Merge the journal into the chunk files, cut into steps of about one chunk file each.

        Stored messages from the first affected chunk on (never later than the last, possibly short, file)
        are merged by ts (stable: stored first on a tie) with the fetched ones; a stored message fetched
        again is replaced by the fetched version, its old version staged for the history first when it
        differs; stored messages the service no longer sends are kept. New or changed chunk files are
        staged, then ``chat-commit.json`` names the moves, then they happen. Stopping between steps is as
        safe as a crash: nothing is acted upon before ``chat-commit.json`` exists. A stored file to merge
        whose checksum no longer matches ``chat-state.json`` raises :class:`CorruptBackupError` (nothing
        is changed; the journal stays for the next run).
        """
        self.start_staging()
        chunks = self.checked_chunk_count()
        result = ChatCommit()
        if journal.min_ts is None:  # nothing fetched: nothing changes
            result.chunks, result.count, result.newest_ts = self.tail()
            self._apply({"renames": []})
            return result
        state = self.read_state()
        old_sums = state.get("sha256")
        sums: dict[str, str] = dict(old_sums) if isinstance(old_sums, dict) else {}
        recorded = dict(sums)  # as last committed: a stored file that no longer matches is not merged
        start = min(self._first_affected(chunks, journal.min_ts), max(chunks, 1))
        yield
        seen = journal.seen
        matched = 0

        def stored_tail() -> Iterator[dict[str, Any]]:
            nonlocal matched
            for number in range(start, chunks + 1):
                for message in self.load_checked_chunk(number, recorded):
                    mid = message_id(message)
                    if mid in seen:
                        matched += 1
                        old_hash = message_hash(message)
                        if old_hash != seen[mid]:
                            result.edited += 1
                            self.stage_history(mid, old_hash, now, message)
                        continue
                    yield message

        renames: list[list[Any]] = []

        def stage(batch: list[dict[str, Any]], n: int) -> None:
            data = self.encode_chunk(batch)
            target = self.chunk_path(n)
            sums[target.name] = _sha256(data)
            if n <= chunks and target.exists() and target.read_bytes() == data:
                return  # unchanged: not rewritten
            staged = f"{n}.json"
            self.stage_file(staged, data)
            renames.append([staged, n])

        number = start
        buffer: list[dict[str, Any]] = []
        last_len = 0
        for message in heapq.merge(stored_tail(), journal.ascending(), key=message_ts):
            buffer.append(message)
            if len(buffer) == CHAT_CHUNK_SIZE:
                result.newest_ts, last_len = message_ts(buffer[-1]), len(buffer)
                stage(buffer, number)
                number += 1
                buffer = []
                yield
        if buffer:
            result.newest_ts, last_len = message_ts(buffer[-1]), len(buffer)
            stage(buffer, number)
            number += 1
        result.chunks = number - 1
        result.count = (result.chunks - 1) * CHAT_CHUNK_SIZE + last_len
        result.new = len(seen) - matched
        result.rewritten = len(renames)
        # Fewer files than before only when the old ones held duplicates: the surplus goes.
        remove = list(range(result.chunks + 1, chunks + 1))
        valid = {chat_chunk_name(self.name, n) for n in range(1, result.chunks + 1)}
        atomic_write_json(
            self.staging_dir / CHAT_STATE_NAME,
            {"version": 1, "chunkSize": CHAT_CHUNK_SIZE, "count": result.count, "chunks": result.chunks,
             "newestTs": result.newest_ts, "committedAt": now,
             "sha256": {k: v for k, v in sums.items() if k in valid}},
        )
        yield
        plan = {"renames": renames, "remove": remove, "committedAt": now}
        atomic_write_json(self.commit_path, plan)
        self._apply(plan)
        return result


# --- reader and verify ------------------------------------------------------------------------------------


def iter_chat(folder: Path) -> Iterator[dict[str, Any]]:
    """Every stored chat message of a personality folder, oldest first, read one chunk file at a time.
    A damaged file raises :class:`CorruptBackupError`; a folder without chat yields nothing."""
    archive = ChatArchive(folder)
    for number in range(1, archive.checked_chunk_count() + 1):
        yield from archive.load_chunk(number)


def verify_chat(folder: Path) -> list[str]:
    """Problems with the stored chat history, as plain sentences (empty = fine): files that do not parse,
    holes in the numbering, short files before the last, messages without id or with a non-numeric ts,
    duplicate ids, messages out of order, files changed since they were written, and a count that does not
    match the metadata's ``sections.chat.count``. Reads one chunk file at a time."""
    archive = ChatArchive(folder)
    problems: list[str] = []
    numbers = archive.chunk_numbers()
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(
            f"The chat files are not numbered 1..{len(numbers)} (found {', '.join(map(str, numbers[:10]))})."
        )
    if archive.commit_path.exists():
        problems.append("An interrupted chat commit is pending; the next backup finishes it.")
    state = archive.read_state()
    sums = state.get("sha256") if isinstance(state.get("sha256"), dict) else None
    ids: set[str] = set()
    count = 0
    previous: float | None = None
    for pos, number in enumerate(numbers):
        path = archive.chunk_path(number)
        name = path.name
        try:
            raw = path.read_bytes()
            messages = archive.parse_chunk(raw, path)
        except (OSError, CorruptBackupError) as err:
            problems.append(f"{name} cannot be read: {err}")
            continue
        if sums is not None and name in sums and sums[name] != _sha256(raw):
            problems.append(f"{name} was changed after tzbackup wrote it (its checksum does not match).")
        if pos < len(numbers) - 1 and len(messages) != CHAT_CHUNK_SIZE:
            problems.append(f"{name} holds {len(messages)} messages; every file but the last holds "
                            f"{CHAT_CHUNK_SIZE}.")
        for index, message in enumerate(messages):
            mid = message_id(message)
            if not mid:
                problems.append(f"{name}: message {index + 1} has no id.")
            elif mid in ids:
                problems.append(f"{name}: message {mid} is stored twice.")
            else:
                ids.add(mid)
            try:
                ts = message_ts(message, name)
            except DriftError:
                problems.append(f"{name}: message {index + 1} has no numeric ts.")
                continue
            if previous is not None and ts < previous:
                problems.append(f"{name}: message {mid or index + 1} is out of chronological order.")
            previous = ts
        count += len(messages)
    if sums is not None and numbers:
        missing = [n for n in sums if record_file_number(n, CHAT_KIND.noun, archive.name) not in numbers]
        if missing:
            problems.append(f"Chat file(s) {', '.join(sorted(missing)[:5])} are missing.")
    expected = _metadata_chat_count(folder)
    if expected is not None and expected != count:
        problems.append(f"The metadata says {expected} chat messages, the chat files hold {count}.")
    return problems


def _metadata_chat_count(folder: Path) -> int | None:
    try:
        meta = read_json(folder / METADATA_NAME)
    except (FileNotFoundError, CorruptBackupError):
        return None
    sections = meta.get("sections") if isinstance(meta, dict) else None
    chat = sections.get("chat") if isinstance(sections, dict) else None
    count = chat.get("count") if isinstance(chat, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None
