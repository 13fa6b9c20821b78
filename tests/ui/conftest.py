"""UI test fixtures: offscreen Qt, a qasync loop that pytest-qt's waitUntil drives, a real window.

The loop is created with ``already_running=True`` so coroutines (``@asyncSlot`` handlers, the backup task)
run while ``qtbot.waitUntil`` processes Qt events. It is torn down fully after each test (tasks cancelled,
stop, close, ``set_event_loop(None)``) so no running loop leaks into later tests.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication


class FakeNotifier:
    """Records notifications instead of showing them (Xvfb/offscreen have no tray)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, bool]] = []

    def notify(self, title: str, message: str, *, error: bool = False) -> None:
        self.messages.append((title, message, error))


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_gui_thread() -> Iterator[None]:
    """No automatic garbage collection during a UI test; one full collection after it, on the GUI thread.

    An automatic collection runs in whichever thread allocates; inside a worker (``asyncio.to_thread``)
    it would free the Qt objects of an earlier test's windows there, with their timers still registered
    on the GUI thread, and the next timer event crashes the interpreter."""
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.enable()


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            for _ in range(200):
                qapp.processEvents()
                if all(t.done() for t in pending):
                    break
        # loop.stop() would call QApplication.exit(), which makes every later nested Qt event loop
        # (qtbot.wait / waitUntil) return at once; mark the loop stopped without quitting the app.
        loop._QEventLoop__is_running = False  # type: ignore[attr-defined]
        loop._after_run_forever()
        asyncio.events._set_running_loop(None)
        loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def sandbox() -> Iterator[Any]:
    """A fresh sandbox per test (seeded demo data), on an ephemeral loopback port."""
    from tzbackup_gui.sandbox import SandboxServer

    with SandboxServer(port=0, seed=1) as sb:
        yield sb


@pytest.fixture
def qsettings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def fake_notifier() -> FakeNotifier:
    return FakeNotifier()


def run(loop: asyncio.AbstractEventLoop, qtbot: Any, coro: Any, timeout: int = 20_000) -> Any:
    """Run a coroutine to completion on the already-running qasync loop, pumping Qt events."""
    task = asyncio.ensure_future(coro, loop=loop)
    qtbot.waitUntil(task.done, timeout=timeout)
    return task.result()
