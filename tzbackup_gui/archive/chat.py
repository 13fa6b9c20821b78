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

import contextlib
import hashlib
import heapq
import json
import math
import os
import re
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CorruptBackupError, DriftError
from ..service.models import content_hash
from .layout import METADATA_NAME, STATE_DIR
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
    read_jsonl,
    remove_file,
)

__all__ = [
    "CHAT_CHUNK_SIZE",
    "CHAT_DIR",
    "CHAT_HISTORY_NAME",
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

CHAT_CHUNK_SIZE = 500
CHAT_DIR = "chat"
CHAT_HISTORY_NAME = ".chat-history.jsonl"
_JOURNAL = "chat-journal.jsonl"
_STATE = "chat-state.json"
_COMMIT = "chat-commit.json"
_STAGING = "chat-staging"
_HISTORY_STAGED = "history.jsonl"


# --- message helpers --------------------------------------------------------------------------------------


def message_ts(message: Mapping[str, Any], where: str = "the chat history") -> float:
    """The message's ``ts`` as a float: a JSON number or a numeric string; anything else is drift."""
    value = message.get("ts")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ts = float(value)
    elif isinstance(value, str):
        try:
            ts = float(value.strip())
        except ValueError:
            ts = math.nan
    else:
        ts = math.nan
    if not math.isfinite(ts):
        shown = type(value).__name__ if not isinstance(value, str) else f"the string {value[:32]!r}"
        raise DriftError(
            f"A chat message in {where} has a ts that is not a number (found {shown}).",
            arrived=f"ts of type {type(value).__name__}",
            url_path=where,
        )
    return ts


def message_id(message: Mapping[str, Any]) -> str:
    """The message's id as a string ("" when it has none)."""
    value = message.get("id")
    if isinstance(value, str):
        return value
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def message_hash(message: Mapping[str, Any]) -> str:
    """Content hash of a message with ``ts`` normalised to a float: a change of the ts spelling alone (number
    vs numeric string) is not an edit."""
    normal = dict(message)
    with contextlib.suppress(DriftError):
        normal["ts"] = message_ts(message)
    return content_hash(normal)


def chat_chunk_name(folder: str, number: int) -> str:
    return f"{folder}_chat_{number}.json"


_CHUNK_RE = re.compile(r"^(?P<prefix>.+)_chat_(?P<n>[1-9][0-9]*)\.json$")


def _chunk_number(file_name: str, folder: str) -> int | None:
    match = _CHUNK_RE.match(file_name)
    if match is None or match.group("prefix") != folder:
        return None
    return int(match.group("n"))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _encode_chunk(messages: list[dict[str, Any]]) -> bytes:
    return dump_json({"messages": messages}, indent=1)


def _parse_chunk(raw: bytes, path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptBackupError(f"The chat file {path} is damaged: {err}", path=str(path)) from err
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise CorruptBackupError(
            f"The chat file {path} is not a list of messages under \"messages\".", path=str(path)
        )
    return messages


# --- the journal of a walk --------------------------------------------------------------------------------


@dataclass
class BatchInfo:
    """One fetched batch as the journal keeps it in RAM: where its line is, what it asked, what it brought."""

    offset: int
    before: float | None
    strict: bool
    count: int
    new: int
    min_ts: float | None
    max_ts: float | None


@dataclass
class ChatJournal:
    """An open walk journal. ``seen`` maps id -> hash of the first version fetched in this walk (all that
    stays in RAM about fetched messages; raw messages are read back from the file at commit time)."""

    path: Path
    full: bool = False
    stored_newest: float | None = None
    started: str = ""
    done: bool = False
    resumed: bool = False
    seen: dict[str, str] = field(default_factory=dict)
    batches: list[BatchInfo] = field(default_factory=list)
    min_ts: float | None = None
    #: numeric-string ts values met in this walk (tolerated; reported as drift)
    string_ts: int = 0

    @classmethod
    def open_existing(cls, path: Path) -> ChatJournal | None:
        """The journal an earlier run left (None when there is none or it has no start line)."""
        if not path.exists():
            return None
        journal: ChatJournal | None = None
        for offset, record in read_jsonl(path):
            if not isinstance(record, dict):
                continue
            kind = record.get("kind")
            if kind == "start":
                newest = record.get("storedNewest")
                journal = cls(
                    path,
                    full=bool(record.get("full")),
                    stored_newest=float(newest) if isinstance(newest, (int, float)) else None,
                    started=str(record.get("started", "")),
                )
            elif journal is None:
                continue
            elif kind == "batch":
                items = record.get("items")
                before = record.get("before")
                journal._absorb(
                    offset,
                    items if isinstance(items, list) else [],
                    float(before) if isinstance(before, (int, float)) else None,
                    bool(record.get("strict")),
                )
            elif kind == "done":
                journal.done = True
        if journal is None:
            remove_file(path)
            return None
        journal.resumed = True
        return journal

    @classmethod
    def start(cls, path: Path, *, full: bool, stored_newest: float | None, started: str) -> ChatJournal:
        remove_file(path)
        append_line(path, {"kind": "start", "full": full, "storedNewest": stored_newest, "started": started})
        return cls(path, full=full, stored_newest=stored_newest, started=started)

    def add_batch(self, items: list[dict[str, Any]], before: float | None, strict: bool) -> BatchInfo:
        """Append one fetched batch durably, then account for it."""
        offset = append_line(self.path, {"kind": "batch", "before": before, "strict": strict, "items": items})
        return self._absorb(offset, items, before, strict)

    def mark_done(self) -> None:
        append_line(self.path, {"kind": "done"})
        self.done = True

    def preview(self, items: list[dict[str, Any]]) -> tuple[int, float | None, float | None]:
        """(ids not fetched before in this walk, lowest ts, highest ts) of a batch, without keeping it."""
        new = len({mid for mid in map(message_id, items) if mid and mid not in self.seen})
        stamps = [message_ts(m) for m in items]
        return new, min(stamps, default=None), max(stamps, default=None)

    def _absorb(self, offset: int, items: list[Any], before: float | None, strict: bool) -> BatchInfo:
        messages = [m for m in items if isinstance(m, dict)]
        new, lo, hi = self.preview(messages)
        for item in messages:
            mid = message_id(item)
            if isinstance(item.get("ts"), str):
                self.string_ts += 1
            if mid and mid not in self.seen:
                self.seen[mid] = message_hash(item)
        if lo is not None:
            self.min_ts = lo if self.min_ts is None else min(self.min_ts, lo)
        info = BatchInfo(offset, before, strict, len(messages), new, lo, hi)
        self.batches.append(info)
        return info

    def batch_items(self, info: BatchInfo) -> list[dict[str, Any]]:
        """The raw messages of one batch, read back from its line."""
        with self.path.open("rb") as fh:
            fh.seek(info.offset)
            record = json.loads(fh.readline())
        items = record.get("items") if isinstance(record, dict) else None
        return [m for m in items if isinstance(m, dict)] if isinstance(items, list) else []

    def ascending(self) -> Iterator[dict[str, Any]]:
        """Every fetched message once, oldest first: batches in reverse walk order, each sorted by ts
        (stable), an id met again (the overlap at a boundary) skipped."""
        emitted: set[str] = set()
        for info in reversed(self.batches):
            items = sorted(self.batch_items(info), key=message_ts)
            for item in items:
                mid = message_id(item)
                if not mid or mid in emitted:
                    continue
                emitted.add(mid)
                yield item

    def delete(self) -> None:
        remove_file(self.path)


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


class ChatArchive:
    """The chat part of one personality folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = folder.name

    @property
    def chat_dir(self) -> Path:
        return self.folder / CHAT_DIR

    @property
    def state_dir(self) -> Path:
        return self.folder / STATE_DIR

    @property
    def journal_path(self) -> Path:
        return self.state_dir / _JOURNAL

    @property
    def history_path(self) -> Path:
        return self.folder / CHAT_HISTORY_NAME

    @property
    def state_path(self) -> Path:
        return self.state_dir / _STATE

    @property
    def commit_path(self) -> Path:
        return self.state_dir / _COMMIT

    @property
    def staging_dir(self) -> Path:
        return self.state_dir / _STAGING

    def chunk_path(self, number: int) -> Path:
        return self.chat_dir / chat_chunk_name(self.name, number)

    # --- reading -------------------------------------------------------------------------------------------

    def chunk_numbers(self) -> list[int]:
        """N of every chunk file, ascending."""
        if not self.chat_dir.is_dir():
            return []
        found = (_chunk_number(entry, self.name) for entry in os.listdir(self.chat_dir))
        return sorted(n for n in found if n is not None)

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

    def load_chunk(self, number: int) -> list[dict[str, Any]]:
        path = self.chunk_path(number)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise CorruptBackupError(f"Could not read {path}: {err.strerror}", path=str(path)) from err
        return _parse_chunk(raw, path)

    def load_checked_chunk(self, number: int, sums: Mapping[str, Any]) -> list[dict[str, Any]]:
        """:meth:`load_chunk`, refusing a file whose SHA-256 differs from the one recorded when tzbackup
        wrote it (``sums``: name -> hex digest; a file without a record is accepted): merging it would
        record the outside change as good and ``verify`` could no longer notice it."""
        path = self.chunk_path(number)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise CorruptBackupError(f"Could not read {path}: {err.strerror}", path=str(path)) from err
        recorded = sums.get(path.name)
        if isinstance(recorded, str) and recorded != _sha256(raw):
            raise CorruptBackupError(
                f"The chat file {path.name} was changed after tzbackup wrote it (its checksum does not "
                "match), so the chat history was not updated. Run 'tzbackup verify' to see the problem, then "
                "put the original file back from a copy, or move the chat folder aside to back up the chat "
                "history again from the start.",
                path=str(path),
            )
        return _parse_chunk(raw, path)

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

    def recover(self) -> bool:
        """Finish a commit that a crash interrupted (roll forward); drop a staging area never committed."""
        plan = pending_commit(self.commit_path, self.staging_dir)
        if plan is None:
            return False
        self._apply(plan)
        return True

    def _clear_staging(self) -> None:
        clear_dir(self.staging_dir)

    def _apply(self, plan: dict[str, Any]) -> None:
        if (self.staging_dir / _HISTORY_STAGED).exists():
            self._append_history(self.staging_dir / _HISTORY_STAGED)
        if plan.get("renames"):
            ensure_dir(self.chat_dir)
        for staged, number in plan.get("renames", []):
            source = self.staging_dir / str(staged)
            if source.exists():
                os.replace(source, self.chunk_path(int(number)))
        for number in plan.get("remove", []):
            remove_file(self.chunk_path(int(number)))
        if self.chat_dir.is_dir():
            fsync_dir(self.chat_dir)
        state = self.staging_dir / _STATE
        if state.exists():
            os.replace(state, self.state_path)
        remove_file(self.journal_path)
        remove_file(self.commit_path)
        self._clear_staging()
        fsync_dir(self.state_dir)

    def _append_history(self, staged: Path) -> None:
        """Append the staged history lines not there yet (replaying a commit adds nothing twice)."""
        append_missing(self.history_path, staged)

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
        self._clear_staging()
        ensure_dir(self.staging_dir)
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
        staged_history = self.staging_dir / _HISTORY_STAGED

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
                            append_line(staged_history,
                                        {"id": mid, "hash": old_hash, "replacedAt": now, "message": message})
                        continue
                    yield message

        renames: list[list[Any]] = []

        def stage(batch: list[dict[str, Any]], n: int) -> None:
            data = _encode_chunk(batch)
            target = self.chunk_path(n)
            sums[target.name] = _sha256(data)
            if n <= chunks and target.exists() and target.read_bytes() == data:
                return  # unchanged: not rewritten
            staged = f"{n}.json"
            atomic_write_bytes(self.staging_dir / staged, data)
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
            self.staging_dir / _STATE,
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
            messages = _parse_chunk(raw, path)
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
        missing = [n for n in sums if _chunk_number(n, archive.name) not in numbers]
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
