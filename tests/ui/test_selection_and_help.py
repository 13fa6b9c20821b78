"""One selection story (the ticks; a row menu that says what it acts on), Help (cookie, documentation,
diagnostics without secrets), and Count Memories before a first backup."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from tzbackup_gui.ui.help_viewer import HEADLESS_HELP, HelpViewer, anchor_of
from tzbackup_gui.ui.main_window import MainWindow
from tzbackup_gui.ui.personalities_model import COL_MEMORIES, COL_NAME, SlugRole

from .test_main_window import RUN_TIMEOUT, check, folders, wait_run_done, windows  # noqa: F401


def _smallest(window: MainWindow, sandbox: Any, n: int) -> list[str]:
    rows = sorted(window.model.rows(), key=lambda r: len(sandbox.state.personalities[r.slug].memories))
    return [r.slug for r in rows[:n]]


def _index(window: MainWindow, slug: str, column: int = COL_NAME) -> Any:
    for r in range(window.proxy.rowCount()):
        index = window.proxy.index(r, column)
        if index.data(SlugRole) == slug:
            return index
    raise AssertionError(slug)


def _texts(menu: Any) -> dict[str, str]:
    return {a.objectName(): a.text().replace("&", "") for a in menu.actions() if a.objectName()}


def test_row_menu_acts_on_its_row_or_on_all_the_ticked_ones(
    windows: Any, sandbox: Any, qtbot: Any, tmp_path: Path  # noqa: F811
) -> None:
    window: MainWindow = windows()
    first, second, third = _smallest(window, sandbox, 3)
    name = window.model.row_for(third).display_name  # type: ignore[union-attr]

    # a row that is not ticked: the menu is about that row alone
    menu = window.row_menu(_index(window, third))
    texts = _texts(menu)
    assert texts["rowBackUpAction"] == f"Back Up “{name}”"
    assert texts["rowTickAction"] == "Tick for Back Up Selected"
    assert not menu.findChild(type(menu), "rowExportMenu").isEnabled()  # no backup yet: nothing to export
    menu.close()

    # one of several ticked rows: the menu acts on all the ticked ones, and says so
    check(window, {first, second})
    menu = window.row_menu(_index(window, first))
    assert _texts(menu)["rowBackUpAction"] == "Back Up 2 Selected"
    menu.close()

    # the unticked row's Back Up backs up that row only (files on disk say so)
    menu = window.row_menu(_index(window, third))
    next(a for a in menu.actions() if a.objectName() == "rowBackUpAction").trigger()
    wait_run_done(qtbot, window)
    assert folders(window.ctx.config.data_dir) == {window.model.row_for(third).folder.name}  # type: ignore[union-attr]


def test_export_selected_exports_the_ticked_rows_into_one_folder(
    windows: Any, sandbox: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    window: MainWindow = windows()
    slugs = _smallest(window, sandbox, 2)
    check(window, set(slugs))
    qtbot.mouseClick(window.back_up_selected_button, Qt.MouseButton.LeftButton)
    wait_run_done(qtbot, window)
    window._update_row_actions()
    assert window.export_menu.title().replace("&", "") == "Export Selected (2 Selected)"
    check(window, {slugs[0]})
    window._update_row_actions()
    name = window.model.row_for(slugs[0]).display_name  # type: ignore[union-attr]
    assert window.export_menu.title().replace("&", "") == f"Export Selected (“{name}”)"
    check(window, set())
    window._update_row_actions()
    assert not window.export_menu.isEnabled()

    out = tmp_path / "out"
    out.mkdir()
    asked: list[str] = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        lambda parent, caption, start: asked.append(caption) or str(out))
    check(window, set(slugs))
    window.table.setCurrentIndex(_index(window, slugs[0]))  # the highlighted row does not narrow it down
    with qtbot.waitSignal(window.files.job_done, timeout=RUN_TIMEOUT):
        window.export_actions["zip"].trigger()
    assert asked and "2 personalities" in asked[0]
    made = sorted(p.name for p in out.iterdir())
    assert len(made) == 2 and all(p.endswith(".tzbackup.zip") for p in made)
    box = window.files.message_box
    assert box is not None and "Exported 2 personalities" in box.text()
    box.close()


def test_help_opens_the_documentation_at_the_cookie_steps(windows: Any, qtbot: Any) -> None:  # noqa: F811
    window: MainWindow = windows()
    next(a for a in window.actions() if a.objectName() == "cookieHelpAction").trigger()
    viewer = window.findChild(HelpViewer, "helpViewer")
    assert viewer is not None and viewer.isVisible() and viewer.found  # the README, read in the app
    qtbot.wait(20)
    cursor = viewer.browser.cursorForPosition(viewer.browser.viewport().rect().topLeft())
    assert anchor_of(cursor.block().text()) == "getting-your-session-cookie"
    assert viewer.show_section(anchor_of("Scheduled backups (headless)"))
    next(a for a in window.actions() if a.objectName() == "docsAction").trigger()
    assert window.findChildren(HelpViewer) == [viewer]  # one help window, raised again


def test_settings_link_to_the_readme_section_not_a_source_folder(windows: Any, qtbot: Any) -> None:  # noqa: F811
    window: MainWindow = windows()
    window.open_settings()
    dialog = window.settings_dialog
    note = dialog.schedule_note.text()
    assert "packaging/" not in note and HEADLESS_HELP in note
    dialog.schedule_note.linkActivated.emit(HEADLESS_HELP)
    viewer = window.findChild(HelpViewer, "helpViewer")
    assert viewer is not None and viewer.isVisible()
    assert "scheduled-backups-headless" in viewer.headings()
    dialog.reject()


def test_copy_diagnostics_never_contains_the_cookie(windows: Any, sandbox: Any, qtbot: Any) -> None:  # noqa: F811
    window: MainWindow = windows()
    cookie = sandbox.cookie.split("=", 1)[-1]
    logging.getLogger("tzbackup.ui").warning("A made-up failure that quotes the cookie %s by mistake", cookie)
    window.last_error = "NetworkError"
    text = window.copy_diagnostics()
    assert QApplication.clipboard().text() == text
    assert cookie not in text and cookie[:16] not in text and sandbox.cookie not in text
    for secret in window.ctx.secrets():
        assert secret not in text
    for part in ("Versions: tzbackup", "PySide6", "Data folder:", "Settings file:", "Signed in: yes",
                 "Last error shown: NetworkError", "A made-up failure that quotes the cookie <redacted>"):
        assert part in text, part
    assert "copied" in window.statusBar().currentMessage()


@pytest.mark.parametrize(
    ("variant", "told"),
    [({"pagination": "has_next", "include_total": True}, True),  # pagination.total
     ({"pagination": "total_pages", "include_total": False}, True),  # one memory a page: pages = memories
     ({"pagination": "has_next", "include_total": False}, False)],  # only "there is more": not told
)
def test_count_memories_before_a_first_backup(
    windows: Any, sandbox: Any, qtbot: Any, variant: dict[str, Any], told: bool  # noqa: F811
) -> None:
    """The account list has no counts: "—" until the user asks; then one request per personality, and the
    total the service tells (else still "—", and the window says the service did not say)."""
    window: MainWindow = windows()
    sandbox.state.set_variant(**variant)
    slug = next(s for s in _smallest(window, sandbox, 5) if sandbox.state.personalities[s].memories)
    assert _index(window, slug, COL_MEMORIES).data() == "—"
    assert "does not report a total" in _index(window, slug, COL_MEMORIES).data(Qt.ItemDataRole.ToolTipRole)
    check(window, {slug})
    window._update_row_actions()
    assert window.count_action.isEnabled()
    before = sandbox.state.count()
    window.count_action.trigger()
    qtbot.waitUntil(lambda: window._count_task is not None and window._count_task.done(), timeout=RUN_TIMEOUT)
    assert sandbox.state.count() - before == 1  # one small request (memory pages; avatars load meanwhile)
    expected = len(sandbox.state.personalities[slug].memories)
    if not told:
        assert _index(window, slug, COL_MEMORIES).data() == "—"
        assert "shapes.inc did not say for 1" in window.overall_label.text()
        return
    assert _index(window, slug, COL_MEMORIES).data() == f"— / {expected:,}"
    assert window.overall_label.text().startswith("Counted the memories of 1 personality")
    window.refresh()  # a reload keeps what the service said
    qtbot.waitUntil(lambda: window.overall_label.text().endswith("on your account."), timeout=RUN_TIMEOUT)
    assert _index(window, slug, COL_MEMORIES).data() == f"— / {expected:,}"
