"""Helpers for UI tests that build the real window on the real sandbox (loopback) and a tmp data dir."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from tzbackup_gui.app import AppConfig, AppContext
from tzbackup_gui.credentials import CredentialStore
from tzbackup_gui.events import ignore_events
from tzbackup_gui.paths import personalities_dir
from tzbackup_gui.service import Pacer
from tzbackup_gui.service.auth import parse_cookie_input
from tzbackup_gui.ui.main_window import MainWindow

from .conftest import FakeNotifier, run


class ResponseClock:
    """Records when the HTTP client receives each response (an httpx response event hook)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    async def __call__(self, response: httpx.Response) -> None:
        self.times.append(time.monotonic())

    @property
    def first(self) -> float | None:
        return self.times[0] if self.times else None


def make_context(sandbox: Any, data_dir: Path, *, signed_in: bool = True,
                 responses: ResponseClock | None = None) -> AppContext:
    hooks = {"response": [responses]} if responses is not None else {}
    http = httpx.AsyncClient(timeout=30.0, event_hooks=hooks)
    config = AppConfig(data_dir=data_dir, base_url=sandbox.base_url,
                       files_base_url=sandbox.files_base_url, delay=0.0)
    ctx = AppContext(config, http, CredentialStore(memory_only=True),
                     credential=parse_cookie_input(sandbox.cookie) if signed_in else None,
                     pacer=Pacer(delay=0.0))
    ctx.location = "memory (tests)" if signed_in else ""
    return ctx


def make_window(qtbot: Any, ctx: AppContext, settings: Any, **kwargs: Any) -> MainWindow:
    """A shown MainWindow (``start()`` not called: the test decides when)."""
    kwargs.setdefault("notifier", FakeNotifier())
    kwargs.setdefault("open_folder", lambda path: None)
    window = MainWindow(ctx, settings=settings, **kwargs)
    qtbot.addWidget(window)
    window.show()
    return window


def back_up_everything(loop: Any, qtbot: Any, sandbox: Any, data_dir: Path) -> set[str]:
    """A real backup of every owned personality into ``data_dir`` (no window); returns the folders."""
    ctx = make_context(sandbox, data_dir)
    try:
        report = run(loop, qtbot, ctx.run_backup(None, ignore_events), timeout=60_000)
        assert report.exit_code == 0
    finally:
        run(loop, qtbot, ctx.aclose())
    return folders(data_dir)


def folders(data_dir: Path) -> set[str]:
    root = personalities_dir(data_dir)
    if not root.is_dir():
        return set()
    return {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}


def _owned_by(task: asyncio.Task[Any], owners: tuple[object, ...]) -> bool:
    """Whether the task runs a method of one of ``owners`` (a refresh started by an @asyncSlot)."""
    frame = getattr(task.get_coro(), "cr_frame", None)
    return frame is not None and any(frame.f_locals.get("self") is owner for owner in owners)


async def _settle(owners: tuple[object, ...]) -> None:
    """Let this window's tasks in flight (a refresh, an avatar download) finish; cancel any still running."""
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done() and _owned_by(t, owners)]
    if not pending:
        return
    _, late = await asyncio.wait(pending, timeout=30)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late, timeout=5)


def close_window(loop: Any, qtbot: Any, window: MainWindow) -> None:
    """Stop the scheduler, cancel a run, close the HTTP client, detach the log handler."""
    window.scheduler.stop()
    window.ctx.cancel_backup()
    if window.runs.task is not None:
        qtbot.waitUntil(window.runs.task.done, timeout=10_000)
    # A refresh or avatar download the test did not wait for (a data-folder change starts one) must end
    # before the HTTP client closes, or it fails in the Qt loop with "the client has been closed" (seen
    # under load in CI).
    owners = (window, window.ctx)
    if any(not t.done() and _owned_by(t, owners) for t in asyncio.all_tasks(loop)):
        run(loop, qtbot, _settle(owners))  # only then: spinning the loop processes pending deletions
    run(loop, qtbot, window.ctx.aclose())
    window.remove_log_handler()
