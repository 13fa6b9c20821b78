"""The memories of one personality as a virtualized table: one compact record per row, text loaded lazily.

Rows come from the search index (:class:`~tzbackup_gui.archive.index.MemoryRows`: file, position, time,
flags); the text of a row is read from its chunk file only when a view asks for it, through a small LRU
cache of parsed files. Sorting (newest / oldest first), the date range and the deleted filters only reorder
integer arrays (the rows are in time order, so a date range is two binary searches).
"""

from __future__ import annotations

import bisect
from array import array
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QFont, QGuiApplication, QPalette

from ..archive.browse import ChunkCache, format_ts, memory_fields
from ..archive.index import FLAG_DELETED, FLAG_UPSTREAM, MemoryRows
from .browser_widgets import secondary_text
from .theme import error_color, readable

__all__ = ["RAW_ROLE", "MemoriesModel", "row_text_colors"]

RAW_ROLE = Qt.ItemDataRole.UserRole + 1  # the raw memory dict (None for a damaged file)
_Index = QModelIndex | QPersistentModelIndex


_ROW_COLORS: dict[int, tuple[QBrush, QBrush]] = {}


def row_text_colors(palette: QPalette) -> tuple[QBrush, QBrush]:
    """(muted, error) text for table rows: readable on both the base and the alternate row colour.
    Cached per palette (a view asks for every painted cell)."""
    key = palette.cacheKey()
    found = _ROW_COLORS.get(key)
    if found is None:
        base = palette.color(QPalette.ColorRole.Base)
        alternate = palette.color(QPalette.ColorRole.AlternateBase)
        muted = readable(secondary_text(palette, base), alternate)
        error = readable(error_color(palette, base), alternate)
        if len(_ROW_COLORS) > 16:
            _ROW_COLORS.clear()
        found = _ROW_COLORS[key] = (QBrush(muted), QBrush(error))
    return found


class MemoriesModel(QAbstractTableModel):
    HEADERS = ("Date", "Senders", "Type", "Summary")
    COL_DATE, COL_SENDERS, COL_TYPE, COL_TEXT = range(4)

    def __init__(self, cache: ChunkCache | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cache = cache or ChunkCache()
        self.rows = MemoryRows(paths=[])
        self.owner_id = ""
        self.newest_first = True
        self.show_deleted = True
        self.show_upstream = True
        self.since: float | None = None  # Unix time, inclusive
        self.until: float | None = None  # Unix time, exclusive
        self._order = array("I")  # visible row -> record

    def set_rows(self, rows: MemoryRows, owner_id: str = "") -> None:
        self.beginResetModel()
        self.rows = rows
        self.owner_id = owner_id
        self.cache.clear()
        self._order = self._compute_order()
        self.endResetModel()

    def set_options(
        self, *, newest_first: bool | None = None, deleted: bool | None = None, upstream: bool | None = None
    ) -> None:
        """Change order or filters (a reset: cheap, only integer arrays are rebuilt)."""
        self.beginResetModel()
        if newest_first is not None:
            self.newest_first = newest_first
        if deleted is not None:
            self.show_deleted = deleted
        if upstream is not None:
            self.show_upstream = upstream
        self._order = self._compute_order()
        self.endResetModel()

    def set_date_range(self, since: float | None, until: float | None) -> None:
        """Show only memories from ``since`` (inclusive) to ``until`` (exclusive); None: no limit."""
        if (since, until) == (self.since, self.until):
            return
        self.beginResetModel()
        self.since, self.until = since, until
        self._order = self._compute_order()
        self.endResetModel()

    @property
    def total(self) -> int:
        """Memories of the personality, whatever the filters."""
        return len(self.rows)

    @property
    def filtered(self) -> bool:
        return bool(self.since is not None or self.until is not None or not self.show_deleted
                    or not self.show_upstream)

    def _compute_order(self) -> array[int]:
        n = len(self.rows)
        low = bisect.bisect_left(self.rows.ts, self.since) if self.since is not None else 0
        high = bisect.bisect_left(self.rows.ts, self.until) if self.until is not None else n
        hidden = (0 if self.show_deleted else FLAG_DELETED) | (0 if self.show_upstream else FLAG_UPSTREAM)
        flags = self.rows.flags
        keep = range(high - 1, low - 1, -1) if self.newest_first else range(low, high)
        if not hidden:
            return array("I", keep)
        return array("I", (i for i in keep if not flags[i] & hidden))

    # --- lookups -----------------------------------------------------------------------------------------

    def record(self, row: int) -> int:
        return self._order[row]

    def location(self, row: int) -> tuple[Path, int]:
        rec = self._order[row]
        return self.rows.paths[self.rows.file_idx[rec]], self.rows.pos[rec]

    def raw(self, row: int) -> dict[str, Any] | None:
        path, pos = self.location(row)
        return self.cache.memory(path, pos)

    def flags_of(self, row: int) -> int:
        return self.rows.flags[self._order[row]]

    def row_of(self, path: Path, pos: int) -> int:
        """Visible row of the memory at ``pos`` in ``path`` (-1 when filtered out or unknown)."""
        rec = self.rows.find(path, pos)
        if rec < 0:
            return -1
        n = len(self.rows)
        if len(self._order) == n:  # nothing filtered out: arithmetic
            return n - 1 - rec if self.newest_first else rec
        try:
            return self._order.index(rec)
        except ValueError:
            return -1

    # --- Qt model ----------------------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section] if 0 <= section < len(self.HEADERS) else None
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._order):
            return None
        row, col = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == RAW_ROLE:
            return self.raw(row)
        flags = self.flags_of(row)
        if role == Qt.ItemDataRole.ForegroundRole:
            if flags:
                return row_text_colors(QGuiApplication.palette())[0]
            if index.column() == self.COL_TEXT and self.raw(row) is None:
                return row_text_colors(QGuiApplication.palette())[1]
            return None
        if role == Qt.ItemDataRole.FontRole and flags:
            font = QFont()
            font.setItalic(True)
            font.setStrikeOut(bool(flags & FLAG_DELETED))
            return font
        if role == Qt.ItemDataRole.ToolTipRole and flags:
            return _flag_text(flags)
        return None

    def _display(self, row: int, col: int) -> str:
        rec = self._order[row]
        if col == self.COL_DATE:
            return format_ts(self.rows.ts[rec])
        raw = self.raw(row)
        if raw is None:
            return "(unreadable file)" if col == self.COL_TEXT else ""
        fields = memory_fields(raw)
        if col == self.COL_SENDERS:
            return ", ".join("you" if s == self.owner_id else s[:8] for s in fields.senders)
        if col == self.COL_TYPE:
            mark = _flag_text(self.rows.flags[rec])
            return f"{fields.summary_type} · {mark}" if mark else fields.summary_type
        text = " ".join(fields.text.split())
        return text[:300]


def _flag_text(flags: int) -> str:
    parts = []
    if flags & FLAG_UPSTREAM:
        parts.append("deleted upstream")
    if flags & FLAG_DELETED:
        parts.append("deleted")
    return ", ".join(parts)
