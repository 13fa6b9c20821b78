"""Tray icon, close-to-tray and notifications: real window over the sandbox, real QSystemTrayIcon object.

The offscreen platform (like Xvfb) has no system tray, so the first test checks the fallback; the others
build the :class:`Tray` directly (Qt accepts the icon even where it cannot be displayed) to drive its menu.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QSystemTrayIcon

from tzbackup_gui.schedule import Schedule
from tzbackup_gui.ui.avatars import initials_icon
from tzbackup_gui.ui.notifier import NullNotifier, TrayNotifier, make_notifier
from tzbackup_gui.ui.tray import Tray

from .conftest import FakeNotifier, run
from .window_support import close_window, folders, make_context, make_window


@pytest.fixture
def window(qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any) -> Any:
    w = make_window(qtbot, make_context(sandbox, tmp_path / "data"), qsettings, notifier=FakeNotifier())
    run(qloop, qtbot, w.start())
    yield w
    close_window(qloop, qtbot, w)


def with_tray(window: Any) -> Tray:
    tray = Tray(window.runs, window.scheduler, initials_icon("tzbackup", 32), window)
    tray.show()
    window.use_tray(tray)
    return tray


def test_no_system_tray_falls_back_to_a_plain_window(window: Any, qtbot: Any) -> None:
    assert not QSystemTrayIcon.isSystemTrayAvailable()  # offscreen, like Xvfb
    assert window.tray is None
    assert isinstance(make_notifier(initials_icon("t", 32), window), NullNotifier)
    window.scheduler.set_schedule(Schedule("interval", hours=6))
    with qtbot.waitSignal(window.quit_requested, timeout=1000, raising=False) as quit_signal:
        window.close()  # no tray: closing closes, even with a schedule
    assert not window.isVisible() and not window.in_tray
    assert not quit_signal.signal_triggered  # a plain close: the app ends via lastWindowClosed


def test_tray_menu_status_and_back_up_all(window: Any, qtbot: Any, sandbox: Any, tmp_path: Path) -> None:
    tray = with_tray(window)
    window.scheduler.set_schedule(Schedule("interval", hours=6))
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts[1:] == ["Last backup: never", "Back Up &All", "&Open tzbackup", "&Quit"]
    assert tray.status_action.text() == "Idle"
    tip = tray.icon.toolTip()
    assert tip.startswith("tzbackup — Idle") and "Last backup: never" in tip and "Next backup:" in tip
    assert tray.back_up_all_action.isEnabled()

    tray.back_up_all_action.trigger()
    assert window.running and tray.status_action.text() == "Backing up…"
    assert not tray.back_up_all_action.isEnabled()
    qtbot.waitUntil(lambda: not window.running, timeout=60_000)
    owned = sum(1 for p in sandbox.state.personalities.values() if p.owned)
    assert len(folders(tmp_path / "data")) == owned
    qtbot.waitUntil(lambda: tray.last_action.text() == "Last backup: just now", timeout=5_000)
    assert tray.status_action.text() == window.tracker.summary()
    assert "Last backup: just now" in tray.icon.toolTip()


def test_without_a_schedule_closing_quits_even_with_a_tray(window: Any, qtbot: Any) -> None:
    tray = with_tray(window)
    window.close()
    assert not window.isVisible() and not window.in_tray
    assert not tray.visible()
    assert window.notifier.messages == []


def test_close_to_tray_tells_once_open_brings_back_quit_ends(window: Any, qtbot: Any) -> None:
    tray = with_tray(window)
    notifier: FakeNotifier = window.notifier
    window.scheduler.set_schedule(Schedule("daily", at="03:00"))
    window.close()
    assert window.in_tray and not window.isVisible()
    assert [m[0] for m in notifier.messages] == ["tzbackup keeps running"]
    tray.open_action.trigger()
    assert window.isVisible() and not window.in_tray
    window.close()  # again: hidden, but the user was already told
    assert window.in_tray and len(notifier.messages) == 1
    with qtbot.waitSignal(window.quit_requested, timeout=5_000):
        tray.quit_action.trigger()
    assert not window.isVisible() and not window.in_tray
    assert not tray.visible()


def test_tray_notifier_reuses_the_tray_icon(window: Any) -> None:
    tray = with_tray(window)
    notifier = make_notifier(initials_icon("t", 32), window, tray=tray.icon)
    assert isinstance(notifier, TrayNotifier) and notifier.tray is tray.icon
    notifier.notify("tzbackup", "done")  # no daemon offscreen: must not raise
