"""The offline browser as a good desktop citizen (issue 15), on the real widgets: readable under light, dark
and high-contrast palettes; keyboard only; search controls that mean what they show; typed dates; results
that open what was clicked; local times, plurals, people's words and an empty state on every tab."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDate, QPoint, QRect, QSettings, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QStyle,
    QStyleOptionViewItem,
    QTabBar,
    QTableView,
    QWidget,
)

from tzbackup_gui.archive.browse import format_utc
from tzbackup_gui.archive.index import SearchHit
from tzbackup_gui.ui import browser_search
from tzbackup_gui.ui.browser_widgets import parse_date_text
from tzbackup_gui.ui.browser_window import BrowserWindow
from tzbackup_gui.ui.memories_model import row_text_colors
from tzbackup_gui.ui.profile_view import field_label
from tzbackup_gui.ui.theme import banner_colors, contrast_ratio

from .browser_support import (
    T0,
    UMBRELLA_DAYS,
    dark_palette,
    document_contrasts,
    high_contrast_palette,
    html_contrasts,
    make_archive,
    unreadable,
)

Role = QPalette.ColorRole


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_archive(tmp_path / "data")


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC+9 (no summer time), so a local time and a UTC time always differ."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def open_window(qtbot: Any, data_dir: Path, **kw: Any) -> BrowserWindow:
    win = BrowserWindow(data_dir, **kw)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: not win.indexing, timeout=20_000)
    return win


@pytest.fixture
def window(qtbot: Any, data_dir: Path) -> BrowserWindow:
    win = open_window(qtbot, data_dir)
    assert win.select_personality("lilith")
    return win


def search(win: BrowserWindow, text: str) -> list[SearchHit]:
    win.show_search()
    win.search_edit.setText(text)
    win.run_search()
    return win.results_model.hits


# --- colours ------------------------------------------------------------------------------------------------


@pytest.fixture
def palette_of(qapp: QApplication) -> Iterator[Any]:
    """Call with a QPalette to make it the application's; the original comes back afterwards."""
    original = QPalette(qapp.palette())

    def use(palette: QPalette) -> None:
        qapp.setPalette(palette)
        QApplication.processEvents()

    yield use
    qapp.setPalette(original)
    QApplication.processEvents()


def browser_text(widget: Any) -> list[tuple[float, str]]:
    """Contrasts of a QTextBrowser's text on its viewport (the palette's base)."""
    palette = widget.palette()
    return document_contrasts(widget.document(), palette.color(Role.Text), palette.color(Role.Base))


def label_text(label: Any) -> list[tuple[float, str]]:
    palette = label.palette()
    return html_contrasts(label.text(), palette.color(Role.WindowText), palette.color(Role.Window))


def result_rows(win: BrowserWindow) -> list[tuple[float, str]]:
    """Contrasts of every search result as the delegate paints it: plain, alternate and selected rows."""
    view, delegate = win.results, win.search.delegate
    found = []
    for row in range(win.results_model.rowCount()):
        index = win.results_model.index(row)
        for selected in (False, True):
            option = QStyleOptionViewItem()
            option.palette = view.palette()
            option.rect = view.visualRect(index)
            option.font = view.font()
            option.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Active
            if selected:
                option.state |= QStyle.StateFlag.State_Selected
            if row % 2:
                option.features |= QStyleOptionViewItem.ViewItemFeature.Alternate
            found += [(contrast_ratio(fore, back), text) for text, fore, back in delegate.runs(option, index)]
    return found


def everything_readable(win: BrowserWindow, qtbot: Any) -> list[tuple[float, str]]:
    """Walk the browser as a user would and collect the contrast of every piece of rich text shown."""
    problems: list[tuple[float, str]] = []
    hits = search(win, "umbrella")
    assert {h.kind for h in hits} == {"memory", "chat", "profile", "knowledge"}
    problems += unreadable(result_rows(win))
    problems += unreadable(label_text(win.results_label))
    memory = next(h for h in hits if h.kind == "memory")
    assert win.open_hit(memory)
    problems += unreadable(browser_text(win.detail_text))  # "Created", "Memory id"... and their values
    for row in range(win.model.rowCount()):  # the deleted memory's row: muted, on plain and alternate rows
        brush = win.model.index(row, 3).data(Qt.ItemDataRole.ForegroundRole)
        if brush is not None:
            palette = win.table.palette()
            for back in (palette.color(Role.Base), palette.color(Role.AlternateBase)):
                problems += unreadable([(contrast_ratio(brush.color(), back), "deleted memory row")])
    chat = next(h for h in hits if h.kind == "chat")
    assert win.open_hit(chat)
    text = win.chat.detail.toPlainText()
    assert "Time" in text and "Message id" in text and chat.memory_id in text
    problems += unreadable(browser_text(win.chat.detail))  # the Time and Message id values included
    problems += unreadable(browser_text(win.profile.form))  # profile labels
    problems += unreadable(label_text(win.profile.title))  # "@lilith · tagline"
    knowledge = next(h for h in hits if h.kind == "knowledge")
    assert win.open_hit(knowledge)
    problems += unreadable(browser_text(win.profile.knowledge_view))  # the opened entry stands out
    win.tabs.setCurrentIndex(3)
    view = win.timeline
    assert view.select_version(2) and view.shown is not None
    problems += unreadable(browser_text(view.diff))  # deleted / inserted words, "(changed)", "(added)"
    problems += unreadable(label_text(view.summary))
    background, text = banner_colors(win.palette(), "error")
    problems += unreadable([(contrast_ratio(text, background), "error banner")])
    assert background.name() in win.banner.styleSheet() and text.name() in win.banner.styleSheet()
    for name in ("echo", "fresh"):  # empty states
        assert win.select_personality(name)
        problems += unreadable(label_text(win.memory_empty.label))
        problems += unreadable(label_text(win.chat.empty))
        problems += unreadable(browser_text(win.timeline.diff))
        problems += unreadable(browser_text(win.profile.knowledge_view))
    return problems


@pytest.mark.parametrize("theme", ["dark", "high-contrast"])
def test_every_text_is_readable_under_a_dark_palette(
    qtbot: Any, data_dir: Path, palette_of: Any, theme: str
) -> None:
    palette_of(dark_palette() if theme == "dark" else high_contrast_palette())
    win = open_window(qtbot, data_dir)
    assert win.select_personality("lilith")
    assert everything_readable(win, qtbot) == []


def test_a_theme_switch_recolours_what_is_shown(qtbot: Any, data_dir: Path, palette_of: Any) -> None:
    """Light first (readable too), then the desktop turns dark while the window is open."""
    win = open_window(qtbot, data_dir)
    assert win.select_personality("lilith")
    assert everything_readable(win, qtbot) == []
    assert win.select_personality("lilith")
    hits = search(win, "umbrella")
    assert win.open_hit(next(h for h in hits if h.kind == "memory"))
    palette_of(dark_palette())
    qtbot.waitUntil(lambda: not win._restyle_timer.isActive())
    QApplication.processEvents()
    assert unreadable(browser_text(win.detail_text)) == []
    assert unreadable(browser_text(win.profile.form)) == []
    assert everything_readable(win, qtbot) == []


def test_search_hits_are_highlighted_in_the_themes_colours(
    qtbot: Any, data_dir: Path, palette_of: Any
) -> None:
    """What the list really paints (its pixels): the matched word on the theme's highlight, not the light
    theme's pale yellow, and each painted piece readable."""
    palette_of(dark_palette())
    win = open_window(qtbot, data_dir)
    search(win, "umbrella")
    index = win.results_model.index(0)
    option = QStyleOptionViewItem()
    option.palette = win.results.palette()
    option.rect = win.results.visualRect(index)
    option.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Active
    runs = win.search.delegate.runs(option, index)
    marked = [(text, fore, back) for text, fore, back in runs if text.lower().startswith("umbrella")]
    assert marked and all(contrast_ratio(fore, back) >= 4.5 for _t, fore, back in marked)
    hit_back = marked[0][2]
    assert hit_back.lightness() < 128  # a dark theme's highlight
    win.results.viewport().repaint()
    image = win.results.viewport().grab().toImage()
    rect = win.results.visualRect(index)
    painted = {image.pixelColor(x, y).name() for x in range(rect.left(), rect.right(), 2)
               for y in range(rect.top(), rect.bottom(), 2)}
    assert hit_back.name() in painted and "#ffe066" not in painted
    muted, _error = row_text_colors(QApplication.palette())
    assert contrast_ratio(muted.color(), QApplication.palette().color(Role.Base)) >= 4.5


# --- keyboard -----------------------------------------------------------------------------------------------


def _walk(win: BrowserWindow, qtbot: Any, start: QWidget, key: Qt.Key, steps: int) -> list[QWidget]:
    start.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is start)
    seen = [start]
    for _ in range(steps):
        qtbot.keyClick(QApplication.focusWidget(), key)
        seen.append(QApplication.focusWidget())
    return seen


def _name(widget: QWidget) -> str:
    return widget.objectName() or type(widget).__name__


def _labelled(widget: QWidget) -> bool:
    """A person using a screen reader hears what the control is."""
    if widget.accessibleName():
        return True
    if isinstance(widget, QAbstractButton) and widget.text().replace("&", "").strip():
        return True
    return isinstance(widget, QTabBar)


def test_tab_walks_the_memories_tab_and_leaves_the_table(qtbot: Any, window: BrowserWindow) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.tabs.setCurrentIndex(1)
    forward = _walk(window, qtbot, window.list, Qt.Key.Key_Tab, 16)
    names = [_name(w) for w in forward]
    expected = [
        "personalityList",
        "qt_tabwidget_tabbar",
        "memorySort",
        "showDeleted",
        "showUpstream",
        "memoryDatesFrom",
        "memoryDatesFromPick",
        "memoryDatesTo",
        "memoryDatesToPick",
        "memoriesTable",
        "memoryText",
        "memoryJson",
        "memoryCopyText",
        "memoryCopyJson",
        "personalityList",
    ]
    assert names[: len(expected)] == expected, names
    assert names.count("memoriesTable") == 1  # Tab leaves the table after one stop, not cell by cell
    assert all(_labelled(w) for w in forward), [
        n for w, n in zip(forward, names, strict=True) if not _labelled(w)
    ]
    backward = _walk(window, qtbot, window.list, Qt.Key.Key_Backtab, len(expected) - 1)
    assert [_name(w) for w in backward] == expected[::-1], [_name(w) for w in backward]
    # inside the table the arrows move the current row
    window.table.setFocus()
    window.table.setCurrentIndex(window.model.index(0, 0))
    qtbot.keyClick(window.table, Qt.Key.Key_Down)
    qtbot.keyClick(window.table, Qt.Key.Key_Down)
    assert window.table.currentIndex().row() == 2
    assert window.current_raw() is not None and window.current_raw() == window.model.raw(2)


def test_tab_walks_the_search_tab_and_enter_opens_a_result(qtbot: Any, window: BrowserWindow) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)  # Find: the Search tab, typing
    assert window.tabs.currentWidget() is window.search and QApplication.focusWidget() is window.search_edit
    qtbot.keyClicks(window.search_edit, "umbrella")
    qtbot.keyClick(window.search_edit, Qt.Key.Key_Return)
    assert len(window.results_model.hits) >= 5
    walk = _walk(window, qtbot, window.search_edit, Qt.Key.Key_Tab, 14)
    names = [_name(w) for w in walk]
    expected = [
        "searchEdit",
        "searchScope",
        "searchKind_memory",
        "searchKind_chat",
        "searchKind_profile",
        "searchKind_knowledge",
        "searchOrder",
        "searchDatesFrom",
        "searchDatesFromPick",
        "searchDatesTo",
        "searchDatesToPick",
        "searchResults",
    ]
    assert names[: len(expected)] == expected, names
    assert all(_labelled(w) for w in walk)
    window.results.setFocus()
    qtbot.keyClick(window.results, Qt.Key.Key_Down)
    qtbot.keyClick(window.results, Qt.Key.Key_Down)
    hit = window.search.current_hit()
    assert hit is not None
    qtbot.keyClick(window.results, Qt.Key.Key_Return)
    assert _opened(window, hit)


def test_focus_is_visible_where_it_lands(qtbot: Any, window: BrowserWindow, palette_of: Any) -> None:
    """A list, table or text pane with the keyboard focus has a frame in the theme's highlight colour; the
    same widget without the focus has not (a selected row alone does not say where the keyboard is)."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.tabs.setCurrentIndex(1)
    window.table.selectRow(0)

    def edge(widget: QWidget) -> str:
        QApplication.processEvents()
        rect = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
        image = window.grab(rect).toImage()
        return image.pixelColor(image.width() // 2, image.height() - 1).name()

    for palette in (None, dark_palette()):
        if palette is not None:
            palette_of(palette)  # a theme switch: the frame takes the new highlight
        highlight = window.table.palette().color(Role.Highlight).name()
        for widget in (window.table, window.list, window.detail_text):
            widget.setFocus(Qt.FocusReason.TabFocusReason)
            qtbot.waitUntil(widget.hasFocus)
            assert window.focus_ring.isVisible() and edge(widget) == highlight, widget.objectName()
            window.memory_sort.setFocus(Qt.FocusReason.TabFocusReason)
            qtbot.waitUntil(window.memory_sort.hasFocus)
            assert not window.focus_ring.isVisible() and edge(widget) != highlight, widget.objectName()


# --- search: kinds, order, dates, opening -------------------------------------------------------------------


def _opened(win: BrowserWindow, hit: SearchHit) -> bool:
    """The window shows ``hit`` where it lives, selected."""
    if hit.kind == "memory":
        raw = win.current_raw()
        return win.tabs.currentIndex() == 1 and raw is not None and raw["id"] == hit.memory_id
    if hit.kind == "chat":
        raw = win.chat.current_raw()
        return win.tabs.currentIndex() == 4 and raw is not None and raw["id"] == hit.memory_id
    if hit.kind == "knowledge":
        return (
            win.tabs.currentIndex() == 0
            and win.profile.tabs.currentWidget() is win.profile.knowledge_view
            and win.profile.chosen_entry == hit.pos
        )
    return win.tabs.currentIndex() == 0 and win.profile.tabs.currentIndex() == 0


def test_one_search_over_every_kind_with_counts_order_and_dates(
    window: BrowserWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    hits = search(window, "umbrella")
    kinds = [h.kind for h in hits]
    assert sorted(set(kinds)) == ["chat", "knowledge", "memory", "profile"]
    assert kinds.count("memory") == len(UMBRELLA_DAYS)
    boxes = window.search.kind_boxes
    assert boxes["memory"].text() == f"Memories ({len(UMBRELLA_DAYS)})" and boxes["chat"].text() == "Chat (1)"
    summary = window.results_label.text()
    assert summary.startswith("8 results for “umbrella” in all personalities (best match first)")
    assert "5 memories, 1 chat message, 1 profile, 1 knowledge entry" in summary
    # each result says what it is: "Memory · Lilith · date"
    shown = window.results_model.index(kinds.index("chat")).data()
    assert shown.startswith("Chat · Lilith · ")
    # newest / oldest first: by date, the undated profile last
    window.search.order.setCurrentIndex(1)
    newest = window.results_model.hits
    dated = [h.ts for h in newest if h.ts]
    assert dated == sorted(dated, reverse=True) and newest[-1].kind == "profile"
    assert "(newest first)" in window.results_label.text()
    window.search.order.setCurrentIndex(2)
    oldest = [h.ts for h in window.results_model.hits if h.ts]
    assert oldest == sorted(oldest)
    # a kind left out: its results go, its count stays on its box
    boxes["chat"].setChecked(False)
    assert "chat" not in {h.kind for h in window.results_model.hits} and boxes["chat"].text() == "Chat (1)"
    boxes["chat"].setChecked(True)
    # dates: February 2025 only (typed as a month), the undated profile left out and the summary says so
    window.search.dates.since.set_text("2025-02")
    window.search.dates.until.set_text("2025-02")
    assert {h.memory_id for h in window.results_model.hits} == {"mem-040", "mem-041", "know-2", "chat-5"}
    assert "from 2025-02-01 to 2025-02-28" in window.results_label.text()
    assert "Profiles have no date" in window.results_label.text()
    # more matches than shown: the summary says which ones are listed
    window.search.dates.clear()
    monkeypatch.setattr(browser_search, "LIMIT", 3)
    window.run_search()
    assert window.results_label.text().startswith("The first 3 of 8 results for “umbrella”")
    # nothing found: an empty state that says what to try
    search(window, "zeppelin")
    assert window.search.stack.currentWidget() is window.search.empty
    assert "No matches for “zeppelin”" in window.search.empty.text()


def test_double_click_opens_the_result_that_was_clicked(qtbot: Any, window: BrowserWindow) -> None:
    """The first click only selects (the tab stays); the double click opens that result, whatever lies under
    the pointer once the Memories tab is in front."""
    hits = search(window, "umbrella")
    window.search.kind_boxes["memory"].setChecked(True)
    row = max(i for i, h in enumerate(hits) if h.kind == "memory")  # not the first row
    target = hits[row]
    rect = window.results.visualRect(window.results_model.index(row))
    qtbot.mouseClick(window.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.tabs.currentWidget() is window.search  # a single click opened nothing
    assert window.search.current_hit() == target and window.search.open_button.isEnabled()
    qtbot.mouseDClick(window.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert _opened(window, target)
    index = window.table.currentIndex()
    assert window.table.viewport().rect().intersects(window.table.visualRect(index))  # scrolled into view


def test_each_kind_opens_where_it_lives_even_when_filtered_out(window: BrowserWindow) -> None:
    hits = search(window, "umbrella")
    window.memory_dates.since.set_text("2026")  # the Memories tab shows nothing from 2025 now
    window.show_deleted.setChecked(False)
    assert window.model.rowCount() == 0
    for hit in hits:
        window.tabs.setCurrentIndex(2)
        assert window.open_hit(hit), hit
        assert _opened(window, hit), hit
    assert not window.memory_dates.active and window.model.rowCount() == 75  # cleared to show the memory
    window.chat.filter_edit.setText("hello 3")
    window.chat.apply_filter()
    chat = next(h for h in hits if h.kind == "chat")
    assert window.open_hit(chat) and _opened(window, chat)  # the chat filter is cleared too
    # the Open Result button does the same for the highlighted result
    window.show_search()
    window.results.setCurrentIndex(window.results_model.index(0))
    window.search.open_button.click()
    assert _opened(window, window.results_model.hits[0]) if window.results_model.hits else True


# --- typed dates --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "period"),
    [
        ("2025", (dt.date(2025, 1, 1), dt.date(2025, 12, 31))),
        ("2024-02", (dt.date(2024, 2, 1), dt.date(2024, 2, 29))),
        ("2025-3-7", (dt.date(2025, 3, 7), dt.date(2025, 3, 7))),
        ("2025/12", (dt.date(2025, 12, 1), dt.date(2025, 12, 31))),
        ("2025-13", None),
        ("2025-02-30", None),
        ("", None),
    ],
)
def test_parse_date_text(typed: str, period: tuple[dt.date, dt.date] | None) -> None:
    assert parse_date_text(typed) == period


def test_dates_are_typed_and_filter_the_memories_list(qtbot: Any, window: BrowserWindow) -> None:
    window.tabs.setCurrentIndex(1)
    since, until = window.memory_dates.since, window.memory_dates.until
    assert since.edit.placeholderText() == dt.date.fromtimestamp(T0).isoformat()  # the first memory's day
    # a year typed straight in, no part of a date to select first
    since.edit.setFocus()
    qtbot.keyClicks(since.edit, "2025")
    qtbot.keyClick(since.edit, Qt.Key.Key_Return)
    assert since.period == (dt.date(2025, 1, 1), dt.date(2025, 12, 31)) and window.model.rowCount() == 75
    since.edit.clear()
    qtbot.keyClicks(since.edit, "2025-02")
    qtbot.keyClick(since.edit, Qt.Key.Key_Return)
    until.edit.setFocus()
    qtbot.keyClicks(until.edit, "2025-02")
    qtbot.keyClick(until.edit, Qt.Key.Key_Return)
    days = {
        dt.date.fromtimestamp(window.model.rows.ts[window.model.record(r)])
        for r in range(window.model.rowCount())
    }
    assert (
        window.model.rowCount() == 28
        and min(days) == dt.date(2025, 2, 1)
        and max(days) == dt.date(2025, 2, 28)
    )
    assert window.memory_shown.text() == "28 of 75 memories shown"
    assert window.count_label.text() == "Lilith: 28 of 75 memories"
    # letters never land; a date that is not one yet leaves the filter as it was and says so
    qtbot.keyClicks(until.edit, "abc")
    assert until.edit.text() == "2025-02"
    until.edit.selectAll()  # typed over: the filter stays as it was until the text is a date
    qtbot.keyClicks(until.edit, "2025-13")
    qtbot.keyClick(until.edit, Qt.Key.Key_Return)
    assert not until.valid and "Not a date yet" in until.edit.toolTip() and window.model.rowCount() == 28
    # the calendar picks a day too
    until.calendar.clicked.emit(QDate(2025, 2, 10))
    assert until.edit.text() == "2025-02-10" and window.model.rowCount() == 10
    # hidden deleted memories and no match at all: an empty state with a way out
    window.memory_dates.since.set_text("2024")
    window.memory_dates.until.set_text("2024")
    assert window.memory_stack.currentWidget() is window.memory_empty
    assert "No memory matches the filters above" in window.memory_empty.text
    window.memory_empty.button.click()
    assert window.model.rowCount() == 75 and window.memory_stack.currentIndex() == 1


def test_memory_order_and_deleted_filter_sit_above_the_list(window: BrowserWindow) -> None:
    window.tabs.setCurrentIndex(1)
    toolbar = window.memory_sort.parentWidget()
    assert toolbar is not None and toolbar.isAncestorOf(window.table) is False
    assert window.model.raw(0)["id"] == "mem-074"  # type: ignore[index]
    window.memory_sort.setCurrentIndex(1)
    assert window.model.raw(0)["id"] == "mem-000"  # type: ignore[index]
    window.show_deleted.setChecked(False)
    assert window.model.rowCount() == 74 and window.memory_shown.text() == "74 of 75 memories shown"


# --- words, times, empty states -----------------------------------------------------------------------------


def test_local_times_with_utc_in_tooltips(qtbot: Any, data_dir: Path, tokyo: None) -> None:
    win = open_window(qtbot, data_dir)
    assert win.select_personality("lilith")
    view = win.timeline
    texts = [view.list.item(r).text() for r in range(view.list.count())]
    assert texts[0].startswith("2025-03-20 19:00  ·  Backup ok") and "UTC" not in texts[0]
    assert view.list.item(0).toolTip().startswith("2025-03-20 10:00:00 UTC")
    assert view.select_version(2)
    assert "v2 (current, 2025-03-20 19:00:05)" in view.diff.toPlainText()
    assert "Times are local" in view.summary.text()
    runs = win.profile.runs
    assert (
        runs.item(0, 0).text() == "2025-03-20 19:00:00"
        and runs.item(0, 0).toolTip() == "2025-03-20 10:00:00 UTC"
    )
    assert "Last successful backup: <b>2025-03-20 19:00</b>" in win.profile.facts.text()
    assert win.profile.facts.toolTip() == "Last successful backup: 2025-03-20 10:00:20 UTC"
    hits = search(win, "umbrella")
    memory = next(h for h in hits if h.kind == "memory")
    assert win.open_hit(memory)
    created = dt.datetime.fromtimestamp(memory.ts, dt.UTC)
    local = created.astimezone(dt.timezone(dt.timedelta(hours=9)))
    assert f"{local:%Y-%m-%d %H:%M:%S} ({format_utc(memory.ts)})" in win.detail_text.toPlainText()
    chat = next(h for h in hits if h.kind == "chat")
    assert win.open_hit(chat)
    assert (
        "local time" in win.chat.detail.toPlainText() and format_utc(chat.ts) in win.chat.detail.toPlainText()
    )


def test_empty_states_and_plurals(qtbot: Any, data_dir: Path, tokyo: None) -> None:
    win = open_window(qtbot, data_dir)
    items = {win.list.item(r).text().split("\n")[0]: win.list.item(r).text() for r in range(win.list.count())}
    assert items["Echo"] == "Echo\n0 memories" and items["Lilith"] == "Lilith\n75 memories"
    assert win.select_personality("echo")
    win.tabs.setCurrentIndex(1)
    assert win.memory_stack.currentWidget() is win.memory_empty and win.memory_empty.isVisible()
    empty = win.memory_empty.text
    assert "No memories backed up" in empty and "(2026-12-06 12:49)" in empty and "T03:49" not in empty
    chat = win.chat.empty_text
    assert "2026-12-06 12:49" in chat and "2026-12-06T03:49:20Z" not in chat
    assert "No knowledge entries saved" in win.profile.knowledge_view.toPlainText()
    assert "1 profile version kept, 1 backup run." in win.timeline.summary.text()
    assert win.select_personality("fresh")
    assert "has not been backed up yet" in win.memory_empty.text
    assert "No backup recorded yet" in win.timeline.diff.toPlainText()
    assert win.select_personality("lilith")
    assert "2 profile versions kept, 2 backup runs." in win.timeline.summary.text()
    assert win.profile.tabs.tabText(1) == "Knowledge (2)"
    win.show_search()
    win.search_edit.clear()
    win.run_search()
    assert "Search everything backed up" in win.search.empty.text()


def test_profile_fields_read_as_words(window: BrowserWindow) -> None:
    form = window.profile.form.toPlainText()
    for label in (
        "Created",
        "Last updated",
        "Search description",
        "Creator",
        "System prompt (jailbreak)",
        "Likes",
        "Temperature",
        "Long-term memory: enabled",
    ):
        assert label in form, label
    for raw in ("created ts", "updated ts", "creator username", "search description", "created_ts"):
        assert raw not in form, raw
    assert field_label("last_trained_ts") == "Last trained"
    assert field_label("engine_top_p") == "Top p"
    assert field_label("personality_conversational_goals") == "Conversational goals"
    assert [window.profile.runs.horizontalHeaderItem(c).text() for c in range(3)] == [
        "Started",
        "Finished",
        "Status",
    ]


# --- geometry -----------------------------------------------------------------------------------------------


def test_geometry_is_saved_and_restored(qtbot: Any, data_dir: Path, tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "browser.ini"), QSettings.Format.IniFormat)
    first = open_window(qtbot, data_dir, settings=settings)
    area = first.screen().availableGeometry()
    assert first.width() <= area.width() and first.height() <= area.height()  # never larger than the screen
    first.resize(640, 470)
    first.move(area.left() + 30, area.top() + 20)
    first.split.setSizes([150, 490])
    qtbot.waitUntil(lambda: first.width() == 640)
    first.close()
    again = open_window(
        qtbot, data_dir, settings=QSettings(str(tmp_path / "browser.ini"), QSettings.Format.IniFormat)
    )
    assert (again.width(), again.height()) == (640, 470)
    assert again.split.sizes()[0] == first.split.sizes()[0]


def test_window_fits_the_screen_and_draws_the_avatar_at_its_pixel_ratio(qtbot: Any, data_dir: Path) -> None:
    win = open_window(qtbot, data_dir)
    area = win.screen().availableGeometry()
    frame = win.frameGeometry()
    assert area.contains(frame), (area, frame)
    assert win.minimumSizeHint().width() <= 800 and win.minimumSizeHint().height() <= 600
    assert win.select_personality("lilith")
    pixmap = win.profile.avatar.pixmap()
    ratio = win.profile.avatar.devicePixelRatioF()
    assert pixmap.devicePixelRatio() == ratio and pixmap.width() == round(64 * ratio)


@pytest.mark.parametrize("tab", [0, 1, 2, 3, 4])
def test_every_tab_is_walked_by_tab_and_back_to_the_list(qtbot: Any, window: BrowserWindow, tab: int) -> None:
    """From the personality list, Tab goes through each control of the tab in front once, every one named
    for a screen reader, and comes back to the list; Shift+Tab walks the same way back."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.tabs.setCurrentIndex(tab)
    if tab == 4:
        window.chat.table.selectRow(0)
    forward = _walk(window, qtbot, window.list, Qt.Key.Key_Tab, 40)
    back_at = forward.index(window.list, 1)  # the walk comes round to the list again
    stops = forward[:back_at]
    assert len(stops) >= 4 and len(set(stops)) == len(stops), [_name(w) for w in stops]
    assert all(w.isVisible() and window.isAncestorOf(w) for w in stops)
    assert all(_labelled(w) for w in stops), [_name(w) for w in stops if not _labelled(w)]
    tables = [w for w in stops if isinstance(w, QTableView)]
    assert all(stops.count(t) == 1 for t in tables)
    backward = _walk(window, qtbot, window.list, Qt.Key.Key_Backtab, back_at)
    assert backward[1:] == [*stops[1:][::-1], window.list], [_name(w) for w in backward]
