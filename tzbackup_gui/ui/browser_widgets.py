"""Small widgets of the offline browser: a wrapping tool row, typed date fields and a From / To filter.

The date fields are line edits, not ``QDateEdit``: a year, a month or a day can be typed as it is said
("2025", "2025-03", "2025-03-14") without first selecting the right part of a date, and a calendar button
beside each one serves the mouse. A year or a month means all of it: From 2025 starts on 1 January 2025,
To 2025 ends with 31 December 2025.
"""

from __future__ import annotations

import datetime as dt
import re
from html import escape

from PySide6.QtCore import (
    QDate,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPaintEvent, QPalette, QValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCalendarWidget,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizePolicy,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTextBrowser,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWidgetAction,
)

from .theme import error_color, flatten, readable

__all__ = [
    "DateField",
    "DateRangeFilter",
    "EmptyState",
    "FlowLayout",
    "FocusRing",
    "PaddedItems",
    "parse_date_text",
    "secondary_text",
]

APPLY_DELAY_MS = 500  # typing pause before a typed date is applied
HOW_TO_TYPE = "a year (2025), a month (2025-03) or a day (2025-03-14)"
_PARTIAL = re.compile(r"^\s*\d{0,4}(?:[-/.]\d{0,2}(?:[-/.]\d{0,2})?)?\s*$")
_FULL = re.compile(r"^\s*(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?\s*$")


def secondary_text(palette: QPalette, background: QColor | None = None) -> QColor:
    """Secondary text readable on ``background`` (the palette's base by default): the placeholder colour,
    first blended over the background when it is translucent (Qt's default placeholder is the text colour
    at half opacity, which ``theme.muted_text`` would return as if it were opaque), then made readable."""
    back = background or palette.color(QPalette.ColorRole.Base)
    return readable(flatten(palette.color(QPalette.ColorRole.PlaceholderText), back), back)


def parse_date_text(text: str) -> tuple[dt.date, dt.date] | None:
    """The first and last day a typed date means: a year, a month or a day; None when it is not one
    (an empty text too)."""
    match = _FULL.match(text)
    if match is None:
        return None
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    day = int(match.group(3)) if match.group(3) else None
    try:
        if month is None:
            return dt.date(year, 1, 1), dt.date(year, 12, 31)
        if day is None:
            first = dt.date(year, month, 1)
            following = dt.date(year + (month == 12), month % 12 + 1, 1)
            return first, following - dt.timedelta(days=1)
        exact = dt.date(year, month, day)
    except ValueError:
        return None
    return exact, exact


class _DateValidator(QValidator):
    """Lets through only what can become a date (digits and separators), so a letter never lands."""

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        if not text.strip():
            return QValidator.State.Acceptable, text, pos
        if parse_date_text(text) is not None:
            return QValidator.State.Acceptable, text, pos
        if _PARTIAL.match(text):
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Invalid, text, pos


class DateField(QWidget):
    """A typed date (year, month or day) with a calendar button; empty means "no limit".

    ``changed`` fires when the date it means changes (after a typing pause, on Enter, on leaving the field,
    or when a day is picked in the calendar); a text that is not a date yet leaves the date as it was and
    says so in red beside the tooltip."""

    changed = Signal()

    def __init__(self, role: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role  # "from" or "to": which end of a year or month the field means
        self.edit = QLineEdit()
        self.edit.setObjectName(name)
        self.edit.setAccessibleName(f"{role.capitalize()} date")
        self.edit.setValidator(_DateValidator(self.edit))
        self.edit.setClearButtonEnabled(True)
        self.edit.setMaxLength(10)
        self.edit.setToolTip(f"Type {HOW_TO_TYPE}; empty: no limit.")
        self.edit.setMinimumWidth(self.edit.fontMetrics().horizontalAdvance("2025-03-140") + 34)
        self.edit.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.calendar = QCalendarWidget()
        self.calendar.setObjectName(f"{name}Calendar")
        self.calendar.setGridVisible(True)
        self.calendar.activated.connect(self._picked)  # Enter or a double click
        self.calendar.clicked.connect(self._picked)
        self.menu = QMenu(self)
        action = QWidgetAction(self.menu)
        action.setDefaultWidget(self.calendar)
        self.menu.addAction(action)
        self.menu.aboutToShow.connect(self._before_calendar)
        self.button = QToolButton()
        self.button.setObjectName(f"{name}Pick")
        self.button.setArrowType(Qt.ArrowType.DownArrow)
        self.button.setAccessibleName(f"Pick the {role} date from a calendar")
        self.button.setToolTip(f"Pick the {role} date from a calendar")
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.button.setMenu(self.menu)
        self._timer = QTimer(self, singleShot=True, interval=APPLY_DELAY_MS)
        self._timer.timeout.connect(self.apply)
        self.edit.textEdited.connect(lambda _t: self._timer.start())
        self.edit.textChanged.connect(self._on_text)  # the clear button and setText too
        self.edit.installEventFilter(self)  # Enter and leaving the field apply even a text that is no date
        self._applied: tuple[dt.date, dt.date] | None = None
        self._hint: dt.date | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addWidget(self.edit)
        layout.addWidget(self.button)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        enter = isinstance(event, QKeyEvent) and event.type() == QEvent.Type.KeyPress and event.key() in (
            Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if watched is self.edit and (enter or event.type() == QEvent.Type.FocusOut):
            self.apply()
        return super().eventFilter(watched, event)

    @property
    def period(self) -> tuple[dt.date, dt.date] | None:
        """The days the applied text means (None: no limit)."""
        return self._applied

    @property
    def valid(self) -> bool:
        """False while the text is not a date (yet)."""
        return not self.edit.text().strip() or parse_date_text(self.edit.text()) is not None

    def set_hint(self, day: dt.date | None) -> None:
        """Show ``day`` (the first / last record's day) greyed while the field is empty."""
        self._hint = day
        self.edit.setPlaceholderText(day.isoformat() if day else "YYYY-MM-DD")

    def set_text(self, text: str) -> None:
        self.edit.setText(text)
        self.apply()

    def clear(self) -> None:
        self.set_text("")

    def apply(self) -> None:
        """Take the text as the field's date when it is one (or empty); fire ``changed`` when that moved."""
        self._timer.stop()
        text = self.edit.text().strip()
        parsed = parse_date_text(text) if text else None
        if text and parsed is None:
            self._show_validity(False)
            return
        self._show_validity(True)
        if parsed != self._applied:
            self._applied = parsed
            self.changed.emit()

    def _on_text(self, text: str) -> None:
        if not text.strip():  # the clear button: apply at once
            self.apply()
        elif parse_date_text(text) is not None:
            self._show_validity(True)

    def _show_validity(self, ok: bool) -> None:
        if ok:
            self.edit.setPalette(QPalette())  # the inherited one again
            self.edit.setToolTip(f"Type {HOW_TO_TYPE}; empty: no limit.")
            return
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        palette.setColor(QPalette.ColorRole.Text, error_color(palette, base))
        self.edit.setPalette(palette)
        self.edit.setToolTip(f"Not a date yet: type {HOW_TO_TYPE}.")

    def _before_calendar(self) -> None:
        shown = self._applied[0 if self.role == "from" else 1] if self._applied else self._hint
        if shown is not None:
            self.calendar.setSelectedDate(QDate(shown.year, shown.month, shown.day))

    def _picked(self, date: QDate) -> None:
        self.menu.close()
        self.set_text(f"{date.year():04d}-{date.month():02d}-{date.day():02d}")
        self.edit.setFocus(Qt.FocusReason.PopupFocusReason)


class DateRangeFilter(QWidget):
    """"From [date] To [date]": the Unix-time bounds of the days typed (local midnight); ``changed`` fires
    when they move."""

    changed = Signal()

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.since = DateField("from", f"{name}From")
        self.until = DateField("to", f"{name}To")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for text, field in (("From", self.since), ("to", self.until)):
            label = QLabel(text)
            label.setBuddy(field.edit)
            layout.addWidget(label)
            layout.addWidget(field)
            field.changed.connect(self.changed)

    def bounds(self) -> tuple[float | None, float | None]:
        """``(since, until)`` in Unix time, ``until`` exclusive (the day after the last day); None: open."""
        since = self.since.period[0] if self.since.period else None
        until = self.until.period[1] + dt.timedelta(days=1) if self.until.period else None
        return _midnight(since), _midnight(until)

    @property
    def active(self) -> bool:
        return self.since.period is not None or self.until.period is not None

    def set_hints(self, first_ts: float | None, last_ts: float | None) -> None:
        """Show the first and last record's day while the fields are empty."""
        self.since.set_hint(dt.date.fromtimestamp(first_ts) if first_ts else None)
        self.until.set_hint(dt.date.fromtimestamp(last_ts) if last_ts else None)

    def clear(self) -> None:
        """No limits (one ``changed`` at most)."""
        self.blockSignals(True)
        was = self.active
        try:
            self.since.clear()
            self.until.clear()
        finally:
            self.blockSignals(False)
        if was:
            self.changed.emit()

    def describe(self) -> str:
        """``from 2025-01-01 to 2025-03-31`` (local days), "" without limits."""
        parts = []
        if self.since.period:
            parts.append(f"from {self.since.period[0].isoformat()}")
        if self.until.period:
            parts.append(f"to {self.until.period[1].isoformat()}")
        return " ".join(parts)


def _midnight(day: dt.date | None) -> float | None:
    return None if day is None else dt.datetime(day.year, day.month, day.day).timestamp()


class FocusRing(QWidget):
    """A frame in the highlight colour around the list, table, tree or text pane that has the keyboard focus
    inside ``window``. Styles mark such a widget only with a faint dotted rectangle on its current item, which
    a selected row hides; a style sheet would do it but freezes the widgets' palettes (a theme switch would
    then leave them in the old colours). The ring is a transparent child of the window laid over the widget,
    so it never takes a click or the focus."""

    WIDTH = 2

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setObjectName("focusRing")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.target: QWidget | None = None
        self.hide()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._follow)

    def _follow(self, _old: QWidget | None, new: QWidget | None) -> None:
        if self.target is not None:
            self.target.removeEventFilter(self)
        window = self.parentWidget()
        wanted = (
            isinstance(new, QAbstractItemView | QTextEdit) and window is not None and window.isAncestorOf(new)
        )
        self.target = new if wanted else None
        if self.target is None:
            self.hide()
            return
        self.target.installEventFilter(self)
        self._place()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.target and event.type() in (
            QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.Show, QEvent.Type.Hide
        ):
            self._place()
        return False

    def _place(self) -> None:
        target, window = self.target, self.parentWidget()
        if target is None or window is None or not target.isVisible():
            self.hide()
            return
        self.setGeometry(QRect(target.mapTo(window, QPoint(0, 0)), target.size()))
        self.show()
        self.raise_()
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        color = (self.target or self).palette().color(QPalette.ColorRole.Highlight)
        painter = QPainter(self)
        w, h, edge = self.width(), self.height(), self.WIDTH
        for band in (QRect(0, 0, w, edge), QRect(0, h - edge, w, edge), QRect(0, 0, edge, h),
                     QRect(w - edge, 0, edge, h)):
            painter.fillRect(band, color)
        painter.end()


class PaddedItems(QStyledItemDelegate):
    """List items with a little air above and below their text. (A style sheet would do it, but a widget with
    a style sheet keeps the palette it had, so a theme switch would leave the list in the old colours.)"""

    def __init__(self, parent: QObject | None = None, vertical: int = 8) -> None:
        super().__init__(parent)
        self.vertical = vertical

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return super().sizeHint(option, index) + QSize(0, self.vertical)


class EmptyState(QWidget):
    """What a tab shows instead of an empty table: a title, the reason in a muted colour, and optionally one
    button that does something about it (e.g. "Clear Filters")."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.label = QLabel()
        self.label.setObjectName(f"{name}Text")
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button = QPushButton()
        self.button.setObjectName(f"{name}Action")
        self.button.hide()
        self.button.clicked.connect(self._act)
        self._action: object = None
        self.title = ""
        self.reason = ""
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.label)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)

    def show_message(self, title: str, reason: str = "", action: tuple[str, object] | None = None) -> None:
        """``action``: (button text, callable) or None for no button."""
        self.title, self.reason = title, reason
        self._action = action[1] if action else None
        self.button.setText(action[0] if action else "")
        self.button.setVisible(action is not None)
        self.restyle()

    def restyle(self) -> None:
        palette = self.label.palette()
        muted_color = secondary_text(palette, palette.color(QPalette.ColorRole.Window))
        self.label.setText(
            f"<p style='font-size:13pt'>{escape(self.title)}</p>"
            + (f"<p style='color:{muted_color.name()}'>{escape(self.reason)}</p>" if self.reason else "")
        )

    @property
    def text(self) -> str:
        """Title and reason as plain text."""
        doc = QTextBrowser()
        doc.setHtml(self.label.text())
        return doc.toPlainText()

    def _act(self) -> None:
        if callable(self._action):
            self._action()


class FlowLayout(QLayout):
    """Lays widgets out left to right and wraps them onto the next line when the row is too narrow, so a
    tool row never forces the window wider than a small screen (after Qt's own flow layout example)."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        margins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    def _arrange(self, rect: QRect, *, move: bool) -> int:
        """Place the items line by line (each centred in its line's height); the height they take."""
        margins = self.contentsMargins()
        area = rect.adjusted(margins.left(), margins.top(), -margins.right(), -margins.bottom())
        lines: list[list[tuple[QLayoutItem, QSize]]] = [[]]
        x = area.x()
        for item in self._items:
            if item.isEmpty():
                continue
            hint = item.sizeHint()
            if lines[-1] and x + hint.width() > area.right() + 1:
                lines.append([])
                x = area.x()
            lines[-1].append((item, hint))
            x += hint.width() + self._spacing
        y = area.y()
        for line in lines:
            if not line:
                continue
            height = max(hint.height() for _item, hint in line)
            x = area.x()
            for item, hint in line:
                if move:
                    item.setGeometry(QRect(QPoint(x, y + (height - hint.height()) // 2), hint))
                x += hint.width() + self._spacing
            y += height + self._spacing
        return max(0, y - self._spacing - rect.y()) + margins.bottom() + margins.top()
