"""The window tells what really happened when a run does not finish (issue 14): the network gone mid-run is
one stop with one plain message, and the memories a cancelled or failed walk fetched are shown as kept.

Real window, real engine, a real sandbox over loopback that is stopped mid-run (its port closed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QMessageBox

from tzbackup_gui.archive.reader import list_backups
from tzbackup_gui.events import BackupEvent, Waiting
from tzbackup_gui.service import RetryPolicy
from tzbackup_gui.ui.personalities_model import COL_LAST, COL_MEMORIES, COL_STATUS, SlugRole, relative_time
from tzbackup_gui.ui.theme import warning_fill

from .conftest import run
from .window_support import back_up_everything, close_window, make_context, make_window

RUN_TIMEOUT = 60_000
BIG = 2600
KEPT = re.compile(r"^(\d{1,3}(?:,\d{3})?) of 2,600 fetched — resumes next time$")


def _only(sandbox: Any, personalities: dict[str, int]) -> None:
    for slug in list(sandbox.state.personalities):
        sandbox.state.remove_personality(slug)
    for slug, memories in personalities.items():
        sandbox.state.add_personality(slug, slug.title(), memories=memories)


def _cell(window: Any, slug: str, col: int, role: Qt.ItemDataRole = Qt.ItemDataRole.DisplayRole) -> str:
    for r in range(window.proxy.rowCount()):
        if window.proxy.index(r, 0).data(SlugRole) == slug:
            return str(window.proxy.index(r, col).data(role) or "")
    raise AssertionError(slug)


def _stored(data_dir: Path, slug: str) -> int:
    return next(b.total_memories for b in list_backups(data_dir) if b.slug == slug)


def _visible_boxes(window: Any) -> list[QMessageBox]:
    return [box for box in window.findChildren(QMessageBox) if box.isVisible()]


def _wait_settled(qtbot: Any, window: Any) -> None:
    qtbot.waitUntil(lambda: not window.running and not window.settling, timeout=RUN_TIMEOUT)


def _start(qtbot: Any, qloop: Any, sandbox: Any, data_dir: Path, settings: Any, **ctx_changes: Any) -> Any:
    ctx = make_context(sandbox, data_dir)
    ctx.pacer.delay = 0.002  # a walk slow enough to stop in its middle
    for name, value in ctx_changes.items():
        setattr(ctx, name, value)
    window = make_window(qtbot, ctx, settings, tray=False)
    run(qloop, qtbot, window.start())
    return window


@pytest.fixture
def windows(qtbot: Any, qloop: Any) -> Any:
    made: list[Any] = []
    yield made
    for window in made:
        close_window(qloop, qtbot, window)


def test_the_network_gone_mid_run_is_one_stop_with_one_plain_message(
    windows: list[Any], qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any
) -> None:
    _only(sandbox, {"ann": 30, "lilith": BIG, "zed": 40})
    data_dir = tmp_path / "data"
    retry = RetryPolicy(base_delay=0.3, max_delay=0.6, jitter=0.0)  # 4 attempts, ~1.5 s of waits
    window = _start(qtbot, qloop, sandbox, data_dir, qsettings, retry=retry)
    windows.append(window)
    waits: list[tuple[float, float | None]] = []  # (scheduled retry wait, the ETA right after it)
    on_event = window.runs._on_event

    def watching(event: BackupEvent) -> None:
        on_event(event)
        if isinstance(event, Waiting) and event.reason != "pacing":
            waits.append((event.seconds, window.tracker.eta_seconds()))

    window.runs._on_event = watching
    qtbot.mouseClick(window.back_up_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.tracker.rows["lilith"].done >= 560, timeout=RUN_TIMEOUT)
    sandbox.stop()  # the service is gone: its port is closed
    _wait_settled(qtbot, window)

    # the ETA never promised less than the retries already scheduled
    assert len(waits) == 3
    assert all(eta is not None and eta >= seconds for seconds, eta in waits)

    # the overall bar and the status: a stop, saying why; not 100 %
    bar = window.overall_bar
    assert bar.isVisible() and bar.text() == "Stopped: you are offline"
    assert 0 < bar.value() < bar.maximum() * 0.9
    assert bar.palette().color(QPalette.ColorRole.Highlight) == warning_fill(window.palette())  # amber
    assert window.overall_label.text() == (
        "Stopped: you are offline — 1 backed up, 1 not finished, 1 not started"
    )

    # rows: short sentences; what was fetched is kept and counted; the details are in the tooltip
    assert _cell(window, "ann", COL_STATUS) == "backed up: 30 new"
    status = _cell(window, "lilith", COL_STATUS)
    assert status.startswith("offline: ") and KEPT.match(status.removeprefix("offline: ")), status
    fetched = int(KEPT.match(status.removeprefix("offline: ")).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert fetched >= 560
    kept = _stored(data_dir, "lilith")
    assert kept == fetched  # committed, not only journaled
    assert _cell(window, "lilith", COL_MEMORIES) == f"{kept:,} / 2,600"
    assert _cell(window, "lilith", COL_LAST) == "unfinished"  # a first backup that did not finish
    assert "has not finished" in _cell(window, "lilith", COL_LAST, Qt.ItemDataRole.ToolTipRole)
    assert _cell(window, "zed", COL_STATUS) == "not started"
    assert _cell(window, "zed", COL_LAST) == "never"
    tooltip = _cell(window, "lilith", COL_STATUS, Qt.ItemDataRole.ToolTipRole)
    first, *details = tooltip.splitlines()
    assert first == status
    assert any("/api/" in line and "4 attempts" in line and "(NetworkError)" in line for line in details)
    log_text = window.log_pane.toPlainText()
    assert "/api/" in log_text and "NetworkError" in log_text

    # one message, in plain words: no request path, no exception class
    boxes = _visible_boxes(window)
    assert len(boxes) == 1
    box = boxes[0]
    assert box.windowTitle() == "Cannot reach the service"
    said = "\n".join((box.text(), box.informativeText(), box.detailedText()))
    assert "offline" in said and f"Lilith: {fetched:,} of 2,600" in said
    assert "/api/" not in said and "Error" not in said and "attempt" not in said
    box.accept()


def test_a_cancel_shows_what_was_kept_and_the_next_run_resumes_from_it(
    windows: list[Any], qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any
) -> None:
    _only(sandbox, {"ann": 30, "big": BIG, "zed": 40})
    data_dir = tmp_path / "data"
    window = _start(qtbot, qloop, sandbox, data_dir, qsettings)
    windows.append(window)
    qtbot.mouseClick(window.back_up_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.tracker.rows["big"].done >= 1100, timeout=RUN_TIMEOUT)
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    _wait_settled(qtbot, window)

    status = _cell(window, "big", COL_STATUS)
    match = KEPT.match(status)
    assert match, status
    fetched = int(match.group(1).replace(",", ""))
    assert fetched == _stored(data_dir, "big") >= 1100
    assert _cell(window, "big", COL_MEMORIES) == f"{fetched:,} / 2,600"
    assert _cell(window, "big", COL_LAST) == "unfinished"
    assert _cell(window, "zed", COL_STATUS) == "not started"  # it never started: nothing to resume
    assert window.overall_label.text() == (
        "Cancelled — 1 backed up, 1 not finished, 1 not started; the next backup resumes"
    )
    bar = window.overall_bar
    assert bar.text() == "Cancelled" and 0 < bar.value() < bar.maximum()
    assert _visible_boxes(window) == []  # the user cancelled: nothing to tell in a dialog

    # the next run starts from what it has: the bar is not back at 0 and the row counts on from 1,100
    window.ctx.pacer.delay = 0.02
    qtbot.mouseClick(window.back_up_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.tracker.rows["big"].state == "active", timeout=RUN_TIMEOUT)
    assert bar.text() != "Cancelled"
    assert bar.value() >= 0.3 * bar.maximum()
    assert _cell(window, "big", COL_STATUS).startswith("resuming")
    assert window.tracker.rows["big"].done >= fetched
    _wait_settled(qtbot, window)
    assert _cell(window, "big", COL_STATUS).startswith("backed up: ")
    assert _cell(window, "big", COL_MEMORIES) == "2,600 / 2,600"
    assert _cell(window, "big", COL_LAST) == "just now"
    assert bar.value() == bar.maximum() and bar.text() == "100%"


def test_a_cancelled_walk_keeps_the_last_complete_backup_and_says_so_after_a_restart(
    windows: list[Any], qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any
) -> None:
    _only(sandbox, {"big": 300})
    data_dir = tmp_path / "data"
    back_up_everything(qloop, qtbot, sandbox, data_dir)
    complete = next(b.last_backup for b in list_backups(data_dir))
    sandbox.state.add_memories("big", BIG - 300)
    window = _start(qtbot, qloop, sandbox, data_dir, qsettings)
    windows.append(window)
    last_before = _cell(window, "big", COL_LAST)
    assert last_before == "just now"
    qtbot.mouseClick(window.back_up_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.tracker.rows["big"].done >= 1100, timeout=RUN_TIMEOUT)
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    _wait_settled(qtbot, window)

    assert KEPT.match(_cell(window, "big", COL_STATUS)), _cell(window, "big", COL_STATUS)
    row = window.model.row_for("big")
    assert row is not None and row.last_backup is not None
    assert _cell(window, "big", COL_LAST) == relative_time(row.last_backup) != "never"
    assert next(b.last_backup for b in list_backups(data_dir)) == complete  # the last complete one
    tip = _cell(window, "big", COL_LAST, Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("Last complete backup:") and "did not finish" in tip
    stored = _stored(data_dir, "big")
    assert _cell(window, "big", COL_MEMORIES) == f"{stored:,} / 2,600"

    # a new window on the same folder (the app restarted) tells the same from the archive alone
    again = _start(qtbot, qloop, sandbox, data_dir, qsettings)
    windows.append(again)
    fetched = row.unfinished_fetched
    assert fetched > 0
    # the unfinished walk's metadata carries the total the service said in it (engine, 055b4cd)
    assert _cell(again, "big", COL_STATUS) == f"{fetched:,} of 2,600 fetched — resumes next time"
    assert _cell(again, "big", COL_LAST) not in ("never", "unfinished")
