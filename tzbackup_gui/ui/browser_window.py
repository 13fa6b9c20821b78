"""The offline browser: read, search and inspect backed-up personalities without network or sign-in.

It only reads files (never the service client): the personality list comes from the folder, memories from
the chunk files through :class:`MemoriesModel`, search from the on-disk FTS5 index, which is brought up to
date (only changed files re-read) whenever a folder is opened or refreshed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QDate,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRectF,
    QSize,
    Qt,
    QTimer,
)
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QPainter, QTextDocument
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from ..archive.browse import (
    BackupSource,
    ChunkCache,
    PersonalityDetails,
    format_ts,
    load_personality,
    memory_fields,
    resolve_source,
)
from ..archive.index import FLAG_DELETED, FLAG_UPSTREAM, HIT_END, HIT_START, SearchHit, SearchIndex
from .json_tree_model import JsonTreeModel
from .memories_model import MemoriesModel
from .profile_view import ProfileView

__all__ = ["BrowserWindow", "SearchResultsModel", "highlight_html"]

_Index = QModelIndex | QPersistentModelIndex
HTML_ROLE = Qt.ItemDataRole.UserRole + 2


def highlight_html(snippet: str) -> str:
    """A snippet with FTS markers as escaped HTML with the matches highlighted."""
    return (
        escape(snippet)
        .replace(HIT_START, "<span style='background:#ffe066;font-weight:600'>")
        .replace(HIT_END, "</span>")
        .replace("\n", " ")
    )


class SearchResultsModel(QAbstractListModel):
    """Search hits; DisplayRole is plain text, HTML_ROLE the highlighted rich text the delegate paints."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hits: list[SearchHit] = []
        self.titles: dict[str, str] = {}

    def set_hits(self, hits: list[SearchHit], titles: dict[str, str]) -> None:
        self.beginResetModel()
        self.hits = hits
        self.titles = titles
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.hits)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.hits):
            return None
        hit = self.hits[index.row()]
        where = self.titles.get(hit.folder, hit.folder)
        when = "profile" if hit.kind == "profile" else format_ts(hit.ts)
        marks = " · deleted upstream" if hit.flags & FLAG_UPSTREAM else ""
        marks += " · deleted" if hit.flags & FLAG_DELETED else ""
        if role == Qt.ItemDataRole.DisplayRole:
            plain = hit.snippet.replace(HIT_START, "").replace(HIT_END, "")
            return f"{where} · {when}{marks}: {plain}"
        if role == HTML_ROLE:
            return (
                f"<span style='color:#555'><b>{escape(where)}</b> · {escape(when)}{escape(marks)}</span><br>"
                f"{highlight_html(hit.snippet)}"
            )
        return None


class _HtmlDelegate(QStyledItemDelegate):
    """Paints HTML_ROLE rich text (the highlighted snippet) inside the usual item background."""

    def _doc(self, option: QStyleOptionViewItem, index: _Index) -> QTextDocument:
        doc = QTextDocument()
        doc.setDefaultFont(option.font)  # type: ignore[attr-defined]
        doc.setHtml(str(index.data(HTML_ROLE) or ""))
        doc.setTextWidth(max(100, option.rect.width() - 8))  # type: ignore[attr-defined]
        return doc

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""  # type: ignore[attr-defined]
        style = opt.widget.style() if opt.widget else QApplication.style()  # type: ignore[attr-defined]
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)  # type: ignore[attr-defined]
        doc = self._doc(option, index)
        painter.save()
        rect = option.rect  # type: ignore[attr-defined]
        painter.translate(rect.left() + 4, rect.top() + 2)
        doc.drawContents(painter, QRectF(0, 0, rect.width() - 8, rect.height() - 4))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        doc = self._doc(option, index)
        return QSize(int(doc.idealWidth()), int(doc.size().height()) + 6)


class BrowserWindow(QMainWindow):
    """Personalities on the left; profile, memories (table + detail) and search results on the right."""

    def __init__(self, data_dir: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("browserWindow")
        self.setWindowTitle("tzbackup: Backup Browser")
        self.resize(1200, 760)
        self.source: BackupSource | None = None
        self.index: SearchIndex | None = None
        self.details: dict[str, PersonalityDetails] = {}
        self.current: PersonalityDetails | None = None
        self.cache = ChunkCache(max_files=8)
        self._build_ui()
        self._build_menu()
        if data_dir is not None:
            self.open_folder(data_dir)

    # --- construction ------------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.banner = QLabel()
        self.banner.setObjectName("errorBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.setStyleSheet(
            "QLabel{background:#fdecea;color:#8a1c12;border:1px solid #f5c2bd;border-radius:4px;padding:6px}"
        )
        self.banner.hide()
        self.list = QListWidget()
        self.list.setObjectName("personalityList")
        self.list.setMinimumWidth(200)
        self.list.setSpacing(2)
        self.list.setStyleSheet("QListWidget::item{padding:4px 6px}")
        self.list.currentRowChanged.connect(self._on_personality_row)
        self.profile = ProfileView()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("browserTabs")
        self.tabs.addTab(self.profile, "Profile")
        self.tabs.addTab(self._build_memories(), "Memories")
        self.tabs.addTab(self._build_search(), "Search")
        split = QSplitter()
        split.addWidget(self.list)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([220, 980])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self._build_search_bar())
        layout.addWidget(self.banner)
        layout.addWidget(split, 1)
        self.setCentralWidget(central)
        self.count_label = QLabel()
        self.count_label.setObjectName("memoryCount")
        self.statusBar().addPermanentWidget(self.count_label)

    def _build_search_bar(self) -> QWidget:
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("searchEdit")
        self.search_edit.setPlaceholderText('Search memories and profiles (words, or "a phrase")')
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.returnPressed.connect(self.run_search)
        self._search_timer = QTimer(self, singleShot=True, interval=300)
        self._search_timer.timeout.connect(self.run_search)
        self.search_edit.textEdited.connect(lambda _t: self._search_timer.start())
        self.scope = QComboBox()
        self.scope.setObjectName("searchScope")
        self.scope.addItems(["All personalities", "This personality"])
        self.scope.currentIndexChanged.connect(lambda _i: self.run_search())
        self.since_check, self.since_edit = QCheckBox("From"), QDateEdit()
        self.until_check, self.until_edit = QCheckBox("To"), QDateEdit()
        self.since_edit.setObjectName("sinceDate")
        self.until_edit.setObjectName("untilDate")
        for check, edit in ((self.since_check, self.since_edit), (self.until_check, self.until_edit)):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setDate(QDate.currentDate())
            edit.setEnabled(False)
            check.toggled.connect(edit.setEnabled)
            check.toggled.connect(lambda _c: self.run_search())
            edit.dateChanged.connect(lambda _d: self.run_search())
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.search_edit, 1)
        for w in (self.scope, self.since_check, self.since_edit, self.until_check, self.until_edit):
            row.addWidget(w)
        return bar

    def _build_memories(self) -> QWidget:
        self.model = MemoriesModel(self.cache, self)
        self.table = QTableView()
        self.table.setObjectName("memoriesTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        for col, width in ((0, 130), (1, 110), (2, 150)):
            header.resizeSection(col, width)
        self.table.selectionModel().currentRowChanged.connect(self._on_memory_row)
        self.newest = QCheckBox("Newest first")
        self.newest.setObjectName("newestFirst")
        self.newest.setChecked(True)
        self.newest.toggled.connect(lambda on: self._set_options(newest_first=on))
        self.show_deleted = QCheckBox("Show deleted")
        self.show_deleted.setObjectName("showDeleted")
        self.show_deleted.setChecked(True)
        self.show_deleted.toggled.connect(lambda on: self._set_options(deleted=on))
        self.show_upstream = QCheckBox("Show deleted upstream")
        self.show_upstream.setObjectName("showUpstream")
        self.show_upstream.setChecked(True)
        self.show_upstream.toggled.connect(lambda on: self._set_options(upstream=on))
        tools = QHBoxLayout()
        for w in (self.newest, self.show_deleted, self.show_upstream):
            tools.addWidget(w)
        tools.addStretch(1)
        self.detail_text = QTextBrowser()
        self.detail_text.setObjectName("memoryText")
        self.json_model = JsonTreeModel(self)
        self.json_view = QTreeView()
        self.json_view.setObjectName("memoryJson")
        self.json_view.setModel(self.json_model)
        self.json_view.setUniformRowHeights(True)
        self.json_view.header().resizeSection(0, 150)
        copy_text = QPushButton("Copy Text")
        copy_text.setObjectName("copyTextButton")
        copy_text.clicked.connect(self.copy_text)
        copy_json = QPushButton("Copy JSON")
        copy_json.setObjectName("copyJsonButton")
        copy_json.clicked.connect(self.copy_json)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(copy_text)
        buttons.addWidget(copy_json)
        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 0, 0, 0)
        inner = QSplitter()
        inner.addWidget(self.detail_text)
        inner.addWidget(self.json_view)
        inner.setSizes([520, 460])
        dl.addWidget(inner, 1)
        dl.addLayout(buttons)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(detail)
        split.setSizes([420, 260])
        page = QWidget()
        pl = QVBoxLayout(page)
        pl.addLayout(tools)
        pl.addWidget(split, 1)
        return page

    def _build_search(self) -> QWidget:
        self.results_model = SearchResultsModel(self)
        self.results = QListView()
        self.results.setObjectName("searchResults")
        self.results.setModel(self.results_model)
        self.results.setItemDelegate(_HtmlDelegate(self.results))
        self.results.setAlternatingRowColors(True)
        self.results.setWordWrap(True)
        self.results.activated.connect(self._open_hit)
        self.results.clicked.connect(self._open_hit)
        self.results_label = QLabel("Type in the search box above.")
        self.results_label.setObjectName("searchSummary")
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.results_label)
        layout.addWidget(self.results, 1)
        return page

    def _build_menu(self) -> None:
        menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open Backup Folder…", self)
        open_action.setObjectName("openFolderAction")
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._choose_folder)
        reload_action = QAction("&Reload", self)
        reload_action.setShortcut(QKeySequence.StandardKey.Refresh)
        reload_action.triggered.connect(self.reload)
        find_action = QAction("&Find", self)
        find_action.setShortcut(QKeySequence.StandardKey.Find)
        find_action.triggered.connect(lambda: self.search_edit.setFocus())
        close_action = QAction("&Close", self)
        close_action.setShortcut(QKeySequence.StandardKey.Close)
        close_action.triggered.connect(self.close)
        for action in (open_action, reload_action, find_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(close_action)

    # --- opening -----------------------------------------------------------------------------------------

    def _choose_folder(self) -> None:
        start = str(self.source.root) if self.source else ""
        path = QFileDialog.getExistingDirectory(self, "Open Backup Folder", start)
        if path:
            self.open_folder(Path(path))

    def open_folder(self, path: Path, select: str | None = None) -> None:
        """Show the backups in ``path`` (a data dir, its ``personalities/``, or one personality folder)."""
        if self.index is not None:
            self.index.close()
        self.source = resolve_source(path)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.index = SearchIndex(self.source)
            update = self.index.update()
            self.details = {f.name: load_personality(f) for f in self.source.folders}
        finally:
            QApplication.restoreOverrideCursor()
        self.setWindowTitle(f"tzbackup: Backup Browser — {self.source.root}")
        self.statusBar().showMessage(
            f"Index up to date ({update.indexed_files} files read in {update.seconds:.2f} s)", 8000
        )
        self.list.blockSignals(True)
        self.list.clear()
        for name, details in self.details.items():
            count = self.index.count(name)
            item = QListWidgetItem(
                f"{details.title}\n{count} memories"
                if not details.refused
                else f"{details.title}\ncannot be read"
            )
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(str(details.folder))
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.cache.clear()
        if not self.details:
            self._show_banner([f"No backups found in {self.source.root}."])
        names = list(self.details)
        if names:
            self.list.setCurrentRow(names.index(select) if select in names else 0)

    def reload(self) -> None:
        if self.source is not None:
            self.open_folder(self.source.root, select=self.current.folder.name if self.current else None)

    def select_personality(self, folder_name: str) -> bool:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == folder_name:
                self.list.setCurrentRow(row)
                return True
        return False

    def _on_personality_row(self, row: int) -> None:
        if row < 0 or self.index is None:
            return
        name = self.list.item(row).data(Qt.ItemDataRole.UserRole)
        details = self.details[name]
        self.current = details
        self._show_avatar_from_cache(details)
        self.profile.show_details(details)
        problems = [details.refused] if details.refused else []
        problems += [f"{rel}: {msg}" for rel, msg in self.index.file_errors(name) if not details.refused]
        if details.profile_error and not details.refused:
            problems.append(details.profile_error)
        self._show_banner(problems)
        rows = self.index.memory_rows(name) if not details.refused else self.index.memory_rows("\x00")
        self.model.set_rows(rows, owner_id=details.status.owner_id)
        self.count_label.setText(f"{details.title}: {len(rows)} memories")
        self._show_memory(None)
        if self.scope.currentIndex() == 1 and self.search_edit.text().strip():
            self.run_search()

    def _show_avatar_from_cache(self, details: PersonalityDetails) -> None:
        """Use the picture the main window cached (``<data dir>/.cache/avatars``) when none is saved."""
        url = (details.profile or {}).get("avatar")
        if details.avatar is None and isinstance(url, str) and url and self.source is not None:
            cached = (
                self.source.root
                / ".cache"
                / "avatars"
                / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".img")
            )
            if cached.is_file():
                details.avatar = cached

    def _show_banner(self, problems: list[str]) -> None:
        if not problems:
            self.banner.hide()
            return
        shown = problems[:5] + ([f"… and {len(problems) - 5} more"] if len(problems) > 5 else [])
        self.banner.setText(
            "⚠ "
            + "<br>".join(escape(p) for p in shown)
            + (
                "<br>Everything else in this backup is shown below."
                if self.model.rowCount() or len(problems) < 2
                else ""
            )
        )
        self.banner.show()

    # --- memories ----------------------------------------------------------------------------------------

    def _set_options(self, **options: bool) -> None:
        selected = self._selected_location()
        self.model.set_options(**options)
        if selected is not None:
            self.select_memory(*selected)

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
        raw = self.model.raw(row) if row is not None else None
        if row is None:
            self.detail_text.setHtml("<p style='color:#777'>Select a memory to see it in full.</p>")
            self.json_model.load({})
            return
        if raw is None:
            path, _pos = self.model.location(row)
            self.detail_text.setHtml(
                f"<p style='color:#b00020'>The file {escape(path.name)} cannot be read.</p>"
            )
            self.json_model.load({})
            return
        f = memory_fields(raw)
        flags = self.model.flags_of(row)
        marks = []
        if flags & FLAG_UPSTREAM:
            marks.append("Deleted upstream (kept in this backup)")
        if f.deleted:
            marks.append("Marked deleted: true")
        mark_html = "".join(f"<p style='color:#b00020'><b>{escape(m)}</b></p>" for m in marks)
        facts = [
            ("Created", format_ts(f.created, seconds=True)),
            (
                "Conversation",
                f"{format_ts(f.start, seconds=True)} – {format_ts(f.end, seconds=True)}"
                if f.start or f.end
                else "",
            ),
            ("Type", f.summary_type),
            ("Senders", ", ".join(f.senders)),
            ("Memory id", f.id),
            ("Message ids", "<br>".join(escape(m) for m in f.msg_ids)),
        ]
        rows = "".join(
            f"<tr><td style='color:#666;padding-right:10px;vertical-align:top'>{k}</td>"
            f"<td>{v if k == 'Message ids' else escape(v)}</td></tr>"
            for k, v in facts
            if v
        )
        self.detail_text.setHtml(
            f"{mark_html}<p style='font-size:11pt'>{escape(f.text).replace(chr(10), '<br>')}</p>"
            f"<table cellspacing='2' style='color:#333'>{rows}</table>"
        )
        self.json_model.load(raw)
        self.json_view.expandToDepth(0)

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

    # --- search ------------------------------------------------------------------------------------------

    def _date_bounds(self) -> tuple[float | None, float | None]:
        def ts(edit: QDateEdit, extra_days: int) -> float:
            d = edit.date()
            day = dt.datetime(d.year(), d.month(), d.day()) + dt.timedelta(days=extra_days)
            return day.timestamp()

        since = ts(self.since_edit, 0) if self.since_check.isChecked() else None
        until = ts(self.until_edit, 1) if self.until_check.isChecked() else None
        return since, until

    def run_search(self) -> None:
        self._search_timer.stop()
        text = self.search_edit.text().strip()
        if self.index is None or not text:
            self.results_model.set_hits([], {})
            self.results_label.setText("Type in the search box above.")
            return
        folder = self.current.folder.name if self.scope.currentIndex() == 1 and self.current else None
        since, until = self._date_bounds()
        hits = self.index.search(text, folder=folder, since=since, until=until, limit=200)
        self.results_model.set_hits(hits, {k: v.title for k, v in self.details.items()})
        scope = self.current.title if folder and self.current else "all personalities"
        more = "+" if len(hits) >= 200 else ""
        self.results_label.setText(f"{len(hits)}{more} results for “{escape(text)}” in {escape(scope)}")
        self.tabs.setCurrentIndex(2)

    def _open_hit(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        hit = self.results_model.hits[index.row()]
        self.select_personality(hit.folder)
        if hit.kind == "profile":
            self.tabs.setCurrentIndex(0)
            return
        self.tabs.setCurrentIndex(1)
        if not self.select_memory(hit.path, hit.pos):
            self.show_deleted.setChecked(True)
            self.show_upstream.setChecked(True)
            self.select_memory(hit.path, hit.pos)

    def closeEvent(self, event: Any) -> None:
        if self.index is not None:
            self.index.close()
            self.index = None
        super().closeEvent(event)
