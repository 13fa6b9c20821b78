"""A personality's chat history as a virtualized table: rows are message numbers, text read lazily.

The row count comes from the chunk files (their number and the last one's length), so opening a
100,000-message chat reads one file; a row's text is read from its chunk file only when a view asks for it,
through :class:`~tzbackup_gui.archive.chat_browse.ChatChunks` (a small LRU of parsed files). Order (newest /
oldest first) is arithmetic; a filter is an integer array of matching message numbers, grown as the search
goes (rows are appended, so what is on screen never moves).
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QGuiApplication

from ..archive.browse import format_ts, format_utc
from ..archive.chat_browse import ChatChunks, chat_fields
from .memories_model import row_text_colors

__all__ = ["RAW_ROLE", "ChatModel", "exact_time", "preview_text", "speaker_text"]

RAW_ROLE = Qt.ItemDataRole.UserRole + 1  # the raw message dict (None for a damaged file)
_Index = QModelIndex | QPersistentModelIndex
PREVIEW_CHARS = 300


def exact_time(ts: float | None) -> str:
    """Local time to the second, then the same moment in UTC (the tooltip and the detail pane)."""
    if ts is None:
        return "no time stored"
    try:
        dt.datetime.fromtimestamp(ts)
    except (OverflowError, OSError, ValueError):
        return str(ts)
    return f"{format_ts(ts, seconds=True)} local time ({format_utc(ts)})"


def speaker_text(has_message: bool, has_reply: bool, shape: str) -> str:
    """Who spoke in one exchange: "you", the shape, or both ("you → Lilith")."""
    if has_message and has_reply:
        return f"you → {shape}"
    if has_message:
        return "you"
    return shape if has_reply else "(empty)"


def preview_text(message: str | None, reply: str | None) -> str:
    """One line: the message, then the reply after an arrow (whitespace collapsed, capped)."""
    parts = [" ".join(t.split()) for t in (message, reply) if t]
    return "  ⟶  ".join(parts)[:PREVIEW_CHARS]


class ChatModel(QAbstractTableModel):
    HEADERS = ("Time", "Who", "Text")
    COL_TIME, COL_WHO, COL_TEXT = range(3)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.chunks = ChatChunks()
        self.shape_name = "shape"
        self.newest_first = True
        self._matches: array[int] | None = None  # filtered: message numbers in display order

    # --- loading -----------------------------------------------------------------------------------------

    def open(self, folder: Path, shape_name: str) -> None:
        """Show ``folder``'s chat (unfiltered). Raises :class:`CorruptBackupError` for misnumbered files."""
        self.beginResetModel()
        self.shape_name = shape_name
        self._matches = None
        try:
            self.chunks.open(folder)
        finally:
            self.endResetModel()

    def clear(self) -> None:
        self.beginResetModel()
        self.chunks.close()
        self._matches = None
        self.endResetModel()

    @property
    def total(self) -> int:
        """Messages in the chat (whatever the filter)."""
        return self.chunks.count

    def set_newest_first(self, on: bool) -> None:
        if on == self.newest_first:
            return
        self.beginResetModel()
        self.newest_first = on
        if self._matches is not None:
            self._matches.reverse()
        self.endResetModel()

    # --- filter ------------------------------------------------------------------------------------------

    @property
    def filtered(self) -> bool:
        return self._matches is not None

    def start_filter(self) -> None:
        """Show no row until :meth:`add_matches` brings some (a search starts)."""
        self.beginResetModel()
        self._matches = array("I")
        self.endResetModel()

    def add_matches(self, numbers: Sequence[int]) -> None:
        """Append matching message numbers (already in display order) as rows at the end."""
        if self._matches is None or not numbers:
            return
        first = len(self._matches)
        self.beginInsertRows(QModelIndex(), first, first + len(numbers) - 1)
        self._matches.extend(numbers)
        self.endInsertRows()

    def clear_filter(self) -> None:
        if self._matches is None:
            return
        self.beginResetModel()
        self._matches = None
        self.endResetModel()

    # --- lookups -----------------------------------------------------------------------------------------

    def number(self, row: int) -> int:
        """The message number (0 = oldest) shown at ``row``."""
        if self._matches is not None:
            return self._matches[row]
        return self.chunks.count - 1 - row if self.newest_first else row

    def row_of(self, number: int) -> int:
        """The row showing message ``number`` (-1 when filtered out)."""
        if self._matches is not None:
            try:
                return self._matches.index(number)
            except ValueError:
                return -1
        if not 0 <= number < self.chunks.count:
            return -1
        return self.chunks.count - 1 - number if self.newest_first else number

    def raw(self, row: int) -> dict[str, Any] | None:
        return self.chunks.message(self.number(row))

    # --- Qt model ----------------------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid():
            return 0
        return len(self._matches) if self._matches is not None else self.chunks.count

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section] if 0 <= section < len(self.HEADERS) else None
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self.rowCount():
            return None
        row, col = index.row(), index.column()
        if role == RAW_ROLE:
            return self.raw(row)
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
                        Qt.ItemDataRole.ForegroundRole):
            return None
        raw = self.raw(row)
        if raw is None:
            if role == Qt.ItemDataRole.ForegroundRole:
                return row_text_colors(QGuiApplication.palette())[1]
            path = self.chunks.file_of(self.number(row))
            text = f"(unreadable file {path.name if path else ''})"
            return text if col == self.COL_TEXT or role == Qt.ItemDataRole.ToolTipRole else ""
        f = chat_fields(raw)
        if role == Qt.ItemDataRole.ForegroundRole:
            muted = row_text_colors(QGuiApplication.palette())[0]
            return muted if col == self.COL_WHO and not f.message else None
        if col == self.COL_TIME:
            return exact_time(f.ts) if role == Qt.ItemDataRole.ToolTipRole else format_ts(f.ts)
        if col == self.COL_WHO:
            return speaker_text(bool(f.message), bool(f.reply), self.shape_name)
        if role == Qt.ItemDataRole.ToolTipRole:
            return None
        return preview_text(f.message, f.reply)
