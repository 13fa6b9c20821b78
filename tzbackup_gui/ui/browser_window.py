"""The offline browser: read, search and inspect backed-up personalities without network or sign-in.

It only reads files (never the service client): the personality list comes from the folder, memories from
the chunk files through :class:`MemoriesModel`, search from the on-disk FTS5 index, which is brought up to
date (only changed files re-read) whenever a folder is opened or refreshed. That update runs on a worker
thread (:class:`IndexWorker`): the window stays usable, shows "Indexing… N of M files", lists each
personality's memories as soon as its folder is committed (the selected one first) and searches what is
indexed so far.
"""

from __future__ import annotations

import datetime as dt
import gc
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
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTabWidget,
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
from ..archive.index import (
    FLAG_DELETED,
    FLAG_UPSTREAM,
    HIT_END,
    HIT_START,
    IndexUpdate,
    MemoryRows,
    SearchHit,
    SearchIndex,
)
from .chat_view import ChatView
from .detail_pane import DetailPane, record_table, table_over_detail
from .export_dialog import EXPORT_FORMATS, ExportImport
from .index_worker import IndexWorker
from .memories_model import MemoriesModel
from .profile_view import ProfileView
from .timeline_view import TimelineView

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
        self.selected: PersonalityDetails | None = None  # highlighted in the list
        self.current: PersonalityDetails | None = None  # whose memories the table shows
        self.cache = ChunkCache(max_files=8)
        self.worker: IndexWorker | None = None
        self.indexing = False
        self.index_progress = (0, 0)  # files read, files to read
        self.last_update: IndexUpdate | None = None
        self._pending: set[str] = set()  # folders the running update has not committed yet
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
        self.timeline = TimelineView()
        self.tabs.addTab(self.timeline, "Timeline")
        self.chat = ChatView()
        self.tabs.addTab(self.chat, "Chat")  # after the others: their tab indices stay as they were
        for number in range(self.tabs.count()):  # Ctrl+1 Profile ... Ctrl+5 Chat, as in tabbed apps
            tab_action = QAction(self)
            tab_action.setShortcut(QKeySequence(f"Ctrl+{number + 1}"))
            tab_action.triggered.connect(lambda _=False, n=number: self.tabs.setCurrentIndex(n))
            self.addAction(tab_action)
            self.tabs.setTabToolTip(number, f"Ctrl+{number + 1}")
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
        self.index_status = QLabel()
        self.index_status.setObjectName("indexStatus")
        self.index_status.hide()
        self.statusBar().addPermanentWidget(self.index_status)
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
        self.scope.currentIndexChanged.connect(self._on_scope_changed)
        self.since_check, self.since_edit = QCheckBox("From"), QDateEdit()
        self.until_check, self.until_edit = QCheckBox("To"), QDateEdit()
        self.since_edit.setObjectName("sinceDate")
        self.until_edit.setObjectName("untilDate")
        for check, edit in ((self.since_check, self.since_edit), (self.until_check, self.until_edit)):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setDate(QDate.currentDate())  # until the index says when the first / last memory was
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
        self.table = record_table("memoriesTable", self.model, (130, 110, 150))
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
        pane = DetailPane("memory", self.copy_text, self.copy_json)
        self.detail_text, self.json_model, self.json_view = pane.text, pane.json_model, pane.json_view
        split = table_over_detail(self.table, pane)
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
        self._build_export_menu(menu)
        menu.addSeparator()
        menu.addAction(close_action)

    def _build_export_menu(self, menu: Any) -> None:
        """File → Export (the selected personality) and Import Backup… (into the opened data folder)."""
        self.files = ExportImport(self, self._import_dir)
        self.files.imported.connect(self._on_imported)
        export_menu = menu.addMenu("&Export")
        export_menu.setObjectName("browserExportMenu")
        self.export_actions: dict[str, QAction] = {}
        for fmt, (text, _label, _filter) in EXPORT_FORMATS.items():
            action = QAction(text, self)
            action.setObjectName(f"browserExport_{fmt}Action")
            action.triggered.connect(lambda _checked=False, f=fmt: self.export_selected(f))
            export_menu.addAction(action)
            self.export_actions[fmt] = action
        self.import_action = QAction("&Import Backup…", self)
        self.import_action.setObjectName("browserImportAction")
        self.import_action.triggered.connect(lambda _checked=False: self.files.import_zip())
        menu.addAction(self.import_action)

    def export_selected(self, fmt: str) -> bool:
        """Export the highlighted personality as ``zip`` / ``markdown`` / ``card``."""
        if self.selected is None:
            self.statusBar().showMessage("Select the personality to export first.", 5000)
            return False
        return self.files.export(self.selected.folder, fmt, self.selected.title)

    def _import_dir(self) -> Path | None:
        """The data folder imports go to; None when one personality folder was opened on its own."""
        if self.source is None or self.source.folders == [self.source.root]:
            return None
        return self.source.root

    def _on_imported(self, result: Any) -> None:
        if self.source is not None:
            self.open_folder(self.source.root, select=result.folder.name)

    # --- opening -----------------------------------------------------------------------------------------

    def _choose_folder(self) -> None:
        start = str(self.source.root) if self.source else ""
        path = QFileDialog.getExistingDirectory(self, "Open Backup Folder", start)
        if path:
            self.open_folder(Path(path))

    def open_folder(self, path: Path, select: str | None = None) -> None:
        """Show the backups in ``path`` (a data dir, its ``personalities/``, or one personality folder).

        The list and profiles appear at once; the search index is updated on a worker thread."""
        self._stop_indexing()
        self.source = resolve_source(path)
        self.details = {f.name: load_personality(f) for f in self.source.folders}
        self.setWindowTitle(f"tzbackup: Backup Browser — {self.source.root}")
        self.selected = self.current = None
        self.model.set_rows(MemoryRows(paths=[]))
        self.list.blockSignals(True)
        self.list.clear()
        for name, details in self.details.items():
            item = QListWidgetItem(self._list_text(details, details.status.total_memories))
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(str(details.folder))
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.cache.clear()
        if not self.details:
            self._show_banner([f"No backups found in {self.source.root}."])
        names = list(self.details)
        first = select if select in names else (names[0] if names else None)
        self._start_indexing(first)
        if first is not None:
            self.list.setCurrentRow(names.index(first))

    @staticmethod
    def _list_text(details: PersonalityDetails, count: int) -> str:
        return f"{details.title}\n" + (f"{count} memories" if not details.refused else "cannot be read")

    # --- indexing (worker thread) ------------------------------------------------------------------------

    def _start_indexing(self, first: str | None) -> None:
        assert self.source is not None
        self.indexing = True
        self.index_progress = (0, 0)
        self._pending = set(self.details)
        self.worker = IndexWorker(self.source, first=first, parent=self)
        self.worker.opened.connect(self._on_index_opened)
        self.worker.progress.connect(self._on_index_progress)
        self.worker.folder_ready.connect(self._on_folder_ready)
        self.worker.finished.connect(self._on_index_finished)
        self.index_status.setText("Opening the search index…")
        self.index_status.show()
        self.worker.start()

    def _stop_indexing(self) -> None:
        """Stop a running update (it commits folder by folder, so what it did stays) and drop the reader."""
        if self.worker is not None:
            worker, self.worker = self.worker, None
            for signal in (worker.opened, worker.progress, worker.folder_ready, worker.finished):
                signal.disconnect()
            worker.cancel()
            worker.deleteLater()
        self.indexing = False
        if self.index is not None:
            self.index.close()
            self.index = None

    def _from_worker(self) -> bool:
        """Signals of a worker that was replaced (another folder opened) may still be queued: ignore them."""
        sender = self.sender()
        return sender is None or sender is self.worker

    def _on_index_opened(self, path: str) -> None:
        if not self._from_worker() or self.source is None:
            return
        if self.index is not None:
            self.index.close()
        self.index = SearchIndex(self.source, reader_of=Path(path))
        if self.selected is not None:
            self._show_memories(self.selected)

    def _on_index_progress(self, done: int, total: int) -> None:
        if not self._from_worker():
            return
        self.index_progress = (done, total)
        text = f"Indexing… {done} of {total} files" if total else "Checking the search index…"
        self.index_status.setText(text)
        if self.selected is not None and self.current is None:
            self.count_label.setText(f"{self.selected.title}: {text}")

    def _on_folder_ready(self, name: str, changed: bool, rows: MemoryRows | None) -> None:
        if not self._from_worker() or self.index is None:
            return
        self._pending.discard(name)
        details = self.details.get(name)
        if details is None:
            return
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == name:
                item.setText(self._list_text(details, self.index.count(name)))
        if self.selected is details and (changed or self.current is None):
            self._show_memories(details, keep_selection=True, rows=rows)
        self._refresh_date_defaults()

    def _on_index_finished(self, result: object) -> None:
        if not self._from_worker():
            return
        self.indexing = False
        self._pending.clear()
        if isinstance(result, IndexUpdate):
            self.last_update = result
            self.index_status.setText("")
            self.index_status.hide()
            self.statusBar().showMessage(
                f"Index up to date ({result.indexed_files} files read in {result.seconds:.2f} s)", 8000
            )
        elif isinstance(result, Exception):
            self.index_status.setText(f"Search unavailable: {result}")
        if self.selected is not None and self.current is None and self.index is not None:
            self._show_memories(self.selected)
        if self.search_edit.text().strip():
            self.run_search(switch_tab=False)
        # Everything loaded so far lives as long as the window: take it out of the garbage collector's
        # full passes, which otherwise rescan it every few chunk files while scrolling (20+ ms stalls).
        gc.collect()
        gc.freeze()

    def reload(self) -> None:
        if self.source is not None:
            self.open_folder(self.source.root, select=self.selected.folder.name if self.selected else None)

    def select_personality(self, folder_name: str) -> bool:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == folder_name:
                self.list.setCurrentRow(row)
                return True
        return False

    def _on_personality_row(self, row: int) -> None:
        if row < 0:
            return
        name = self.list.item(row).data(Qt.ItemDataRole.UserRole)
        details = self.details[name]
        self.selected = details
        self._show_avatar_from_cache(details)
        self.profile.show_details(details)
        self.timeline.show_details(details)
        self.chat.show_details(details)
        self._show_memories(details)
        if self.scope.currentIndex() == 1 and self.search_edit.text().strip():
            self.run_search()

    def _show_memories(
        self, details: PersonalityDetails, *, keep_selection: bool = False, rows: MemoryRows | None = None
    ) -> None:
        """Fill the table from the index (or ``rows`` read by the indexing thread); while the folder is not
        indexed yet, say so and wait for it."""
        name = details.folder.name
        if self.worker is not None:
            self.worker.wanted = name
        selected = self._selected_location() if keep_selection and self.current is details else None
        waiting = self.index is None or (name in self._pending and self.index.count(name) == 0)
        if waiting or self.index is None:
            self.current = None
            self.model.set_rows(MemoryRows(paths=[]))
            done, total = self.index_progress
            state = f"Indexing… {done} of {total} files" if total else "Opening the search index…"
            self.count_label.setText(f"{details.title}: {state}")
            self._show_banner([details.refused] if details.refused else [])
            self._show_memory(None)
            return
        problems = [details.refused] if details.refused else []
        problems += [f"{rel}: {msg}" for rel, msg in self.index.file_errors(name) if not details.refused]
        if details.profile_error and not details.refused:
            problems.append(details.profile_error)
        if details.refused:
            rows = MemoryRows(paths=[])
        elif rows is None:
            rows = self.index.memory_rows(name)
        self.model.set_rows(rows, owner_id=details.status.owner_id)
        self._show_banner(problems)
        self.current = details
        self.count_label.setText(f"{details.title}: {len(rows)} memories")
        self._refresh_date_defaults()
        if selected is None or not self.select_memory(*selected):
            self._show_memory(None)

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
            ("Senders", ", ".join(self._sender_name(x) for x in f.senders)),
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

    # --- search ------------------------------------------------------------------------------------------

    def _date_bounds(self) -> tuple[float | None, float | None]:
        def ts(edit: QDateEdit, extra_days: int) -> float:
            d = edit.date()
            day = dt.datetime(d.year(), d.month(), d.day()) + dt.timedelta(days=extra_days)
            return day.timestamp()

        since = ts(self.since_edit, 0) if self.since_check.isChecked() else None
        until = ts(self.until_edit, 1) if self.until_check.isChecked() else None
        return since, until

    def _on_scope_changed(self, _index: int) -> None:
        self._refresh_date_defaults()
        self.run_search()

    def _search_folder(self) -> str | None:
        """The folder searched: the selected personality's with scope "This personality", else all."""
        return self.selected.folder.name if self.scope.currentIndex() == 1 and self.selected else None

    def _refresh_date_defaults(self) -> None:
        """Unchecked From / To fields show the first / last memory day of the current scope, so enabling one
        starts from the archive's real range rather than today."""
        if self.index is None:
            return
        span = self.index.date_range(self._search_folder())
        if span is None:
            return
        fields = ((self.since_check, self.since_edit, span[0]), (self.until_check, self.until_edit, span[1]))
        for check, edit, ts in fields:
            if not check.isChecked():
                day = dt.date.fromtimestamp(ts)
                edit.blockSignals(True)
                edit.setDate(QDate(day.year, day.month, day.day))
                edit.blockSignals(False)

    def run_search(self, switch_tab: bool = True) -> None:
        self._search_timer.stop()
        text = self.search_edit.text().strip()
        if not text:
            self.results_model.set_hits([], {})
            self.results_label.setText("Type in the search box above.")
            return
        if self.index is None:
            self.results_model.set_hits([], {})
            self.results_label.setText("Opening the search index… the search runs as soon as it is ready.")
            return
        folder = self._search_folder()
        since, until = self._date_bounds()
        hits = self.index.search(text, folder=folder, since=since, until=until, limit=200)
        self.results_model.set_hits(hits, {k: v.title for k, v in self.details.items()})
        scope = self.selected.title if folder and self.selected else "all personalities"
        more = "+" if len(hits) >= 200 else ""
        summary = f"{len(hits)}{more} results for “{escape(text)}” in {escape(scope)}"
        if self.indexing:
            done, total = self.index_progress
            summary += f" (still indexing: {done} of {total} files read, results so far)"
        self.results_label.setText(summary)
        if switch_tab:
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
        self._stop_indexing()
        super().closeEvent(event)
