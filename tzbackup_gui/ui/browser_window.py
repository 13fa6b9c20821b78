"""The offline browser: read, search and inspect backed-up personalities without network or sign-in.

It only reads files (never the service client): the personality list comes from the folder, memories from
the chunk files through :class:`MemoriesModel`, search from the on-disk FTS5 index, which is brought up to
date (only changed files re-read) whenever a folder is opened or refreshed. That update runs on a worker
thread (:class:`IndexWorker`): the window stays usable, shows "Indexing… N of M files", lists each
personality's memories as soon as its folder is committed (the selected one first) and searches what is
indexed so far.

Every control sits above what it drives: the Memories tab has its own order, From / To dates and deleted
filters; the Search tab holds the search words with its kinds, order and dates. Colours come from the
palette (:mod:`.theme`), so light, dark and high-contrast themes stay readable. The window opens at a size
that fits the screen it is on and remembers its geometry.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
from html import escape
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from PySide6.QtCore import QByteArray, QCoreApplication, QEvent, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..app import display_path
from ..archive.browse import (
    BackupSource,
    ChunkCache,
    PersonalityDetails,
    load_personality,
    plural,
    resolve_source,
)
from ..archive.index import (
    IndexUpdate,
    MemoryRows,
    SearchIndex,
)
from .browser_search import BrowserSearch
from .browser_widgets import FocusRing, PaddedItems
from .chat_view import ChatView
from .export_dialog import EXPORT_FORMATS, ExportImport
from .index_worker import IndexWorker
from .profile_view import ProfileView
from .search_view import SearchResultsModel, highlight_html
from .talk_view import TalkView
from .theme import banner_colors
from .timeline_view import TimelineView

__all__ = ["BrowserWindow", "SearchResultsModel", "highlight_html"]

GEOMETRY_KEY = "browser/geometry"
SPLITTER_KEY = "browser/splitter"
DEFAULT_SIZE = (1200, 760)
#: room left for the window manager's title bar and frame when the window is sized to a screen
FRAME_ALLOWANCE = 40


class PersonalityTab(Protocol):
    """A browser tab showing one personality (Timeline, Chat, ...): see :meth:`BrowserWindow._add_tab`."""

    def show_details(self, details: PersonalityDetails) -> None: ...

    def restyle(self) -> None: ...


T = TypeVar("T", bound=QWidget)

def _app_settings() -> QSettings | None:
    """The application's settings file (private), when the application has a name to store them under;
    None otherwise (tests and benchmarks that build a window of their own remember nothing)."""
    if not QCoreApplication.organizationName():
        return None
    from .settings_dialog import make_private

    return make_private(QSettings())


class BrowserWindow(BrowserSearch):
    """Personalities on the left; profile, memories (table + detail), search, timeline and chat on the
    right."""

    def __init__(
        self, data_dir: Path | None = None, parent: QWidget | None = None, settings: QSettings | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("browserWindow")
        self.setWindowTitle("Backup Browser")  # Qt appends the app's name: "Backup Browser — tzbackup"
        self.settings = settings if settings is not None else _app_settings()
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
        self._banner_problems: list[str] = []
        self._restyle_timer = QTimer(self, singleShot=True, interval=0)
        self._restyle_timer.timeout.connect(self.restyle)
        self._shown_once = False
        self._centre_on_show = False
        self.personality_tabs: list[PersonalityTab] = []
        self._build_ui()
        self._build_menu()
        self._restore_geometry()
        if data_dir is not None:
            self.open_folder(data_dir)

    # --- construction ------------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.banner = QLabel()
        self.banner.setObjectName("errorBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()
        self.list = QListWidget()
        self.list.setObjectName("personalityList")
        self.list.setAccessibleName("Personalities")
        self.list.setMinimumWidth(140)
        self.list.setSpacing(2)
        self.list.setItemDelegate(PaddedItems(self.list))
        self.list.currentRowChanged.connect(self._on_personality_row)
        self.profile = ProfileView()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("browserTabs")
        self.tabs.setAccessibleName("Views of the personality")
        self.tabs.addTab(self.profile, "Profile")
        self.tabs.addTab(self._build_memories(), "Memories")
        self.tabs.addTab(self._build_search(), "Search")
        # each view of one personality: a module of its own, one line here (appended: earlier indices stay)
        self.timeline = self._add_tab(TimelineView(), "Timeline")
        self.chat = self._add_tab(ChatView(), "Chat")
        self.talk = self._add_tab(TalkView(open_hit=self.open_hit), "Talk")
        for number in range(self.tabs.count()):  # Ctrl+1 Profile ... Ctrl+5 Chat, as in tabbed apps
            tab_action = QAction(self)
            tab_action.setShortcut(QKeySequence(f"Ctrl+{number + 1}"))
            tab_action.triggered.connect(lambda _=False, n=number: self.tabs.setCurrentIndex(n))
            self.addAction(tab_action)
            self.tabs.setTabToolTip(number, f"Ctrl+{number + 1}")
        self.split = QSplitter()
        self.split.setObjectName("browserSplitter")
        self.split.addWidget(self.list)
        self.split.addWidget(self.tabs)
        self.split.setStretchFactor(1, 1)
        self.split.setCollapsible(1, False)
        self.split.setSizes([220, 980])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.banner)
        layout.addWidget(self.split, 1)
        self.setCentralWidget(central)
        self.index_status = QLabel()
        self.index_status.setObjectName("indexStatus")
        self.index_status.hide()
        self.statusBar().addPermanentWidget(self.index_status)
        self.count_label = QLabel()
        self.count_label.setObjectName("memoryCount")
        self.statusBar().addPermanentWidget(self.count_label)
        self.setTabOrder(self.list, self.tabs.tabBar())
        # Where the keyboard is: a list, table, tree or text pane with the focus gets a frame in the theme's
        # highlight colour (the styles draw only a faint dotted rectangle there, lost on a selected row).
        self.focus_ring = FocusRing(self)
        chain = [self.memory_sort, self.show_deleted, self.show_upstream, self.memory_dates.since.edit,
                 self.memory_dates.since.button, self.memory_dates.until.edit, self.memory_dates.until.button,
                 self.table]
        for before, after in itertools.pairwise(chain):  # Tab follows the order on screen
            QWidget.setTabOrder(before, after)
        self._style_banner()

    def _add_tab(self, view: T, title: str) -> T:
        """Add a tab that shows the selected personality (``show_details``) and follows the palette
        (``restyle``); returns the view."""
        self.tabs.addTab(view, title)
        self.personality_tabs.append(cast("PersonalityTab", view))
        return view

    def _build_menu(self) -> None:
        menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open Backup Folder…", self)
        open_action.setObjectName("openFolderAction")
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._choose_folder)
        reload_action = QAction("&Reload", self)
        reload_action.setShortcut(QKeySequence.StandardKey.Refresh)
        reload_action.triggered.connect(self.reload)
        find_action = QAction("&Find…", self)
        find_action.setObjectName("findAction")
        find_action.setShortcut(QKeySequence.StandardKey.Find)
        find_action.triggered.connect(self.show_search)
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

    # --- geometry ----------------------------------------------------------------------------------------

    def _restore_geometry(self) -> None:
        """The saved geometry when there is one, else 1200×760 or less: always within the screen."""
        saved = self.settings.value(GEOMETRY_KEY) if self.settings is not None else None
        restored = isinstance(saved, QByteArray) and not saved.isEmpty() and self.restoreGeometry(saved)
        splitter = self.settings.value(SPLITTER_KEY) if self.settings is not None else None
        self._centre_on_show = not restored
        if not restored:
            area = self._screen_area()
            if area is not None:  # a little room around it on a small screen, as a first window should
                self.resize(min(DEFAULT_SIZE[0], area.width() * 92 // 100),
                            min(DEFAULT_SIZE[1], area.height() * 90 // 100))
            else:
                self.resize(*DEFAULT_SIZE)
        self.fit_to_screen(center=not restored)
        if isinstance(splitter, QByteArray) and not splitter.isEmpty():
            self.split.restoreState(splitter)
        else:  # the list takes a fifth of a small window, 220 pixels of a large one
            side = max(self.list.minimumWidth(), min(220, self.width() // 5))
            self.split.setSizes([side, max(1, self.width() - side)])

    def _screen_area(self) -> Any:
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry() if screen is not None else None

    def showEvent(self, event: Any) -> None:
        """The first show knows the window frame's size: fit once more with it counted."""
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self.fit_to_screen(center=self._centre_on_show)

    def fit_to_screen(self, *, center: bool = False) -> None:
        """Shrink the window (its frame included, once known) to the available area of its screen (a
        laptop's 768 pixels, a 1.5× scale) and move it back onto it; ``center`` places it in the middle."""
        area = self._screen_area()
        if area is None:
            return
        frame = self.frameGeometry()
        extra_w = max(0, frame.width() - self.width())
        extra_h = max(0, frame.height() - self.height())
        width = min(self.width(), area.width() - extra_w)
        height = min(self.height(), area.height() - max(extra_h, min(FRAME_ALLOWANCE, area.height() // 10)))
        self.resize(width, height)
        width, height = width + extra_w, height + extra_h
        if center:
            self.move(area.center().x() - width // 2, area.center().y() - height // 2)
            return
        x = min(max(self.x(), area.left()), area.right() - width + 1)
        y = min(max(self.y(), area.top()), area.bottom() - height + 1)
        self.move(x, y)

    def save_geometry(self) -> None:
        if self.settings is not None:
            self.settings.setValue(GEOMETRY_KEY, self.saveGeometry())
            self.settings.setValue(SPLITTER_KEY, self.split.saveState())
            self.settings.sync()

    # --- colours -----------------------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        """A new palette (the desktop switched to dark, a high-contrast theme): re-render what was written
        with colours. One re-render for the burst of events a theme switch sends."""
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._restyle_timer.start()
        super().changeEvent(event)

    def restyle(self) -> None:
        self._style_banner()
        self.memory_empty.restyle()
        if self.selected is not None:
            self.profile.show_details(self.selected)
            for tab in self.personality_tabs:
                tab.restyle()
        row = self.table.currentIndex().row()
        self._show_memory(row if row >= 0 and self.model.rowCount() else None)
        self.results.viewport().update()

    def _style_banner(self) -> None:
        background, text = banner_colors(self.palette(), "error")
        self.banner.setStyleSheet(
            f"QLabel{{background:{background.name()};color:{text.name()};"
            f"border:1px solid {text.name()};border-radius:4px;padding:6px}}"
        )

    # --- opening -----------------------------------------------------------------------------------------

    def _choose_folder(self) -> None:
        from PySide6.QtWidgets import QFileDialog

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
        self.setWindowTitle(f"Backup Browser — {display_path(self.source.root)}")
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
            self.memory_empty.show_message(
                "No backups in this folder", f"{self.source.root} holds no personality backup. Choose "
                "another folder with File → Open Backup Folder…"
            )
            self.memory_stack.setCurrentWidget(self.memory_empty)
        names = list(self.details)
        first = select if select in names else (names[0] if names else None)
        self._start_indexing(first)
        if first is not None:
            self.list.setCurrentRow(names.index(first))

    @staticmethod
    def _list_text(details: PersonalityDetails, count: int) -> str:
        return f"{details.title}\n" + (plural(count, "memory", "memories") if not details.refused
                                       else "cannot be read")

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
        text = f"Indexing… {done:,} of {plural(total, 'file')}" if total else "Checking the search index…"
        self.index_status.setText(text)
        if self.selected is not None and self.current is None:
            self.count_label.setText(f"{self.selected.title}: {text}")
            if not self.selected.refused:
                self.memory_empty.show_message(text, "The memories appear as soon as this personality's "
                                               "files are indexed.")

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
        self._refresh_date_hints()

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
                f"Index up to date ({plural(result.indexed_files, 'file')} read in {result.seconds:.2f} s)",
                8000,
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

    def _on_personality_row(self, row: int) -> None:
        if row < 0:
            return
        name = self.list.item(row).data(Qt.ItemDataRole.UserRole)
        details = self.details[name]
        self.selected = details
        self._show_avatar_from_cache(details)
        self.profile.show_details(details)
        for tab in self.personality_tabs:
            tab.show_details(details)
        self._show_memories(details)
        if self.scope.currentIndex() == 1 and self.search_edit.text().strip():
            self.run_search(switch_tab=False)

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
            state = f"Indexing… {done:,} of {plural(total, 'file')}" if total else "Opening the search index…"
            self.count_label.setText(f"{details.title}: {state}")
            self._show_banner([details.refused] if details.refused else [])
            self._show_memory(None)
            self._show_memory_state(details, state)
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
        self.current = details
        self._show_banner(problems)
        self._refresh_memory_hints()
        self._refresh_date_hints()
        self._show_memory_state(details)
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
        self._banner_problems = problems
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

    # --- search ------------------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_geometry()
        self._stop_indexing()
        super().closeEvent(event)
