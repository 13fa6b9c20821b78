"""Local-first start-up: the table lists the local backups before the (slow) service answers.

The sandbox delays every response by ``SLOW`` seconds; an httpx response hook records when each answer
reaches the client, and for which path. The rows must be in the model while no answer has arrived yet.

Avatar downloads go on in the background all along (one slow answer each), so the refresh part counts the
account list's answers only, waits for the refresh task itself, and lets the avatars finish before the HTTP
client is closed. It used to wait for "any new answer", which an avatar could satisfy while the refresh's own
request was still in flight; closing the client under it then failed the test with "Cannot send a request, as
the client has been closed" (issue 16).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx
from PySide6.QtWidgets import QDialog

from tzbackup_gui.paths import personalities_dir

from .window_support import ResponseClock, back_up_everything, close_window, make_context, make_window

SLOW = 2.0
ACCOUNT_LIST = "/api/shapes"  # GET /api/shapes?category=self: the account's personalities


class PathClock(ResponseClock):
    """A ResponseClock that also keeps the path of each answer (avatars and the account list apart)."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    async def __call__(self, response: httpx.Response) -> None:
        await super().__call__(response)
        self.paths.append(response.request.url.path)

    def count(self, path: str = ACCOUNT_LIST) -> int:
        return self.paths.count(path)


def _slugs(window: Any) -> set[str]:
    return {r.slug for r in window.model.rows()}


def test_signed_in_start_shows_local_rows_before_the_first_response(
    qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any
) -> None:
    data_dir = tmp_path / "data"
    backed_up = back_up_everything(qloop, qtbot, sandbox, data_dir)
    owned = {s for s, p in sandbox.state.personalities.items() if p.owned}
    sandbox.state.set_fault("slow", count=None, seconds=SLOW)
    responses = PathClock()
    window = make_window(qtbot, make_context(sandbox, data_dir, responses=responses), qsettings)
    try:
        start = asyncio.ensure_future(window.start(), loop=qloop)
        qtbot.waitUntil(lambda: window.model.rowCount() == len(backed_up), timeout=int(SLOW * 1000) - 500)
        assert responses.first is None, "the rows waited for the network"
        assert _slugs(window) == owned  # every owned personality has a local backup here
        assert all(r.last_backup is not None and r.total_memories is not None for r in window.model.rows())
        assert "checking your account" in window.overall_label.text()
        assert not window.back_up_all_button.isEnabled()  # the real account list is not in yet
        qtbot.waitUntil(start.done, timeout=30_000)
        start.result()
        assert responses.first is not None
        assert all(r.on_account for r in window.model.rows())
        assert window.back_up_all_button.isEnabled()
        assert "on your account" in window.overall_label.text()

        # refresh: a backup folder removed on disk shows at once, before the account answers again
        gone = next(r for r in window.model.rows() if r.slug == "lilith")
        assert gone.folder is not None
        shutil.rmtree(gone.folder)
        answered = responses.count()
        refreshing = window.refresh()  # an @asyncSlot called directly returns its task
        qtbot.waitUntil(lambda: (r := window.model.row_for("lilith")) is not None and r.last_backup is None,
                        timeout=int(SLOW * 1000) - 500)
        assert responses.count() == answered  # the account list has not answered yet
        qtbot.waitUntil(refreshing.done, timeout=30_000)
        refreshing.result()  # the refresh itself ended cleanly
        assert responses.count() == answered + 1
        assert window.back_up_all_button.isEnabled()
        assert _slugs(window) == owned
    finally:
        sandbox.state.clear_faults()
        avatars = window._avatar_task  # background downloads: let them end before the client closes
        if avatars is not None:
            qtbot.waitUntil(avatars.done, timeout=15_000)
        close_window(qloop, qtbot, window)


def test_not_signed_in_start_lists_local_backups_without_any_request(
    qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any
) -> None:
    data_dir = tmp_path / "data"
    backed_up = back_up_everything(qloop, qtbot, sandbox, data_dir)
    sandbox.state.clear_log()
    window = make_window(qtbot, make_context(sandbox, data_dir, signed_in=False), qsettings)
    try:
        start = asyncio.ensure_future(window.start(), loop=qloop)
        qtbot.waitUntil(lambda: window.sign_in_dialog is not None, timeout=10_000)
        assert window.model.rowCount() == len(backed_up)
        assert all(r.local_only for r in window.model.rows())
        assert sandbox.state.request_log == []
        assert not window.back_up_all_button.isEnabled()
        assert {p.name for p in personalities_dir(data_dir).iterdir() if p.is_dir()} >= backed_up
        window.sign_in_dialog.done(QDialog.DialogCode.Rejected)
        qtbot.waitUntil(start.done, timeout=10_000)
    finally:
        close_window(qloop, qtbot, window)
