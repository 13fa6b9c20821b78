"""The real window over the real sandbox (loopback HTTP), real engine, real files in tmp_path.

Every test clicks the real buttons and waits on OUTCOMES: folders on disk, rows in the model, dialogs shown.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox

from tzbackup_gui.app import AppConfig, AppContext
from tzbackup_gui.credentials import CredentialStore
from tzbackup_gui.paths import personalities_dir
from tzbackup_gui.service import Pacer
from tzbackup_gui.service.auth import parse_cookie_input
from tzbackup_gui.ui.main_window import MainWindow
from tzbackup_gui.ui.personalities_model import COL_MEMORIES, COL_NAME

from .conftest import FakeNotifier, run

RUN_TIMEOUT = 60_000


class Windows:
    """Builds windows on one tmp data dir and tears them down (run cancelled, HTTP client closed)."""

    def __init__(self, qtbot: Any, loop: Any, sandbox: Any, data_dir: Path, settings: Any) -> None:
        self.qtbot, self.loop, self.sandbox, self.data_dir, self.settings = (
            qtbot,
            loop,
            sandbox,
            data_dir,
            settings,
        )
        self.made: list[MainWindow] = []
        self.opened: list[Path] = []
        self.notifier = FakeNotifier()

    def __call__(self, *, delay: float = 0.0) -> MainWindow:
        http = httpx.AsyncClient(timeout=10.0)
        config = AppConfig(
            data_dir=self.data_dir,
            base_url=self.sandbox.base_url,
            files_base_url=self.sandbox.files_base_url,
            delay=delay,
        )
        ctx = AppContext(
            config,
            http,
            CredentialStore(memory_only=True),
            credential=parse_cookie_input(self.sandbox.cookie),
            pacer=Pacer(delay=delay),
        )
        ctx.location = "memory (tests)"
        window = MainWindow(
            ctx, settings=self.settings, notifier=self.notifier, open_folder=self.opened.append
        )
        self.qtbot.addWidget(window)
        window.show()
        run(self.loop, self.qtbot, window.start())
        self.made.append(window)
        return window

    def close(self) -> None:
        for window in self.made:
            window.ctx.cancel_backup()
            if window.runs.task is not None:
                self.qtbot.waitUntil(window.runs.task.done, timeout=10_000)
            run(self.loop, self.qtbot, window.ctx.aclose())
            window.remove_log_handler()


@pytest.fixture
def windows(qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any) -> Any:
    made = Windows(qtbot, qloop, sandbox, tmp_path / "data", qsettings)
    yield made
    made.close()


def owned_slugs(sandbox: Any) -> set[str]:
    return {slug for slug, p in sandbox.state.personalities.items() if p.owned}


def folders(data_dir: Path) -> set[str]:
    root = personalities_dir(data_dir)
    if not root.is_dir():
        return set()
    return {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}


def click(qtbot: Any, button: Any) -> None:
    assert button.isEnabled(), f"{button.objectName()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def check(window: MainWindow, slugs: set[str]) -> None:
    """Tick rows the way a user does: through the view's model (the proxy), column 0."""
    proxy = window.proxy
    for r in range(proxy.rowCount()):
        index = proxy.index(r, COL_NAME)
        row = window.model.row_for(str(index.data(Qt.ItemDataRole.UserRole + 3)))
        assert row is not None
        state = Qt.CheckState.Checked if row.slug in slugs else Qt.CheckState.Unchecked
        proxy.setData(index, state.value, Qt.ItemDataRole.CheckStateRole)


def wait_run_done(qtbot: Any, window: MainWindow, timeout: int = RUN_TIMEOUT) -> None:
    qtbot.waitUntil(lambda: window.runs.task is not None and window.runs.task.done(), timeout=timeout)


def test_table_lists_the_account_personalities(windows: Any, sandbox: Any) -> None:
    window = windows()
    slugs = {r.slug for r in window.model.rows()}
    assert slugs == owned_slugs(sandbox)
    assert all(r.last_backup is None for r in window.model.rows())
    assert window.back_up_all_button.isEnabled()
    assert not window.back_up_selected_button.isEnabled()  # nothing checked yet
    assert not window.cancel_button.isEnabled()
    assert window.back_up_selected_button.text().replace("&", "") == "Back Up Selected"
    assert window.back_up_all_button.text().replace("&", "") == "Back Up All"
    assert window.cancel_button.text().replace("&", "") == "Cancel"
    assert "Signed in as" in window.account_label.text()


def test_back_up_selected_backs_up_exactly_the_two_checked(windows: Any, sandbox: Any, qtbot: Any) -> None:
    window = windows()
    by_size = sorted(window.model.rows(), key=lambda r: len(sandbox.state.personalities[r.slug].memories))
    chosen = {by_size[0].slug, by_size[1].slug}
    check(window, chosen)
    assert set(window.model.checked_slugs()) == chosen
    click(qtbot, window.back_up_selected_button)
    qtbot.waitUntil(lambda: len(folders(windows.data_dir)) == 2, timeout=RUN_TIMEOUT)
    wait_run_done(qtbot, window)
    rows = {r.slug: r for r in window.model.rows()}
    for slug in chosen:
        row = rows[slug]
        assert row.folder is not None and row.folder.is_dir()
        assert row.last_backup is not None
        assert row.total_memories == len(sandbox.state.personalities[slug].memories)
        assert window.model.index(window.model._index[slug], 2).data() == "just now"
        n = len(sandbox.state.personalities[slug].memories)
        assert window.model.index(window.model._index[slug], COL_MEMORIES).data() == f"{n:,} / {n:,}"
        assert window.tracker.rows[slug].state == "done"
    others = set(rows) - chosen
    assert all(rows[s].last_backup is None for s in others)
    assert window.overall_bar.value() == window.overall_bar.maximum()


def test_back_up_all_backs_up_every_owned_one(windows: Any, sandbox: Any, qtbot: Any) -> None:
    window = windows()
    click(qtbot, window.back_up_all_button)
    assert not window.back_up_all_button.isEnabled()  # one run at a time
    assert window.runs.start(None) is False
    wait_run_done(qtbot, window)
    rows = window.model.rows()
    assert len(folders(windows.data_dir)) == len(owned_slugs(sandbox))
    for row in rows:
        assert row.last_backup is not None, row.slug
        assert row.total_memories == len(sandbox.state.personalities[row.slug].memories)
        assert window.tracker.rows[row.slug].text.startswith("backed up: ")
    assert window.message_box is None  # nothing went wrong, nothing to say


def test_cancel_mid_run_then_resume(windows: Any, sandbox: Any, qtbot: Any) -> None:
    window = windows(delay=0.02)
    big = max(window.model.rows(), key=lambda r: len(sandbox.state.personalities[r.slug].memories))
    check(window, {big.slug})
    click(qtbot, window.back_up_selected_button)
    qtbot.waitUntil(lambda: window.tracker.rows[big.slug].done >= 100, timeout=RUN_TIMEOUT)
    total = len(sandbox.state.personalities[big.slug].memories)
    live = window.model.index(window.model._index[big.slug], COL_MEMORIES).data()
    stored, server = (int(part.replace(",", "")) for part in live.split(" / "))
    assert 20 <= stored < total and server == total  # live counts while syncing, not "—"
    click(qtbot, window.cancel_button)
    qtbot.waitUntil(lambda: not window.running, timeout=5000)  # the issue asks within a second; 5 s here
    assert window.tracker.rows[big.slug].state == "cancelled"
    assert "resumes" in window.overall_label.text()
    assert window.back_up_selected_button.isEnabled() and not window.cancel_button.isEnabled()
    served = sandbox.state.count("/api/memory/")
    window.ctx.pacer.delay = 0.0
    click(qtbot, window.back_up_selected_button)
    wait_run_done(qtbot, window)
    row = window.model.row_for(big.slug)
    assert row is not None and row.total_memories == len(sandbox.state.personalities[big.slug].memories)
    total_pages = -(-len(sandbox.state.personalities[big.slug].memories) // 20)
    # resumed from the journal: the second run did not fetch every page again
    assert sandbox.state.count("/api/memory/") - served < total_pages


def test_expired_session_opens_sign_in_and_resumes(windows: Any, sandbox: Any, qtbot: Any) -> None:
    window = windows()
    sandbox.state.set_fault("expire_after", requests=12)
    click(qtbot, window.back_up_all_button)
    qtbot.waitUntil(lambda: window.sign_in_dialog is not None, timeout=RUN_TIMEOUT)
    dialog = window.sign_in_dialog
    assert dialog is not None
    assert dialog.findChild(object, "resumePrompt") is not None
    new_cookie = sandbox.state.new_session()
    dialog.cookie_edit.setText(new_cookie)
    click(qtbot, dialog.check_button)
    qtbot.waitUntil(dialog.done_button.isEnabled, timeout=15_000)
    assert "Signed in as" in dialog.result_label.text()
    click(qtbot, dialog.done_button)
    qtbot.waitUntil(
        lambda: (
            len(folders(windows.data_dir)) == len(owned_slugs(sandbox))
            and not window.running
            and all(r.last_backup is not None for r in window.model.rows())
        ),
        timeout=RUN_TIMEOUT,
    )
    assert window.ctx.credential is not None and new_cookie in window.ctx.credential.secrets()
    log_text = window.log_pane.toPlainText()
    assert new_cookie not in log_text and sandbox.cookie not in log_text


def test_sign_in_rejects_malformed_and_refused_cookies(windows: Any, sandbox: Any, qtbot: Any) -> None:
    window = windows()
    before = window.ctx.credential
    click(qtbot, window.sign_in_button)
    qtbot.waitUntil(lambda: window.sign_in_dialog is not None, timeout=15_000)
    dialog = window.sign_in_dialog
    assert dialog is not None
    dialog.cookie_edit.setText("sessionid=abc; other=1")
    assert not dialog.check_button.isEnabled()
    assert "__Secure-better-auth.session_token" in dialog.validation_label.text()
    wrong = "Z" * 48
    dialog.cookie_edit.setText(wrong)
    click(qtbot, dialog.check_button)
    qtbot.waitUntil(lambda: "✗" in dialog.result_label.text(), timeout=15_000)
    assert not dialog.done_button.isEnabled()
    assert window.ctx.credential is before
    click(qtbot, dialog.cancel_button)
    qtbot.waitUntil(lambda: window.sign_in_dialog is None, timeout=15_000)
    assert wrong not in window.log_pane.toPlainText()


def test_secret_never_in_log_pane_even_with_rotation(windows: Any, sandbox: Any, qtbot: Any) -> None:
    sandbox.state.rotate_every = 3
    window = windows()
    first = sandbox.cookie
    window.set_log_visible(True)
    click(qtbot, window.back_up_all_button)
    wait_run_done(qtbot, window)
    assert window.ctx.credential is not None
    rotated = window.ctx.credential.secrets()[0]
    assert rotated != first  # the rotated cookie is in use
    text = window.log_pane.toPlainText()
    assert "Backup started" in text and "done" in text
    assert first not in text and rotated not in text and first[:16] not in text


def test_bot_wall_is_a_plain_message_with_hint(windows: Any, sandbox: Any, qtbot: Any) -> None:
    window = windows()
    sandbox.state.set_fault("bot_wall", vendor="cloudflare", path_contains="/api/memory/")
    click(qtbot, window.back_up_all_button)
    qtbot.waitUntil(
        lambda: window.message_box is not None and window.message_box.isVisible(), timeout=RUN_TIMEOUT
    )
    box = window.message_box
    assert isinstance(box, QMessageBox)
    assert box.windowTitle() == "Blocked by bot protection"
    assert "Traceback" not in box.text() and "bot" in box.informativeText().lower()
    box.accept()


def test_settings_remember_checks_and_sort_order(windows: Any, sandbox: Any, qtbot: Any) -> None:
    """The ticks and the sort order are kept; the column widths follow the window (never a saved width that
    no longer fits)."""
    window = windows()
    slug = window.model.rows()[0].slug
    check(window, {slug})
    window.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    window.close()
    again = windows()
    assert again.model.checked_slugs() == [slug]
    header = again.table.horizontalHeader()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (2, Qt.SortOrder.DescendingOrder)


def test_double_click_opens_the_offline_browser_on_that_personality(
    windows: Any, sandbox: Any, qtbot: Any
) -> None:
    window = windows()
    row = min(window.model.rows(), key=lambda r: len(sandbox.state.personalities[r.slug].memories) or 10**9)
    check(window, {row.slug})
    click(qtbot, window.back_up_selected_button)
    wait_run_done(qtbot, window)
    proxy_row = next(
        r
        for r in range(window.proxy.rowCount())
        if window.proxy.index(r, COL_NAME).data(Qt.ItemDataRole.UserRole + 3) == row.slug
    )
    rect = window.table.visualRect(window.proxy.index(proxy_row, 2))
    viewport, where = window.table.viewport(), QPoint(rect.center())
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=where)  # QTest needs a press first
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=where)
    qtbot.waitUntil(lambda: getattr(window, "browser", None) is not None, timeout=15_000)
    browser = window.browser
    qtbot.waitUntil(lambda: browser.current is not None, timeout=15_000)
    folder = window.model.row_for(row.slug).folder
    assert browser.current.folder.name == folder.name
    expected = len(sandbox.state.personalities[row.slug].memories)
    assert browser.count_label.text().endswith(f"{expected} memories")
    assert windows.opened == []  # no file manager was started
    browser.close()


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def test_quit_during_a_run_asks_then_cancels_cleanly(windows: Any, sandbox: Any, qtbot: Any) -> None:
    window = windows(delay=0.05)
    click(qtbot, window.back_up_all_button)
    busy = lambda: any(r.state == "active" for r in window.tracker.rows.values())  # noqa: E731
    qtbot.waitUntil(busy, timeout=RUN_TIMEOUT)
    window.quit_action.trigger()
    qtbot.waitUntil(
        lambda: window.message_box is not None and window.message_box.isVisible(), timeout=15_000
    )
    box = window.message_box
    assert box is not None and box.objectName() == "confirmQuitBox"
    assert window.isVisible() and window.running  # nothing stopped before the answer
    click(qtbot, box.button(QMessageBox.StandardButton.Yes))
    qtbot.waitUntil(lambda: not window.running and not window.isVisible(), timeout=5000)
    assert all(r.state in {"done", "cancelled", "not_started"} for r in window.tracker.rows.values())


def test_long_run_notifies(windows: Any, sandbox: Any, qtbot: Any, monkeypatch: Any) -> None:
    import tzbackup_gui.ui.run_controller as mw

    monkeypatch.setattr(mw, "LONG_RUN_SECONDS", 0.0)
    window = windows()
    click(qtbot, window.back_up_all_button)
    wait_run_done(qtbot, window)
    assert len(windows.notifier.messages) == 1
    title, message, error = windows.notifier.messages[0]
    assert title == "tzbackup" and message.startswith("Finished") and not error
