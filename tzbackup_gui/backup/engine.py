"""The engine's footing: the service it drives, its clock, its bridge to blocking file work, and the state
every step of a run shares (:class:`EngineCore`).

The engine is split by reason to change: ``run.py`` (a run over personalities, and one personality's steps in
order), ``memories.py`` (the memory sync: plan, walk, commit), ``folders.py`` (finding, renaming, creating a
personality's folder), ``walk.py`` (the page walk and its certification), ``sections.py`` / ``chat.py`` /
``images.py`` (the sections after the memories). Every module reads the time through :func:`_now` here
(``engine._now()``), one seam the tests move forward instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Generator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..archive.journal import Journal
from ..archive.layout import CHUNK_SIZE, FORMAT_VERSION
from ..events import EventCallback, ignore_events
from .report import BackupOptions, PersonalityResult, RunReport
from .sections import SectionOutcome

__all__ = ["ChatSync", "EngineCore", "MemoryPageLike", "ShapeSummaryLike", "ShapesService", "load_chat_sync"]

T = TypeVar("T")
MAX_RUNS_KEPT = 500
log = logging.getLogger("tzbackup.engine")


class MemoryPageLike(Protocol):
    @property
    def page(self) -> int: ...
    @property
    def items(self) -> list[dict[str, Any]]: ...
    @property
    def has_next(self) -> bool | None: ...
    @property
    def total_pages(self) -> int | None: ...
    @property
    def total(self) -> int | None: ...


class ShapeSummaryLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def username(self) -> str: ...


class ShapesService(Protocol):
    """The part of ``ShapesClient`` the engine uses."""

    current_slug: str

    @property
    def requests_made(self) -> int: ...

    async def me(self) -> dict[str, Any]: ...

    async def list_own_shapes(self) -> Sequence[ShapeSummaryLike]: ...

    async def get_profile(self, slug: str) -> dict[str, Any]: ...

    async def get_memory_page(self, shape_id: str, page: int, limit: int = 20) -> MemoryPageLike: ...


ChatSync = Callable[..., Awaitable[SectionOutcome]]

def load_chat_sync() -> ChatSync | None:
    """The chat section's entry point, ``backup.chat.sync_chat``: looked up through this function so a test
    can put a spy in its place."""
    from .chat import sync_chat

    return sync_chat


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_iso(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


async def _blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking file operation in a thread. A cancel waits for it to finish (it cannot be interrupted
    half-way, and the files must be consistent before the next step), then propagates."""
    task: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result


def _advance(steps: Generator[None, None, T]) -> tuple[bool, T | None]:
    """Run one step of ``steps``: (True, its result) once it has finished. StopIteration cannot cross
    into a Future, so it is turned into a value here."""
    try:
        next(steps)
    except StopIteration as stop:
        return True, stop.value
    return False, None


async def _blocking_steps(steps: Generator[None, None, T]) -> T | None:
    """Like :func:`_blocking` for work cut into steps: each step in a thread, the event loop free between
    steps (a GUI thread gets the GIL back). A cancel lets every remaining step run, then propagates."""
    cancelled = False
    while True:
        task = asyncio.ensure_future(asyncio.to_thread(_advance, steps))
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                cancelled = True
        finished, value = task.result()
        if finished:
            break
    if cancelled:
        raise asyncio.CancelledError
    return value

class EngineCore:
    """What every step of a run shares: the client, the data folder, the options, the event callback, the
    account being backed up and the request count at the start of the current personality."""

    def __init__(
        self,
        client: ShapesService,
        data_dir: Path,
        *,
        options: BackupOptions | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        self.client = client
        self.data_dir = Path(data_dir)
        self.options = options or BackupOptions()
        self.on_event = on_event or ignore_events
        #: The report of the current / last run; complete even when :meth:`run` was cancelled.
        self.report = RunReport()
        self._user_id = ""
        self._requests_before = 0

    def _emit(self, event: Any) -> None:
        with contextlib.suppress(Exception):  # a broken progress display must never break a backup
            self.on_event(event)
    def _counted(self, result: PersonalityResult) -> PersonalityResult:
        """Stamp the requests made for this personality so far (for the run history)."""
        result.requests = self.client.requests_made - self._requests_before
        return result
    def _metadata(
        self,
        previous: dict[str, Any],
        profile: dict[str, Any],
        result: PersonalityResult,
        *,
        index_total: int,
    ) -> dict[str, Any]:
        meta = dict(previous)
        meta.update(
            {
                "formatVersion": FORMAT_VERSION,
                "tool": "tzbackup",
                "shapeId": str(profile.get("id")),
                "slug": result.slug,
                "displayName": str(profile.get("name") or ""),
                "ownerId": self._user_id,
                "folder": result.folder,
                "lastBackup": _iso(_now()),
                "totalMemories": index_total,
            }
        )
        meta.setdefault("chunkSize", CHUNK_SIZE)
        meta.setdefault("deletedUpstream", {})
        meta.setdefault("runs", [])
        return meta


def _run_record(
    result: PersonalityResult, started: datetime, finished: datetime, journal: Journal | None = None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "started": _iso(started),
        "finished": _iso(finished),
        "status": result.status,
        "new": result.new,
        "edited": result.edited,
        "deletedUpstream": result.deleted_upstream,
        "requests": result.requests,
        "fullWalk": result.full_walk,
        "error": result.error or None,
    }
    if result.profile_changes:
        record["profileChanges"] = result.profile_changes
    if journal is not None:
        record["walkReason"] = journal.reason or None
        record["resumed"] = journal.resumed
        if journal.unreadable:
            record["skippedWithoutId"] = journal.unreadable
            log.warning(
                "%s: %d page entries were not memory objects with an id; they are kept verbatim in "
                ".memory-quarantine.jsonl, not among the memories (the service's response format may have "
                "changed)",
                result.slug,
                journal.unreadable,
            )
    return record


def _append_run(runs: object, record: dict[str, Any]) -> list[Any]:
    history = list(runs) if isinstance(runs, list) else []
    history.append(record)
    return history[-MAX_RUNS_KEPT:]
