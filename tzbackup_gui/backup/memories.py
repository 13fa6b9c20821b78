"""The memory sync of one personality: incremental, never losing data, resumable and cancellable.

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

import math
from datetime import datetime, timedelta
from typing import Any

from ..archive.journal import Journal
from ..archive.layout import CHUNK_SIZE, FORMAT_VERSION
from ..archive.personality import CommitResult, MemoryIndex, PersonalityArchive
from ..errors import TzBackupError
from ..events import PhaseChanged, Reconciling
from . import engine
from .engine import (
    EngineCore,
    _append_run,
    _blocking,
    _blocking_steps,
    _iso,
    _parse_iso,
    _run_record,
    log,
)
from .report import ALL_SECTIONS, PersonalityResult
from .walk import MemoryWalk, window_deletions

__all__ = ["MemorySteps"]


class MemorySteps(EngineCore):
    """The memory steps of :class:`~.run.BackupEngine`."""

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
        meta = self._metadata(metadata, profile, result, index_total=total)
        result.total = total
        server_total = meta.get("serverTotal")
        result.server_total = server_total if isinstance(server_total, int) else None
        result.status = "ok"
        record = _run_record(self._counted(result), started, engine._now())
        record["skipped"] = [name for name in ALL_SECTIONS if not self.options.wants(name)]
        meta["runs"] = _append_run(metadata.get("runs"), record)
        await _blocking(archive.write_metadata, meta)
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
            meta = self._metadata(metadata, profile, result, index_total=len(index))
            meta["profileOnly"] = True
            result.total = len(index)
            result.status = "ok"
            record = _run_record(self._counted(result), started, engine._now())
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
        committed = _iso(engine._now())
        unfinished = {"started": journal.started, "fetched": len(journal.items), "committed": committed}
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
                    journal, index, chunk_size, _iso(engine._now()), make_metadata, keep_journal=True
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
        age = engine._now() - last_full
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
        now = engine._now()
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
            meta = self._metadata(metadata, profile, result, index_total=done.total)
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
