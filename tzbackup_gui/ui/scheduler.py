"""The Qt glue of scheduled backups: a timer that asks :mod:`tzbackup_gui.schedule` whether a run is due.

The timer fires every ~30 s and compares against a *wall clock* (injectable for tests), not against the
timer's own count, so after the machine sleeps the first tick on wake sees the missed slot and runs Back Up
All once. A run never starts while another is in progress (it starts at the first tick after that one
ends). The schedule and its state live in QSettings (``schedule/config``, ``schedule/state``, JSON text).

A manual Back Up All counts as the last run (the next slot is counted from it). A scheduled run that finds
the session ended while the window is hidden (tray, minimised) opens no dialog: scheduled backups wait for
a new sign-in, a notification says so, and the window asks when the user opens it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import tzinfo

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from ..schedule import Clock, Schedule, ScheduleState, status_text, system_clock
from .run_controller import RunController, RunOutcome

__all__ = ["CHECK_INTERVAL_MS", "BackupScheduler"]

log = logging.getLogger("tzbackup.schedule")

CHECK_INTERVAL_MS = 30_000
CONFIG_KEY, STATE_KEY = "schedule/config", "schedule/state"


class BackupScheduler(QObject):
    """Starts Back Up All (through the run controller) when the schedule says so and records each scheduled
    run's result. ``hidden`` says whether anybody looks at the app (no sign-in dialog out of nowhere)."""

    status_changed = Signal(str)
    recorded = Signal(str)  # "ok" | "failed" | "cancelled": a scheduled run's result was recorded

    def __init__(
        self,
        runs: RunController,
        settings: QSettings,
        *,
        hidden: Callable[[], bool],
        clock: Clock = system_clock,
        tz: tzinfo | None = None,
        interval_ms: int = CHECK_INTERVAL_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runs, self.settings, self.clock, self.tz = runs, settings, clock, tz
        self._hidden = hidden
        self.schedule = Schedule.from_json(_text(settings.value(CONFIG_KEY)))
        self.state = ScheduleState.from_json(_text(settings.value(STATE_KEY)))
        self.in_flight = False  # a scheduled run is in progress
        self.waiting_for_sign_in = False  # the session ended in a scheduled run while nobody looked
        self.runs_started = 0
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        runs.run_outcome.connect(self._on_outcome)
        runs.starting.connect(self._on_starting)

    # --- control --------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin checking (after start-up has loaded the credential); checks once at once."""
        self._timer.start()
        self.check()

    def stop(self) -> None:
        self._timer.stop()

    def set_check_interval(self, ms: int) -> None:
        """How often the wall clock is checked (30 s in the app; tests use less)."""
        self._timer.setInterval(ms)

    def set_schedule(self, schedule: Schedule) -> None:
        """The user chose a new schedule: store it and show when it runs next."""
        if schedule != self.schedule:
            log.info("Schedule: %s", schedule.describe())
        self.schedule = schedule
        self.settings.setValue(CONFIG_KEY, schedule.to_json())
        self.settings.sync()
        self.status_changed.emit(self.status())

    def resume(self) -> None:
        """The user resumes scheduled backups after they paused for repeated failures."""
        self.state.resume()
        self._save_state()
        log.info("Scheduled backups resumed")
        self.status_changed.emit(self.status())
        self.check()

    def _on_starting(self, slugs: object, scheduled: bool) -> None:
        if slugs is None and not scheduled:
            self.manual_run_started()  # a manual Back Up All resets the schedule's clock

    def manual_run_started(self) -> None:
        """A manual Back Up All starts now: the next scheduled run counts from it (no run right after)."""
        self.state.started(self.clock())
        self._save_state()
        self.status_changed.emit(self.status())

    def signed_in_again(self) -> None:
        """The user signed in after the session ended in a scheduled run: resume that backup now."""
        self.waiting_for_sign_in = False
        self._save_state()
        self.status_changed.emit(self.status())
        if self.schedule.active and not self.runs.running and not self.in_flight:
            self.state.started(self.clock())
            self._save_state()
            self.in_flight = self.runs.start(None, scheduled=True)
            if self.in_flight:
                self.runs_started += 1
            self.status_changed.emit(self.status())

    def status(self) -> str:
        text = status_text(self.schedule, self.state, self.clock(), self.tz)
        if self.in_flight:
            return "Scheduled backup running…"
        if self.schedule.active and self.waiting_for_sign_in:
            return "Scheduled backups paused: your session ended. Sign in again to resume them."
        if self.schedule.active and not self.state.paused and self.runs.ctx.credential is None:
            text += " · sign in to let it run"
        return text

    # --- the tick -------------------------------------------------------------------------------

    def check(self) -> bool:
        """Start Back Up All when a scheduled run is due and nothing else runs. True when it started."""
        started = False
        now = self.clock()
        if (
            not self.in_flight
            and not self.waiting_for_sign_in
            and self.state.due(self.schedule, now, self.tz)
            and not self.runs.running
            and not self.runs.settling
            and self.runs.ctx.credential is not None
        ):
            self.state.started(now)
            self._save_state()
            self.in_flight = self.runs.start(None, scheduled=True)
            started = self.in_flight
            if started:
                self.runs_started += 1
                log.info("Scheduled backup started (%s)", self.schedule.describe())
        self.status_changed.emit(self.status())
        return started

    def _on_outcome(self, outcome: RunOutcome) -> None:
        if not (self.in_flight and outcome.scheduled):
            return
        self.in_flight = False
        finished = self.clock()
        was_paused = self.state.paused
        if outcome.cancelled:
            self.state.record_cancelled(finished)
        else:
            self.state.record(outcome.ok, outcome.reason, finished)
        self._save_state()
        if outcome.auth and not outcome.cancelled and self._hidden():
            self.waiting_for_sign_in = True
            log.info("Scheduled backups wait for a new sign-in (the session ended)")
            self.runs.notifier.notify(
                "Sign in again to resume scheduled backups",
                "Your shapes.inc session ended during a scheduled backup. Everything fetched so far is "
                "saved. Open tzbackup to sign in again.",
                error=True,
            )
        else:
            self._notify(outcome, paused_now=self.state.paused and not was_paused)
        self.recorded.emit(self.state.last_result)
        self.status_changed.emit(self.status())

    def _notify(self, outcome: RunOutcome, *, paused_now: bool) -> None:
        notifier = self.runs.notifier
        if paused_now:
            notifier.notify("Scheduled backups paused", self.status(), error=True)
        elif outcome.cancelled:
            return
        elif outcome.ok:
            notifier.notify("Scheduled backup finished", outcome.summary)
        else:
            notifier.notify("Scheduled backup failed", outcome.reason or outcome.summary, error=True)

    def _save_state(self) -> None:
        self.settings.setValue(STATE_KEY, self.state.to_json())
        self.settings.sync()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
