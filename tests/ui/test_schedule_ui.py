"""Scheduled backups in the real window: fake wall clock, real sandbox over loopback, real files on disk.

The scheduler's timer ticks every 50 ms here (30 s in the app); the *clock* it compares against is a fake
the test moves by hand, so "the machine slept two days" is one ``advance`` call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from tzbackup_gui.archive import list_backups
from tzbackup_gui.schedule import Schedule, ScheduleState
from tzbackup_gui.ui.main_window import MainWindow

from .conftest import FakeNotifier, run
from .window_support import close_window, folders, make_context, make_window

RUN_TIMEOUT = 60_000


class FakeClock:
    """The wall clock as the scheduler sees it."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def scheduled(qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any, clock: FakeClock) -> Any:
    """Builds a started window with a schedule and a fake clock; tears it down afterwards."""
    made: list[MainWindow] = []

    def build(schedule: Schedule, state: ScheduleState | None = None) -> MainWindow:
        qsettings.setValue("schedule/config", schedule.to_json())
        qsettings.setValue("schedule/state", (state or ScheduleState()).to_json())
        ctx = make_context(sandbox, tmp_path / "data")
        window = make_window(qtbot, ctx, qsettings, notifier=FakeNotifier(), clock=clock)
        window.scheduler.set_check_interval(50)
        made.append(window)
        run(qloop, qtbot, window.start())
        return window

    yield build
    for window in made:
        close_window(qloop, qtbot, window)


def owned_folders(sandbox: Any) -> int:
    return sum(1 for p in sandbox.state.personalities.values() if p.owned)


def total_memories(data_dir: Path, slug: str) -> int:
    return next(b.total_memories for b in list_backups(data_dir) if b.slug == slug)


def test_scheduled_run_starts_completes_records_and_catches_up_after_sleep(
    scheduled: Any, qtbot: Any, sandbox: Any, tmp_path: Path, clock: FakeClock, qsettings: Any
) -> None:
    data_dir = tmp_path / "data"
    window = scheduled(Schedule("interval", hours=6), ScheduleState(last_run=clock() - timedelta(hours=1)))
    scheduler = window.scheduler
    qtbot.wait(300)  # several ticks: not due yet
    assert scheduler.runs_started == 0 and folders(data_dir) == set()
    assert window.schedule_label.text().startswith("Next backup: ")
    assert "every 6 hours" in window.schedule_label.text()

    clock.advance(hours=5)  # the slot arrives: the next tick starts Back Up All
    due_at = clock()
    qtbot.waitUntil(lambda: scheduler.runs_started == 1, timeout=5_000)
    assert window.running or scheduler.state.last_result == "ok"
    qtbot.waitUntil(lambda: scheduler.state.last_result == "ok", timeout=RUN_TIMEOUT)
    assert len(folders(data_dir)) == owned_folders(sandbox)  # every owned personality is on disk
    assert scheduler.state.last_run == due_at
    assert scheduler.state.consecutive_failures == 0
    assert not scheduler.in_flight and not window.running
    notifier: FakeNotifier = window.notifier  # type: ignore[assignment]
    assert notifier.messages[-1][0] == "Scheduled backup finished"
    saved = ScheduleState.from_json(str(qsettings.value("schedule/state")))
    assert saved.last_result == "ok" and saved.last_run == due_at  # persisted in QSettings

    # the laptop sleeps two days (eight missed slots) while new memories arrive upstream
    before = total_memories(data_dir, "lilith")
    sandbox.state.add_memories("lilith", 7)
    clock.advance(days=2)
    qtbot.waitUntil(lambda: scheduler.runs_started == 2, timeout=5_000)
    qtbot.waitUntil(lambda: not scheduler.in_flight and not window.running, timeout=RUN_TIMEOUT)
    assert scheduler.state.last_result == "ok"
    assert total_memories(data_dir, "lilith") == before + 7  # the catch-up run really backed up
    qtbot.wait(500)  # ten more ticks on the same (woken) clock: the missed slots do not run again
    assert scheduler.runs_started == 2
    assert [h["result"] for h in scheduler.state.history] == ["ok", "ok"]
    assert window.schedule_label.text().startswith("Next backup: ")


def test_pauses_after_three_failures_says_why_and_resumes(
    scheduled: Any, qtbot: Any, sandbox: Any, tmp_path: Path, clock: FakeClock
) -> None:
    sandbox.state.set_fault("bot_wall", count=None, vendor="cloudflare")
    window = scheduled(Schedule("interval", hours=1))  # never ran: due at once
    scheduler = window.scheduler
    for attempt in range(1, 4):
        qtbot.waitUntil(lambda a=attempt: scheduler.runs_started == a, timeout=5_000)
        qtbot.waitUntil(lambda: not scheduler.in_flight and not window.running, timeout=RUN_TIMEOUT)
        assert scheduler.state.last_result == "failed"
        assert scheduler.state.consecutive_failures == attempt
        if window.message_box is not None:
            window.message_box.done(0)
        clock.advance(hours=1)
    assert scheduler.state.paused
    text = window.schedule_label.toolTip()  # the full line (the label elides a long reason)
    assert window.schedule_label.text().startswith("Scheduled backups paused after 3 failures: ")
    assert text.startswith("Scheduled backups paused after 3 failures: ")
    assert scheduler.state.paused_reason and scheduler.state.paused_reason in text
    assert window.resume_schedule_button.isVisible()
    notifier: FakeNotifier = window.notifier  # type: ignore[assignment]
    assert notifier.messages[-1][0] == "Scheduled backups paused" and notifier.messages[-1][2]
    clock.advance(hours=3)
    qtbot.wait(300)
    assert scheduler.runs_started == 3  # paused: no more attempts

    sandbox.state.clear_faults()
    qtbot.mouseClick(window.resume_schedule_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: scheduler.runs_started == 4, timeout=5_000)
    qtbot.waitUntil(lambda: scheduler.state.last_result == "ok", timeout=RUN_TIMEOUT)
    assert not scheduler.state.paused and scheduler.state.consecutive_failures == 0
    assert not window.resume_schedule_button.isVisible()
    assert len(folders(tmp_path / "data")) == owned_folders(sandbox)


def test_never_starts_while_a_run_is_in_progress(
    scheduled: Any, qtbot: Any, sandbox: Any, clock: FakeClock
) -> None:
    window = scheduled(Schedule("interval", hours=2), ScheduleState(last_run=clock()))
    scheduler = window.scheduler
    sandbox.state.set_fault("slow", count=None, seconds=0.05)
    outcomes: list[Any] = []
    window.runs.run_outcome.connect(outcomes.append)
    assert window.runs.start(["lilith"])  # a manual run
    clock.advance(hours=3)  # the slot arrives during it
    assert not scheduler.check()
    qtbot.wait(200)
    assert scheduler.runs_started == 0 and window.running
    qtbot.waitUntil(lambda: len(outcomes) == 1, timeout=RUN_TIMEOUT)
    assert not outcomes[0].scheduled
    sandbox.state.clear_faults()
    qtbot.waitUntil(lambda: scheduler.runs_started == 1, timeout=5_000)  # the first tick after it
    qtbot.waitUntil(lambda: len(outcomes) == 2, timeout=RUN_TIMEOUT)
    assert outcomes[1].scheduled and outcomes[1].ok
    assert scheduler.state.last_result == "ok"
