"""The browser's Timeline tab: backup runs and profile versions of one personality, and a diff view.

The list shows the timeline (:mod:`tzbackup_gui.archive.timeline`) newest first. Selecting an entry that
made a profile version shows that version against the one before it (or against the current one), field
by field, with the changed words highlighted (deleted: red, struck through; inserted: green). The version
shown can be exported as it was then: JSON, Markdown or a character card (``archive/export.py``).
Read-only; no network.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..archive.browse import PersonalityDetails
from ..archive.export import ExportResult, export_card, export_markdown, export_profile_json
from ..archive.profile_history import ProfileVersion, field_diffs, word_diff
from ..archive.timeline import Timeline, TimelineEntry, build_timeline
from ..errors import TzBackupError

__all__ = ["TimelineView", "diff_html"]

_DEL = "background:#fdd;color:#8a1c12;text-decoration:line-through"
_INS = "background:#d4f5d4;color:#14532d"
_KIND_COLOURS = {"changed": "#8a5a00", "added": "#14532d", "removed": "#8a1c12"}


#: Unchanged text longer than this is shortened to its start and end around the edits.
_CONTEXT = 160


def _text_html(text: str) -> str:
    return escape(text).replace("\n", "<br>")


def _context_html(text: str, *, first: bool, last: bool) -> str:
    """Unchanged text between edits, long stretches cut to a little context on each side."""
    if len(text) <= 2 * _CONTEXT + 20:
        return _text_html(text)
    head = "" if first else text[:_CONTEXT].rsplit(" ", 1)[0] + " "
    tail = "" if last else " " + text[-_CONTEXT:].split(" ", 1)[-1]
    cut = len(text) - len(head) - len(tail)
    gap = f" <span style='color:#888'>[… {cut:,} unchanged characters …]</span> "
    return _text_html(head) + gap + _text_html(tail)


def diff_html(old: dict[str, Any], new: dict[str, Any], old_label: str, new_label: str) -> str:
    """Every field that differs (volatile counters left out), inline, with word-level highlighting."""
    diffs = field_diffs(old, new)
    head = (f"<p style='color:#555'>From <b>{escape(old_label)}</b> to <b>{escape(new_label)}</b>: "
            f"{len(diffs)} field(s) differ.</p>")
    if not diffs:
        return head
    parts = [head]
    for d in diffs:
        colour = _KIND_COLOURS[d.kind]
        parts.append(f"<h4 style='margin-bottom:2px'>{escape(d.name)} "
                     f"<span style='color:{colour};font-weight:normal'>({d.kind})</span></h4>")
        if d.old is not None and d.new is not None:
            pieces = word_diff(d.old, d.new)
            body = "".join(
                f"<span style='{_DEL}'>{_text_html(text)}</span>"
                + (" " if n + 1 < len(pieces) and pieces[n + 1][0] == "insert" else "") if op == "delete"
                else f"<span style='{_INS}'>{_text_html(text)}</span>" if op == "insert"
                else _context_html(text, first=n == 0, last=n == len(pieces) - 1)
                for n, (op, text) in enumerate(pieces))
        elif d.new is not None:
            body = f"<span style='{_INS}'>{_text_html(d.new)}</span>"
        else:
            body = f"<span style='{_DEL}'>{_text_html(d.old or '')}</span>"
        parts.append(f"<div style='margin-left:8px'>{body}</div>")
    return "".join(parts)


class TimelineView(QWidget):
    """Timeline list on the left; the selected version's diff and its export buttons on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelineView")
        self.details: PersonalityDetails | None = None
        self.timeline: Timeline | None = None
        self.shown: tuple[ProfileVersion, ProfileVersion] | None = None  # (older, newer) in the diff
        self.list = QListWidget()
        self.list.setObjectName("timelineList")
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setStyleSheet("QListWidget::item{padding:4px 6px}")
        self.list.currentRowChanged.connect(self._on_row)
        self.summary = QLabel()
        self.summary.setObjectName("timelineSummary")
        self.summary.setWordWrap(True)
        self.compare = QComboBox()
        self.compare.setObjectName("timelineCompare")
        self.compare.addItems(["Compare with the version before", "Compare with the current version"])
        self.compare.currentIndexChanged.connect(lambda _i: self._on_row(self.list.currentRow()))
        self.diff = QTextBrowser()
        self.diff.setObjectName("profileDiff")
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        row.addWidget(QLabel("Export this version:"))
        for fmt, label in (("json", "JSON…"), ("markdown", "Markdown…"), ("card", "Card…")):
            button = QPushButton(label)
            button.setObjectName(f"exportVersion_{fmt}")
            button.setEnabled(False)
            button.clicked.connect(lambda _checked=False, f=fmt: self._choose_export(f))
            self.buttons[fmt] = button
            row.addWidget(button)
        row.addStretch(1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.compare)
        rl.addWidget(self.diff, 1)
        rl.addLayout(row)
        split = QSplitter()
        split.addWidget(self.list)
        split.addWidget(right)
        split.setSizes([380, 600])
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        self._show_empty("Select a personality to see how it evolved.")

    # --- loading -----------------------------------------------------------------------------------------

    def show_details(self, details: PersonalityDetails) -> None:
        """Load the timeline of one personality folder."""
        self.details = details
        self.timeline = build_timeline(details.folder)
        self.list.blockSignals(True)
        self.list.clear()
        for entry in self.timeline.entries:
            item = QListWidgetItem(self._item_text(entry))
            item.setData(Qt.ItemDataRole.UserRole, entry.version)
            if entry.version is not None:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.list.addItem(item)
        self.list.blockSignals(False)
        history = self.timeline.history
        current = history.current
        text = (f"<b>{escape(details.title)}</b>: {len(history.versions)} profile version(s) kept, "
                f"{sum(e.kind == 'run' for e in self.timeline.entries)} backup run(s).")
        if current is not None and len(history.versions) > 1:
            text += " Bold entries changed the profile: select one to see what changed."
        problems = self.timeline.problems
        if problems:
            text += "".join(f"<br><span style='color:#b00020'>⚠ {escape(p)}</span>" for p in problems)
        self.summary.setText(text)
        first_change = next((n for n, e in enumerate(self.timeline.entries) if e.version is not None), -1)
        if first_change >= 0:
            self.list.setCurrentRow(first_change)
        else:
            self._show_empty("No profile version recorded yet: each backup compares the profile with the "
                             "saved one and keeps the previous version when something changed.")

    @staticmethod
    def _item_text(entry: TimelineEntry) -> str:
        return "\n".join([f"{entry.when}  ·  {entry.title}", *(f"   {line}" for line in entry.details)])

    def _show_empty(self, message: str) -> None:
        self.shown = None
        self.diff.setHtml(f"<p style='color:#777'>{escape(message)}</p>")
        for button in self.buttons.values():
            button.setEnabled(False)

    # --- selection and diff ------------------------------------------------------------------------------

    def select_version(self, number: int) -> bool:
        """Select the timeline entry that made profile version ``number``."""
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == number:
                self.list.setCurrentRow(row)
                return True
        return False

    def _on_row(self, row: int) -> None:
        if self.timeline is None or not 0 <= row < self.list.count():
            return
        entry = self.timeline.entries[row]
        history = self.timeline.history
        if entry.version is None:
            lines = "".join(f"<li>{escape(line)}</li>" for line in entry.details)
            self._show_empty("")
            self.diff.setHtml(f"<h3>{escape(entry.when)}</h3><p>{escape(entry.title)}</p><ul>{lines}</ul>"
                              "<p style='color:#777'>The profile did not change in this backup.</p>")
            return
        newer = history.version(entry.version)
        if self.compare.currentIndex() == 1 and history.current is not None:
            older, newer = newer, history.current
        elif newer.number > 1:
            older = history.version(newer.number - 1)
        else:
            older = newer
        try:
            old, new = history.load(older), history.load(newer)
        except TzBackupError as err:
            self._show_empty(str(err))
            return
        self.shown = (older, newer)
        if older is newer:
            html = (f"<p style='color:#555'><b>{escape(newer.label)}</b>: the first version saved; there is "
                    "nothing older to compare with.</p>")
        else:
            html = diff_html(old, new, older.label, newer.label)
        self.diff.setHtml(html)
        for button in self.buttons.values():
            button.setEnabled(True)

    @property
    def export_version(self) -> ProfileVersion | None:
        """The version the export buttons write: the one the selected entry made."""
        if self.timeline is None:
            return None
        row = self.list.currentRow()
        number = self.list.item(row).data(Qt.ItemDataRole.UserRole) if row >= 0 else None
        return self.timeline.history.version(number) if isinstance(number, int) else None

    # --- export ------------------------------------------------------------------------------------------

    def export(self, fmt: str, path: Path) -> ExportResult:
        """Write the selected version as ``json``, ``markdown`` or ``card`` (JSON + PNG beside it)."""
        version = self.export_version
        if version is None or self.timeline is None:
            raise ValueError("no profile version selected")
        folder = self.timeline.folder
        profile = self.timeline.history.load(version)
        if fmt == "json":
            return export_profile_json(folder, path, profile)
        if fmt == "markdown":
            return export_markdown(folder, path, profile=profile, as_of=version.label)
        return export_card(folder, path.with_suffix(".json"), path.with_suffix(".png"), profile=profile)

    def _choose_export(self, fmt: str) -> None:
        version = self.export_version
        if version is None or self.timeline is None:
            return
        suffix = {"json": ".json", "markdown": ".md", "card": ".card.json"}[fmt]
        name = f"{self.timeline.folder.name}-v{version.number}{suffix}"
        path, _ = QFileDialog.getSaveFileName(self, f"Export {version.label}", str(Path.home() / name))
        if not path:
            return
        try:
            result = self.export(fmt, Path(path))
        except (TzBackupError, OSError) as err:
            QMessageBox.warning(self, "Export failed", str(err))
            return
        window = self.window()
        status = getattr(window, "statusBar", None)
        if callable(status):
            written = ", ".join(str(p) for p in result.paths)
            status().showMessage(f"Exported {version.label}: {written}", 8000)
