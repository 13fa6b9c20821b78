"""The collapsible log pane and the logging handler that feeds it (secrets redacted)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QWidget

__all__ = ["LogPane", "PaneHandler", "redact"]

REDACTED = "<redacted>"
PROBLEMS_KEPT = 20


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret value (and its first 16 characters, for cut-off copies) in ``text``."""
    for secret in secrets:
        if len(secret) >= 8:
            text = text.replace(secret, REDACTED)
            text = text.replace(secret[:16], REDACTED)
    return text


class LogPane(QPlainTextEdit):
    """Read-only, bounded log view."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("logPane")
        self.setReadOnly(True)
        self.setMaximumBlockCount(2000)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setPlaceholderText("Backup messages appear here.")
        self.setAccessibleName("Backup log")
        # reachable with Tab, readable and copyable with the keyboard (arrows, Shift+arrows, Ctrl+C); Tab
        # moves on to the next control instead of being typed
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.setTabChangesFocus(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        line = self.fontMetrics().lineSpacing()
        self.setMinimumHeight(3 * line + 2 * self.frameWidth() + 8)  # the splitter never squeezes it away


class _Bridge(QObject):
    line = Signal(str)


class PaneHandler(logging.Handler):
    """Sends formatted records to a :class:`LogPane`, after redacting every secret the app knows."""

    def __init__(self, pane: LogPane, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__(logging.INFO)
        self._secrets = secrets
        #: the last warnings and errors, redacted (Help → Copy Diagnostics lists them)
        self.problems: deque[str] = deque(maxlen=PROBLEMS_KEPT)
        self._bridge = _Bridge()
        self._bridge.line.connect(pane.appendPlainText)
        self.setFormatter(logging.Formatter("%(asctime)s  %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = redact(self.format(record), self._secrets())
            if record.levelno >= logging.WARNING:
                self.problems.append(text)
            self._bridge.line.emit(text)
        except Exception:  # a log line must never break the app
            self.handleError(record)
