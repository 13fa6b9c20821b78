"""Settings → Sections, and failed sections in the main window's rows: real window, sandbox over loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from tzbackup_gui.backup.report import ALL_SECTIONS
from tzbackup_gui.paths import personalities_dir
from tzbackup_gui.service import RetryPolicy
from tzbackup_gui.ui.personalities_model import COL_STATUS, SlugRole
from tzbackup_gui.ui.sections import EXCLUDED_KEY, chosen_sections
from tzbackup_gui.ui.settings_dialog import SettingsDialog
from tzbackup_gui.ui.theme import contrast_ratio

from .conftest import run
from .window_support import make_context, make_window

RUN_TIMEOUT = 60_000
SLUG = "dr.ada.lovelace"
LABELS = [
    "Profile", "Memories", "Knowledge", "Training", "Personalization", "Chat history", "Avatar & banner",
]


@pytest.fixture
def window_on(qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any) -> Any:
    """Started windows on ``tmp_path/data`` (one at a time); closed afterwards."""
    made: list[Any] = []

    def build() -> Any:
        ctx = make_context(sandbox, tmp_path / "data")
        ctx.retry = RetryPolicy(max_attempts=1)  # a 500 is final at once (the fault lasts anyway)
        window = make_window(qtbot, ctx, qsettings, tray=False)
        made.append(window)
        run(qloop, qtbot, window.start())
        return window

    yield build
    # pytest-qt has already closed the windows and queued their deletion: stop every timer and log handler
    # before the first event is pumped (closing one window pumps the other's deletion too)
    for window in made:
        window.scheduler.stop()
        window.remove_log_handler()
    for window in made:
        window.ctx.cancel_backup()
        if window.runs.task is not None:
            qtbot.waitUntil(window.runs.task.done, timeout=10_000)
        run(qloop, qtbot, window.ctx.aclose())


def open_settings(qtbot: Any, window: Any) -> SettingsDialog:
    window.settings_action.trigger()
    qtbot.waitUntil(lambda: window.settings_dialog is not None and window.settings_dialog.isVisible())
    return window.settings_dialog  # type: ignore[no-any-return]


def accept(qtbot: Any, window: Any, dialog: SettingsDialog) -> None:
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.settings_dialog is None)


def back_up(qtbot: Any, window: Any, slug: str) -> None:
    window.model.set_checked({slug})
    qtbot.mouseClick(window.back_up_selected_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.running and not window.settling, timeout=RUN_TIMEOUT)


def status_index(window: Any, slug: str) -> Any:
    for r in range(window.proxy.rowCount()):
        if window.proxy.index(r, 0).data(SlugRole) == slug:
            return window.proxy.index(r, COL_STATUS)
    raise AssertionError(slug)


def test_sections_group_has_a_checkbox_per_section_and_profile_is_always_on(
    window_on: Any, qtbot: Any, qsettings: Any
) -> None:
    window = window_on()
    dialog = open_settings(qtbot, window)
    assert list(dialog.section_checks) == list(ALL_SECTIONS)
    assert [c.text().replace("&&", "&") for c in dialog.section_checks.values()] == LABELS
    assert all(c.isChecked() for c in dialog.section_checks.values())  # default: everything
    profile = dialog.section_checks["profile"]
    assert profile.isChecked() and not profile.isEnabled()
    dialog.section_checks["memories"].setChecked(False)
    dialog.section_checks["chat"].setChecked(False)
    accept(qtbot, window, dialog)
    assert qsettings.value(EXCLUDED_KEY) == "memories,chat"
    assert chosen_sections(qsettings) == frozenset(ALL_SECTIONS) - {"memories", "chat"}

    dialog = open_settings(qtbot, window)  # the choice is shown again
    assert not dialog.section_checks["memories"].isChecked()
    assert not dialog.section_checks["chat"].isChecked()
    assert dialog.section_checks["knowledge"].isChecked()
    for check in dialog.section_checks.values():
        check.setChecked(True)
    accept(qtbot, window, dialog)
    assert chosen_sections(qsettings) is None  # all ticked again: the engine gets None (= all)


def test_memories_unchecked_backs_up_the_profile_without_a_memory_request(
    window_on: Any, qtbot: Any, sandbox: Any, tmp_path: Path
) -> None:
    window = window_on()
    dialog = open_settings(qtbot, window)
    dialog.section_checks["memories"].setChecked(False)
    accept(qtbot, window, dialog)
    sandbox.state.clear_log()
    back_up(qtbot, window, SLUG)
    assert sandbox.state.count("/api/memory/") == 0  # not one memory request
    assert any(r.path.endswith("/story") for r in sandbox.state.request_log)  # other sections still taken
    folder = personalities_dir(tmp_path / "data") / SLUG
    profile = json.loads((folder / f"{SLUG}.json").read_text("utf-8"))
    assert profile["username"] == SLUG  # the profile is saved
    assert not list(folder.glob("memory/*.json"))
    row = window.model.row_for(SLUG)
    assert row is not None and row.last_backup is not None and not row.failed_sections

    # ticked again, the next run takes the memories too (through the same window, no restart)
    dialog = open_settings(qtbot, window)
    dialog.section_checks["memories"].setChecked(True)
    accept(qtbot, window, dialog)
    back_up(qtbot, window, SLUG)
    assert sandbox.state.count("/api/memory/") > 0
    assert window.model.row_for(SLUG).total_memories == len(sandbox.state.personalities[SLUG].memories)


def test_a_failed_section_shows_in_the_row_live_and_from_disk(
    window_on: Any, qtbot: Any, sandbox: Any
) -> None:
    window = window_on()
    sandbox.state.set_fault("server_error", count=None, path_contains="/story", status=500)
    back_up(qtbot, window, SLUG)
    index = status_index(window, SLUG)
    text = str(index.data(Qt.ItemDataRole.DisplayRole))
    assert "knowledge failed" in text and not text.startswith("failed")
    assert index.data(Qt.ItemDataRole.DecorationRole) is not None  # the warning icon
    assert not index.data(Qt.ItemDataRole.DecorationRole).isNull()
    tip = str(index.data(Qt.ItemDataRole.ToolTipRole))
    assert "Knowledge failed:" in tip and "500" in tip
    amber = index.data(Qt.ItemDataRole.ForegroundRole)  # the theme's warning hue, readable on the rows
    assert amber.hslHue() in range(25, 50)
    assert contrast_ratio(amber, window.table.palette().base().color()) >= 4.5
    row = window.model.row_for(SLUG)
    assert row is not None and row.total_memories == len(sandbox.state.personalities[SLUG].memories)

    # a new window reads the same from the metadata on disk (sections.knowledge.status == "failed")
    again = window_on()
    index = status_index(again, SLUG)
    assert "knowledge failed" in str(index.data(Qt.ItemDataRole.DisplayRole))
    assert "Knowledge failed:" in str(index.data(Qt.ItemDataRole.ToolTipRole))

    # the service recovers: the next run clears the warning
    sandbox.state.clear_faults()
    back_up(qtbot, again, SLUG)
    index = status_index(again, SLUG)
    assert "failed" not in str(index.data(Qt.ItemDataRole.DisplayRole))
    assert index.data(Qt.ItemDataRole.DecorationRole) is None
