"""A data folder that cannot be used (issue 14): a path under a file, a drive that is not connected, a
read-only folder. From Settings: a clear message inside the dialog, the previous folder kept. At start-up: the
window opens anyway, with a banner naming the folder and the reason, and a button to choose another.
Real window and dialog over the loopback sandbox; the real app in a subprocess for the start-up."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

import tzbackup_gui.app as app_module
from tzbackup_gui.__main__ import prepare_data_dir
from tzbackup_gui.app import AppConfig, data_dir_problem
from tzbackup_gui.ui.settings_dialog import DATA_DIR_KEY, SettingsDialog, make_private

from .conftest import run
from .window_support import close_window, make_context, make_window


@pytest.fixture
def media(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /media/<user>: folders right under it are drives (tests may not touch /media)."""
    root = tmp_path / "media" / "me"
    root.mkdir(parents=True)
    monkeypatch.setattr(app_module, "MOUNT_AREAS", (*app_module.MOUNT_AREAS, str(root.parent)))
    return root


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make one folder behave as on a read-only drive (the tests run as root, where chmod stops nothing)."""
    real = app_module.tempfile.mkstemp

    def set_folder(folder: Path) -> None:
        def mkstemp(*args: Any, dir: Any = None, **kwargs: Any) -> Any:
            if dir is not None and Path(dir) == folder:
                raise OSError(errno.EROFS, "Read-only file system", str(folder))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(app_module.tempfile, "mkstemp", mkstemp)

    return set_folder


def test_what_makes_a_data_folder_unusable(tmp_path: Path, media: Path, read_only: Any) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    assert data_dir_problem(tmp_path / "fine") == ""  # missing, but it can be created
    assert data_dir_problem(tmp_path) == ""
    assert data_dir_problem(a_file) == f"{a_file} is a file, not a folder"
    assert data_dir_problem(a_file / "backups") == f"{a_file} is a file, not a folder"
    unplugged = f"{media / 'USB'} does not exist: is the drive connected?"
    assert data_dir_problem(media / "USB" / "backups") == unplugged
    assert data_dir_problem(Path("relative")) == "it is not a full path"
    folder = tmp_path / "ro"
    folder.mkdir()
    read_only(folder)
    assert data_dir_problem(folder) == "it cannot be written to (read-only drive)"
    assert not list(tmp_path.glob("**/.tzbackup-probe-*"))  # the probe leaves nothing behind
    assert not (media / "USB").exists()  # nothing was created on the "system disk"
    config = AppConfig(data_dir=media / "USB" / "backups")
    assert prepare_data_dir(config) and not (media / "USB").exists()  # at start-up: no error, nothing made


@pytest.fixture
def window(qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any) -> Any:
    made = make_window(qtbot, make_context(sandbox, tmp_path / "data"), qsettings, tray=False)
    run(qloop, qtbot, made.start())
    yield made
    close_window(qloop, qtbot, made)


def _open_settings(qtbot: Any, window: Any) -> SettingsDialog:
    window.settings_action.trigger()
    qtbot.waitUntil(lambda: window.settings_dialog is not None and window.settings_dialog.isVisible())
    dialog: SettingsDialog = window.settings_dialog
    return dialog


@pytest.mark.parametrize("case", ["under a file", "drive not connected", "read-only"])
def test_settings_says_why_inside_the_dialog_and_keeps_the_folder(
    case: str, window: Any, qtbot: Any, tmp_path: Path, qsettings: Any, media: Path, read_only: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    before = window.ctx.config.data_dir
    if case == "under a file":
        a_file = tmp_path / "notes.txt"
        a_file.write_text("x")
        chosen, reason = a_file / "backups", f"{a_file} is a file, not a folder"
    elif case == "drive not connected":
        chosen, reason = media / "USB" / "backups", f"{media / 'USB'} does not exist: is the drive connected?"
    else:
        chosen, reason = tmp_path / "ro", "it cannot be written to (read-only drive)"
        chosen.mkdir()
        read_only(chosen)
    dialog = _open_settings(qtbot, window)
    dialog.data_dir_edit.setText(str(chosen))
    dialog.accept()
    assert dialog.isVisible() and dialog.confirm_box is None  # nothing to confirm: it cannot be used
    assert dialog.data_dir_problem.isVisibleTo(dialog)
    assert dialog.data_dir_problem.text() == f"{chosen} cannot be used: {reason}."
    assert window.ctx.config.data_dir == before and qsettings.value(DATA_DIR_KEY) is None
    assert not window.data_dir_banner.isVisibleTo(window)
    assert "Traceback" not in capfd.readouterr().err
    dialog.reject()
    qtbot.waitUntil(lambda: window.settings_dialog is None)


def test_a_folder_that_goes_away_while_confirming_is_refused_in_the_dialog(
    window: Any, qtbot: Any, tmp_path: Path, qsettings: Any
) -> None:
    chosen = tmp_path / "new"
    dialog = _open_settings(qtbot, window)
    dialog.data_dir_edit.setText(str(chosen))
    dialog.accept()
    qtbot.waitUntil(lambda: dialog.confirm_box is not None and dialog.confirm_box.isVisible())
    chosen.write_text("now a file")  # e.g. the drive was unplugged and something else took the name
    dialog.confirm_box.done(QMessageBox.StandardButton.Yes.value)
    assert dialog.isVisible()
    assert dialog.data_dir_problem.text() == (
        f"{chosen} cannot be used: {chosen} is a file, not a folder. The data folder is unchanged."
    )
    assert window.ctx.config.data_dir == tmp_path / "data" and qsettings.value(DATA_DIR_KEY) is None
    dialog.reject()


def test_at_start_up_the_window_opens_with_a_banner_and_a_way_out(
    qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any, media: Path
) -> None:
    missing = media / "USB" / "tzbackup"
    ctx = make_context(sandbox, missing)
    window = make_window(qtbot, ctx, qsettings, tray=False)
    try:
        run(qloop, qtbot, window.start())
        banner = window.data_dir_banner
        assert banner.isVisible()
        text = window.data_dir_banner_label.text()
        assert str(missing) in text and "is the drive connected?" in text
        assert window.choose_data_dir_button.isVisible()
        assert window.choose_data_dir_button.text().replace("&", "") == "Choose Another Folder…"
        assert window.model.rowCount() > 0  # the account is listed all the same
        assert not window.back_up_all_button.isEnabled() and not window.back_up_all_action.isEnabled()
        assert window.runs.start(None) is False
        assert "cannot be used" in window.data_dir_label.text()
        window.open_data_dir_action = window.findChild(type(window.settings_action), "openDataAction")
        window.open_data_dir_action.trigger()
        assert not (media / "USB").exists()  # neither the window nor the avatar cache created it

        qtbot.mouseClick(window.choose_data_dir_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.settings_dialog is not None and window.settings_dialog.isVisible())
        dialog = window.settings_dialog
        qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.data_dir_edit)
        assert dialog.data_dir_problem.text() == f"{missing} cannot be used: {window.data_dir_problem}."
        good = tmp_path / "good"
        dialog.data_dir_edit.setText(str(good))
        dialog.accept()
        qtbot.waitUntil(lambda: dialog.confirm_box is not None and dialog.confirm_box.isVisible())
        dialog.confirm_box.done(QMessageBox.StandardButton.Yes.value)
        qtbot.waitUntil(lambda: window.settings_dialog is None)
        assert not banner.isVisible() and window.data_dir_problem == ""
        assert good.is_dir() and stat.S_IMODE(good.stat().st_mode) == 0o700
        assert qsettings.value(DATA_DIR_KEY) == str(good)
        qtbot.waitUntil(window.back_up_all_button.isEnabled, timeout=20_000)
    finally:
        close_window(qloop, qtbot, window)


def _launch(tmp_path: Path, *args: str, saved_dir: Path | None = None) -> tuple[bool, str]:
    """The real app (``python -m tzbackup_gui --demo``, offscreen) with a throw-away HOME: still running after
    a few seconds (the window is up) and what it printed."""
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache"), "XDG_DATA_HOME": str(home / ".local/share"),
           "QT_QPA_PLATFORM": "offscreen"}
    if saved_dir is not None:
        path = home / ".config" / "tzbackup" / "tzbackup-demo.conf"
        settings = QSettings(str(path), QSettings.Format.IniFormat)
        settings.setValue(DATA_DIR_KEY, str(saved_dir))
        settings.sync()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tzbackup_gui", "--demo", *args], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        alive = proc.poll() is None
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    return alive, err


@pytest.mark.parametrize("how", ["--data-dir", "saved setting"])
def test_the_real_app_starts_with_a_data_folder_under_a_file(tmp_path: Path, how: str) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    bad = a_file / "backups"
    if how == "--data-dir":
        alive, err = _launch(tmp_path, "--data-dir", str(bad))
    else:
        alive, err = _launch(tmp_path, saved_dir=bad)
    assert alive, err
    assert "Traceback" not in err


def test_the_settings_file_is_private(tmp_path: Path) -> None:
    folder = tmp_path / "config" / "tzbackup"
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    old = os.umask(0o022)
    try:
        settings = make_private(QSettings(str(folder / "tzbackup.conf"), QSettings.Format.IniFormat))
        settings.setValue("window/log_visible", True)
        settings.sync()
    finally:
        os.umask(old)
    assert stat.S_IMODE((folder / "tzbackup.conf").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
