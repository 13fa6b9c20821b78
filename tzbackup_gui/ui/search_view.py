"""The browser's Search tab: one search over memories, chat, profiles and knowledge, with its controls.

Everything that shapes the results sits above them on this tab: the words, which personalities, which
kinds of record (each with its number of matches), the order (relevance, newest or oldest first) and the
From / To dates. A result opens on activation of that result (Enter, a double click, or the Open button),
never on a single click, so the second click of a double click cannot land on something else.

Colours come from the palette (:mod:`.theme`): the matched words are highlighted in a colour that suits the
theme, and every piece of text is readable (WCAG 4.5:1) on the row it is painted on, selected or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QPainter, QPalette, QTextCharFormat, QTextLayout, QTextOption
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from ..archive.browse import format_ts, format_utc
from ..archive.index import FLAG_DELETED, FLAG_UPSTREAM, HIT_END, HIT_START, KINDS, ORDERS, SearchHit
from ..model.words import plural
from .browser_widgets import DateRangeFilter, FlowLayout, secondary_text
from .theme import hit_colors, readable

__all__ = [
    "HIT_ROLE",
    "KIND_LABELS",
    "SearchParams",
    "SearchResultsModel",
    "SearchView",
    "head_text",
    "highlight_html",
    "snippet_parts",
]

_Index = QModelIndex | QPersistentModelIndex
HIT_ROLE = Qt.ItemDataRole.UserRole + 3  # the SearchHit of a row
KIND_LABELS = {"memory": "Memory", "chat": "Chat", "profile": "Profile", "knowledge": "Knowledge"}
_KIND_PLURALS = {"memory": ("memory", "memories"), "chat": ("chat message", "chat messages"),
                 "profile": ("profile", "profiles"), "knowledge": ("knowledge entry", "knowledge entries")}
_KIND_BOXES = {"memory": "Memories", "chat": "Chat", "profile": "Profiles", "knowledge": "Knowledge"}
_ORDER_LABELS = {"relevance": "Best match first", "newest": "Newest first", "oldest": "Oldest first"}
LIMIT = 200


_HIT_STYLES: dict[int, tuple[QColor, QColor]] = {}


def _hit_style(palette: QPalette) -> tuple[QColor, QColor]:
    """(background, text) of a matched word under ``palette`` (worked out once per palette)."""
    key = palette.cacheKey()
    if key not in _HIT_STYLES:
        if len(_HIT_STYLES) > 16:
            _HIT_STYLES.clear()
        _HIT_STYLES[key] = hit_colors(palette)
    return _HIT_STYLES[key]


def highlight_html(snippet: str, palette: QPalette) -> str:
    """A snippet with FTS markers as escaped HTML, the matched words highlighted in the palette's colours."""
    background, text = _hit_style(palette)
    style = f"background:{background.name()};color:{text.name()};font-weight:600"
    return (
        escape(snippet)
        .replace(HIT_START, f"<span style='{style}'>")
        .replace(HIT_END, "</span>")
        .replace("\n", " ")
    )


def _marks(flags: int) -> str:
    marks = " · deleted upstream" if flags & FLAG_UPSTREAM else ""
    return marks + (" · deleted" if flags & FLAG_DELETED else "")


def head_text(hit: SearchHit, where: str) -> str:
    """"Memory · Lilith · 2025-04-27 12:31 · deleted": what a result is, whose, and when (local time)."""
    when = format_ts(hit.ts)
    return " · ".join(p for p in (KIND_LABELS.get(hit.kind, hit.kind), where, when) if p) + _marks(hit.flags)


def snippet_parts(snippet: str) -> tuple[str, list[tuple[int, int]]]:
    """The snippet as one line of plain text and the (start, length) of each matched stretch in it."""
    plain, spans, at = [], [], 0
    for n, piece in enumerate(" ".join(snippet.split()).split(HIT_START)):
        matched, _, rest = piece.partition(HIT_END) if n else ("", "", piece)
        if matched:
            spans.append((at, len(matched)))
        plain.append(matched + rest)
        at += len(matched) + len(rest)
    return "".join(plain), spans


class SearchResultsModel(QAbstractListModel):
    """Search hits; DisplayRole is the result as plain text, HIT_ROLE the hit itself."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hits: list[SearchHit] = []
        self.titles: dict[str, str] = {}

    def set_hits(self, hits: list[SearchHit], titles: dict[str, str]) -> None:
        self.beginResetModel()
        self.hits = hits
        self.titles = titles
        self.endResetModel()

    def where(self, hit: SearchHit) -> str:
        return self.titles.get(hit.folder, hit.folder)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.hits)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.hits):
            return None
        hit = self.hits[index.row()]
        if role == HIT_ROLE:
            return hit
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{head_text(hit, self.where(hit))}: {snippet_parts(hit.snippet)[0]}"
        if role == Qt.ItemDataRole.ToolTipRole and hit.ts:
            return f"{format_ts(hit.ts, seconds=True)} local time ({format_utc(hit.ts)})"
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self.data(index, Qt.ItemDataRole.DisplayRole)
        return None


class ResultDelegate(QStyledItemDelegate):
    """Paints a result as rich text inside the usual item background, in colours taken from the row.

    Every row has the same height (a head line and two lines of snippet), so the list lays out 200 results
    without building 200 rich-text documents: only the rows on screen are ever rendered."""

    LINES = 3

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._colors: dict[tuple[int, int, bool, bool], tuple[QColor, QColor, QColor]] = {}

    def colors(self, option: QStyleOptionViewItem, index: _Index) -> tuple[QColor, QColor, QColor]:
        """(background, text, muted text) of the row as the style paints it: selected, alternate or plain.
        Worked out once per palette and kind of row (a repaint asks for every row on screen)."""
        palette: QPalette = option.palette
        state = option.state
        group = (
            QPalette.ColorGroup.Disabled
            if not state & QStyle.StateFlag.State_Enabled
            else QPalette.ColorGroup.Active
            if state & QStyle.StateFlag.State_Active
            else QPalette.ColorGroup.Inactive
        )
        selected = bool(state & QStyle.StateFlag.State_Selected)
        alternate = bool(option.features & QStyleOptionViewItem.ViewItemFeature.Alternate)
        key = (palette.cacheKey(), group.value, selected, alternate)
        found = self._colors.get(key)
        if found is not None:
            return found
        if len(self._colors) > 64:
            self._colors.clear()
        if selected:  # the row's own text colour throughout: muted text would fade into the highlight
            background = palette.color(group, QPalette.ColorRole.Highlight)
            text = readable(palette.color(group, QPalette.ColorRole.HighlightedText), background)
            found = (background, text, text)
        else:
            background = palette.color(
                group, QPalette.ColorRole.AlternateBase if alternate else QPalette.ColorRole.Base
            )
            text = readable(palette.color(group, QPalette.ColorRole.Text), background)
            found = (background, text, secondary_text(palette, background))
        self._colors[key] = found
        return found

    def runs(self, option: QStyleOptionViewItem, index: _Index) -> list[tuple[str, QColor, QColor]]:
        """What is painted for ``index``, piece by piece: (text, text colour, the colour behind it). The tests
        check the contrast of each."""
        background, text, head = self.colors(option, index)
        hit = index.data(HIT_ROLE)
        if not isinstance(hit, SearchHit):
            return []
        model = index.model()
        where = model.where(hit) if isinstance(model, SearchResultsModel) else hit.folder
        hit_back, hit_text = _hit_style(option.palette)
        plain, spans = snippet_parts(hit.snippet)
        pieces = [(head_text(hit, where), head, background)]
        at = 0
        for start, length in spans:
            pieces += [(plain[at:start], text, background), (plain[start:start + length], hit_text, hit_back)]
            at = start + length
        pieces.append((plain[at:], text, background))
        return [piece for piece in pieces if piece[0].strip()]

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        hit = index.data(HIT_ROLE)
        if not isinstance(hit, SearchHit):
            return
        _background, text, head = self.colors(option, index)
        model = index.model()
        where = model.where(hit) if isinstance(model, SearchResultsModel) else hit.folder
        rect = option.rect.adjusted(4, 3, -4, -3)
        font = QFont(option.font)
        painter.save()
        painter.setClipRect(rect)
        # the head line: the kind in bold, then whose and when, in the muted colour of the row
        head_line = head_text(hit, where)
        kind_length = len(KIND_LABELS.get(hit.kind, hit.kind))
        top = rect.top() + _draw_layout(painter, head_line, font, [(0, kind_length, None, None, True)],
                                        head, rect.left(), rect.top(), rect.width(), 1)
        # the snippet: up to two lines, the matched words highlighted
        hit_back, hit_text = _hit_style(option.palette)
        plain, spans = snippet_parts(hit.snippet)
        formats = [(start, length, hit_back, hit_text, True) for start, length in spans]
        _draw_layout(painter, plain, font, formats, text, rect.left(), top, rect.width(), self.LINES - 1)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        metrics = option.fontMetrics
        bold = metrics.boundingRect("M").height()
        return QSize(200, metrics.lineSpacing() * self.LINES + max(0, bold - metrics.height()) + 12)


def _draw_layout(
    painter: QPainter,
    text: str,
    font: QFont,
    formats: Sequence[tuple[int, int, QColor | None, QColor | None, bool]],
    color: QColor,
    x: int,
    y: int,
    width: int,
    lines: int,
) -> int:
    """Lay ``text`` out in at most ``lines`` lines of ``width`` and draw it at (x, y) in ``color``, with the
    ranges of ``formats`` (start, length, background, text colour, bold) set apart; returns the height used.
    A QTextLayout is a fraction of the cost of a rich-text document, which matters at 200 results."""
    layout = QTextLayout(text, font)
    ranges = []
    for start, length, back, fore, bold in formats:
        char = QTextCharFormat()
        if back is not None:
            char.setBackground(back)
        if fore is not None:
            char.setForeground(fore)
        if bold:
            char.setFontWeight(QFont.Weight.DemiBold)
        item = QTextLayout.FormatRange()
        item.start, item.length, item.format = start, length, char
        ranges.append(item)
    layout.setFormats(ranges)
    wrap = QTextOption()
    wrap.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(wrap)
    layout.beginLayout()
    height = 0.0
    for _ in range(lines):
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        line.setPosition(QPointF(0, height))
        height += line.height()
    layout.endLayout()
    painter.setPen(color)
    layout.draw(painter, QPointF(x, y))
    return int(height)


@dataclass(frozen=True)
class SearchParams:
    """What the Search tab's controls say: the words, where, which kinds, in which order, which dates."""

    text: str
    this_personality: bool
    kinds: tuple[str, ...]
    order: str
    since: float | None
    until: float | None


class SearchView(QWidget):
    """Controls, summary and results; ``changed`` asks for a new search, ``open_requested(hit)`` to open one.

    The window runs the query (it holds the index) and hands the outcome to :meth:`show_results`."""

    changed = Signal()
    open_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("searchView")
        self.edit = QLineEdit()
        self.edit.setObjectName("searchEdit")
        self.edit.setAccessibleName("Search words")
        self.edit.setPlaceholderText('Search memories, chat, profiles and knowledge (words, or "a phrase")')
        self.edit.setClearButtonEnabled(True)
        self.scope = QComboBox()
        self.scope.setObjectName("searchScope")
        self.scope.setAccessibleName("Search in")
        self.scope.addItems(["All personalities", "This personality"])
        top = QHBoxLayout()
        top.addWidget(self.edit, 1)
        top.addWidget(self.scope)
        self.kind_boxes: dict[str, QCheckBox] = {}
        options = FlowLayout()
        show = QLabel("Look in:")
        options.addWidget(show)
        for kind in KINDS:
            box = QCheckBox(_KIND_BOXES[kind])
            box.setObjectName(f"searchKind_{kind}")
            box.setChecked(True)
            box.toggled.connect(lambda _on: self.changed.emit())
            self.kind_boxes[kind] = box
            options.addWidget(box)
        self.order = QComboBox()
        self.order.setObjectName("searchOrder")
        self.order.setAccessibleName("Sort results")
        for key in ORDERS:
            self.order.addItem(_ORDER_LABELS[key], key)
        order_label = QLabel("Sort:")
        order_label.setBuddy(self.order)
        self.dates = DateRangeFilter("searchDates")
        row_sort = QWidget()
        sort_layout = QHBoxLayout(row_sort)
        sort_layout.setContentsMargins(0, 0, 0, 0)
        sort_layout.addWidget(order_label)
        sort_layout.addWidget(self.order)
        options.addWidget(row_sort)
        options.addWidget(self.dates)
        self.summary = QLabel()
        self.summary.setObjectName("searchSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model = SearchResultsModel(self)
        self.results = QListView()
        self.results.setObjectName("searchResults")
        self.results.setAccessibleName("Search results")
        self.results.setModel(self.model)
        self.delegate = ResultDelegate(self.results)
        self.results.setItemDelegate(self.delegate)
        self.results.setAlternatingRowColors(True)
        self.results.setWordWrap(True)
        self.results.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.results.setUniformItemSizes(True)  # see ResultDelegate: 200 results lay out at once
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results.activated.connect(self._activated)  # Enter, or a double click: never a single click
        self.empty = QLabel()
        self.empty.setObjectName("searchEmpty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.results)
        self.open_button = QPushButton("&Open Result")
        self.open_button.setObjectName("openResult")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_current)
        hint = QLabel("Enter or a double click opens the highlighted result.")
        hint.setObjectName("searchHint")
        bottom = QHBoxLayout()
        bottom.addWidget(hint, 1)
        bottom.addWidget(self.open_button)
        self.results.selectionModel().currentChanged.connect(
            lambda current, _prev: self.open_button.setEnabled(current.isValid())
        )
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(options)
        layout.addWidget(self.summary)
        layout.addWidget(self.stack, 1)
        layout.addLayout(bottom)
        self.order.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.scope.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.dates.changed.connect(self.changed)
        self.show_empty("Search everything backed up", "Type a few words above: memories, chat messages, "
                        "profiles and knowledge entries are searched together, newest backups included.")

    # --- what the controls say ---------------------------------------------------------------------------

    def params(self) -> SearchParams:
        since, until = self.dates.bounds()
        kinds = tuple(kind for kind, box in self.kind_boxes.items() if box.isChecked())
        return SearchParams(
            text=self.edit.text().strip(),
            this_personality=self.scope.currentIndex() == 1,
            kinds=kinds,
            order=str(self.order.currentData() or "relevance"),
            since=since,
            until=until,
        )

    def order_text(self) -> str:
        return self.order.currentText().lower()

    # --- showing -----------------------------------------------------------------------------------------

    def show_empty(self, title: str, reason: str = "") -> None:
        """The empty state in place of the list (no words, no matches, index not ready)."""
        palette = self.empty.palette()
        muted = secondary_text(palette, palette.color(QPalette.ColorRole.Window))
        self.empty.setText(
            f"<p style='font-size:13pt'>{escape(title)}</p>"
            + (f"<p style='color:{muted.name()}'>{escape(reason)}</p>" if reason else "")
        )
        self.stack.setCurrentWidget(self.empty)
        self.open_button.setEnabled(False)

    def show_results(self, hits: list[SearchHit], titles: dict[str, str]) -> None:
        self.model.set_hits(hits, titles)
        self.open_button.setEnabled(False)  # until a result is highlighted again
        if hits:
            self.stack.setCurrentWidget(self.results)
            self.results.scrollToTop()

    def show_counts(self, counts: dict[str, int]) -> None:
        """Each kind's box says how many records of that kind match (whether it is ticked or not)."""
        for kind, box in self.kind_boxes.items():
            n = counts.get(kind)
            box.setText(f"{_KIND_BOXES[kind]} ({n:,})" if n is not None and self.params().text else
                        _KIND_BOXES[kind])

    @staticmethod
    def kinds_text(counts: dict[str, int], kinds: tuple[str, ...]) -> str:
        """``812 memories, 40 chat messages`` for the kinds searched."""
        parts = [plural(counts[k], *_KIND_PLURALS[k]) for k in kinds if counts.get(k)]
        return ", ".join(parts)

    # --- opening -----------------------------------------------------------------------------------------

    def current_hit(self) -> SearchHit | None:
        index = self.results.currentIndex()
        hit = index.data(HIT_ROLE) if index.isValid() else None
        return hit if isinstance(hit, SearchHit) else None

    def open_current(self) -> None:
        hit = self.current_hit()
        if hit is not None:
            self.open_requested.emit(hit)

    def _activated(self, index: QModelIndex) -> None:
        hit = index.data(HIT_ROLE) if index.isValid() else None
        if isinstance(hit, SearchHit):
            self.open_requested.emit(hit)
