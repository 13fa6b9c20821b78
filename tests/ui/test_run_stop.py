"""A run that stops because the service or the network did: one plain message in the window, and the rows
the run never reached say "not started", not "failed" (issue 13, item 5). Real window, loopback sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from tzbackup_gui.sandbox.state import RequestRecord
from tzbackup_gui.service import RetryPolicy
from tzbackup_gui.ui.personalities_model import COL_STATUS, SlugRole

from .conftest import run
from .window_support import close_window, make_context, make_window

RUN_TIMEOUT = 60_000
SLUGS = ["ui-stop-a", "ui-stop-b", "ui-stop-c"]


@pytest.fixture
def window(qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any) -> Any:
    for slug in list(sandbox.state.personalities):
        sandbox.state.remove_personality(slug)
    for slug in SLUGS:
        sandbox.state.add_personality(slug, memories=30)
    ctx = make_context(sandbox, tmp_path / "data")
    ctx.retry = RetryPolicy(base_delay=0.01, max_delay=0.05, jitter=0.0)  # the default 4 attempts, fast
    made = make_window(qtbot, ctx, qsettings, tray=False)
    run(qloop, qtbot, made.start())
    yield made
    close_window(qloop, qtbot, made)


def _status(window: Any, slug: str) -> str:
    for r in range(window.proxy.rowCount()):
        if window.proxy.index(r, 0).data(SlugRole) == slug:
            return str(window.proxy.index(r, COL_STATUS).data(Qt.ItemDataRole.DisplayRole))
    raise AssertionError(slug)


def _back_up_all_and_wait(qtbot: Any, window: Any) -> QMessageBox:
    qtbot.mouseClick(window.back_up_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.running and not window.settling, timeout=RUN_TIMEOUT)
    boxes = [box for box in window.findChildren(QMessageBox) if box.isVisible()]
    assert len(boxes) == 1  # one message for the run, not one per personality
    box = boxes[0]
    assert box is window.message_box and "Traceback" not in box.text()
    return box


def test_endless_rate_limit_is_one_message_and_the_rest_not_started(
    window: Any, sandbox: Any, qtbot: Any
) -> None:
    sandbox.state.set_fault("rate_limit", count=None, path_contains="/api/memory/", retry_after="0.01")
    box = _back_up_all_and_wait(qtbot, window)
    assert box.windowTitle() == "The service is rate limiting"
    assert "keeps rate-limiting us" in box.text() and "later" in box.text()
    assert sandbox.state.count("/api/memory/") == 4  # one request's attempts; nobody else was tried
    first, *rest = SLUGS
    assert _status(window, first) == "rate-limited — resumes next time"
    for slug in rest:
        assert _status(window, slug) == "not started"
        assert window.tracker.rows[slug].state == "not_started"
    assert window.overall_label.text() == (
        "Stopped: rate-limited by shapes.inc — 0 backed up, 1 not finished, 2 not started"
    )
    box.accept()


def test_network_gone_is_one_offline_message(window: Any, sandbox: Any, qtbot: Any) -> None:
    def cut(record: RequestRecord) -> None:  # the network goes as the second personality starts
        if record.path == "/api/shapes/username/" + SLUGS[1] and not sandbox.state.faults.faults:
            sandbox.state.set_fault("drop", count=None)

    sandbox.state.hooks.append(cut)
    box = _back_up_all_and_wait(qtbot, window)
    assert box.windowTitle() == "Cannot reach the service"
    assert "offline" in box.text()
    assert _status(window, SLUGS[0]).startswith("backed up: ")
    assert _status(window, SLUGS[1]) == "offline — resumes next time"
    assert _status(window, SLUGS[2]) == "not started"
    assert window.overall_label.text() == (
        "Stopped: you are offline — 1 backed up, 1 not finished, 1 not started"
    )
    box.accept()
