"""The browser's Chat tab: one personality's backed-up chat history, filter, detail pane, empty state.

The table is a :class:`ChatModel` (virtualized: opening reads the last chunk file only). The filter runs
incrementally on the GUI thread: a zero-interval timer reads chunk files (newest first when the table is)
for at most :data:`STEP_BUDGET` seconds per tick and appends the matches as rows, so the window keeps
painting and a new filter text simply replaces the running scan. URLs in a message (voice reply,
attachment) are shown as text and never fetched: the browser works offline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..archive.browse import PersonalityDetails, format_iso_local, format_ts
from ..archive.chat_browse import ChatSectionState, chat_fields, chat_section_state, scan_chat
from ..errors import CorruptBackupError
from ..model.words import plural
from .browser_widgets import secondary_text
from .chat_model import ChatModel, exact_time
from .detail_pane import DetailPane, record_table, table_over_detail
from .theme import banner_colors, error_color, readable

__all__ = ["ChatView", "message_html"]

STEP_BUDGET = 0.015  # seconds of filtering per timer tick (about one frame)
FILTER_DELAY_MS = 250  # typing pause before a filter starts
_YOU, _SHAPE = QColor(28, 93, 153), QColor(106, 61, 154)  # hues of the two speakers' names


def message_html(raw: dict[str, Any], shape_name: str, palette: QPalette | None = None) -> str:
    """The full exchange: message, reply, regenerated replies, then the facts (URLs as plain text), in
    colours readable on the palette's base (the text browser's background)."""
    f = chat_fields(raw)
    palette = palette or QGuiApplication.palette()
    base = palette.color(QPalette.ColorRole.Base)
    muted = secondary_text(palette, base).name()
    you, shape = readable(_YOU, base).name(), readable(_SHAPE, base).name()

    def block(who: str, text: str | None, colour: str) -> str:
        if not text:
            return ""
        body = escape(text).replace("\n", "<br>")
        return (f"<p style='margin:6px 0 2px 0;color:{colour};font-weight:600'>{escape(who)}</p>"
                f"<p style='margin:0 0 6px 0'>{body}</p>")

    parts = [block("You", f.message, you), block(shape_name, f.reply, shape)]
    if not f.message and not f.reply:
        parts.append(f"<p style='color:{muted}'>(neither a message nor a reply is stored)</p>")
    elif not f.reply:
        parts.append(f"<p style='color:{muted}'>(no reply stored)</p>")
    for n, text in enumerate(f.regenerated, start=1):
        parts.append(block(f"Regenerated reply {n}", text, muted))
    facts = [
        ("Time", exact_time(f.ts)),
        ("Voice reply", f.voice_url),
        ("Attachment", f.attachment_url + (f" ({f.attachment_type})" if f.attachment_type else "")),
        ("Fallback model", "used" if f.fallback_model else ""),
        ("Message id", f.id),
    ]
    rows = "".join(
        f"<tr><td style='color:{muted};padding-right:10px;vertical-align:top'>{escape(k)}</td>"
        f"<td>{escape(v)}</td></tr>"
        for k, v in facts
        if v
    )
    return "".join(parts) + f"<table cellspacing='2'>{rows}</table>"


class ChatView(QWidget):
    """Filter box, count, table of exchanges and the selected one in full; or the empty state's reason."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.folder: Path | None = None
        self.state = ChatSectionState()
        self.load_error = ""
        self.model = ChatModel(self)
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("chatFilter")
        self.filter_edit.setAccessibleName("Filter this chat")
        self.filter_edit.setPlaceholderText("Filter this chat (text in messages and replies)")
        self.filter_edit.setClearButtonEnabled(True)
        self.newest = QCheckBox("Newest first")
        self.newest.setObjectName("chatNewestFirst")
        self.newest.setChecked(True)
        self.newest.toggled.connect(self._on_order)
        self.count_label = QLabel()
        self.count_label.setObjectName("chatCount")
        tools = QHBoxLayout()
        tools.addWidget(self.filter_edit, 1)
        tools.addWidget(self.newest)
        tools.addWidget(self.count_label)
        self.banner = QLabel()
        self.banner.setObjectName("chatBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()
        self.empty = QLabel()
        self.empty.setObjectName("chatEmpty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self._build_table_page())
        layout = QVBoxLayout(self)
        layout.addLayout(tools)
        layout.addWidget(self.banner)
        layout.addWidget(self.stack, 1)
        self._filter_timer = QTimer(self, singleShot=True, interval=FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(self.apply_filter)
        self.filter_edit.textChanged.connect(lambda _t: self._filter_timer.start())
        self.filter_edit.returnPressed.connect(self.apply_filter)
        self._scan: Iterator[tuple[int, list[int], str | None]] | None = None
        self._scan_files = 0
        self._scan_done = 0
        self._scan_problems: list[str] = []
        self._scan_text = ""
        self._step_timer = QTimer(self, interval=0)
        self._step_timer.timeout.connect(self._scan_step)
        self._empty_text = ("", "")
        self.restyle()
        self._show_empty("Select a personality to see its chat history.")

    def _build_table_page(self) -> QWidget:
        # COL_TIME, COL_WHO; the text stretches
        self.table = record_table("chatTable", self.model, (130, 150), name="Chat messages")
        self.table.selectionModel().currentRowChanged.connect(self._on_row)
        pane = DetailPane("chat", self.copy_text, self.copy_json, key_width=170, sizes=(560, 420),
                          name="Message")
        self.detail, self.json_model, self.json_view = pane.text, pane.json_model, pane.json_view
        return table_over_detail(self.table, pane)

    # --- loading -----------------------------------------------------------------------------------------

    def show_details(self, details: PersonalityDetails) -> None:
        """Show ``details``' chat: the table when files exist, else the empty state with its reason."""
        self._stop_scan()
        self.folder = details.folder
        self.state = chat_section_state(details.folder)
        self.load_error = ""
        if details.refused:
            self.model.clear()
            self._show_empty("No chat history shown", details.refused)
            return
        try:
            self.model.open(details.folder, details.title)
        except CorruptBackupError as err:
            self.model.clear()
            self.load_error = str(err)
            self._show_empty("The chat history cannot be read", self.load_error)
            return
        if self.model.total == 0:
            self._show_empty("No chat history backed up", self.state.empty_reason())
            return
        self.stack.setCurrentIndex(1)
        self.filter_edit.setEnabled(True)
        self.newest.setEnabled(True)
        if self.state.status == "failed":
            saved = format_iso_local(self.state.last_sync)
            self.banner.setText(
                f"⚠ The last chat sync failed: {escape(self.state.error or 'unknown error')}<br>"
                f"Shown below is the chat as saved by the last successful sync"
                f"{' (' + escape(saved) + ')' if saved else ''}."
            )
            self.banner.show()
        else:
            self.banner.hide()
        self._show_message(None)
        if self.filter_edit.text().strip():
            self.apply_filter()
        else:
            self._update_count()

    def _show_empty(self, title: str, reason: str = "") -> None:
        self.banner.hide()
        self.stack.setCurrentIndex(0)
        self._empty_text = (title, reason)
        palette = self.empty.palette()
        muted = secondary_text(palette, palette.color(QPalette.ColorRole.Window)).name()
        self.empty.setText(
            f"<p style='font-size:13pt'>{escape(title)}</p>"
            + (f"<p style='color:{muted}'>{escape(reason)}</p>" if reason else "")
        )
        self.filter_edit.setEnabled(False)
        self.newest.setEnabled(False)
        self.count_label.setText("")

    @property
    def empty_text(self) -> str:
        """The empty state's text as plain text ("" when the table is shown)."""
        if self.stack.currentIndex() != 0:
            return ""
        doc = QTextBrowser()
        doc.setHtml(self.empty.text())
        return doc.toPlainText()

    # --- order and filter --------------------------------------------------------------------------------

    def _on_order(self, on: bool) -> None:
        number = self._current_number()
        if self._scan is not None:  # a scan in progress appends in the old order: start it again
            self.model.newest_first = on
            self.apply_filter()
        else:
            self.model.set_newest_first(on)
        if number is not None:
            self.select_number(number)

    def apply_filter(self) -> None:
        """Start (or restart) the filter with the box's text; an empty box shows the whole chat."""
        self._filter_timer.stop()
        self._stop_scan()
        text = self.filter_edit.text().strip()
        if self.folder is None or self.model.total == 0:
            return
        if not text:
            self.model.clear_filter()
            self._update_count()
            return
        self.model.start_filter()
        self._show_message(None)
        self._scan_text = text
        self._scan_files = self.model.chunks.chunks
        self._scan_done = 0
        self._scan_problems = []
        self._scan = scan_chat(self.folder, text, newest_first=self.model.newest_first)
        self._update_count()
        self._step_timer.start()

    def _scan_step(self) -> None:
        """Read chunk files for about one frame, appending their matches."""
        if self._scan is None:
            self._step_timer.stop()
            return
        deadline = time.perf_counter() + STEP_BUDGET
        found: list[int] = []
        try:
            while time.perf_counter() < deadline:
                done, hits, problem = next(self._scan)
                self._scan_done = done
                found.extend(hits)
                if problem:
                    self._scan_problems.append(problem)
        except StopIteration:
            self._scan = None
            self._step_timer.stop()
        except CorruptBackupError as err:  # the files changed under us (renumbered)
            self._scan = None
            self._step_timer.stop()
            self._scan_problems.append(str(err))
        self.model.add_matches(found)
        self._update_count()

    def _stop_scan(self) -> None:
        self._step_timer.stop()
        self._scan = None

    @property
    def searching(self) -> bool:
        return self._scan is not None

    def _update_count(self) -> None:
        total = self.model.total
        if not self.model.filtered:
            self.count_label.setText(plural(total, "message"))
            return
        shown = self.model.rowCount()
        quoted = f"“{self._scan_text}”"
        if self._scan is not None:
            text = (f"Searching… {self._scan_done:,} of {plural(self._scan_files, 'file')}, "
                    f"{plural(shown, 'match', 'matches')} so far")
        else:
            text = f"{shown:,} of {plural(total, 'message')} match {quoted}"
        if self._scan_problems:
            text += f" ({plural(len(self._scan_problems), 'file')} unreadable)"
            self.count_label.setToolTip("\n".join(self._scan_problems))
        else:
            self.count_label.setToolTip("")
        self.count_label.setText(text)

    # --- selection and detail ----------------------------------------------------------------------------

    def _current_number(self) -> int | None:
        row = self.table.currentIndex().row()
        return self.model.number(row) if row >= 0 else None

    def select_number(self, number: int) -> bool:
        """Select message ``number`` (0 = oldest) when it is shown."""
        row = self.model.row_of(number)
        if row < 0:
            return False
        index = self.model.index(row, 0)
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def reveal(self, number: int, message_id: str = "") -> bool:
        """Select message ``number`` (0 = oldest), clearing the filter when it hides it; False when there is
        no such message or its id is not ``message_id`` any more (the chat changed since)."""
        if self.model.total == 0 or not 0 <= number < self.model.total:
            return False
        if self.model.row_of(number) < 0:
            self.filter_edit.clear()
            self.apply_filter()
        if not self.select_number(number):
            return False
        raw = self.model.raw(self.model.row_of(number))
        if message_id and (raw is None or chat_fields(raw).id != message_id):
            return False
        self.table.setFocus(Qt.FocusReason.OtherFocusReason)
        return True

    def restyle(self) -> None:
        """Colours from the current palette (after a theme change)."""
        background, text = banner_colors(self.palette(), "warning")
        self.banner.setStyleSheet(
            f"QLabel{{background:{background.name()};color:{text.name()};border:1px solid {text.name()};"
            "border-radius:4px;padding:6px}"
        )
        if self.stack.currentIndex() == 0 and self._empty_text[0]:
            self._show_empty(*self._empty_text)
        elif self.folder is not None:
            row = self.table.currentIndex().row()
            self._show_message(row if row >= 0 else None)

    def _on_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_message(current.row() if current.isValid() else None)

    def _show_message(self, row: int | None) -> None:
        palette = self.detail.palette()
        base = palette.color(QPalette.ColorRole.Base)
        if row is None:
            muted = secondary_text(palette, base).name()
            self.detail.setHtml(f"<p style='color:{muted}'>Select a message to see it in full.</p>")
            self.json_model.load({})
            return
        raw = self.model.raw(row)
        if raw is None:
            path = self.model.chunks.file_of(self.model.number(row))
            name = path.name if path else "?"
            error = error_color(palette, base).name()
            self.detail.setHtml(f"<p style='color:{error}'>The file {escape(name)} cannot be read.</p>")
            self.json_model.load({})
            return
        self.detail.setHtml(message_html(raw, self.model.shape_name, palette))
        self.json_model.load(raw)
        self.json_view.expandToDepth(0)

    def current_raw(self) -> dict[str, Any] | None:
        row = self.table.currentIndex().row()
        return self.model.raw(row) if row >= 0 else None

    def copy_text(self) -> None:
        """The exchange as plain text: "You: …", "<shape>: …", with the time."""
        raw = self.current_raw()
        if raw is None:
            return
        f = chat_fields(raw)
        lines = [format_ts(f.ts, seconds=True)]
        if f.message:
            lines.append(f"You: {f.message}")
        if f.reply:
            lines.append(f"{self.model.shape_name}: {f.reply}")
        QGuiApplication.clipboard().setText("\n".join(lines))

    def copy_json(self) -> None:
        raw = self.current_raw()
        if raw is not None:
            QGuiApplication.clipboard().setText(json.dumps(raw, ensure_ascii=False, indent=2))
