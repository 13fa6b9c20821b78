"""The system tray icon: status tooltip, last backup, Back Up All, Open, Quit.

Only created when the desktop has a tray (``QSystemTrayIcon.isSystemTrayAvailable()``); Xvfb and some
desktops have none, and then the app simply has no tray (closing the window quits, as without a schedule).
"""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from .personalities_model import relative_time
from .run_controller import RunController
from .scheduler import BackupScheduler

__all__ = ["Tray", "make_tray"]


class Tray(QObject):
    """A tray icon: Back Up All goes to the run controller; Open, Quit and a click on the icon or on a
    notification are signals the window answers (the window stays the one place that shows itself)."""

    open_requested = Signal()  # Open, or a click on a notification
    quit_requested = Signal()
    clicked = Signal()  # the icon itself was clicked

    def __init__(
        self, runs: RunController, scheduler: BackupScheduler | None, icon: QIcon, window: QWidget
    ) -> None:
        super().__init__(window)
        self.runs, self.scheduler = runs, scheduler
        self.icon = QSystemTrayIcon(icon, self)
        self.icon.setObjectName("trayIcon")
        self.menu = QMenu(window)  # owned by Qt (a popup despite the parent)
        self.menu.setObjectName("trayMenu")
        self.status_action = self._add("status", enabled=False)
        self.last_action = self._add("Last backup: never", enabled=False)
        self.menu.addSeparator()
        self.back_up_all_action = self._add("Back Up &All", self._back_up_all)
        self.open_action = self._add("&Open tzbackup", self.open_requested.emit)
        self.menu.addSeparator()
        self.quit_action = self._add("&Quit", self.quit_requested.emit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        # a click on a notification opens the window (and the sign-in a paused schedule waits for)
        self.icon.messageClicked.connect(self.open_requested.emit)
        self.last_summary = ""
        self.update_status()

    def _add(self, text: str, slot: object = None, *, enabled: bool = True) -> QAction:
        action = QAction(text, self.menu)
        action.setEnabled(enabled)
        if callable(slot):
            action.triggered.connect(lambda _checked=False, s=slot: s())
        self.menu.addAction(action)
        return action

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def visible(self) -> bool:
        return self.icon.isVisible()

    def update_status(self, summary: str = "") -> None:
        """Refresh the tooltip and the menu's status lines from the run and the scheduler."""
        runs, scheduler = self.runs, self.scheduler
        if summary:
            self.last_summary = summary
        if runs.running:
            status = "Backing up…"
        elif scheduler is not None and scheduler.waiting_for_sign_in:
            status = "Sign in again to resume scheduled backups"
        elif runs.ctx.credential is None:
            status = "Not signed in"
        else:
            status = self.last_summary or "Idle"
        schedule_line = scheduler.status() if scheduler is not None else ""
        last = self._last_backup()
        self.status_action.setText(status)
        self.last_action.setText(f"Last backup: {last}")
        self.back_up_all_action.setEnabled(not runs.running and runs.ctx.credential is not None)
        tip = [f"tzbackup — {status}", f"Last backup: {last}"]
        if schedule_line and scheduler is not None and scheduler.schedule.active:
            tip.append(schedule_line)
        self.icon.setToolTip("\n".join(tip))

    def _last_backup(self) -> str:
        times = [r.last_backup for r in self.runs.model.rows() if r.last_backup is not None]
        return relative_time(max(times), datetime.now(UTC)) if times else "never"

    def _back_up_all(self) -> None:
        self.runs.start(None)
        self.update_status()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.clicked.emit()


def make_tray(
    runs: RunController, scheduler: BackupScheduler | None, icon: QIcon, window: QWidget
) -> Tray | None:
    """A shown tray icon when the platform has a tray; ``None`` otherwise (fall back: no tray)."""
    if not QSystemTrayIcon.isSystemTrayAvailable():
        return None
    tray = Tray(runs, scheduler, icon, window)
    tray.show()
    return tray
