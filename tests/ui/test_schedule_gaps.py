"""Two scheduler gaps (issue 7): an ended session in a scheduled run while the window is hidden in the tray,
and a manual Back Up All resetting the schedule's clock. Real window, real sandbox, fake wall clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from tzbackup_gui.schedule import Schedule, ScheduleState

from .conftest import FakeNotifier
from .test_schedule_ui import RUN_TIMEOUT, FakeClock, clock, owned_folders, scheduled  # noqa: F401
from .window_support import folders

SIGN_IN_TITLE = "Sign in again to resume scheduled backups"


def test_expired_session_in_the_tray_pauses_notifies_and_asks_when_opened(
    scheduled: Any, qtbot: Any, sandbox: Any, tmp_path: Path, clock: FakeClock  # noqa: F811
) -> None:
    window = scheduled(Schedule("interval", hours=6), ScheduleState(last_run=clock() - timedelta(hours=5)))
    scheduler = window.scheduler
    notifier: FakeNotifier = window.notifier  # type: ignore[assignment]
    window.in_tray = True  # what closing the window with a schedule and a tray does
    window.hide()
    sandbox.state.set_fault("expire_after", requests=12)
    clock.advance(hours=1)  # the slot arrives while nobody looks at the window
    qtbot.waitUntil(lambda: scheduler.runs_started == 1, timeout=5_000)
    qtbot.waitUntil(lambda: not scheduler.in_flight and not window.running and not window.settling,
                    timeout=RUN_TIMEOUT)
    assert window.sign_in_dialog is None and not window.isVisible()  # no dialog out of nowhere
    assert scheduler.waiting_for_sign_in
    assert notifier.messages[-1][0] == SIGN_IN_TITLE and notifier.messages[-1][2]
    assert not any(m[0] == "Scheduled backup failed" for m in notifier.messages)
    assert "Sign in again" in window.schedule_label.toolTip()
    assert window.resume_schedule_button.isVisibleTo(window)

    clock.advance(hours=12)  # two more slots pass: paused, nothing starts (it would only fail again)
    qtbot.wait(400)
    assert scheduler.runs_started == 1

    window.show_from_tray()  # the tray's Open, or a click on the notification (messageClicked)
    qtbot.waitUntil(lambda: window.sign_in_dialog is not None, timeout=5_000)
    dialog = window.sign_in_dialog
    assert dialog is not None and dialog.findChild(object, "resumePrompt") is not None
    new_cookie = sandbox.state.new_session()
    dialog.cookie_edit.setText(new_cookie)
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.done_button.isEnabled, timeout=15_000)
    qtbot.mouseClick(dialog.done_button, Qt.MouseButton.LeftButton)
    # the scheduled backup resumes with the new session and completes; the schedule goes on
    qtbot.waitUntil(lambda: scheduler.runs_started == 2, timeout=5_000)
    qtbot.waitUntil(lambda: scheduler.state.last_result == "ok", timeout=RUN_TIMEOUT)
    assert not scheduler.waiting_for_sign_in
    assert len(folders(tmp_path / "data")) == owned_folders(sandbox)
    assert window.schedule_label.text().startswith("Next backup: ")
    assert notifier.messages[-1][0] == "Scheduled backup finished"


def test_expired_session_with_the_window_open_still_asks_at_once(
    scheduled: Any, qtbot: Any, sandbox: Any, clock: FakeClock  # noqa: F811
) -> None:
    window = scheduled(Schedule("interval", hours=6), ScheduleState(last_run=clock() - timedelta(hours=5)))
    sandbox.state.set_fault("expire_after", requests=12)
    clock.advance(hours=1)
    qtbot.waitUntil(lambda: window.sign_in_dialog is not None, timeout=RUN_TIMEOUT)
    assert not window.scheduler.waiting_for_sign_in  # someone is looking: the dialog is the message
    window.sign_in_dialog.reject()  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: window.sign_in_dialog is None, timeout=5_000)


def test_manual_back_up_all_resets_the_schedules_clock(
    scheduled: Any, qtbot: Any, sandbox: Any, clock: FakeClock  # noqa: F811
) -> None:
    # last scheduled run 5 h ago, every 6 h: without the manual run the next one is due in 1 h
    window = scheduled(Schedule("interval", hours=6), ScheduleState(last_run=clock() - timedelta(hours=5)))
    scheduler = window.scheduler
    manual_at = clock()
    qtbot.mouseClick(window.back_up_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.running and not window.settling, timeout=RUN_TIMEOUT)
    assert scheduler.state.last_run == manual_at
    assert scheduler.state.next_run(scheduler.schedule, clock()) == manual_at + timedelta(hours=6)
    clock.advance(hours=2)  # past the old slot (manual - 5 h + 6 h): nothing runs
    qtbot.wait(400)
    assert scheduler.runs_started == 0
    clock.advance(hours=4)  # 6 h after the manual Back Up All: the scheduled run starts
    qtbot.waitUntil(lambda: scheduler.runs_started == 1, timeout=5_000)
    qtbot.waitUntil(lambda: scheduler.state.last_result == "ok", timeout=RUN_TIMEOUT)


def test_back_up_selected_does_not_move_the_schedule(
    scheduled: Any, qtbot: Any, sandbox: Any, clock: FakeClock  # noqa: F811
) -> None:
    last = clock() - timedelta(hours=5)
    window = scheduled(Schedule("interval", hours=6), ScheduleState(last_run=last))
    qtbot.waitUntil(lambda: window.model.owned_slugs() != [], timeout=5_000)
    window.model.set_checked({"echo-new"})
    qtbot.mouseClick(window.back_up_selected_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.running and not window.settling, timeout=RUN_TIMEOUT)
    assert window.scheduler.state.last_run == last  # only a backup of everything stands in for a slot
