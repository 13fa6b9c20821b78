"""Keyboard first: Tab walks the controls (never the table's cells), the arrows move inside the table, Space
ticks, Return browses, the Menu key opens the row menu; every control in the walk has an accessible name."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAccessible, QContextMenuEvent
from PySide6.QtWidgets import QApplication, QWidget

from tzbackup_gui.ui.main_window import MainWindow
from tzbackup_gui.ui.personalities_model import COL_MEMORIES, COL_NAME, SlugRole

from .test_main_window import windows  # noqa: F401  (the fixture)

MAIN_ORDER = [
    "signInButton", "signOutButton", "filterEdit", "selectAllButton", "selectNoneButton", "refreshButton",
    "personalitiesTable", "logToggle", "backUpAllButton",
]


def _focus(widget: QWidget, qtbot: Any) -> None:
    top = widget.window()
    top.activateWindow()
    qtbot.waitUntil(top.isActiveWindow, timeout=3000)
    widget.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(widget.hasFocus, timeout=3000)


def walk(start: QWidget, qtbot: Any, *, back: bool = False, limit: int = 60) -> list[QWidget]:
    """Press Tab (Shift+Tab) from ``start`` until the focus comes back to it; the widgets it visited."""
    _focus(start, qtbot)
    seen = [start]
    for _ in range(limit):
        current = QApplication.focusWidget()
        assert current is not None
        if back:
            qtbot.keyClick(current, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
        else:
            qtbot.keyClick(current, Qt.Key.Key_Tab)
        now = QApplication.focusWidget()
        assert now is not None
        if now is start:
            return seen
        seen.append(now)
    raise AssertionError(f"Tab never came back: {[w.objectName() for w in seen]}")


def names(widgets: list[QWidget]) -> list[str]:
    return [w.objectName() or type(w).__name__ for w in widgets]


def accessible_name(widget: QWidget) -> str:
    interface = QAccessible.queryAccessibleInterface(widget)
    name = interface.text(QAccessible.Text.Name) if interface is not None else ""
    return (name or widget.accessibleName()).replace("&", "").strip()


def test_tab_walks_the_main_window_and_leaves_the_table(windows: Any, qtbot: Any) -> None:  # noqa: F811
    window: MainWindow = windows()
    order = walk(window.sign_in_button, qtbot)
    assert names(order) == MAIN_ORDER  # the table once (not 25 cells); Back Up Selected waits for a tick
    assert names(list(reversed(walk(window.sign_in_button, qtbot, back=True)[1:]))) == MAIN_ORDER[1:]
    for widget in order:
        assert accessible_name(widget), f"{widget.objectName()} has no accessible name"

    # tick a row, show the log: Back Up Selected and the log join the walk, in their places
    window.model.set_checked({window.model.rows()[0].slug})
    window.log_toggle.setChecked(True)
    order = names(walk(window.sign_in_button, qtbot))
    assert order == [*MAIN_ORDER[:7], "logPane", "logToggle", "backUpSelectedButton", "backUpAllButton"]


def test_the_table_from_the_keyboard(windows: Any, qtbot: Any, monkeypatch: Any) -> None:  # noqa: F811
    window: MainWindow = windows()
    browsed: list[str] = []
    monkeypatch.setattr(window, "_browse_row", lambda index: browsed.append(str(index.data(SlugRole))))
    _focus(window.refresh_button, qtbot)
    qtbot.keyClick(window.refresh_button, Qt.Key.Key_Tab)
    table = window.table
    assert QApplication.focusWidget() is table
    # focus shows: a row is highlighted as soon as the table has the focus
    assert table.currentIndex().isValid() and table.selectionModel().isRowSelected(table.currentIndex().row())

    first = table.currentIndex().data(SlugRole)
    qtbot.keyClick(table, Qt.Key.Key_Down)
    second = table.currentIndex().data(SlugRole)
    assert second != first
    qtbot.keyClick(table, Qt.Key.Key_Right)  # the cursor may sit in any column: Space still ticks the row
    qtbot.keyClick(table, Qt.Key.Key_Right)
    assert table.currentIndex().column() != COL_NAME
    qtbot.keyClick(table, Qt.Key.Key_Space)
    assert window.model.checked_slugs() == [second]
    assert window.back_up_selected_button.isEnabled()
    qtbot.keyClick(table, Qt.Key.Key_Space)
    assert window.model.checked_slugs() == []

    qtbot.keyClick(table, Qt.Key.Key_Return)
    assert browsed == [second]

    # the Menu key: the platform turns it into a keyboard context menu event for the focused table
    at = QPoint(5, 5)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Keyboard, at, table.mapToGlobal(at))
    QApplication.sendEvent(table, event)
    menu = window.last_row_menu
    assert menu is not None and menu.isVisible()
    texts = [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]
    name = window.model.row_for(str(second)).display_name  # type: ignore[union-attr]
    assert texts[0] == f"Back Up “{name}”"
    assert any(t.startswith("Export “") for t in texts) and f"Open the Backup Folder of “{name}”" in texts
    menu.close()
    qtbot.keyClick(table, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    assert window.last_row_menu is not None and window.last_row_menu.isVisible()
    window.last_row_menu.close()

    # Tab leaves the table for the next control, whatever the column
    table.setCurrentIndex(window.proxy.index(0, COL_MEMORIES))
    qtbot.keyClick(table, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is window.log_toggle


def test_every_action_has_a_key_or_a_menu(windows: Any) -> None:  # noqa: F811
    """Nothing is mouse-only: every window action sits in a menu (reachable with Alt) or has a shortcut."""
    window: MainWindow = windows()
    in_menus = set()
    menus = [entry.menu() for entry in window.menuBar().actions()]
    while menus:
        menu = menus.pop()
        in_menus.update(menu.actions())
        menus.extend(a.menu() for a in menu.actions() if a.menu() is not None)
    for action in window.actions():
        assert action in in_menus or not action.shortcut().isEmpty(), action.objectName()
    shortcuts = {a.objectName(): a.shortcut().toString() for a in window.actions()}
    assert shortcuts["backUpSelectedAction"] == "Ctrl+B" and shortcuts["backUpAllAction"] == "Ctrl+Shift+B"
    assert shortcuts["browseRowAction"] == "Ctrl+Return" and shortcuts["docsAction"] == "F1"


def test_tab_walks_settings_top_to_bottom(windows: Any, qtbot: Any) -> None:  # noqa: F811
    window: MainWindow = windows()
    window.open_settings()
    dialog = window.settings_dialog
    qtbot.waitExposed(dialog)
    walked = walk(dialog.data_dir_edit, qtbot)
    # the schedule note is one stop, then its link another (Return opens the help there)
    order = [w for i, w in enumerate(walked) if i == 0 or w is not walked[i - 1]]
    sections = [f"section_{n}" for n in dialog.section_checks if n != "profile"]
    expected = [
        "dataDirEdit", "browseDataDirButton", "reconcileSpin", *sections, "delaySpin", "scheduleKind",
        "scheduleNote", "settingsSignOutButton", "QPushButton", "QPushButton",
    ]
    assert names(order) == expected, " ".join(names(order))
    assert [b.text().replace("&", "") for b in order[-2:]] == ["OK", "Cancel"]
    for widget in order:
        assert accessible_name(widget), f"{widget.objectName()} has no accessible name"
    dialog.reject()
