"""Export and Import in the GUI: real backups from the sandbox, real files, the real windows' actions.

The file dialogs are the only thing replaced (``QFileDialog.getSaveFileName`` / ``getOpenFileName`` return a
path); the export and import run on their worker thread and the outcome is checked on disk and on screen.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from tzbackup_gui.archive import list_backups
from tzbackup_gui.archive.export import validate_card
from tzbackup_gui.archive.importer import verify_export
from tzbackup_gui.archive.png_card import read_card
from tzbackup_gui.ui.browser_window import BrowserWindow
from tzbackup_gui.ui.main_window import MainWindow
from tzbackup_gui.ui.personalities_model import SlugRole

from .conftest import run
from .window_support import make_context, make_window

RUN_TIMEOUT = 60_000
SLUG = "dr.ada.lovelace"


class Dialogs:
    """Stands in for the file dialogs: hands out the next path, records what the window offered."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.save_to: Path | None = None
        self.open_path: Path | None = None
        self.offered: list[tuple[str, str, str]] = []  # (caption, default path, filter)
        monkeypatch.setattr(QFileDialog, "getSaveFileName", self._save)
        monkeypatch.setattr(QFileDialog, "getOpenFileName", self._open)

    def _save(self, parent: Any, caption: str, start: str, filters: str) -> tuple[str, str]:
        self.offered.append((caption, start, filters))
        return (str(self.save_to) if self.save_to else "", filters)

    def _open(self, parent: Any, caption: str, start: str, filters: str) -> tuple[str, str]:
        self.offered.append((caption, start, filters))
        return (str(self.open_path) if self.open_path else "", filters)


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> Dialogs:
    return Dialogs(monkeypatch)


@pytest.fixture
def window_on(qtbot: Any, qloop: Any, sandbox: Any, qsettings: Any) -> Any:
    """Builds a started main window on a data dir (signed in, or not); closes them afterwards."""
    made: list[MainWindow] = []

    def build(data_dir: Path, *, signed_in: bool = True) -> MainWindow:
        ctx = make_context(sandbox, data_dir, signed_in=signed_in)
        window = make_window(qtbot, ctx, qsettings, tray=False)
        made.append(window)
        if signed_in:
            run(qloop, qtbot, window.start())
            return window
        task = asyncio.ensure_future(window.start(), loop=qloop)  # it asks for a sign-in: decline
        qtbot.waitUntil(lambda: window.sign_in_dialog is not None, timeout=10_000)
        window.sign_in_dialog.reject()  # type: ignore[union-attr]
        qtbot.waitUntil(task.done, timeout=10_000)
        return window

    yield build
    # pytest-qt has already closed the windows and queued their deletion: stop every timer and log handler
    # before the first event is pumped (closing one window pumps the other's deletion too)
    for window in made:
        window.scheduler.stop()
        window.remove_log_handler()
    for window in made:
        window.ctx.cancel_backup()
        if window.runs.task is not None:
            qtbot.waitUntil(window.runs.task.done, timeout=10_000)
        run(qloop, qtbot, window.ctx.aclose())


def back_up(qtbot: Any, window: MainWindow, slug: str) -> None:
    window.model.set_checked({slug})
    qtbot.mouseClick(window.back_up_selected_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.running and not window.settling, timeout=RUN_TIMEOUT)
    assert window.model.row_for(slug).last_backup is not None  # type: ignore[union-attr]


def select_row(window: MainWindow, slug: str) -> None:
    """Tick exactly this row: File → Export Selected acts on the ticked rows, like Back Up Selected (the
    highlighted row is only the keyboard cursor)."""
    proxy = window.proxy
    for r in range(proxy.rowCount()):
        index = proxy.index(r, 0)
        if index.data(SlugRole) == slug:
            window.model.set_checked({slug})
            return
    raise AssertionError(f"{slug} not in the table")


def trigger_and_wait(qtbot: Any, files: Any, action: Any) -> Any:
    with qtbot.waitSignal(files.job_done, timeout=RUN_TIMEOUT) as blocker:
        action.trigger()
    return blocker.args[1]


def shown_box(files: Any, name: str) -> QMessageBox:
    box = files.message_box
    assert box is not None and box.objectName() == name, box.objectName() if box else None
    assert box.isVisible()
    return box


def snapshot(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(Path(d, n).relative_to(root)) for d, ds, fs in os.walk(root) for n in ds + fs)


def test_export_zip_from_the_main_window_then_import_into_an_empty_data_dir(
    window_on: Any, dialogs: Dialogs, qtbot: Any, tmp_path: Path, sandbox: Any
) -> None:
    source = window_on(tmp_path / "data")
    back_up(qtbot, source, SLUG)
    stored = source.model.row_for(SLUG).total_memories  # type: ignore[union-attr]
    assert stored == len(sandbox.state.personalities[SLUG].memories)

    select_row(source, SLUG)
    out = tmp_path / "exports" / "ada.zip"
    out.parent.mkdir()
    dialogs.save_to = out
    result = trigger_and_wait(qtbot, source.files, source.export_actions["zip"])
    caption, default, _filters = dialogs.offered[-1]
    assert Path(default).name == f"{SLUG}.tzbackup.zip" and "ZIP" in caption
    assert out.is_file() and result.paths == [out]
    box = shown_box(source.files, "exportDoneBox")
    assert out.name in box.text() and ("KB)" in box.text() or "MB)" in box.text())
    report = verify_export(out)
    assert report.ok and report.memories == stored

    target_dir = tmp_path / "empty"
    target = window_on(target_dir, signed_in=False)
    assert target.model.rows() == []
    dialogs.open_path = out
    imported = trigger_and_wait(qtbot, target.files, target.import_action)
    assert imported.memories == stored
    box = shown_box(target.files, "importDoneBox")
    assert f"{stored:,} memories" in box.text() and "new in this data folder" in box.informativeText()
    qtbot.waitUntil(lambda: target.model.row_for(SLUG) is not None, timeout=10_000)
    row = target.model.row_for(SLUG)
    assert row is not None and row.total_memories == stored and row.folder is not None
    assert [b.total_memories for b in list_backups(target_dir)] == [stored]

    # the same archive again: the local copy is as new, so it is skipped (and said so), not overwritten
    before = snapshot(target_dir / "personalities")
    trigger_and_wait(qtbot, target.files, target.import_action)
    box = shown_box(target.files, "importSkippedBox")
    assert "skipped" in box.text()
    assert snapshot(target_dir / "personalities") == before


def test_markdown_and_card_exports_write_real_files(
    window_on: Any, dialogs: Dialogs, qtbot: Any, tmp_path: Path
) -> None:
    window = window_on(tmp_path / "data")
    back_up(qtbot, window, SLUG)
    select_row(window, SLUG)
    dialogs.save_to = tmp_path / "ada.md"
    trigger_and_wait(qtbot, window.files, window.export_actions["markdown"])
    text = (tmp_path / "ada.md").read_text("utf-8")
    assert text.startswith("# ") and "Memories" in text
    shown_box(window.files, "exportDoneBox")

    dialogs.save_to = tmp_path / "ada.card.json"
    result = trigger_and_wait(qtbot, window.files, window.export_actions["card"])
    assert Path(dialogs.offered[-1][1]).name == f"{SLUG}.card.json"
    png = tmp_path / "ada.card.png"
    assert result.paths == [tmp_path / "ada.card.json", png]
    card = json.loads((tmp_path / "ada.card.json").read_text("utf-8"))
    assert card["spec"] == "chara_card_v2" and validate_card(card) == []
    assert read_card(png.read_bytes()) == card
    box = shown_box(window.files, "exportDoneBox")
    assert "ada.card.json" in box.text() and "ada.card.png" in box.text()


def test_export_without_a_selection_or_a_backup_says_so(
    window_on: Any, dialogs: Dialogs, qtbot: Any, tmp_path: Path
) -> None:
    window = window_on(tmp_path / "data")
    window.model.set_checked(set())
    window.table.setCurrentIndex(window.proxy.index(0, 0))  # a highlighted row is not a selection
    assert not window.export_selected("zip")
    assert "Select" in window.statusBar().currentMessage()
    select_row(window, "echo-new")  # on the account, never backed up
    assert not window.export_selected("zip")
    assert "no local backup" in window.statusBar().currentMessage()
    assert dialogs.offered == []


def hostile_copy(good: Path, dst: Path) -> Path:
    """``good`` plus a zip-slip entry ``../escaped.txt``, listed in the manifest with its true hash."""
    payload = b"outside the data dir"
    with zipfile.ZipFile(good) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        entries = [(i, zf.read(i)) for i in zf.infolist() if i.filename != "manifest.json"]
    manifest["files"].append(
        {"path": "../escaped.txt", "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    )
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)
        zf.writestr("../escaped.txt", payload)
        zf.writestr("manifest.json", json.dumps(manifest))
    return dst


def test_hostile_zip_is_refused_with_a_message_and_nothing_written(
    window_on: Any, dialogs: Dialogs, qtbot: Any, tmp_path: Path
) -> None:
    source = window_on(tmp_path / "data")
    back_up(qtbot, source, SLUG)
    select_row(source, SLUG)
    dialogs.save_to = tmp_path / "good.zip"
    trigger_and_wait(qtbot, source.files, source.export_actions["zip"])
    bad = hostile_copy(tmp_path / "good.zip", tmp_path / "bad.zip")

    target_dir = tmp_path / "empty"
    target = window_on(target_dir, signed_in=False)
    before = snapshot(target_dir)
    dialogs.open_path = bad
    outcome = trigger_and_wait(qtbot, target.files, target.import_action)
    assert isinstance(outcome, Exception)
    box = shown_box(target.files, "importErrorBox")
    assert box.icon() == QMessageBox.Icon.Warning
    assert ".." in box.text() and "Nothing was imported" in box.text()
    assert "Traceback" not in box.text() + box.informativeText()
    assert snapshot(target_dir) == before
    assert not (tmp_path / "escaped.txt").exists()
    assert target.model.rows() == []


def test_browser_exports_the_selected_personality_and_imports_into_its_data_dir(
    window_on: Any, dialogs: Dialogs, qtbot: Any, tmp_path: Path
) -> None:
    window = window_on(tmp_path / "data")
    back_up(qtbot, window, SLUG)
    browser = BrowserWindow(tmp_path / "data")
    qtbot.addWidget(browser)
    try:
        assert browser.select_personality(SLUG)
        dialogs.save_to = tmp_path / "from-browser.zip"
        trigger_and_wait(qtbot, browser.files, browser.export_actions["zip"])
        assert verify_export(tmp_path / "from-browser.zip").ok
        shown_box(browser.files, "exportDoneBox")
    finally:
        browser.close()

    empty = tmp_path / "other"
    empty.mkdir()
    other = BrowserWindow(empty)
    qtbot.addWidget(other)
    try:
        assert other.list.count() == 0
        dialogs.open_path = tmp_path / "from-browser.zip"
        trigger_and_wait(qtbot, other.files, other.import_action)
        shown_box(other.files, "importDoneBox")
        assert other.list.count() == 1 and other.selected is not None
        assert other.selected.folder.name == SLUG
    finally:
        other.close()


def test_exporting_a_damaged_backup_says_so_in_the_finished_message(
    window_on: Any, dialogs: Dialogs, qtbot: Any, tmp_path: Path
) -> None:
    """The zip is still written (it is the user's data), but the message warns that import will refuse it."""
    window = window_on(tmp_path / "data")
    back_up(qtbot, window, SLUG)
    knowledge = tmp_path / "data" / "personalities" / SLUG / "knowledge.json"
    knowledge.write_text('{"items": []}', "utf-8")  # an entry lost behind the tool's back
    browser = BrowserWindow(tmp_path / "data")
    qtbot.addWidget(browser)
    try:
        assert browser.select_personality(SLUG)
        dialogs.save_to = tmp_path / "damaged.zip"
        trigger_and_wait(qtbot, browser.files, browser.export_actions["zip"])
        assert (tmp_path / "damaged.zip").is_file()
        box = shown_box(browser.files, "exportDoneBox")
        assert "Warning: the backup has problems" in box.informativeText() + box.detailedText(), box.text()
        assert "knowledge" in box.informativeText() + box.detailedText()
    finally:
        browser.close()
