"""Desktop notifications behind a small interface (Xvfb and some desktops have no tray).

The window and the scheduler only know :class:`Notifier`; tests pass a fake that records messages.
"""

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
    """A tray icon's balloon / the desktop's notification daemon.

    Uses the app's tray icon when there is one (one icon in the tray, not two); else makes its own.
    """

    def __init__(
        self, icon: QIcon, parent: QWidget | None = None, *, tray: QSystemTrayIcon | None = None
    ) -> None:
        if tray is None:
            tray = QSystemTrayIcon(icon, parent)
            tray.setToolTip("tzbackup")
            tray.show()
        self.tray = tray

    def notify(self, title: str, message: str, *, error: bool = False) -> None:
        kind = QSystemTrayIcon.MessageIcon.Warning if error else QSystemTrayIcon.MessageIcon.Information
        self.tray.showMessage(title, message, kind, 8000)


def make_notifier(
    icon: QIcon, parent: QWidget | None = None, *, tray: QSystemTrayIcon | None = None
) -> Notifier:
    """A tray notifier when the platform has a tray (reusing ``tray`` when given), else a silent one."""
    if tray is not None or QSystemTrayIcon.isSystemTrayAvailable():
        return TrayNotifier(icon, parent, tray=tray)
    return NullNotifier()
