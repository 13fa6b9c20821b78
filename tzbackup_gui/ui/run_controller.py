"""One backup run at a time, seen from the desktop: start, cancel, engine events → row state, error policy.

Qt-light on purpose (a ``QObject`` with signals, no widgets): the main window, the tray and the scheduler
all talk to this object instead of to each other, so none of them imports the main window. What only the
window can do (check the data folder's banner, reread the rows, ask for a new sign-in) it offers through
the small :class:`RunHost` protocol; everything the run wants shown goes out as a signal.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from PySide6.QtCore import QObject, QSettings, Signal

from ..app import AppContext
from ..errors import TzBackupError
from ..events import (
    BackupEvent,
    PersonalityFailed,
    PersonalityFinished,
    PersonalityStarted,
    Reconciling,
    Retrying,
    Waiting,
)
from .notifier import Notifier, NullNotifier
from .personalities_model import PersonalitiesModel
from .progress import RunTracker
from .run_words import AUTH_KINDS, failure_reason, stop_message
from .sections import chosen_sections

__all__ = ["ERROR_TITLES", "LONG_RUN_SECONDS", "RunController", "RunHost", "RunOutcome", "RunStop"]

log = logging.getLogger("tzbackup.ui")

#: The title of the one dialog a failure of this kind gets; other kinds are only shown in the table.
ERROR_TITLES = {
    "BotWallError": "Blocked by bot protection",
    "RateLimitedError": "The service is rate limiting",
    "DriftError": "The service changed its answers",
    "DiskFullError": "The disk is full",
    "DataDirLockedError": "Another backup is running",
    "BackupBusyError": "A backup is already running",
    "ServerError": "The service is having trouble",
    "NetworkError": "Cannot reach the service",
    "NotOwnedError": "Not your personality",
    "OwnerMismatchError": "Backup belongs to another account",
    "UnsupportedFormatError": "Backup folder in an unknown format",
    "CorruptBackupError": "A backup file is damaged",
}
#: A run longer than this gets a desktop notification when it ends.
LONG_RUN_SECONDS = 20.0

_NOT_FAILED = frozenset({"ok", "skipped", "off"})


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended (emitted once per run, before any dialog it opens): the scheduler records it."""

    ok: bool
    cancelled: bool
    reason: str  # "" when ok; else what stopped it or the first failure
    summary: str  # the tracker's one-line summary
    scheduled: bool
    auth: bool = False  # the session ended during the run (a new sign-in is needed)


class RunHost(Protocol):
    """What the run asks of the window that shows it (the main window is one, structurally)."""

    def check_data_dir(self) -> str:
        """Why the data folder cannot be used now ("" when it can); the window's banner follows."""
        ...

    async def reload_local(self) -> None:
        """Reread the rows' last-backup times and counts from the archive after a run."""
        ...

    async def sign_in_after_run(self, scheduled: bool) -> bool:
        """The session ended during a run: ask for a new sign-in. True when the run should go on."""
        ...

    def isActiveWindow(self) -> bool:
        ...


class RunStop:
    """Why a whole run stopped: an exception that escaped, or the engine's ``report.stopped_by``."""

    def __init__(self, kind: str, message: str, hint: str) -> None:
        self.kind, self.message, self.hint = kind, message, hint

    @classmethod
    def from_outcome(cls, fatal: TzBackupError | None, report: Any) -> RunStop | None:
        if fatal is not None:
            return cls(type(fatal).__name__, fatal.message, fatal.hint)
        kind = str(getattr(report, "stopped_by", "") or "")
        if kind:
            return cls(
                kind, str(getattr(report, "error", "") or kind), str(getattr(report, "hint", "") or "")
            )
        return None


class RunController(QObject):
    """Starts and cancels runs, feeds the engine's events to the tracker and the rows, and decides what the
    user is told when a run ends (one dialog, a notification, a new sign-in)."""

    starting = Signal(object, bool)  # slugs (None = all), scheduled: accepted, before any request
    running_changed = Signal(bool)  # the run began / has stopped (rows and tracker final)
    state_changed = Signal()  # running / cancel-requested changed: buttons follow
    status_text = Signal(str)  # the one-line status under the table
    stopped = Signal(str)  # a run has stopped: its summary (the tray shows it)
    refused = Signal(str)  # a start was refused: why, for the status bar
    error_found = Signal(str, str, str)  # kind, message, hint: one dialog
    run_outcome = Signal(object)  # RunOutcome, once per run, before any dialog
    run_finished = Signal()  # the run has settled (dialogs opened, notifications sent)
    close_requested = Signal()  # the user chose to quit during the run: it has stopped now

    def __init__(
        self,
        ctx: AppContext,
        model: PersonalitiesModel,
        settings: QSettings,
        host: RunHost,
        *,
        notifier: Notifier | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.model, self.settings, self.host = ctx, model, settings, host
        self.notifier: Notifier = notifier or NullNotifier()
        self.tracker = RunTracker()
        self.model.progress = self.tracker.rows
        self.task: asyncio.Task[None] | None = None
        self.cancel_requested = False
        self.close_after_run = False  # quit once the run has stopped (the user said so)
        self.last_error = ""  # the kind of the last problem the user was told about ("auth" for a sign-in)
        self.failures: list[PersonalityFailed] = []
        self._busy = False
        self._scheduled_run = False

    @property
    def running(self) -> bool:
        """True from the click until the run has settled (rows, buttons), before its task returns."""
        return self._busy

    @property
    def settling(self) -> bool:
        """The last run's task is still finishing (reloading rows, showing its outcome, asking to sign in)."""
        return self.task is not None and not self.task.done()

    # --- control -----------------------------------------------------------------------------------

    def start(self, slugs: list[str] | None, *, scheduled: bool = False) -> bool:
        """Start a run as a task; a second run while one is in flight is refused (``refused`` says why)."""
        if self.running:
            self.refused.emit("A backup is already running.")
            return False
        if self.ctx.credential is None:
            self.refused.emit("Sign in first.")
            return False
        if self.host.check_data_dir():
            self.refused.emit("Choose a data folder that can be used first.")
            return False
        self._busy = True
        self._scheduled_run = scheduled
        self.starting.emit(slugs, scheduled)
        self._prepare(slugs)
        self.task = asyncio.ensure_future(self._run(slugs))
        self.state_changed.emit()
        return True

    def cancel(self) -> None:
        if self.running:
            self.cancel_requested = True
            self.status_text.emit("Cancelling…")
            self.state_changed.emit()
            self.ctx.cancel_backup()

    def stop_and_close(self) -> None:
        """Quit was confirmed during a run: cancel it cleanly; ``close_requested`` follows when it stopped."""
        self.close_after_run = True
        self.cancel_requested = True
        self.ctx.cancel_backup()

    # --- one run -------------------------------------------------------------------------------------

    def _prepare(self, slugs: list[str] | None) -> None:
        """Show the rows as queued at once (the click must be visible before the first request)."""
        rows = slugs if slugs is not None else self.model.owned_slugs()
        known = self.model.rows()
        before = self.tracker.rows  # the last run's: what the service said in it, for an unfinished walk
        self.tracker.prior = {
            r.slug: (r.total_memories or 0, _said_total(r, before.get(r.slug))) for r in known
        }
        # a walk an earlier run did not finish resumes: its progress starts from what it fetched
        self.tracker.resume = {r.slug: r.unfinished_fetched for r in known if r.pending_resume}
        self.tracker.first = {r.slug for r in known if r.last_backup is None}
        self.model.mark_dirty(self.tracker.start(rows, self.ctx.pacer_delay()))
        self.model.progress = self.tracker.rows
        self.failures = []
        self.cancel_requested = False
        self.last_error = ""
        self.status_text.emit(self.tracker.summary())

    async def _run(self, slugs: list[str] | None) -> None:
        rows = slugs if slugs is not None else self.model.owned_slugs()
        scheduled = self._scheduled_run
        self.running_changed.emit(True)
        log.info("Backup started: %s", ", ".join(rows) if slugs is not None else "all personalities")
        started = time.monotonic()
        fatal: TzBackupError | None = None
        report: Any = None
        cancelled = False
        try:
            report = await self.ctx.run_backup(slugs, self._on_event, sections=chosen_sections(self.settings))
        except asyncio.CancelledError:
            if not self.cancel_requested:
                self._finish(cancelled=True)
                raise
            cancelled = True
        except TzBackupError as err:
            fatal = err
        except Exception as err:  # never a traceback: say what happened, keep the log for details
            fatal = TzBackupError(
                f"The backup stopped unexpectedly ({type(err).__name__}).",
                hint="The next backup resumes where this one stopped.",
            )
            log.error("Unexpected error during the backup: %s", type(err).__name__)
        cancelled = cancelled or bool(getattr(report, "cancelled", False))
        stopped = RunStop.from_outcome(fatal, report)
        if stopped is not None:
            log.warning("The backup stopped: %s (%s)", stopped.message, stopped.kind)
        self.tracker.stop_kind = stopped.kind if stopped is not None and not cancelled else ""
        self._finish(cancelled=cancelled)
        outcome = self._outcome(stopped, cancelled, scheduled)  # before any await: a new run may start
        await self.host.reload_local()
        self._apply_report_sections(report)
        self.run_outcome.emit(outcome)
        await self._after_run(slugs, stopped, cancelled, time.monotonic() - started, scheduled=scheduled)

    def _finish(self, *, cancelled: bool) -> None:
        self._busy = False
        self.model.mark_dirty(self.tracker.stop(cancelled=cancelled or self.cancel_requested))
        self.model.flush()
        self.running_changed.emit(False)
        summary = self.tracker.summary()
        self.status_text.emit(summary)
        self.stopped.emit(summary)
        log.info(summary)

    def _auth_ended(self, stopped: RunStop | None) -> bool:
        """The session ended during the run (the run stopped for it, or a personality failed for it)."""
        return (stopped is not None and stopped.kind in AUTH_KINDS) or any(
            f.kind in AUTH_KINDS for f in self.failures
        )

    def _outcome(self, stopped: RunStop | None, cancelled: bool, scheduled: bool) -> RunOutcome:
        reason = ""
        if stopped is not None:
            reason = stop_message(stopped.kind, stopped.message)
        elif self.failures:
            first = self.failures[0]
            reason = f"{self._name(first.slug)}: {failure_reason(first.kind)}" if first.slug else first.error
            if len(self.failures) > 1:
                reason += f" (and {len(self.failures) - 1} more)"
        ok = not cancelled and stopped is None and not self.failures
        return RunOutcome(ok, cancelled, reason, self.tracker.summary(), scheduled, self._auth_ended(stopped))

    def _apply_report_sections(self, report: Any) -> None:
        """Sections the engine reports failed in this run, for rows the metadata did not already flag
        (e.g. when the metadata could not be written): a partial backup never looks like a full one."""
        for result in getattr(report, "results", None) or []:
            failed = [n for n, status in getattr(result, "sections", {}).items() if status not in _NOT_FAILED]
            row = self.model.row_for(str(getattr(result, "slug", "")))
            if row is None or not failed:
                continue
            merged = {n: row.failed_sections.get(n, "failed in this run") for n in failed}
            if merged != row.failed_sections:
                self.model.update_row(row.slug, failed_sections={**row.failed_sections, **merged})
        self.model.flush()

    # --- the error policy: what the user is told when a run ends --------------------------------------

    async def _after_run(
        self,
        slugs: list[str] | None,
        stopped: RunStop | None,
        cancelled: bool,
        seconds: float,
        *,
        scheduled: bool = False,
    ) -> None:
        if self._auth_ended(stopped) and not cancelled:
            self.last_error = "auth"
            self.run_finished.emit()
            if self.close_after_run:
                self.close_requested.emit()
                return
            if await self.host.sign_in_after_run(scheduled):
                log.info("Resuming the backup with the new session")
                # this coroutine is still the run task: start the next run once it has ended
                asyncio.get_running_loop().call_soon(self.start, slugs)
            return
        if stopped is not None and not cancelled:
            self.error_found.emit(stopped.kind, self._stop_text(stopped), stopped.hint)
        elif not cancelled:
            self._report_failures()
        if self.close_after_run:
            self.run_finished.emit()
            self.close_requested.emit()
            return
        if scheduled:
            pass  # the scheduler notifies about its own runs (finished, failed, paused)
        elif seconds >= LONG_RUN_SECONDS or not self.host.isActiveWindow():
            error = stopped is not None or bool(self.failures)
            self.notifier.notify("tzbackup", self.tracker.summary(), error=error)
        self.run_finished.emit()

    def _stop_text(self, stopped: RunStop) -> str:
        """The stop in one plain sentence, and what was kept: no request path, no exception class (those are
        in the row's tooltip and the log)."""
        text = stop_message(stopped.kind, stopped.message)
        kept = [
            f"{self._name(slug)}: {row.done:,}" + (f" of {row.expected:,}" if row.expected else "")
            for slug, row in self.tracker.rows.items()
            if row.state in ("failed", "cancelled") and row.done
        ]
        if kept:
            text += f" Everything fetched so far is kept ({'; '.join(kept)} memories)."
        return text

    def _name(self, slug: str) -> str:
        row = self.model.row_for(slug)
        return row.display_name if row is not None else slug

    def _report_failures(self) -> None:
        """One plain message for the failures a person can act on (the rest is in the table): a few words
        per personality; the full errors are in the rows' tooltips and the log."""
        seen: dict[str, list[PersonalityFailed]] = {}
        for failure in self.failures:
            if failure.kind in ERROR_TITLES:
                seen.setdefault(failure.kind, []).append(failure)
        if not seen:
            return
        first = next(iter(seen.values()))[0]
        lines = [
            f"{self._name(f.slug)}: {failure_reason(f.kind)}" if f.slug else failure_reason(f.kind)
            for failures in seen.values() for f in failures
        ]
        hints = "\n".join(dict.fromkeys(fs[0].hint for fs in seen.values() if fs[0].hint))
        self.error_found.emit(first.kind, "\n".join(lines), hints)

    # --- engine events → row state ------------------------------------------------------------------

    def _on_event(self, event: BackupEvent) -> None:
        """Engine and client events arrive on the loop thread: update the model, repaint coalesced."""
        changed = self.tracker.apply(event)
        if changed:
            self.model.mark_dirty(changed)
        if isinstance(event, PersonalityFinished):
            row = self.model.row_for(event.slug)
            if row is not None:
                self.model.update_row(
                    event.slug,
                    total_memories=event.total,
                    server_total=event.server_total if event.server_total is not None else row.server_total,
                    last_backup=datetime.now(UTC),
                    failed_sections=_failed_in_event(event),
                )
            log.info(
                "%s: done (%s new, %s stored, %s requests)",
                event.slug,
                event.new,
                event.total,
                event.requests,
            )
        elif isinstance(event, PersonalityFailed):
            self.failures.append(event)
            level = logging.INFO if event.kind == "cancelled" else logging.WARNING
            log.log(level, "%s: %s (%s)", event.slug or "run", event.error, event.kind)
        elif isinstance(event, PersonalityStarted):
            row = self.model.row_for(event.slug)
            if row is not None and row.failed_sections:
                self.model.update_row(event.slug, failed_sections={})  # this run says anew
            log.info("%s: started (%d of %d)", event.slug, event.index + 1, event.count)
        elif isinstance(event, Reconciling):
            log.info("%s: full walk (%s)", event.slug, event.reason)
        elif isinstance(event, Retrying):
            log.info(
                "%s: retrying (%d of %d) %s", event.slug, event.attempt, event.max_attempts, event.reason
            )
        elif isinstance(event, Waiting) and event.reason != "pacing":
            log.info("%s: waiting %.0f s (%s)", event.slug, event.seconds, event.reason)


def _failed_in_event(event: PersonalityFinished) -> dict[str, str]:
    """Failed sections an engine reports on its event (``extra["sections"]``: {name: status}), if any."""
    sections = event.extra.get("sections") if isinstance(event.extra, dict) else None
    if not isinstance(sections, dict):
        return {}
    return {str(n): "failed in this run" for n, status in sections.items() if status not in _NOT_FAILED}


def _said_total(row: Any, last_run: Any) -> int | None:
    """The server total to plan a run with: the archive's, unless the last run (in this window) left the walk
    unfinished after the service reported a fresher one."""
    unfinished = getattr(last_run, "state", "") in ("failed", "cancelled")
    said = getattr(last_run, "expected", None) if unfinished else None
    if row.unfinished_fetched and isinstance(said, int):
        return said
    server: int | None = row.server_total
    return server
