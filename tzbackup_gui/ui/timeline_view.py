"""The browser's Timeline tab: backup runs and profile versions of one personality, and a diff view.

The list shows the timeline (:mod:`tzbackup_gui.archive.timeline`) newest first. Selecting an entry that
made a profile version shows that version against the one before it (or against the current one), field
by field, with the changed words highlighted (deleted: red, struck through; inserted: green, in shades
taken from the palette so they stay readable on a dark theme). Times are local (UTC in tooltips). The
version shown can be exported as it was then: JSON, Markdown or a character card (``archive/export.py``).
Read-only; no network.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
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

from ..archive.browse import PersonalityDetails, format_iso_local, format_utc
from ..archive.export import ExportResult, export_card, export_markdown, export_profile_json
from ..archive.profile_history import ProfileVersion, field_diffs, word_diff
from ..archive.timeline import Timeline, TimelineEntry, build_timeline
from ..errors import TzBackupError
from ..model.words import plural
from .browser_widgets import FlowLayout, PaddedItems, secondary_text
from .profile_view import field_label
from .theme import banner_colors, error_color, is_dark, success_color, warning_color

__all__ = ["DiffStyles", "TimelineView", "diff_html", "diff_styles", "version_label"]

_SUCCESS_HUE = QColor(40, 150, 60)


class DiffStyles:
    """The CSS of a deletion and an insertion, the colours of "(changed)" / "(added)" / "(removed)" and of
    muted text, all derived from a palette with text readable on its background."""

    def __init__(self, palette: QPalette) -> None:
        base = palette.color(QPalette.ColorRole.Base)
        del_back, _text = banner_colors(palette, "error")
        hue = max(_SUCCESS_HUE.hslHueF(), 0.0)
        ins_back = QColor.fromHslF(hue, 0.45, 0.22) if is_dark(palette) else QColor.fromHslF(hue, 0.6, 0.9)
        self.backgrounds = {"delete": del_back, "insert": ins_back}
        self.texts = {"delete": error_color(palette, del_back), "insert": success_color(palette, ins_back)}
        self.deleted = (f"background:{del_back.name()};color:{self.texts['delete'].name()};"
                        "text-decoration:line-through")
        self.inserted = f"background:{ins_back.name()};color:{self.texts['insert'].name()}"
        self.kinds = {
            "changed": warning_color(palette, base).name(),
            "added": success_color(palette, base).name(),
            "removed": error_color(palette, base).name(),
        }
        self.muted = secondary_text(palette, base).name()


def diff_styles(palette: QPalette | None = None) -> DiffStyles:
    return DiffStyles(palette or QGuiApplication.palette())


def version_label(version: ProfileVersion) -> str:
    """``v2 (current, 2026-12-06 07:09:55)``: the version's number and when it was first seen, local time
    (to the second: two versions a minute apart must not read the same)."""
    when = format_iso_local(version.since, seconds=True) if version.since else "before history was kept"
    return f"v{version.number} ({'current, ' if version.is_current else ''}{when})"


#: Unchanged text longer than this is shortened to its start and end around the edits.
_CONTEXT = 160


def _text_html(text: str) -> str:
    return escape(text).replace("\n", "<br>")


def _context_html(text: str, *, first: bool, last: bool, muted: str = "#888") -> str:
    """Unchanged text between edits, long stretches cut to a little context on each side."""
    if len(text) <= 2 * _CONTEXT + 20:
        return _text_html(text)
    head = "" if first else text[:_CONTEXT].rsplit(" ", 1)[0] + " "
    tail = "" if last else " " + text[-_CONTEXT:].split(" ", 1)[-1]
    cut = len(text) - len(head) - len(tail)
    gap = f" <span style='color:{muted}'>[… {cut:,} unchanged characters …]</span> "
    return _text_html(head) + gap + _text_html(tail)


def diff_html(
    old: dict[str, Any], new: dict[str, Any], old_label: str, new_label: str, palette: QPalette | None = None
) -> str:
    """Every field that differs (volatile counters left out), inline, with word-level highlighting in
    colours derived from ``palette`` (the application's by default)."""
    styles = diff_styles(palette)
    _DEL, _INS = styles.deleted, styles.inserted
    diffs = field_diffs(old, new)
    differ = "differs" if len(diffs) == 1 else "differ"
    head = (f"<p style='color:{styles.muted}'>From <b>{escape(old_label)}</b> to <b>{escape(new_label)}</b>: "
            f"{plural(len(diffs), 'field')} {differ}.</p>")
    if not diffs:
        return head
    parts = [head]
    for d in diffs:
        colour = styles.kinds[d.kind]
        label = field_label(d.name) if "." not in d.name else d.name
        key = f" <span style='color:{styles.muted};font-weight:normal'>· {escape(d.name)}</span>" \
            if label != d.name else ""
        parts.append(f"<h4 style='margin-bottom:2px'>{escape(label)} "
                     f"<span style='color:{colour};font-weight:normal'>({d.kind})</span>{key}</h4>")
        if d.old is not None and d.new is not None:
            pieces = word_diff(d.old, d.new)
            body = "".join(
                f"<span style='{_DEL}'>{_text_html(text)}</span>"
                + (" " if n + 1 < len(pieces) and pieces[n + 1][0] == "insert" else "") if op == "delete"
                else f"<span style='{_INS}'>{_text_html(text)}</span>" if op == "insert"
                else _context_html(text, first=n == 0, last=n == len(pieces) - 1, muted=styles.muted)
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
        self._empty_message = ""
        self.list = QListWidget()
        self.list.setObjectName("timelineList")
        self.list.setAccessibleName("Backups and profile versions")
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setItemDelegate(PaddedItems(self.list))
        self.list.currentRowChanged.connect(self._on_row)
        self.summary = QLabel()
        self.summary.setObjectName("timelineSummary")
        self.summary.setWordWrap(True)
        self.compare = QComboBox()
        self.compare.setObjectName("timelineCompare")
        self.compare.setAccessibleName("Compare with")
        self.compare.addItems(["Compare with the version before", "Compare with the current version"])
        self.compare.currentIndexChanged.connect(lambda _i: self._on_row(self.list.currentRow()))
        self.diff = QTextBrowser()
        self.diff.setObjectName("profileDiff")
        self.diff.setAccessibleName("What changed")
        self.diff.setTabChangesFocus(True)
        self.buttons: dict[str, QPushButton] = {}
        row = FlowLayout()
        row.addWidget(QLabel("Export this version:"))
        for fmt, label in (("json", "JSON…"), ("markdown", "Markdown…"), ("card", "Card…")):
            button = QPushButton(label)
            button.setObjectName(f"exportVersion_{fmt}")
            button.setEnabled(False)
            button.clicked.connect(lambda _checked=False, f=fmt: self._choose_export(f))
            self.buttons[fmt] = button
            row.addWidget(button)
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
            utc = format_utc(entry.ts)
            item.setToolTip(f"{utc}\n{self._item_text(entry)}" if utc else self._item_text(entry))
            if entry.version is not None:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._show_summary()
        first_change = next((n for n, e in enumerate(self.timeline.entries) if e.version is not None), -1)
        if first_change >= 0:
            self.list.setCurrentRow(first_change)
        elif not self.timeline.entries:
            self._show_empty("No backup recorded yet: each backup of this personality appears here, with "
                             "what it saved and how the profile changed.")
        else:
            self._show_empty("No profile version recorded yet: each backup compares the profile with the "
                             "saved one and keeps the previous version when something changed.")

    def _show_summary(self) -> None:
        if self.timeline is None or self.details is None:
            return
        history = self.timeline.history
        runs = sum(e.kind == "run" for e in self.timeline.entries)
        text = (f"<b>{escape(self.details.title)}</b>: {plural(len(history.versions), 'profile version')} "
                f"kept, {plural(runs, 'backup run')}. Times are local.")
        if history.current is not None and len(history.versions) > 1:
            text += " Bold entries changed the profile: select one to see what changed."
        problems = self.timeline.problems
        if problems:
            palette = self.summary.palette()
            error = error_color(palette, palette.color(QPalette.ColorRole.Window)).name()
            text += "".join(f"<br><span style='color:{error}'>⚠ {escape(p)}</span>" for p in problems)
        self.summary.setText(text)

    def restyle(self) -> None:
        """Colours from the current palette (after a theme change)."""
        self._show_summary()
        if self.list.currentRow() >= 0:
            self._on_row(self.list.currentRow())
        elif self._empty_message:
            self._show_empty(self._empty_message)

    @staticmethod
    def _item_text(entry: TimelineEntry) -> str:
        when = format_iso_local(entry.ts)
        return "\n".join([f"{when}  ·  {entry.title}", *(f"   {line}" for line in entry.details)])

    def _show_empty(self, message: str) -> None:
        self.shown = None
        self._empty_message = message
        muted = diff_styles(self.diff.palette()).muted
        self.diff.setHtml(f"<p style='color:{muted}'>{escape(message)}</p>")
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
        styles = diff_styles(self.diff.palette())
        if entry.version is None:
            lines = "".join(f"<li>{escape(line)}</li>" for line in entry.details)
            self._show_empty("")
            self.diff.setHtml(f"<h3>{escape(format_iso_local(entry.ts))}</h3><p>{escape(entry.title)}</p>"
                              f"<ul>{lines}</ul><p style='color:{styles.muted}'>The profile did not change "
                              "in this backup.</p>")
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
        self._empty_message = ""
        if older is newer:
            html = (f"<p style='color:{styles.muted}'><b>{escape(version_label(newer))}</b>: the first "
                    "version saved; there is nothing older to compare with.</p>")
        else:
            html = diff_html(old, new, version_label(older), version_label(newer), self.diff.palette())
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
        title = f"Export {version_label(version)}"
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path.home() / name))
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
            status().showMessage(f"Exported {version_label(version)}: {written}", 8000)
