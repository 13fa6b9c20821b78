"""Chat history backup: the ``before_ts`` walk, incremental and resumable, merged into chronological chunks.

The walk asks for the newest batch, then pages backwards. The service answers ``ts < before_ts`` strictly and
several messages may share a ts, so asking with ``before_ts`` = the batch's lowest ts would skip the tied
messages that did not fit in the batch. We ask with the lowest ts plus a tiny epsilon instead: the next
batch repeats the tied messages already fetched (dropped by id) and brings the rest. When such a batch brings
nothing new (50 or more messages share one ts) we fall back once to the strict lowest ts, so the walk always
moves on (the messages beyond the 50 newest of such a tie cannot be reached through this API at all).

Stops: an empty batch (the beginning of the chat); in an incremental run, a batch reaching below the newest
stored ts (everything older is stored; the overlap is compared with the stored copies, which is how edits and
regenerations of recent messages are picked up); ``full=True`` walks to the beginning and compares everything.
A service that ignores ``before_ts`` (answers messages not older than asked for, or nothing new for an older
cursor) ends the walk as a failed section instead of looping; the journal keeps what was fetched.

Every batch is appended to the walk journal (fsync'd) the moment it arrives, so a cancelled or killed run
loses at most the request in flight; the next run resumes from the journal's last batch. The chunk files
change only in the final commit (see :mod:`tzbackup_gui.archive.chat`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ..archive.chat import (
    CHAT_CHUNK_SIZE,
    ChatArchive,
    ChatCommit,
    ChatJournal,
    iter_chat,
    message_id,
    message_ts,
    verify_chat,
)
from ..errors import DriftError, ServiceError, TzBackupError
from .sections import STOP_ERRORS, BlockingRunner, SectionOutcome

__all__ = ["CHAT_BATCH", "ChatWalkError", "iter_chat", "sync_chat", "verify_chat"]

#: messages per request (the service's maximum)
CHAT_BATCH = 50
#: smallest step above a boundary ts (the service sends microseconds); widened for huge ts by ``math.ulp``
_EPSILON = 1e-6

T = TypeVar("T")


class ChatWalkError(ServiceError):
    """The chat walk cannot go on: the service does not page backwards as asked."""

    hint = "The chat history was left as it was. Try again later; if it keeps happening, please report it."


@dataclass(frozen=True)
class _Step:
    """What to ask next: ``kind`` "fetch" (with ``before`` / ``strict``) or "done"."""

    kind: str
    before: float | None = None
    strict: bool = False
    fallback: bool = False


def _epsilon(ts: float) -> float:
    return max(_EPSILON, 4 * math.ulp(ts))


def _next_step(journal: ChatJournal) -> _Step:
    """The next request, decided from the journal's last batch alone (so a resumed walk decides the same)."""
    if not journal.batches:
        return _Step("fetch")
    last = journal.batches[-1]
    if last.count == 0 or last.min_ts is None:
        return _Step("done")
    if not journal.full and journal.stored_newest is not None and last.min_ts < journal.stored_newest:
        return _Step("done")  # reached messages older than the newest stored one: the rest is stored
    if last.new == 0:
        # Only messages fetched before: 50+ share the boundary ts. The strict ts moves past them.
        return _Step("fetch", last.min_ts, strict=True, fallback=True)
    before = last.min_ts + _epsilon(last.min_ts)
    if last.before is not None and before >= last.before:
        return _Step("fetch", last.min_ts, strict=True, fallback=True)
    return _Step("fetch", before)


def _check_batch(items: list[dict[str, Any]], where: str) -> None:
    """Every message needs an id and a numeric ts (a numeric string is accepted), else drift."""
    for item in items:
        if not message_id(item):
            raise DriftError(
                f"A chat message from {where} has no id (keys: {', '.join(sorted(map(str, item))[:12])}).",
                arrived="chat message without id",
                url_path=where,
            )
        message_ts(item, where)


def _check_progress(journal: ChatJournal, step: _Step, items: list[dict[str, Any]]) -> None:
    """Refuse a batch that shows the service ignoring ``before_ts`` (it would make the walk loop)."""
    if step.before is None or not items:
        return
    new, _, highest = journal.preview(items)
    if highest is not None and highest >= step.before:
        raise ChatWalkError(
            f"The service ignored before_ts when paging back through the chat history: asked for messages "
            f"older than {step.before!r}, it sent one from {highest!r}."
        )
    if new == 0 and step.strict:
        raise ChatWalkError(
            "The service sent only chat messages already fetched when asked for older ones; the walk "
            "stopped instead of asking again."
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _advance(steps: Generator[None, None, T]) -> tuple[bool, T | None]:
    try:
        next(steps)
    except StopIteration as stop:
        return True, stop.value
    return False, None


async def _run_steps(blocking: BlockingRunner, steps: Generator[None, None, T]) -> T | None:
    """Each step in a worker thread, the event loop free between steps. A cancel lets the commit finish (it
    is short and leaves the files consistent either way), then propagates."""
    cancelled = False
    value: T | None = None
    while True:
        try:
            finished, value = await blocking(_advance, steps)
        except asyncio.CancelledError:
            cancelled = True
            continue
        if finished:
            break
    if cancelled:
        raise asyncio.CancelledError
    return value


async def _open_journal(blocking: BlockingRunner, archive: ChatArchive, full: bool) -> ChatJournal:
    """The unfinished walk to resume, or a new one. A full walk asked for replaces an incremental one; an
    incremental one is resumed only while the stored chat still ends where it did (not when the chat files
    were since moved aside or put back from a copy: it would miss what lies between)."""
    journal: ChatJournal | None = await blocking(ChatJournal.open_existing, archive.journal_path)
    _, _, newest = await blocking(archive.tail)
    if journal is not None and (journal.full or (not full and journal.stored_newest == newest)):
        return journal
    started: ChatJournal = await blocking(_start_journal, archive, full, None if full else newest)
    return started


def _start_journal(archive: ChatArchive, full: bool, newest: float | None) -> ChatJournal:
    archive.state_dir.mkdir(parents=True, exist_ok=True)
    return ChatJournal.start(archive.journal_path, full=full, stored_newest=newest, started=_now())


async def _walk(
    client: object,
    shape_id: str,
    journal: ChatJournal,
    blocking: BlockingRunner,
    on_progress: Callable[[int], None] | None,
) -> tuple[int, int]:
    """Fetch batches until the walk is done; returns (requests made, strict fallbacks)."""
    fetch = getattr(client, "get_chat_history")  # noqa: B009 - ``client`` is any object with this method
    where = f"/api/shapes/{shape_id}/chat/history"
    requests = fallbacks = 0
    while not journal.done:
        step = _next_step(journal)
        if step.kind == "done":
            await blocking(journal.mark_done)
            break
        items = list(await fetch(shape_id, before_ts=step.before, limit=CHAT_BATCH))
        requests += 1
        fallbacks += step.fallback and bool(items)  # an empty answer to it is just the beginning of the chat
        _check_batch(items, where)
        _check_progress(journal, step, items)
        await blocking(journal.add_batch, items, step.before, step.strict)
        if on_progress is not None:
            on_progress(len(journal.seen))
    return requests, fallbacks


async def sync_chat(
    client: object,
    shape_id: str,
    folder: Path,
    blocking: BlockingRunner,
    *,
    full: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> SectionOutcome:
    """Back up the chat history of one personality into ``folder/chat/``.

    Returns the section outcome: count = messages stored, new = messages added this run, extra = chunk files,
    newest ts, edited (stored messages replaced by a changed version), requests, full walk, resumed.
    :data:`~.sections.STOP_ERRORS` (auth, bot wall, disk full, rate limited or network gone after every retry)
    and cancellation propagate (they stop the whole run; the journal keeps every fetched batch); any other
    failure is a failed outcome with the stored chat untouched.
    """
    if not callable(getattr(client, "get_chat_history", None)):
        return SectionOutcome("chat", "failed", 0, "This client cannot fetch chat history.")
    archive = ChatArchive(folder)
    try:
        await blocking(archive.recover)
        journal = await _open_journal(blocking, archive, full)
        resumed = journal.resumed
        requests, fallbacks = await _walk(client, shape_id, journal, blocking, on_progress)
        done: ChatCommit | None = await _run_steps(blocking, archive.commit_steps(journal, _now()))
    except asyncio.CancelledError:
        raise
    except STOP_ERRORS:
        raise
    except (TzBackupError, OSError) as err:
        count = await _stored_count(blocking, archive)
        return SectionOutcome("chat", "failed", count, str(err) or type(err).__name__)
    assert done is not None
    extra: dict[str, Any] = {
        "chunks": done.chunks,
        "chunkSize": CHAT_CHUNK_SIZE,
        "newestTs": done.newest_ts,
        "edited": done.edited,
        "requests": requests,
        "fullWalk": journal.full,
        "resumed": resumed,
    }
    warning: str | None = None
    if fallbacks:
        extra["boundaryFallbacks"] = fallbacks
        warning = _tie_warning(fallbacks)
    if journal.string_ts:
        extra["drift"] = f"ts arrived as a numeric string ({journal.string_ts} message(s)); read as a number"
    # status "ok" (everything reachable is stored); ``error`` carries the warning so it is not silent
    return SectionOutcome("chat", "ok", done.count, warning, new=done.new, extra=extra)


def _tie_warning(fallbacks: int) -> str:
    """Why some messages may be missing: the service answers at most 50 messages per timestamp."""
    times = "once" if fallbacks == 1 else f"{fallbacks} times"
    return (
        f"Some chat messages may be missing: {times} {CHAT_BATCH} or more messages shared one timestamp, and "
        f"the service returns at most {CHAT_BATCH} per timestamp, so any beyond those could not be fetched."
    )


async def _stored_count(blocking: BlockingRunner, archive: ChatArchive) -> int:
    """Messages stored now (0 when the chat files cannot even be read)."""
    try:
        _, count, _ = await blocking(archive.tail)
    except (TzBackupError, OSError):
        return 0
    return int(count)
