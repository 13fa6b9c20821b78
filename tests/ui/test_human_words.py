"""Human words in the main window and Settings: a title without a repeated name, named buttons, one wording
for a finished row, local times (UTC in tooltips), no internal names in a row, Settings in plain words."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from tzbackup_gui.__main__ import configure_app, display_name
from tzbackup_gui.events import PersonalityStarted, PhaseChanged
from tzbackup_gui.ui.main_window import MainWindow
from tzbackup_gui.ui.personalities_model import COL_LAST, COL_NAME, local_and_utc
from tzbackup_gui.ui.progress import RunTracker

from .test_main_window import RUN_TIMEOUT, click, windows  # noqa: F401
from .window_support import close_window, make_context, make_window


def test_the_title_never_repeats_the_app_name(
    qapp: QApplication, qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any
) -> None:
    """Qt appends the app's display name to a title that does not end with it ("tzbackup — demo — tzbackup"):
    the window's title is the display name itself, so nothing is appended."""
    saved = (qapp.organizationName(), qapp.applicationName(), qapp.applicationDisplayName())
    try:
        for demo in (False, True):
            ctx = make_context(sandbox, tmp_path / f"data-{demo}")
            ctx.config.demo = demo
            window = make_window(qtbot, ctx, qsettings, tray=False)
            configure_app(qapp, demo=demo)
            expected = "tzbackup — demo" if demo else "tzbackup"
            assert window.windowTitle() == display_name(demo=demo) == expected
            assert window.windowTitle().endswith(qapp.applicationDisplayName())
            close_window(qloop, qtbot, window)
    finally:
        qapp.setOrganizationName(saved[0])
        qapp.setApplicationName(saved[1])
        qapp.setApplicationDisplayName(saved[2])


def test_stop_the_backup_box_names_its_buttons(windows: Any, sandbox: Any, qtbot: Any) -> None:  # noqa: F811
    window: MainWindow = windows(delay=0.05)
    click(qtbot, window.back_up_all_button)
    busy = lambda: any(r.state == "active" for r in window.tracker.rows.values())  # noqa: E731
    qtbot.waitUntil(busy, timeout=RUN_TIMEOUT)
    window.quit_action.trigger()
    qtbot.waitUntil(lambda: window.message_box is not None and window.message_box.isVisible(), timeout=15_000)
    box = window.message_box
    assert box is not None and box.objectName() == "confirmQuitBox"
    labels = {b.text().replace("&", "") for b in box.buttons()}
    assert labels == {"Stop Backup and Quit", "Keep Running"}
    assert box.defaultButton().text().replace("&", "") == "Keep Running"
    click(qtbot, box.button(QMessageBox.StandardButton.No))  # Keep Running
    qtbot.wait(200)
    assert window.running and window.isVisible()
    window.cancel_backup()
    qtbot.waitUntil(lambda: not window.running, timeout=RUN_TIMEOUT)


def test_a_row_never_shows_an_internal_phase_name() -> None:
    tracker = RunTracker()
    tracker.start(["ann"], 0.0)
    tracker.apply(PersonalityStarted(slug="ann", index=0, count=1))
    seen = []
    for phase, detail in (("sections", ""), ("chat", "1200 messages"), ("chat", "1 messages"), ("images", ""),
                          ("some_new_phase", "raw detail")):
        tracker.apply(PhaseChanged(slug="ann", phase=phase, detail=detail))
        seen.append(tracker.rows["ann"].text)
    assert seen == ["fetching knowledge and settings", "fetching chat history (1,200 messages)",
                    "fetching chat history (1 message)", "fetching pictures", "working"]


def test_last_backup_is_local_with_utc_in_the_tooltip(windows: Any, sandbox: Any) -> None:  # noqa: F811
    window: MainWindow = windows()
    slug = window.model.rows()[0].slug
    when = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    window.model.update_row(slug, last_backup=when)
    window.model.flush()
    index = next(window.proxy.index(r, COL_LAST) for r in range(window.proxy.rowCount())
                 if window.proxy.index(r, COL_NAME).data(Qt.ItemDataRole.UserRole + 3) == slug)
    tip = index.data(Qt.ItemDataRole.ToolTipRole)
    local = when.astimezone()
    assert tip.startswith(f"Last complete backup: {local:%Y-%m-%d %H:%M}") and "UTC" in tip
    assert index.data() == local.strftime("%Y-%m-%d")  # an old backup: its local date
    assert local_and_utc(when) == tip.removeprefix("Last complete backup: ")


def test_settings_speak_the_users_words(windows: Any, qtbot: Any) -> None:  # noqa: F811
    window: MainWindow = windows()
    window.open_settings()
    dialog = window.settings_dialog
    texts = " ".join(label.text() for label in dialog.findChildren(QLabel)).replace("&", "")
    for word in ("Full check", "Spacing between requests", "packaging/"):
        assert word not in texts
    for words in ("Re-read all memories every", "Wait between requests", "catch memories edited or deleted",
                  "how to set it up"):
        assert words in texts
    dialog.data_dir_edit.setText(str(window.ctx.config.data_dir.parent / "elsewhere"))
    dialog.accept()
    box = dialog.confirm_box
    assert box is not None
    labels = {b.text().replace("&", "") for b in box.buttons()}
    assert labels == {"Use the New Folder", "Keep the Current Folder"}
    box.reject()
    dialog.reject()
