"""The main window: account bar, personalities table, Back Up buttons, progress, log pane.

This module wires the window's layers to the run controller, the scheduler and the tray, keeps the
window's settings, switches the data folder and closes (or hides to the tray).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDesktopServices, QIcon
from PySide6.QtWidgets import QMenu, QMessageBox

from ..app import AppContext, data_dir_problem, display_path
from ..archive.store import ensure_dir
from ..errors import TzBackupError
from ..schedule import Clock, system_clock
from .avatars import AvatarCache
from .export_dialog import ExportImport
from .log_pane import PaneHandler
from .notifier import Notifier, NullNotifier
from .personalities_model import COLUMNS, PersonalitiesModel, PersonalitiesProxy
from .run_controller import RunController
from .scheduler import BackupScheduler
from .settings_dialog import SettingsDialog
from .sign_in_dialog import SignInDialog
from .tray import Tray, make_tray
from .window_menus import WindowMenus

__all__ = ["MainWindow"]

log = logging.getLogger("tzbackup.ui")


class MainWindow(WindowMenus):
    """Thin face over :class:`AppContext`: renders rows, forwards clicks, shows what the engine reports.

    Built in layers, one reason to change each: ``window_layout`` (widgets), ``window_status`` (what the
    window shows), ``window_rows`` (the account and its rows), ``window_menus`` (menus and the dialogs they
    open); this class wires them to the :class:`RunController`, the scheduler and the tray, and closes.
    """

    quit_requested = Signal()  # an explicit Quit (menu, tray): the app ends even when hidden in the tray

    def __init__(
        self,
        ctx: AppContext,
        *,
        settings: QSettings,
        notifier: Notifier | None = None,
        open_folder: Callable[[Path], None] | None = None,
        icon: QIcon | None = None,
        clock: Clock = system_clock,
        tray: bool = True,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.ctx = ctx
        self.settings = settings
        self.notifier: Notifier = notifier or NullNotifier()
        self.open_folder = open_folder or _open_folder
        self.model = PersonalitiesModel(self)
        self.runs = RunController(ctx, self.model, settings, self, notifier=self.notifier, parent=self)
        self.tracker = self.runs.tracker  # the run's progress, which the rows and the bar show
        self.proxy = PersonalitiesProxy(self)
        self.proxy.setSourceModel(self.model)
        self.avatars = AvatarCache(ctx.config.data_dir / ".cache" / "avatars", ctx.download)
        self.sign_in_dialog: SignInDialog | None = None
        self.message_box: QMessageBox | None = None
        self._avatar_task: asyncio.Task[None] | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._count_task: asyncio.Task[None] | None = None
        #: memory totals shapes.inc told on request (Count Memories), kept across list reloads
        self._counted: dict[str, int] = {}
        self.last_row_menu: QMenu | None = None
        self.help_viewer: Any = None
        self._resume_sign_in_task: asyncio.Task[None] | None = None
        self._restore_checked: set[str] | None = None
        self._remote: list[Any] = []  # the last account list (ShapeSummary), merged with local backups
        self._account_ready = False  # the account list has arrived (the Back Up buttons wait for it)
        #: why the data folder cannot be used ("" when it can): a banner says it, the Back Up buttons wait
        self.data_dir_problem = ""
        self._quitting = False
        self.in_tray = False  # hidden to the tray (closing the window keeps scheduled backups running)
        self.settings_dialog: SettingsDialog | None = None
        self.tray: Tray | None = None
        self.files = ExportImport(self, lambda: self.ctx.config.data_dir, settings)
        self.files.imported.connect(self._on_imported)
        # = the app's display name (``__main__.display_name``), so Qt adds nothing to it
        self.setWindowTitle("tzbackup" + (" — demo" if ctx.config.demo else ""))
        if icon is not None:
            self.setWindowIcon(icon)
        self._schedule_paused = False
        self._build_ui()
        self._connect_widgets()
        self._build_actions()
        self._apply_theme()
        self._install_log_handler()
        self._restore_settings()
        self._connect_run()
        self.check_data_dir()
        self.scheduler = BackupScheduler(self.runs, settings, hidden=self._hidden, clock=clock, parent=self)
        self.scheduler.status_changed.connect(self._show_schedule_status)
        if tray:
            self.use_tray(make_tray(self.runs, self.scheduler, icon or self.windowIcon(), self))
        # a weak reference: no window <-> context cycle, so the window is never freed by a garbage
        # collection that happens to run in a worker thread (Qt objects must die on the GUI thread)
        update = weakref.WeakMethod(self._update_account)
        self.ctx.on_credential_changed = lambda: _call_weak(update)
        self._update_account()
        self._update_buttons()

    def _connect_widgets(self) -> None:
        """What the widgets do (``window_layout`` only builds them)."""
        self.sign_in_button.clicked.connect(self.sign_in)
        self.sign_out_button.clicked.connect(self.sign_out)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.doubleClicked.connect(self._browse_row)
        self.table.customContextMenuRequested.connect(self._row_menu_at)
        self.model.dataChanged.connect(self._on_model_changed)
        self.model.modelReset.connect(self._update_buttons)
        self.back_up_selected_button.clicked.connect(lambda: self.back_up_selected())
        self.back_up_all_button.clicked.connect(lambda: self.back_up_all())
        self.cancel_button.clicked.connect(lambda: self.cancel_backup())
        self.resume_schedule_button.clicked.connect(lambda: self._resume_schedule())
        self.choose_data_dir_button.clicked.connect(lambda: self.choose_data_dir())
        self._overall_timer.timeout.connect(self._update_overall)

    def _connect_run(self) -> None:
        """The run's signals: what it shows in the window (rows repaint through the model)."""
        self.runs.starting.connect(self._on_run_starting)
        self.runs.running_changed.connect(self._set_running)
        self.runs.state_changed.connect(self._update_buttons)
        self.runs.status_text.connect(self.overall_label.setText)
        self.runs.stopped.connect(self._update_tray)
        self.runs.refused.connect(self._show_refusal)
        self.runs.error_found.connect(self.show_error)
        self.runs.close_requested.connect(self.close)

    def _on_run_starting(self, _slugs: object, _scheduled: bool) -> None:
        if self._avatar_task is not None and not self._avatar_task.done():
            self._avatar_task.cancel()
        self.message_box = None

    async def sign_in_after_run(self, scheduled: bool) -> bool:
        """The session ended during a run (``RunHost``): True when a new sign-in lets the run go on."""
        if scheduled and self.scheduler.waiting_for_sign_in:
            # hidden in the tray / minimised: no dialog out of nowhere. The scheduler paused and
            # notified; the dialog opens when the user opens the window (or clicks the notification).
            log.info("The session ended during a scheduled backup; waiting for a new sign-in")
            if self.isVisible() and not self.isMinimized() and not self.in_tray:
                self._ask_sign_in_for_schedule()
            return False
        return await self._ask_sign_in(
            "Your shapes.inc session ended during the backup. Everything fetched so far is saved. "
            "Sign in again with a fresh cookie and the backup resumes where it stopped."
        )

    def _hidden(self) -> bool:
        """Nobody looks at the window: hidden in the tray, closed to the tray, or minimised."""
        return bool(self.in_tray or not self.isVisible() or self.isMinimized())

    def _resume_schedule(self) -> None:
        """Resume: a new sign-in when the session ended, else lift the pause after repeated failures."""
        if self.scheduler.waiting_for_sign_in:
            self._ask_sign_in_for_schedule()
        else:
            self.scheduler.resume()

    def _install_log_handler(self) -> None:
        self._log_handler = PaneHandler(self.log_pane, self.ctx.secrets)
        for name in ("tzbackup", "tzbackup_gui"):
            logger = logging.getLogger(name)
            logger.addHandler(self._log_handler)
            if logger.level == logging.NOTSET or logger.level > logging.INFO:
                logger.setLevel(logging.INFO)

    def remove_log_handler(self) -> None:
        for name in ("tzbackup", "tzbackup_gui"):
            logging.getLogger(name).removeHandler(self._log_handler)

    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if (
            isinstance(geometry, QByteArray | bytes) and not self.restoreGeometry(QByteArray(geometry))
        ) or not isinstance(geometry, QByteArray | bytes):
            self.resize(1000, 640)
        # only the sort order is kept: the column widths follow the window (see _fit_columns)
        sort = str(self.settings.value("table/sort", "") or "").split(",")
        if len(sort) == 2 and all(part.isdigit() for part in sort) and int(sort[0]) < len(COLUMNS):
            self.table.sortByColumn(int(sort[0]), Qt.SortOrder(int(sort[1])))
        splitter = self.settings.value("window/splitter")
        if isinstance(splitter, QByteArray | bytes):
            self.splitter.restoreState(QByteArray(splitter))
        self.log_toggle.setChecked(str(self.settings.value("window/log_visible", "false")).lower() == "true")
        checked = self.settings.value("table/checked")
        if checked is not None:
            items = [checked] if isinstance(checked, str) else list(checked)
            self._restore_checked = {str(s) for s in items if s}

    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        header = self.table.horizontalHeader()
        self.settings.setValue(
            "table/sort", f"{header.sortIndicatorSection()},{header.sortIndicatorOrder().value}"
        )
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.setValue("window/log_visible", self.log_toggle.isChecked())
        self.settings.setValue("table/checked", self.model.checked_slugs())
        self.settings.sync()

    def set_data_dir(self, data_dir: Path) -> str:
        """Switch to another data folder (Settings, the banner): new avatar cache, status bar, rows reloaded.

        Returns why the folder cannot be used ("" when the switch happened); the current folder is then
        kept, nothing else changes."""
        if self.running:
            raise RuntimeError("cannot switch the data folder during a backup")
        problem = data_dir_problem(data_dir)
        if not problem:
            try:
                ensure_dir(data_dir)
            except TzBackupError as err:
                problem = str(err)
        if problem:
            log.warning("Data folder %s not used: %s", display_path(data_dir), problem)
            return problem
        self.ctx.config.data_dir = data_dir
        self.avatars = AvatarCache(data_dir / ".cache" / "avatars", self.ctx.download)
        log.info("Data folder: %s", display_path(data_dir))
        self.check_data_dir()
        self.refresh()
        return ""

    def use_tray(self, tray: Tray | None) -> None:
        """Show the app in this tray icon (None: no tray); its Open, Quit and clicks come back here."""
        self.tray = tray
        if tray is not None:
            tray.open_requested.connect(self.show_from_tray)
            tray.quit_requested.connect(self.quit_app)
            tray.clicked.connect(self._tray_clicked)

    def _tray_clicked(self) -> None:
        if self.isVisible() and not self.in_tray:
            self.activateWindow()
        else:
            self.show_from_tray()

    def changeEvent(self, event: QEvent) -> None:
        """Restoring a minimised window also opens a pending sign-in for the schedule; a new palette (the
        desktop switched to dark, or to high contrast) recolours what is derived from it."""
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_theme()
        if event.type() == QEvent.Type.WindowStateChange and not self.isMinimized() and self.isVisible():
            QTimer.singleShot(0, self._ask_sign_in_for_schedule)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing during a backup asks first, then cancels cleanly and closes when the run has stopped.

        With a schedule and a system tray, closing the window hides it to the tray (said once) so scheduled
        backups keep running; Quit (menu, Ctrl+Q, tray) ends the app.
        """
        if not self._quitting and self._hide_to_tray():
            event.ignore()
            return
        if self.running:
            event.ignore()
            if self.runs.close_after_run:
                return
            box = QMessageBox(
                QMessageBox.Icon.Question,
                "Stop the backup?",
                "A backup is running. Stop it and quit? Everything fetched so far is kept, and "
                "the next backup resumes where this one stopped.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                self,
            )
            box.setObjectName("confirmQuitBox")
            _name_button(box, QMessageBox.StandardButton.Yes, "&Stop Backup and Quit")
            _name_button(box, QMessageBox.StandardButton.No, "&Keep Running")
            box.setDefaultButton(QMessageBox.StandardButton.No)
            box.finished.connect(self._confirm_quit)
            self.message_box = box
            box.open()
            return
        self.save_settings()
        for task in (self._avatar_task, self._refresh_task):
            if task is not None and not task.done():
                task.cancel()
        self._clock_timer.stop()
        self.scheduler.stop()
        if self.tray is not None:
            self.tray.hide()
        self.remove_log_handler()
        self.in_tray = False
        event.accept()
        if self._quitting:
            self.quit_requested.emit()

    def _hide_to_tray(self) -> bool:
        """Hide instead of closing when a schedule is on and a tray icon exists; tell the user once."""
        if self.tray is None or not self.scheduler.schedule.active or not self.tray.visible():
            return False
        self.save_settings()
        self.in_tray = True
        self.hide()
        if str(self.settings.value("tray/told", "false")).lower() != "true":
            self.settings.setValue("tray/told", True)
            self.notifier.notify(
                "tzbackup keeps running",
                "Scheduled backups run while tzbackup is in the tray. Use Quit in the tray menu to stop.",
            )
        return True

    def _confirm_quit(self, code: int) -> None:
        if code != QMessageBox.StandardButton.Yes.value:
            self._quitting = False
        if code == QMessageBox.StandardButton.Yes.value:
            self._quitting = True
            self.runs.stop_and_close()
            self.overall_label.setText("Stopping the backup…")


def _call_weak(method: weakref.WeakMethod[Callable[[], None]]) -> None:
    bound = method()
    if bound is not None:
        bound()


def _open_folder(path: Path) -> None:
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def _name_button(box: QMessageBox, which: QMessageBox.StandardButton, text: str) -> None:
    """A message box's button says what it does ("Stop Backup and Quit"), not Yes/No."""
    button = box.button(which)
    if button is not None:
        button.setText(text)

