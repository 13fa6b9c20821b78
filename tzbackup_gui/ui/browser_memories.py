"""The browser's Memories tab: order, dates and deleted filters over the table, the memory in full below
(text and JSON), an empty state that says why nothing is listed."""

from __future__ import annotations

import bisect
import json
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ..archive.browse import (
    ChunkCache,
    PersonalityDetails,
    format_ts,
    format_utc,
    memories_empty_reason,
    memory_fields,
    plural,
)
from ..archive.index import (
    FLAG_UPSTREAM,
)
from .browser_widgets import DateRangeFilter, EmptyState, FlowLayout, secondary_text
from .detail_pane import DetailPane, record_table, table_over_detail
from .memories_model import MemoriesModel
from .theme import error_color

__all__ = ["BrowserMemories"]


class BrowserMemories(QMainWindow):
    """The Memories tab of :class:`BrowserWindow` (which sets up the state declared here)."""

    cache: ChunkCache
    current: PersonalityDetails | None  # whose memories the table shows
    count_label: QLabel

    def _build_memories(self) -> QWidget:
        """Order, dates and deleted filters above the table they drive; an empty state in its place when
        there is nothing to list."""
        self.model = MemoriesModel(self.cache, self)
        self.table = record_table("memoriesTable", self.model, (130, 110, 150), name="Memories")
        self.table.selectionModel().currentRowChanged.connect(self._on_memory_row)
        self.memory_sort = QComboBox()
        self.memory_sort.setObjectName("memorySort")
        self.memory_sort.setAccessibleName("Sort memories")
        self.memory_sort.addItem("Newest first", True)
        self.memory_sort.addItem("Oldest first", False)
        self.memory_sort.currentIndexChanged.connect(
            lambda _i: self._set_options(newest_first=bool(self.memory_sort.currentData()))
        )
        sort_label = QLabel("Sort:")
        sort_label.setBuddy(self.memory_sort)
        self.memory_dates = DateRangeFilter("memoryDates")
        self.memory_dates.changed.connect(self._on_memory_dates)
        self.show_deleted = QCheckBox("Deleted")
        self.show_deleted.setObjectName("showDeleted")
        self.show_deleted.setChecked(True)
        self.show_deleted.toggled.connect(lambda on: self._set_options(deleted=on))
        self.show_upstream = QCheckBox("Deleted upstream")
        self.show_upstream.setObjectName("showUpstream")
        self.show_upstream.setChecked(True)
        self.show_upstream.toggled.connect(lambda on: self._set_options(upstream=on))
        self.show_deleted.setToolTip("Show memories marked deleted: true")
        self.show_upstream.setToolTip("Show memories deleted on the service (kept in this backup)")
        self.memory_shown = QLabel()
        self.memory_shown.setObjectName("memoryShown")
        sort = QWidget()  # "Sort: [Newest first]  Show: [x] Deleted [x] Deleted upstream" wraps as one piece
        sort_row = QHBoxLayout(sort)
        sort_row.setContentsMargins(0, 0, 0, 0)
        sort_row.addWidget(sort_label)
        sort_row.addWidget(self.memory_sort)
        sort_row.addSpacing(8)
        sort_row.addWidget(QLabel("Show:"))
        sort_row.addWidget(self.show_deleted)
        sort_row.addWidget(self.show_upstream)
        tools = FlowLayout()
        for w in (sort, self.memory_dates, self.memory_shown):
            tools.addWidget(w)
        pane = DetailPane("memory", self.copy_text, self.copy_json, name="Memory")
        self.detail_text, self.json_model, self.json_view = pane.text, pane.json_model, pane.json_view
        self.memory_empty = EmptyState("memoriesEmpty")
        self.memory_stack = QStackedWidget()
        self.memory_stack.addWidget(self.memory_empty)
        self.memory_stack.addWidget(table_over_detail(self.table, pane))
        page = QWidget()
        pl = QVBoxLayout(page)
        pl.addLayout(tools)
        pl.addWidget(self.memory_stack, 1)
        self.memory_empty.show_message("No personality selected", "Choose one in the list on the left.")
        return page

    def _show_memory_state(self, details: PersonalityDetails | None, waiting: str = "") -> None:
        """The count beside the filters and in the status bar, and the empty state when nothing is listed."""
        model = self.model
        shown, total = model.rowCount(), model.total
        title = details.title if details else ""
        if waiting:
            self.memory_shown.setText("")
            self.memory_empty.show_message(waiting, "The memories appear as soon as this personality's files "
                                           "are indexed.")
            self.memory_stack.setCurrentWidget(self.memory_empty)
            return
        if model.filtered and total:
            counts = f"{shown:,} of {plural(total, 'memory', 'memories')}"
            self.memory_shown.setText(f"{counts} shown")
        else:
            counts = plural(total, "memory", "memories")
            self.memory_shown.setText("")
        self.count_label.setText(f"{title}: {counts}" if title else counts)
        if details is not None and details.refused:
            self.memory_empty.show_message("This backup cannot be read", details.refused)
        elif details is not None and total == 0:
            self.memory_empty.show_message("No memories backed up", memories_empty_reason(details))
        elif shown == 0:
            dates = self.memory_dates.describe()
            self.memory_empty.show_message(
                "No memory matches the filters above",
                f"None of the {plural(total, 'memory', 'memories')} is "
                + (f"dated {dates}" if dates else "left once the deleted ones are hidden") + ".",
                ("Clear Filters", self.clear_memory_filters),
            )
        else:
            self.memory_stack.setCurrentIndex(1)
            return
        self.memory_stack.setCurrentWidget(self.memory_empty)

    def _set_options(self, **options: bool) -> None:
        selected = self._selected_location()
        self.model.set_options(**options)
        self._after_filter(selected)

    def _on_memory_dates(self) -> None:
        selected = self._selected_location()
        self.model.set_date_range(*self.memory_dates.bounds())
        self._after_filter(selected)

    def _after_filter(self, selected: tuple[Path, int] | None) -> None:
        self._show_memory_state(self.current)
        if selected is None or not self.select_memory(*selected):
            self._show_memory(None)

    def clear_memory_filters(self) -> None:
        """Every memory shown again (dates cleared, deleted ones shown); the order stays."""
        self.memory_dates.clear()
        self.show_deleted.setChecked(True)
        self.show_upstream.setChecked(True)

    def _refresh_memory_hints(self) -> None:
        """The empty From / To fields show the first and last memory day of the listed personality."""
        ts = self.model.rows.ts
        first = bisect.bisect_right(ts, 0)  # memories without a time sort first
        self.memory_dates.set_hints(ts[first] if first < len(ts) else None, ts[-1] if len(ts) else None)

    def _selected_location(self) -> tuple[Path, int] | None:
        row = self.table.currentIndex().row()
        return self.model.location(row) if row >= 0 else None

    def select_memory(self, path: Path, pos: int) -> bool:
        row = self.model.row_of(path, pos)
        if row < 0:
            return False
        index = self.model.index(row, 0)
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def _on_memory_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_memory(current.row() if current.isValid() else None)

    def _show_memory(self, row: int | None) -> None:
        palette = self.detail_text.palette()
        base = palette.color(QPalette.ColorRole.Base)
        muted, error = secondary_text(palette, base).name(), error_color(palette, base).name()
        raw = self.model.raw(row) if row is not None else None
        if row is None:
            self.detail_text.setHtml(f"<p style='color:{muted}'>Select a memory to see it in full.</p>")
            self.json_model.load({})
            return
        if raw is None:
            path, _pos = self.model.location(row)
            unreadable = f"The file {escape(path.name)} cannot be read."
            self.detail_text.setHtml(f"<p style='color:{error}'>{unreadable}</p>")
            self.json_model.load({})
            return
        f = memory_fields(raw)
        flags = self.model.flags_of(row)
        marks = []
        if flags & FLAG_UPSTREAM:
            marks.append("Deleted upstream (kept in this backup)")
        if f.deleted:
            marks.append("Marked deleted: true")
        mark_html = "".join(f"<p style='color:{error}'><b>{escape(m)}</b></p>" for m in marks)
        created = format_ts(f.created, seconds=True)
        facts = [
            ("Created", f"{created} ({format_utc(f.created)})" if created else ""),
            (
                "Conversation",
                f"{format_ts(f.start, seconds=True)} – {format_ts(f.end, seconds=True)}"
                if f.start or f.end
                else "",
            ),
            ("Type", f.summary_type),
            ("Senders", ", ".join(self._sender_name(x) for x in f.senders)),
            ("Memory id", f.id),
            ("Message ids", "<br>".join(escape(m) for m in f.msg_ids)),
        ]
        rows = "".join(
            f"<tr><td style='color:{muted};padding-right:10px;vertical-align:top'>{k}</td>"
            f"<td>{v if k == 'Message ids' else escape(v)}</td></tr>"
            for k, v in facts
            if v
        )
        self.detail_text.setHtml(
            f"{mark_html}<p style='font-size:11pt'>{escape(f.text).replace(chr(10), '<br>')}</p>"
            f"<table cellspacing='2'>{rows}</table>"
        )
        self.json_model.load(raw)
        self.json_view.expandToDepth(0)

    def _sender_name(self, sender: str) -> str:
        """The owner reads as "you" (as in the table), with the id kept for reference."""
        owner = self.current.status.owner_id if self.current else ""
        return f"you ({sender})" if sender and sender == owner else sender

    def current_raw(self) -> dict[str, Any] | None:
        row = self.table.currentIndex().row()
        return self.model.raw(row) if row >= 0 else None

    def copy_text(self) -> None:
        raw = self.current_raw()
        if raw is not None:
            QGuiApplication.clipboard().setText(memory_fields(raw).text)

    def copy_json(self) -> None:
        raw = self.current_raw()
        if raw is not None:
            QGuiApplication.clipboard().setText(json.dumps(raw, ensure_ascii=False, indent=2))
