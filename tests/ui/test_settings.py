"""File → Settings…: real dialog on a real window; values persist in QSettings and take effect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTime
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from tzbackup_gui.app import AppConfig
from tzbackup_gui.schedule import Schedule
from tzbackup_gui.ui.settings_dialog import SettingsDialog, apply_saved_preferences

from .conftest import run
from .window_support import back_up_everything, close_window, make_context, make_window


@pytest.fixture
def started(qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any) -> Any:
    window = make_window(qtbot, make_context(sandbox, tmp_path / "data"), qsettings, tray=False)
    run(qloop, qtbot, window.start())
    yield window
    close_window(qloop, qtbot, window)


def open_settings(qtbot: Any, window: Any) -> SettingsDialog:
    window.settings_action.trigger()
    qtbot.waitUntil(lambda: window.settings_dialog is not None and window.settings_dialog.isVisible())
    dialog: SettingsDialog = window.settings_dialog
    return dialog


def ok_button(dialog: SettingsDialog) -> Any:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_menu_and_shortcut_open_the_dialog_with_current_values(started: Any, qtbot: Any) -> None:
    window = started
    assert window.settings_action.shortcut().toString() == "Ctrl+,"
    dialog = open_settings(qtbot, window)
    assert dialog.chosen_data_dir() == window.ctx.config.data_dir
    assert dialog.delay_spin.value() == pytest.approx(window.ctx.pacer_delay())
    assert dialog.reconcile_spin.value() == 7
    assert dialog.kind_combo.currentData() == "off"
    assert not dialog.allow_fast_check.isVisibleTo(dialog)  # a loopback service needs no switch
    assert dialog.keyring_label.text() == "this session only (not stored)"  # tests keep it in memory
    assert "@" in dialog.account_label.text() and "memory (tests)" in dialog.account_label.text()
    dialog.reject()
    qtbot.waitUntil(lambda: window.settings_dialog is None)


def test_spacing_below_the_minimum_needs_the_i_know_switch_for_a_remote_service(
    qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any
) -> None:
    ctx = make_context(sandbox, tmp_path / "data")
    ctx.config.base_url = "https://service.invalid"  # never contacted: start() is not called
    window = make_window(qtbot, ctx, qsettings, tray=False)
    try:
        dialog = open_settings(qtbot, window)
        assert dialog.allow_fast_check.isVisibleTo(dialog)
        dialog.delay_spin.setValue(0.2)
        assert not ok_button(dialog).isEnabled()
        assert "0.5 s" in dialog.delay_problem.text() and dialog.delay_problem.isVisibleTo(dialog)
        dialog.accept()  # refused while the problem stands
        assert dialog.isVisible() and ctx.pacer_delay() == 0.0
        dialog.allow_fast_check.setChecked(True)
        assert ok_button(dialog).isEnabled() and not dialog.delay_problem.isVisibleTo(dialog)
        qtbot.mouseClick(ok_button(dialog), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.settings_dialog is None)
        assert ctx.pacer_delay() == pytest.approx(0.2)
        assert ctx.pacer.personality_delay == pytest.approx(0.4)
        assert float(qsettings.value("network/delay")) == pytest.approx(0.2)
        # the saved values come back at the next start, and a bad saved value is not used
        config = AppConfig(data_dir=tmp_path, base_url="https://service.invalid")
        apply_saved_preferences(config, qsettings, explicit=set())
        assert config.delay == pytest.approx(0.2)
        qsettings.setValue("network/allow_fast", False)
        config = AppConfig(data_dir=tmp_path, base_url="https://service.invalid")
        apply_saved_preferences(config, qsettings, explicit=set())
        assert config.delay == 1.0
    finally:
        close_window(qloop, qtbot, window)


def test_data_folder_applies_after_confirmation_and_reloads(
    started: Any, qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any
) -> None:
    window = started
    assert all(r.last_backup is None for r in window.model.rows())  # nothing backed up in "data"
    other = tmp_path / "other"
    back_up_everything(qloop, qtbot, sandbox, other)

    dialog = open_settings(qtbot, window)
    dialog.data_dir_edit.setText(str(other))
    dialog.accept()
    qtbot.waitUntil(lambda: dialog.confirm_box is not None and dialog.confirm_box.isVisible())
    dialog.confirm_box.done(QMessageBox.StandardButton.No.value)  # "No": nothing changes
    assert window.ctx.config.data_dir == tmp_path / "data"
    assert dialog.chosen_data_dir() == tmp_path / "data" and dialog.isVisible()
    dialog.data_dir_edit.setText("relative/folder")
    dialog.accept()  # refused: not a full path
    assert dialog.confirm_box is None and "full path" in dialog.data_dir_problem.text()

    dialog.data_dir_edit.setText(str(other))
    dialog.accept()
    qtbot.waitUntil(lambda: dialog.confirm_box is not None and dialog.confirm_box.isVisible())
    assert "other" in dialog.confirm_box.text()
    dialog.confirm_box.done(QMessageBox.StandardButton.Yes.value)
    qtbot.waitUntil(lambda: window.settings_dialog is None)
    assert window.ctx.config.data_dir == other
    assert qsettings.value("data/dir") == str(other)
    qtbot.waitUntil(lambda: all(r.last_backup is not None for r in window.model.rows()), timeout=20_000)
    assert window.model.rowCount() > 0
    assert "other" in window.data_dir_label.text()
    config = AppConfig(data_dir=tmp_path / "default")
    apply_saved_preferences(config, qsettings, explicit=set())
    assert config.data_dir == other
    apply_saved_preferences(config := AppConfig(data_dir=tmp_path / "cli"), qsettings, explicit={"data_dir"})
    assert config.data_dir == tmp_path / "cli"  # --data-dir wins over the saved folder


def test_schedule_and_reconcile_age_apply_and_persist(started: Any, qtbot: Any, qsettings: Any) -> None:
    window = started
    dialog = open_settings(qtbot, window)
    assert not dialog.hours_spin.isVisibleTo(dialog) and not dialog.time_edit.isVisibleTo(dialog)
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("daily"))
    assert dialog.time_edit.isVisibleTo(dialog) and not dialog.hours_spin.isVisibleTo(dialog)
    dialog.time_edit.setTime(QTime(21, 45))
    dialog.reconcile_spin.setValue(30)
    dialog.accept()
    qtbot.waitUntil(lambda: window.settings_dialog is None)
    assert window.scheduler.schedule == Schedule("daily", at="21:45")
    assert Schedule.from_json(str(qsettings.value("schedule/config"))) == Schedule("daily", at="21:45")
    assert window.schedule_label.text().startswith("Next backup: ")
    assert "daily at 21:45" in window.schedule_label.text()
    assert window.ctx.config.reconcile_age_days == 30
    assert int(qsettings.value("backup/reconcile_age_days")) == 30

    dialog = open_settings(qtbot, window)  # reopened: shows what was saved
    assert dialog.kind_combo.currentData() == "daily" and dialog.time_edit.time() == QTime(21, 45)
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("off"))
    dialog.accept()
    qtbot.waitUntil(lambda: window.settings_dialog is None)
    assert not window.scheduler.schedule.active and window.schedule_label.text() == ""


def test_sign_out_from_settings(started: Any, qtbot: Any) -> None:
    window = started
    dialog = open_settings(qtbot, window)
    assert dialog.sign_out_button.isEnabled()
    qtbot.mouseClick(dialog.sign_out_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.ctx.credential is None and dialog.account_label.text() == "not signed in")
    assert not dialog.sign_out_button.isEnabled()
    assert not window.back_up_all_button.isEnabled()
    dialog.reject()
