"""A backup run over personalities: lock the data folder, resolve the names, then for each personality in turn
its profile, folder, memories and sections; a failure stays with its personality unless the next one would
meet it too (authentication, the service or the network gone, a full disk), which stops the run.

The steps themselves live beside this module: ``folders.py``, ``memories.py`` (with ``walk.py``),
``sections.py``, ``chat.py``, ``images.py``. See ``docs/INTERNALS.md``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..archive.layout import FORMAT_VERSION
from ..archive.lock import DataDirLock
from ..archive.personality import PersonalityArchive
from ..archive.store import write_error
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
    RunFinished,
    RunStarted,
)
from . import engine
from .engine import ShapesService, _append_run, _blocking, _run_record
from .folders import FolderSteps
from .images import sync_images
from .memories import MemorySteps
from .report import BackupOptions, PersonalityResult, RunReport, run_stop_error
from .sections import SECTION_FILES, STOP_ERRORS, SectionOutcome, merge_metadata, sync_sections

__all__ = ["BackupEngine", "owner_ids", "run_backup"]

_REFUSED = (NotOwnedError, OwnerMismatchError, UnsupportedFormatError)
#: what the check after a lasting 5xx stops the run on: the service (or the way to it) is down
_SERVICE_DOWN: tuple[type[TzBackupError], ...] = (*STOP_ERRORS, ServerError)


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

class BackupEngine(MemorySteps, FolderSteps):
    """Backs up personalities into ``data_dir/personalities/``. One instance per run is typical."""

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
                    except _SERVICE_DOWN as err:
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
        self._requests_before = self.client.requests_made
        started = engine._now()
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
                self._finish(result, archive, started)
                raise _Stop.because(err) from err
        except asyncio.CancelledError:
            if result.status != "ok":  # a cancel that came while the commit finished leaves a complete backup
                result.status = "cancelled"
                result.error = "Cancelled; the next run resumes where this one stopped."
            self._finish(result, archive, started)
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
            self._finish(result, archive, started)
            if isinstance(problem, STOP_ERRORS):  # the next personality would meet it too: stop the run
                raise _Stop.because(problem) from caught
            return
        self._finish(result, archive, started)

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
            chat = engine.load_chat_sync() if owned and wants("chat") and can_chat else None
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

    def _finish(
        self, result: PersonalityResult, archive: PersonalityArchive | None, started: datetime
    ) -> None:
        self._counted(result)
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
            record = _run_record(self._counted(result), started, engine._now())
            metadata["runs"] = _append_run(metadata.get("runs"), record)
            archive.write_metadata(metadata)
        except (OSError, TzBackupError):
            pass


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
