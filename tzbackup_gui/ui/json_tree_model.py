"""A read-only JSON tree (key, value) whose children are built only when a branch is expanded.

Each item stores its own row, so ``parent()`` never searches a list (``list.index`` is O(n) per call and
makes a 10,000-entry array crawl). Children come into being through ``canFetchMore`` / ``fetchMore``.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt

__all__ = ["JsonTreeModel"]

_Index = QModelIndex | QPersistentModelIndex


class _Item:
    __slots__ = ("children", "key", "parent", "row", "value")

    def __init__(self, key: str, value: Any, parent: _Item | None, row: int) -> None:
        self.key = key
        self.value = value
        self.parent = parent
        self.row = row
        self.children: list[_Item] | None = None  # None: not built yet

    @property
    def is_branch(self) -> bool:
        return isinstance(self.value, dict | list)

    def build(self) -> list[_Item]:
        if self.children is None:
            pairs = (
                self.value.items()
                if isinstance(self.value, dict)
                else ((f"[{i}]", v) for i, v in enumerate(self.value))
                if isinstance(self.value, list)
                else ()
            )
            self.children = [_Item(str(k), v, self, row) for row, (k, v) in enumerate(pairs)]
        return self.children


def _summary(value: Any) -> str:
    if isinstance(value, dict):
        return f"{{{len(value)} keys}}"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    return json.dumps(value, ensure_ascii=False)


class JsonTreeModel(QAbstractItemModel):
    HEADERS = ("Key", "Value")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._root = _Item("", {}, None, 0)
        self._root.children = []

    def load(self, value: Any) -> None:
        """Show a new document (the root's children are built at once; deeper levels on demand)."""
        self.beginResetModel()
        self._root = _Item("", value, None, 0)
        self._root.build()
        self.endResetModel()

    def document(self) -> Any:
        return self._root.value

    def _item(self, index: _Index) -> _Item:
        if index.isValid():
            item = index.internalPointer()
            assert isinstance(item, _Item)
            return item
        return self._root

    def index(self, row: int, column: int, parent: _Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        children = self._item(parent).children or []
        return self.createIndex(row, column, children[row])

    def parent(self, index: _Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid():
            return QModelIndex()
        up = self._item(index).parent
        if up is None or up is self._root:
            return QModelIndex()
        return self.createIndex(up.row, 0, up)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._item(parent).children or [])

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 2

    def hasChildren(self, parent: _Index = QModelIndex()) -> bool:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return False
        item = self._item(parent)
        return bool(item.children) if item.children is not None else bool(item.is_branch and item.value)

    def canFetchMore(self, parent: _Index) -> bool:
        if parent.isValid() and parent.column() != 0:
            return False
        item = self._item(parent)
        return item.children is None and item.is_branch and bool(item.value)

    def fetchMore(self, parent: _Index) -> None:
        item = self._item(parent)
        if item.children is not None or not item.is_branch:
            return
        count = len(item.value)
        self.beginInsertRows(parent, 0, count - 1)
        item.build()
        self.endInsertRows()

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._item(index)
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            text = item.key if index.column() == 0 else _summary(item.value)
            return text[:500] + "…" if role == Qt.ItemDataRole.DisplayRole and len(text) > 500 else text
        if role == Qt.ItemDataRole.UserRole:
            return item.value
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < 2
        ):
            return self.HEADERS[section]
        return None
