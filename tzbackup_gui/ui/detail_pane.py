"""The detail pane under the browser's memory and chat tables: the record's full text beside its raw JSON
tree, with Copy Text / Copy JSON. One widget, so the two tabs look and behave alike."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QAbstractItemModel, QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from .json_tree_model import JsonTreeModel

__all__ = ["DetailPane", "record_table", "table_over_detail"]


class DetailPane(QWidget):
    """``text`` (a QTextBrowser that never opens links), ``json_model`` / ``json_view`` and the two copy
    buttons; object names start with ``prefix`` (e.g. ``memoryText``, ``chatCopyJson``), accessible names
    with ``name`` (e.g. "Memory text", "Memory as JSON")."""

    def __init__(
        self,
        prefix: str,
        copy_text: Callable[[], None],
        copy_json: Callable[[], None],
        *,
        key_width: int = 150,
        sizes: tuple[int, int] = (520, 460),
        name: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        name = name or prefix.capitalize()
        self.text = QTextBrowser()
        self.text.setObjectName(f"{prefix}Text")
        self.text.setAccessibleName(f"{name} text")
        self.text.setOpenLinks(False)  # nothing is ever fetched or opened from a backup
        self.text.setTabChangesFocus(True)  # Tab leaves the text (there are no links to walk)
        self.json_model = JsonTreeModel(self)
        self.json_view = QTreeView()
        self.json_view.setObjectName(f"{prefix}Json")
        self.json_view.setAccessibleName(f"{name} as JSON")
        self.json_view.setModel(self.json_model)
        self.json_view.setUniformRowHeights(True)
        self.json_view.header().resizeSection(0, key_width)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for label, key, slot in (("Copy Text", "CopyText", copy_text), ("Copy JSON", "CopyJson", copy_json)):
            button = QPushButton(label)
            button.setObjectName(f"{prefix}{key}")
            button.setAccessibleName(f"{label} of the {name.lower()}")
            button.clicked.connect(slot)
            buttons.addWidget(button)
        inner = QSplitter()
        inner.addWidget(self.text)
        inner.addWidget(self.json_view)
        inner.setSizes(list(sizes))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(inner, 1)
        layout.addLayout(buttons)


def record_table(
    object_name: str, model: QAbstractItemModel, widths: tuple[int, ...], *, name: str = ""
) -> QTableView:
    """A read-only table of records (one row each, fixed-height rows, no row numbers), as both tabs show.

    Tab and Shift+Tab move on to the next widget (arrows move inside the table), not cell by cell."""
    table = QTableView()
    table.setObjectName(object_name)
    table.setAccessibleName(name or object_name)
    table.setModel(model)
    table.setTabKeyNavigation(False)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setWordWrap(False)
    table.setAlternatingRowColors(True)
    table.verticalHeader().hide()
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    table.verticalHeader().setDefaultSectionSize(max(24, table.fontMetrics().height() + 8))
    header = table.horizontalHeader()
    header.setStretchLastSection(True)
    for col, width in enumerate(widths):
        header.resizeSection(col, width)
    table.viewport().installEventFilter(_FitColumns(table, widths))
    return table


class _FitColumns(QObject):
    """Narrows the fixed columns of a table when its viewport gets too narrow for them and a readable last
    column (a small window), and gives them their widths back when there is room: never a sideways scrollbar
    for the sake of a date column."""

    LAST_MIN = 160  # pixels kept for the stretching text column

    def __init__(self, table: QTableView, widths: tuple[int, ...]) -> None:
        super().__init__(table)
        self.table = table
        self.widths = widths
        self.narrowed = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.fit(self.table.viewport().width())
        return False

    def fit(self, available: int) -> None:
        header = self.table.horizontalHeader()
        total = sum(self.widths)
        if total + self.LAST_MIN <= available:
            if self.narrowed:
                for col, width in enumerate(self.widths):
                    header.resizeSection(col, width)
                self.narrowed = False
            return
        # the first column (a time) keeps its width while the others can give way
        first, rest = self.widths[0], sum(self.widths[1:])
        keep_first = rest > 0 and available - self.LAST_MIN - first >= 0.4 * rest
        if keep_first:
            scale = (available - self.LAST_MIN - first) / rest
        else:
            scale = max(0.4, (available - self.LAST_MIN) / total)
        for col, width in enumerate(self.widths):
            keep = col == 0 and keep_first
            header.resizeSection(col, width if keep else max(header.minimumSectionSize(), int(width * scale)))
        self.narrowed = True


def table_over_detail(table: QWidget, detail: QWidget) -> QSplitter:
    """The table above its detail pane, as both browser tabs lay them out."""
    split = QSplitter(Qt.Orientation.Vertical)
    split.addWidget(table)
    split.addWidget(detail)
    split.setSizes([420, 260])
    return split
