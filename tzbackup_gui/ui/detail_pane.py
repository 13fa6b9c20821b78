"""The detail pane under the browser's memory and chat tables: the record's full text beside its raw JSON
tree, with Copy Text / Copy JSON. One widget, so the two tabs look and behave alike."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QAbstractItemModel, Qt
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
    buttons; object names start with ``prefix`` (e.g. ``memoryText``, ``chatCopyJson``)."""

    def __init__(
        self,
        prefix: str,
        copy_text: Callable[[], None],
        copy_json: Callable[[], None],
        *,
        key_width: int = 150,
        sizes: tuple[int, int] = (520, 460),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.text = QTextBrowser()
        self.text.setObjectName(f"{prefix}Text")
        self.text.setOpenLinks(False)  # nothing is ever fetched or opened from a backup
        self.json_model = JsonTreeModel(self)
        self.json_view = QTreeView()
        self.json_view.setObjectName(f"{prefix}Json")
        self.json_view.setModel(self.json_model)
        self.json_view.setUniformRowHeights(True)
        self.json_view.header().resizeSection(0, key_width)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for label, name, slot in (("Copy Text", "CopyText", copy_text), ("Copy JSON", "CopyJson", copy_json)):
            button = QPushButton(label)
            button.setObjectName(f"{prefix}{name}")
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


def record_table(name: str, model: QAbstractItemModel, widths: tuple[int, ...]) -> QTableView:
    """A read-only table of records (one row each, fixed 24 px rows, no row numbers), as both tabs show."""
    table = QTableView()
    table.setObjectName(name)
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setWordWrap(False)
    table.setAlternatingRowColors(True)
    table.verticalHeader().hide()
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    table.verticalHeader().setDefaultSectionSize(24)
    header = table.horizontalHeader()
    header.setStretchLastSection(True)
    for col, width in enumerate(widths):
        header.resizeSection(col, width)
    return table


def table_over_detail(table: QWidget, detail: QWidget) -> QSplitter:
    """The table above its detail pane, as both browser tabs lay them out."""
    split = QSplitter(Qt.Orientation.Vertical)
    split.addWidget(table)
    split.addWidget(detail)
    split.setSizes([420, 260])
    return split
