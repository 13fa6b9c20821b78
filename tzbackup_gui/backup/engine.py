"""The backup engine: profile + incremental memory sync that never loses data, resumable and cancellable.

Per personality: fetch the profile, check ownership, find (or rename, or create) its folder, then walk the
memory pages newest first. Every page is journaled to disk as it arrives; at the end the journal is merged
into the chunk files (oldest first) in one staged commit and deleted. See ``docs/INTERNALS.md`` and
``DESIGN.md``.

Walk rules (``walk.py`` has the details):

- first backup, ``--full``, or a last full walk older than ``reconcile_age_days``: a full walk, which must
  certify itself complete (a frontier from the server's total, or a bracket of the list's length with
  anchors where the service sends none) before it may record any upstream deletion;
- otherwise stop at the first page holding an already stored id (a *set* of known ids); after an early
  stop, when the server's total disagrees with ``stored live + new`` (plus the offset seen at the last full
  walk), the walk carries on from the next page as a full walk;
- an empty page or a 404 where the pagination says the list goes on is retried once, then fails the
  personality (everything fetched kept) instead of being taken for the end.

The memory walk itself (how it proves it saw the whole list) is in ``walk.py``. A damaged folder (a gap in
the chunk numbering, a file that does not parse, a memory without an id, counts that disagree) is never
touched: the backup refuses with :class:`CorruptBackupError` naming the file before any byte changes
(``verify`` keeps listing it). A walk that fails, is cancelled or loses its session commits what it fetched
(no deletions, the journal kept for the resume), so nothing fetched is ever only in the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import math
import os
from collections.abc import Awaitable, Callable, Generator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..archive.journal import Journal
from ..archive.layout import (
    CHUNK_SIZE,
    FORMAT_VERSION,
    MEMORY_DIR,
    METADATA_NAME,
    STATE_DIR,
    personalities_root,
    personality_path,
    safe_folder_name,
)
from ..archive.lock import DataDirLock
from ..archive.personality import CommitResult, MemoryIndex, PersonalityArchive, check_format
from ..archive.store import ensure_dir, write_error
from ..errors import (
    ArchiveError,
    AuthError,
    CorruptBackupError,
    DataDirLockedError,
    DiskFullError,
    DriftError,
    NotFoundError,
    NotOwnedError,
    OwnerMismatchError,
    ServerError,
    TzBackupError,
    UnsupportedFormatError,
)
from ..events import (
    EventCallback,
    PersonalityFailed,
    PersonalityFinished,
    PersonalityStarted,
    PhaseChanged,
    Reconciling,
    RunFinished,
    RunStarted,
    ignore_events,
)
from .images import sync_images
from .report import ALL_SECTIONS, BackupOptions, PersonalityResult, RunReport, run_stop_error
from .sections import SECTION_FILES, STOP_ERRORS, SectionOutcome, merge_metadata, sync_sections
from .walk import MemoryWalk, window_deletions

__all__ = ["BackupEngine", "MemoryPageLike", "ShapesService"]

T = TypeVar("T")
MAX_RUNS_KEPT = 500
log = logging.getLogger("tzbackup.engine")
_REFUSED = (NotOwnedError, OwnerMismatchError, UnsupportedFormatError)


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
    """``backup.chat.sync_chat`` when that module is installed (it is built separately), else ``None``."""
    try:
        module = importlib.import_module(f"{__package__}.chat")
    except ImportError:
        return None
    fn = getattr(module, "sync_chat", None)
    return fn if callable(fn) else None


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


def owner_ids(profile: dict[str, Any]) -> list[str]:
    """The profile's owners: ``user_id`` is an array (a lone string is tolerated)."""
    value = profile.get("user_id")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return []


class _Stop(Exception):
    """Internal: the whole run must stop (auth failure, bot wall, disk full, or the service / network gone:
    still rate limited, unreachable, or failing even the check that it answers at all)."""

    def __init__(self, error: TzBackupError, code: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.code = code

    @classmethod
    def because(cls, err: TzBackupError) -> _Stop:
        """The stop for ``err``: exit 3 for authentication, else 4, with the run's one plain message."""
        return cls(run_stop_error(err), 3 if isinstance(err, AuthError) else 4)


class BackupEngine:
    """Backs up personalities into ``data_dir/personalities/``. One instance per run is typical."""

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

    # --- the run -----------------------------------------------------------------------------------------

    async def run(self, slugs: Sequence[str] | None = None) -> RunReport:
        """Back up ``slugs`` (None = every owned personality). Cancelling leaves a resumable state, fills
        ``self.report`` (``cancelled=True``) and re-raises :class:`asyncio.CancelledError`."""
        report = self.report = RunReport()
        lock = DataDirLock(self.data_dir, wait=self.options.lock_wait)
        try:
            await _blocking(lock.acquire)
        except (DataDirLockedError, ArchiveError) as err:
            self._fatal(report, err, 4)
            self._emit(RunFinished(done=0, failed=0))
            return report
        try:
            await self._run_locked(report, slugs)
        except asyncio.CancelledError:
            report.cancelled = True
            for result in report.results:
                if result.status == "running":
                    result.status = "cancelled"
            report.compute_exit_code()
            self._emit(RunFinished(done=report.done, failed=report.failed, cancelled=True))
            raise
        finally:
            lock.release()
        self._emit(RunFinished(done=report.done, failed=report.failed))
        return report

    def _fatal(self, report: RunReport, err: TzBackupError, code: int) -> None:
        report.stopped_by = type(err).__name__
        report.error = str(err)
        report.hint = err.hint
        report.compute_exit_code(code)

    async def _run_locked(self, report: RunReport, slugs: Sequence[str] | None) -> None:
        """Back up each target in turn. A :class:`_Stop` ends the run: the personalities after it stay
        ``not_started`` (never tried, never reported as failed) and the report carries one message."""
        try:
            me = await self.client.me()
            self._user_id = str(me.get("id", ""))
            targets = await self._resolve(slugs)
        except TzBackupError as err:
            stop = _Stop.because(err)
            self._fatal(report, stop.error, stop.code)
            return
        report.results = [PersonalityResult(slug=slug) for slug in targets]
        self._emit(RunStarted(slugs=tuple(targets), delay=float(getattr(self._pacer(), "delay", 0.0))))
        for index, result in enumerate(report.results):
            if index > 0:
                self._personality_boundary()
            try:
                await self._backup_one(result, index, len(targets))
                if result.error_kind == ServerError.__name__ and index + 1 < len(targets):
                    # A 5xx that outlasted the retries may be this personality's own trouble (its data breaks
                    # the service) or the service being down. One cheap request tells: when it fails too,
                    # stop instead of trying every remaining personality against a service that is down.
                    self.client.current_slug = ""  # its retries belong to no personality's row
                    try:
                        await self.client.me()
                    except STOP_ERRORS as err:
                        raise _Stop.because(err) from err
                    except ServerError as err:
                        raise _Stop.because(err) from err
                    except TzBackupError:
                        pass  # the service answers (oddly): go on with the next personality
            except _Stop as stop:
                self._fatal(report, stop.error, stop.code)
                return
        report.compute_exit_code()

    def _pacer(self) -> object:
        return getattr(self.client, "pacer", None)

    def _personality_boundary(self) -> None:
        boundary = getattr(self._pacer(), "personality_boundary", None)
        if callable(boundary):
            boundary()

    async def _resolve(self, slugs: Sequence[str] | None) -> list[str]:
        """Slugs to back up: every owned one, or the given names (username, else a unique display name)."""
        shapes = list(await self.client.list_own_shapes())
        if slugs is None:
            return [s.username for s in shapes]
        resolved: list[str] = []
        for name in slugs:
            if any(s.username == name for s in shapes):
                resolved.append(name)
                continue
            by_name = [s for s in shapes if s.name == name] or [
                s for s in shapes if s.name.casefold() == name.casefold()
            ]
            resolved.append(by_name[0].username if len(by_name) == 1 else name)
        return list(dict.fromkeys(resolved))

    # --- one personality ---------------------------------------------------------------------------------

    async def _backup_one(self, result: PersonalityResult, index: int, count: int) -> None:
        slug = result.slug
        self.client.current_slug = slug
        before = self._requests_before = self.client.requests_made
        started = _now()
        result.status = "running"
        self._emit(PersonalityStarted(slug=slug, index=index, count=count))
        archive: PersonalityArchive | None = None
        try:
            self._emit(PhaseChanged(slug=slug, phase="profile"))
            try:
                profile = await self.client.get_profile(slug)
            except NotFoundError as err:
                raise NotFoundError(
                    f"No personality named {slug!r} on shapes.inc (HTTP 404). Check the username: it is the "
                    "name in the personality's URL; 'tzbackup list' shows yours.",
                    status=404,
                    url_path=err.url_path,
                ) from err
            shape_id = str(profile.get("id") or "")
            if not shape_id:
                raise DriftError(f"The profile of {slug!r} has no id.", arrived="profile without id")
            result.display_name = str(profile.get("name") or "")
            owned = self._user_id in owner_ids(profile)
            if not owned and not self.options.allow_not_owned:
                raise NotOwnedError(f"You are not an owner of {slug!r}, so its memories cannot be backed up.")
            archive = await _blocking(self._open_folder, shape_id, slug, profile)
            result.folder = archive.folder
            # a damaged folder is refused before any byte of it changes (the profile included)
            await _blocking(self._check_folder, archive)
            changes = await _blocking(archive.write_profile, profile)
            if changes:
                result.profile_changes = {
                    "added": list(changes.added),
                    "removed": list(changes.removed),
                    "changed": list(changes.changed),
                }
            if self.options.wants("memories") or not owned:
                await self._sync(archive, result, profile, owned, started)
            else:
                await self._skip_memories(archive, result, profile, started)
            result.status = "ok"
            try:
                await self._sync_sections(archive, result, shape_id, profile, owned)
            except STOP_ERRORS as err:
                # the memories are saved (status stays "ok", the section is marked failed): stop the run
                result.error, result.error_kind, result.hint = str(err), type(err).__name__, err.hint
                self._finish(result, archive, started, before)
                raise _Stop.because(err) from err
        except asyncio.CancelledError:
            if result.status != "ok":  # a cancel that came while the commit finished leaves a complete backup
                result.status = "cancelled"
                result.error = "Cancelled; the next run resumes where this one stopped."
            self._finish(result, archive, started, before)
            raise
        except (TzBackupError, OSError) as caught:
            if isinstance(caught, TzBackupError):
                problem: TzBackupError = caught
            else:  # an OS error the archive layer did not name (EIO, EACCES...): this personality failed
                problem = write_error(caught, Path(caught.filename or "?"))
            # A folder we must not touch (someone else's, a newer format, damaged) is refused; a plain I/O
            # failure, a full disk or a lock is a failure.
            refused = isinstance(problem, _REFUSED) or (
                isinstance(problem, ArchiveError)
                and type(problem) is not ArchiveError
                and not isinstance(problem, DiskFullError | DataDirLockedError)
            )
            result.status = "refused" if refused else "failed"
            result.error, result.error_kind, result.hint = str(problem), type(problem).__name__, problem.hint
            self._finish(result, archive, started, before)
            if isinstance(problem, STOP_ERRORS):  # the next personality would meet it too: stop the run
                raise _Stop.because(problem) from caught
            return
        self._finish(result, archive, started, before)

    async def _sync_sections(
        self,
        archive: PersonalityArchive,
        result: PersonalityResult,
        shape_id: str,
        profile: dict[str, Any],
        owned: bool,
    ) -> None:
        """The sections after the memories, each only when wanted: knowledge, training, personalization
        (``sections.py``) and chat (``chat.py``) for owned personalities, images (``images.py``, public) for
        any. Each fails alone, never the memories; :data:`STOP_ERRORS` stop the run, after the outcomes
        so far are saved (sections not wanted keep their files and summaries untouched)."""
        wants = self.options.wants
        outcomes: dict[str, SectionOutcome] = {}
        try:
            small = [name for name in SECTION_FILES if wants(name)] if owned else []
            if small:
                self._emit(PhaseChanged(slug=result.slug, phase="sections"))
                await sync_sections(
                    self.client, shape_id, archive.path, _blocking, names=small, outcomes=outcomes
                )
            # a client without the endpoint (a test double) has nothing to report, as in sync_sections
            can_chat = callable(getattr(self.client, "get_chat_history", None))
            chat = load_chat_sync() if owned and wants("chat") and can_chat else None
            if chat is not None:
                self._emit(PhaseChanged(slug=result.slug, phase="chat"))

                def chat_progress(messages: int) -> None:
                    self._emit(PhaseChanged(slug=result.slug, phase="chat", detail=f"{messages} messages"))

                await self._section(
                    outcomes, "chat",
                    lambda: chat(
                        self.client, shape_id, archive.path, _blocking, full=self.options.full,
                        on_progress=chat_progress,
                    ),
                )
            if wants("images") and callable(getattr(self.client, "download", None)):
                self._emit(PhaseChanged(slug=result.slug, phase="images"))
                current: dict[str, Any] | None = await _blocking(archive.read_metadata)
                previous = ((current or {}).get("sections") or {}).get("images")
                await self._section(
                    outcomes, "images",
                    lambda: sync_images(self.client, profile, archive.path, _blocking, previous),
                )
        finally:
            if outcomes:
                result.sections = {name: outcome.status for name, outcome in outcomes.items()}
                stored: dict[str, Any] | None = await _blocking(archive.read_metadata)
                metadata = merge_metadata(stored or {}, outcomes)
                runs = metadata.get("runs")
                if isinstance(runs, list) and runs and isinstance(runs[-1], dict):
                    # the run record was written with the memories; count the sections' requests too
                    runs[-1]["requests"] = self.client.requests_made - self._requests_before
                await _blocking(archive.write_metadata, metadata)

    async def _section(
        self,
        outcomes: dict[str, SectionOutcome],
        name: str,
        start: Callable[[], Awaitable[SectionOutcome]],
    ) -> None:
        """Run one section; a run-stopping error is recorded as its failure, then re-raised."""
        try:
            outcomes[name] = await start()
        except STOP_ERRORS as err:
            outcomes[name] = SectionOutcome(name, "failed", 0, str(err) or type(err).__name__)
            raise

    async def _skip_memories(
        self,
        archive: PersonalityArchive,
        result: PersonalityResult,
        profile: dict[str, Any],
        started: datetime,
    ) -> None:
        """Memories not wanted this run: no memory request; the metadata still names the personality (a
        first backup is a valid folder with 0 memories) and keeps the memory counters as they were."""
        metadata = await _blocking(archive.read_metadata) or {}
        total = metadata.get("totalMemories")
        total = total if isinstance(total, int) else 0
        meta = self._metadata(metadata, profile, result, started, index_total=total)
        result.total = total
        server_total = meta.get("serverTotal")
        result.server_total = server_total if isinstance(server_total, int) else None
        result.status = "ok"
        record = _run_record(self._counted(result), started, _now())
        record["skipped"] = [name for name in ALL_SECTIONS if not self.options.wants(name)]
        meta["runs"] = _append_run(metadata.get("runs"), record)
        await _blocking(archive.write_metadata, meta)

    def _counted(self, result: PersonalityResult) -> PersonalityResult:
        """Stamp the requests made for this personality so far (for the run history)."""
        result.requests = self.client.requests_made - self._requests_before
        return result

    def _finish(
        self, result: PersonalityResult, archive: PersonalityArchive | None, started: datetime, before: int
    ) -> None:
        result.requests = self.client.requests_made - before
        if result.status != "ok" and archive is not None:
            self._record_attempt(archive, result, started)
        if result.status == "ok":
            self._emit(
                PersonalityFinished(
                    slug=result.slug,
                    new=result.new,
                    edited=result.edited,
                    deleted_upstream=result.deleted_upstream,
                    total=result.total,
                    server_total=result.server_total,
                    requests=result.requests,
                    full_walk=result.full_walk,
                    extra={"sections": dict(result.sections)} if result.sections else {},
                )
            )
        else:
            self._emit(
                PersonalityFailed(
                    slug=result.slug,
                    error=result.error,
                    kind=result.error_kind or result.status,
                    hint=result.hint,
                    resumable=result.status in ("failed", "cancelled"),
                )
            )

    @staticmethod
    def _check_folder(archive: PersonalityArchive) -> None:
        """Refuse a damaged folder (:class:`CorruptBackupError` names the file) before touching it."""
        metadata = archive.read_metadata() or {}
        archive.load_index(int(metadata.get("chunkSize") or CHUNK_SIZE))

    def _record_attempt(
        self, archive: PersonalityArchive, result: PersonalityResult, started: datetime
    ) -> None:
        """Add an unsuccessful attempt to the run history (best effort: the disk may be full). A folder
        refused as damaged is left exactly as it was: not a byte changes, not even its run history."""
        if result.error_kind == CorruptBackupError.__name__:
            return
        try:
            metadata = archive.read_metadata()
            if metadata is None or metadata.get("formatVersion") != FORMAT_VERSION:
                return
            record = _run_record(self._counted(result), started, _now())
            metadata["runs"] = _append_run(metadata.get("runs"), record)
            archive.write_metadata(metadata)
        except (OSError, TzBackupError):
            pass

    # --- folder ------------------------------------------------------------------------------------------

    def _open_folder(self, shape_id: str, slug: str, profile: dict[str, Any]) -> PersonalityArchive:
        """Find this shape's folder (renaming it after a slug change) or create it; check format and owner."""
        root = personalities_root(self.data_dir)
        ensure_dir(root)
        folders = sorted(e for e in os.listdir(root) if (root / e).is_dir())
        owner_of: dict[str, str] = {}
        metas: dict[str, dict[str, Any] | None] = {}
        damaged: dict[str, TzBackupError] = {}
        for name in folders:
            try:
                meta = PersonalityArchive(root / name).read_metadata()
            except TzBackupError as err:
                meta, damaged[name] = None, err
            metas[name] = meta
            if meta and isinstance(meta.get("shapeId"), str):
                owner_of[meta["shapeId"]] = name
        folder = owner_of.get(shape_id)
        if folder is None:
            if safe_folder_name(slug) in damaged:  # our folder, but its metadata cannot be read: never guess
                raise CorruptBackupError(
                    f"The backup of {slug!r} cannot be used: {damaged[safe_folder_name(slug)]} "
                    "Nothing was changed.",
                    path=str(root / safe_folder_name(slug) / METADATA_NAME),
                    hint="Restore that file from a copy, or move the folder aside and back up again; "
                    "'tzbackup verify' shows details.",
                )
            folder = self._new_folder_name(slug, folders, metas)
        else:
            meta = metas[folder] or {}
            if meta.get("slug") != slug:
                folder = self._rename(root, folder, slug, folders)
        archive = PersonalityArchive(personality_path(self.data_dir, folder))
        metadata = archive.read_metadata() if archive.path.exists() else None
        if metadata is None:
            if _has_foreign_files(archive.path):
                check_format({}, archive.path)  # an older tool's folder: refuse, never reinterpret
            archive.create_dirs()
            result = PersonalityResult(slug=slug, folder=folder)
            initial = self._metadata({}, profile, result, _now(), index_total=0)
            initial["lastBackup"] = None
            archive.write_metadata(initial)
            return archive
        check_format(metadata, archive.path)
        owner = metadata.get("ownerId")
        if owner and owner != self._user_id:
            raise OwnerMismatchError(
                f"The backup folder {archive.path} belongs to another shapes.inc account; "
                "tzbackup never mixes two accounts' data."
            )
        archive.create_dirs()
        archive.recover()
        return archive

    def _new_folder_name(self, slug: str, folders: list[str], metas: dict[str, dict[str, Any] | None]) -> str:
        plain = safe_folder_name(slug)
        if plain in metas:
            meta = metas[plain]
            path = personalities_root(self.data_dir) / plain
            if meta is None and not _has_foreign_files(path):
                return plain  # our own folder, left by a run that died before writing any metadata
            if meta is None and (path / STATE_DIR).is_dir():
                raise CorruptBackupError(
                    f"The backup of {slug!r} in {path} has lost its {METADATA_NAME} (the memory files are "
                    "still there). Nothing was changed.",
                    path=str(path / METADATA_NAME),
                    hint="Restore that file from a copy, or move the folder aside and back up again.",
                )
            check_format(meta or {}, path)
            return safe_folder_name(slug, taken=folders)
        return safe_folder_name(slug, taken=[f for f in folders if f != plain])

    def _rename(self, root: Path, folder: str, slug: str, folders: list[str]) -> str:
        """The shape's slug changed: move its folder (and the files named after it) to the new name."""
        target = safe_folder_name(slug, taken=[f for f in folders if f != folder])
        if target == folder:
            return folder
        if (root / target).exists():
            return folder  # keep the old folder rather than touch another one; the metadata has the slug
        os.rename(personality_path(self.data_dir, folder), root / target)
        archive = PersonalityArchive(personality_path(self.data_dir, target))
        archive.adopt_folder_name()
        return target

    # --- memories ----------------------------------------------------------------------------------------

    async def _sync(
        self,
        archive: PersonalityArchive,
        result: PersonalityResult,
        profile: dict[str, Any],
        owned: bool,
        started: datetime,
    ) -> None:
        metadata = await _blocking(archive.read_metadata) or {}
        chunk_size = int(metadata.get("chunkSize") or CHUNK_SIZE)
        self._emit(PhaseChanged(slug=result.slug, phase="memories"))
        index = await _blocking(archive.load_index, chunk_size)
        if not owned:
            meta = self._metadata(metadata, profile, result, started, index_total=len(index))
            meta["profileOnly"] = True
            result.total = len(index)
            result.status = "ok"
            record = _run_record(self._counted(result), started, _now())
            meta["runs"] = _append_run(metadata.get("runs"), record)
            await _blocking(archive.write_metadata, meta)
            return
        journal = await _blocking(Journal.open_existing, archive.journal_path)
        if journal is None:
            mode, reason = self._plan(metadata, index)
            journal = await _blocking(
                lambda: Journal.start(archive.journal_path, mode=mode, reason=reason, started=_iso(started))
            )
            if mode == "full" and reason != "first backup":
                self._emit(Reconciling(slug=result.slug, reason=reason))
        else:
            self._emit(
                PhaseChanged(slug=result.slug, phase="memories", detail="resuming an interrupted walk")
            )
            if self.options.full and journal.mode != "full" and not journal.done:
                reason = "a full walk was asked for (--full)"
                await _blocking(journal.switch_mode, "full", reason)
                self._emit(Reconciling(slug=result.slug, reason=reason))
        walk = MemoryWalk(self, result.slug, str(profile["id"]), journal, index, metadata, _blocking)
        if not journal.done:
            try:
                await walk.run()
            except BaseException:
                # failed, cancelled, session lost: what arrived is committed now (no deletions, the walk
                # resumes next time), never left only in the journal
                await self._keep_fetched(archive, journal, index, metadata, chunk_size, result)
                raise
            await _blocking(journal.mark_done)
        self._emit(PhaseChanged(slug=result.slug, phase="saving"))
        await self._commit(archive, journal, walk, index, metadata, profile, result, started, chunk_size)

    async def _keep_fetched(
        self,
        archive: PersonalityArchive,
        journal: Journal,
        index: MemoryIndex,
        metadata: dict[str, Any],
        chunk_size: int,
        result: PersonalityResult,
    ) -> None:
        """Commit the memories an unfinished walk fetched into the memory files, so that ``status``,
        ``search``, the browser and ``export`` see them at once. The journal stays (the walk resumes from
        it); nothing is recorded as deleted; ``lastBackup`` keeps naming the last successful backup. The
        result carries what is stored now and what this run added (for the summary and the run record).
        Best effort: when this fails too (a full disk), the journal still holds everything."""
        unfinished = {"started": journal.started, "fetched": len(journal.items), "committed": _iso(_now())}
        result.total = len(index)
        result.server_total = journal.last_total
        changed = any(
            mid not in index or index.entries[index.pos[mid]].hash != item.hash
            for mid, item in journal.items.items()
        )

        def make_metadata(done: CommitResult) -> dict[str, Any]:
            result.new, result.edited, result.total = done.new, done.edited, done.total
            meta = dict(metadata)
            meta["formatVersion"] = FORMAT_VERSION
            meta["totalMemories"] = done.total
            meta["lastMemoryId"] = done.last_id
            meta["chunkSize"] = chunk_size
            meta["memoryFiles"] = math.ceil(done.total / chunk_size) if done.total else 0
            meta["unfinishedWalk"] = unfinished
            if journal.last_total is not None:  # the service's newest word, so the views show it
                meta["serverTotal"] = journal.last_total
            return meta

        try:
            if changed:
                steps = archive.commit_steps(
                    journal, index, chunk_size, _iso(_now()), make_metadata, keep_journal=True
                )
                await _blocking_steps(steps)
            elif journal.items and metadata.get("formatVersion") == FORMAT_VERSION:
                fresh = {**metadata, "unfinishedWalk": unfinished}
                if journal.last_total is not None:
                    fresh["serverTotal"] = journal.last_total
                await _blocking(archive.write_metadata, fresh)
        except (OSError, TzBackupError) as err:
            log.warning("%s: the fetched memories stay in the walk journal only: %s", archive.folder, err)

    def _plan(self, metadata: dict[str, Any], index: MemoryIndex) -> tuple[str, str]:
        """Full walk or early-stop walk, and why."""
        last_full = _parse_iso(metadata.get("lastFullReconcile"))
        if last_full is None and not len(index):
            return "full", "first backup"
        if self.options.full:
            return "full", "a full walk was asked for (--full)"
        if last_full is None:
            return "full", "no full walk was recorded yet"
        age = _now() - last_full
        if age > timedelta(days=self.options.reconcile_age_days):
            return "full", f"the last full walk is {age.days} days old"
        return "incremental", ""

    async def _commit(
        self,
        archive: PersonalityArchive,
        journal: Journal,
        walk: MemoryWalk,
        index: MemoryIndex,
        metadata: dict[str, Any],
        profile: dict[str, Any],
        result: PersonalityResult,
        started: datetime,
        chunk_size: int,
    ) -> None:
        now = _now()
        deleted: dict[str, str] = dict(metadata.get("deletedUpstream") or {})
        # Only a walk that certified itself complete may record upstream deletions.
        full = walk.certified
        if full:
            gone = [e.id for e in index.entries if e.id not in journal.items and e.id not in deleted]
        elif walk.window_clean:
            gone = window_deletions(index, journal, deleted)
        else:
            gone = []
        for mid in gone:
            deleted[mid] = _iso(now)
        newly_deleted = len(gone)
        for mid in list(deleted):
            if mid in journal.items:
                del deleted[mid]  # it is back upstream
        server_total = journal.last_total
        result.full_walk = full
        result.deleted_upstream = newly_deleted

        def make_metadata(done: CommitResult) -> dict[str, Any]:
            result.new, result.edited, result.total = done.new, done.edited, done.total
            result.status = "ok"
            meta = self._metadata(metadata, profile, result, started, index_total=done.total)
            meta["lastMemoryId"] = done.last_id
            meta["deletedUpstream"] = deleted
            meta["chunkSize"] = chunk_size
            meta["memoryFiles"] = math.ceil(done.total / chunk_size) if done.total else 0
            if full:
                seen = len(journal.items)
                meta["lastFullReconcile"] = _iso(now)
                stable = len(set(journal.totals)) <= 1
                if server_total is not None and stable:
                    meta["totalOffset"] = server_total - seen
                # the list's length where the certified walk ended it, not every memory it met on the way
                live = walk.live_count
                meta["liveAtLastFullWalk"] = live if live is not None else seen
            meta.pop("unfinishedWalk", None)
            # only what the server said: None when it sends no total (``liveAtLastFullWalk`` is ours)
            meta["serverTotal"] = server_total
            result.server_total = server_total
            record = _run_record(self._counted(result), started, now, journal)
            meta["runs"] = _append_run(metadata.get("runs"), record)
            return meta

        await _blocking_steps(archive.commit_steps(journal, index, chunk_size, _iso(now), make_metadata))

    def _metadata(
        self,
        previous: dict[str, Any],
        profile: dict[str, Any],
        result: PersonalityResult,
        started: datetime,
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


def _has_foreign_files(path: Path) -> bool:
    """True when a folder without our metadata holds anything we did not put there."""
    if not path.is_dir():
        return False
    for entry in os.listdir(path):
        if entry in (STATE_DIR, MEMORY_DIR) and not os.listdir(path / entry):
            continue
        if entry == STATE_DIR:
            continue
        return True
    return False


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


async def run_backup(
    client: ShapesService,
    data_dir: Path,
    slugs: Sequence[str] | None = None,
    *,
    options: BackupOptions | None = None,
    on_event: EventCallback | None = None,
) -> RunReport:
    """Convenience wrapper: one engine, one run."""
    return await BackupEngine(client, data_dir, options=options, on_event=on_event).run(slugs)
