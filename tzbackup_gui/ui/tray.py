"""The system tray icon: status tooltip, last backup, Back Up All, Open, Quit.

Only created when the desktop has a tray (``QSystemTrayIcon.isSystemTrayAvailable()``); Xvfb and some
desktops have none, and then the app simply has no tray (closing the window quits, as without a schedule).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from .personalities_model import relative_time

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["Tray", "make_tray"]


class Tray(QObject):
    """A tray icon whose menu forwards to the main window (the window stays the one place with logic)."""

    def __init__(self, window: MainWindow, icon: QIcon) -> None:
        super().__init__(window)
        self.icon = QSystemTrayIcon(icon, self)
        self.icon.setObjectName("trayIcon")
        self.menu = QMenu(window)  # owned by Qt (a popup despite the parent)
        self.menu.setObjectName("trayMenu")
        self.status_action = self._add("status", enabled=False)
        self.last_action = self._add("Last backup: never", enabled=False)
        self.menu.addSeparator()
        self.back_up_all_action = self._add("Back Up &All", self._back_up_all)
        self.open_action = self._add("&Open tzbackup", window.show_from_tray)
        self.menu.addSeparator()
        self.quit_action = self._add("&Quit", window.quit_app)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        # a click on a notification opens the window (and the sign-in a paused schedule waits for)
        self.icon.messageClicked.connect(window.show_from_tray)
        self.last_summary = ""
        self.update_status()

    @property
    def window(self) -> MainWindow:
        """The window (our Qt parent; not stored, so no reference cycle keeps it alive)."""
        return self.parent()  # type: ignore[return-value]

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
        """Refresh the tooltip and the menu's status lines from the window and the scheduler."""
        window = self.window
        if summary:
            self.last_summary = summary
        if window.running:
            status = "Backing up…"
        elif getattr(window, "scheduler", None) is not None and window.scheduler.waiting_for_sign_in:
            status = "Sign in again to resume scheduled backups"
        elif window.ctx.credential is None:
            status = "Not signed in"
        else:
            status = self.last_summary or "Idle"
        scheduler = getattr(window, "scheduler", None)
        schedule_line = scheduler.status() if scheduler is not None else ""
        last = self._last_backup()
        self.status_action.setText(status)
        self.last_action.setText(f"Last backup: {last}")
        self.back_up_all_action.setEnabled(not window.running and window.ctx.credential is not None)
        tip = [f"tzbackup — {status}", f"Last backup: {last}"]
        if schedule_line and scheduler is not None and scheduler.schedule.active:
            tip.append(schedule_line)
        self.icon.setToolTip("\n".join(tip))

    def _last_backup(self) -> str:
        times = [r.last_backup for r in self.window.model.rows() if r.last_backup is not None]
        return relative_time(max(times), datetime.now(UTC)) if times else "never"

    def _back_up_all(self) -> None:
        self.window.back_up_all()
        self.update_status()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            if self.window.isVisible() and not self.window.in_tray:
                self.window.activateWindow()
            else:
                self.window.show_from_tray()


def make_tray(window: MainWindow, icon: QIcon) -> Tray | None:
    """A shown tray icon when the platform has a tray; ``None`` otherwise (fall back: no tray)."""
    if not QSystemTrayIcon.isSystemTrayAvailable():
        return None
    tray = Tray(window, icon)
    tray.show()
    return tray
