"""The browser's Search tab and opening a result where it lives (Memories, Chat, Profile)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QListWidget,
    QTabWidget,
    QWidget,
)

from ..archive.browse import (
    PersonalityDetails,
    memory_fields,
    plural,
)
from ..archive.chat_browse import chat_message_number
from ..archive.index import (
    SearchHit,
    SearchIndex,
)
from ..errors import SearchIndexError
from .browser_memories import BrowserMemories
from .chat_view import ChatView
from .profile_view import ProfileView
from .search_view import LIMIT, SearchView

__all__ = ["TAB_CHAT", "TAB_MEMORIES", "TAB_PROFILE", "TAB_SEARCH", "TAB_TIMELINE", "BrowserSearch"]

TAB_PROFILE, TAB_MEMORIES, TAB_SEARCH, TAB_TIMELINE, TAB_CHAT = range(5)


class BrowserSearch(BrowserMemories):
    """The Search tab of :class:`BrowserWindow` (which sets up the state declared here)."""

    index: SearchIndex | None
    details: dict[str, PersonalityDetails]
    selected: PersonalityDetails | None  # highlighted in the list
    indexing: bool
    index_progress: tuple[int, int]
    list: QListWidget
    tabs: QTabWidget
    profile: ProfileView
    chat: ChatView

    def _build_search(self) -> QWidget:
        self.search = SearchView()
        self.search_edit = self.search.edit
        self.scope = self.search.scope
        self.results = self.search.results
        self.results_model = self.search.model
        self.results_label = self.search.summary
        self._search_timer = QTimer(self, singleShot=True, interval=300)
        self._search_timer.timeout.connect(self.run_search)
        self.search_edit.textEdited.connect(lambda _t: self._search_timer.start())
        self.search_edit.returnPressed.connect(self.run_search)
        self.search.changed.connect(self._on_search_changed)
        self.search.open_requested.connect(self.open_hit)
        return self.search

    def select_personality(self, folder_name: str) -> bool:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == folder_name:
                self.list.setCurrentRow(row)
                return True
        return False

    def show_search(self) -> None:
        """Find (Ctrl+F): the Search tab, its words selected for typing over."""
        self.tabs.setCurrentWidget(self.search)
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def _on_search_changed(self) -> None:
        self._refresh_date_hints()
        self.run_search(switch_tab=False)

    def _search_folder(self) -> str | None:
        """The folder searched: the selected personality's with scope "This personality", else all."""
        return self.selected.folder.name if self.scope.currentIndex() == 1 and self.selected else None

    def _refresh_date_hints(self) -> None:
        """The empty From / To fields of the search show the first / last memory day of its scope."""
        if self.index is None:
            return
        span = self.index.date_range(self._search_folder())
        self.search.dates.set_hints(*(span if span else (None, None)))

    def run_search(self, switch_tab: bool = False) -> None:
        """Search with what the Search tab's controls say; ``switch_tab`` brings that tab to the front."""
        self._search_timer.stop()
        if switch_tab:
            self.tabs.setCurrentWidget(self.search)
        params = self.search.params()
        view = self.search
        view.show_counts({})
        if not params.text:
            self.results_model.set_hits([], {})
            self.results_label.setText("")
            view.show_empty("Search everything backed up", "Type a few words above: memories, chat messages, "
                            "profiles and knowledge entries are searched together.")
            return
        if self.index is None:
            self.results_model.set_hits([], {})
            self.results_label.setText("")
            view.show_empty("Opening the search index…", "The search runs as soon as it is ready.")
            return
        folder = self._search_folder()
        scope = self.selected.title if folder and self.selected else "all personalities"
        try:
            counts = self.index.count_hits(params.text, folder=folder, since=params.since, until=params.until)
            hits = self.index.search(
                params.text, folder=folder, since=params.since, until=params.until, kinds=params.kinds,
                order=params.order, limit=LIMIT,
            )
        except SearchIndexError as err:
            self.results_model.set_hits([], {})
            self.results_label.setText("")
            view.show_empty("Search unavailable", str(err))
            return
        view.show_counts(counts)
        view.show_results(hits, {k: v.title for k, v in self.details.items()})
        total = sum(counts.get(kind, 0) for kind in params.kinds)
        where = f"“{params.text}” in {scope}" + (f", {view.dates.describe()}" if view.dates.active else "")
        if total > len(hits):
            summary = (f"The first {len(hits):,} of {plural(total, 'result')} for {where} "
                       f"({view.order_text()}): {view.kinds_text(counts, params.kinds)}.")
        else:
            summary = f"{plural(total, 'result')} for {where}"
            summary += f" ({view.order_text()}): {view.kinds_text(counts, params.kinds)}." if total else "."
        if view.dates.active and "profile" in params.kinds:
            summary += " Profiles have no date: they are left out while a date is set."
        if self.indexing:
            done, files = self.index_progress
            summary += f" Still indexing: {done:,} of {plural(files, 'file')} read, results so far."
        self.results_label.setText(summary)
        if not params.kinds:
            view.show_empty("Nothing to look in", "Tick at least one of Memories, Chat, Profiles or "
                            "Knowledge.")
        elif not hits:
            hidden = sum(n for kind, n in counts.items() if kind not in params.kinds)
            reason = (f"{plural(hidden, 'match', 'matches')} in the kinds not ticked." if hidden else
                      "Try fewer or shorter words" + (", or clear the dates." if view.dates.active else "."))
            view.show_empty(f"No matches for “{params.text}”", reason)

    def open_hit(self, hit: SearchHit) -> bool:
        """Show a search result where it lives: the memory selected in Memories, the message in Chat, the
        profile or the knowledge entry in Profile. The memory is found again by its id, so the row selected is
        the one the result named even when filters or the order changed."""
        if not self.select_personality(hit.folder):
            return False
        if hit.kind == "profile":
            self.tabs.setCurrentIndex(TAB_PROFILE)
            self.profile.tabs.setCurrentIndex(0)
            return True
        if hit.kind == "knowledge":
            self.tabs.setCurrentIndex(TAB_PROFILE)
            return self.profile.show_knowledge_entry(hit.pos)
        if hit.kind == "chat":
            self.tabs.setCurrentIndex(TAB_CHAT)
            number = chat_message_number(hit.path, hit.pos)
            return number is not None and self.chat.reveal(number, hit.memory_id)
        self.tabs.setCurrentIndex(TAB_MEMORIES)
        return self.reveal_memory(hit.folder, hit.memory_id, (hit.path, hit.pos))

    def reveal_memory(self, folder: str, memory_id: str, where: tuple[Path, int] | None = None) -> bool:
        """Select and scroll to the memory ``memory_id`` of ``folder`` (shown first), clearing the filters
        that hide it; ``where`` is the place the search saw it, tried after the index's current answer."""
        places = self.index.locate(folder, memory_id) if self.index is not None and memory_id else []
        places += [where] if where is not None else []
        for path, pos in places:
            if self.model.rows.find(path, pos) < 0:
                continue
            if self.model.row_of(path, pos) < 0:
                self.clear_memory_filters()
                self.statusBar().showMessage("Filters cleared to show the memory you opened.", 6000)
            raw = self.model.cache.memory(path, pos)
            if memory_id and (raw is None or memory_fields(raw).id != memory_id):
                continue  # the file changed since the search: try the next place
            if self.select_memory(path, pos):
                self.table.setFocus(Qt.FocusReason.OtherFocusReason)
                return True
        self.statusBar().showMessage("That memory is no longer in this backup.", 6000)
        return False
