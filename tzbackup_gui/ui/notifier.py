"""Desktop notifications behind a small interface (Xvfb and some desktops have no tray)."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QSystemTrayIcon, QWidget

__all__ = ["Notifier", "NullNotifier", "TrayNotifier", "make_notifier"]


class Notifier(Protocol):
    """Something that can tell the user a long job ended, even when the window is in the background."""

    def notify(self, title: str, message: str, *, error: bool = False) -> None: ...


class NullNotifier:
    """No tray: nothing to show (the status bar already says it)."""

    def notify(self, title: str, message: str, *, error: bool = False) -> None:
        return None


class TrayNotifier:
    """A tray icon's balloon / the desktop's notification daemon."""

    def __init__(self, icon: QIcon, parent: QWidget | None = None) -> None:
        self.tray = QSystemTrayIcon(icon, parent)
        self.tray.setToolTip("tzbackup")
        self.tray.show()

    def notify(self, title: str, message: str, *, error: bool = False) -> None:
        kind = QSystemTrayIcon.MessageIcon.Warning if error else QSystemTrayIcon.MessageIcon.Information
        self.tray.showMessage(title, message, kind, 8000)


def make_notifier(icon: QIcon, parent: QWidget | None = None) -> Notifier:
    """A tray notifier when the platform has a tray, else a silent one."""
    if QSystemTrayIcon.isSystemTrayAvailable():
        return TrayNotifier(icon, parent)
    return NullNotifier()
