"""Readable in every theme: the main window, Settings and the sign-in dialog under a light, a Fusion dark and
two high-contrast palettes; every text a person reads is checked where it is painted (the pixels of a grab)
for WCAG's 4.5:1 against its background. Disabled controls are exempt (as in WCAG)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from tzbackup_gui.ui.main_window import MainWindow
from tzbackup_gui.ui.personalities_model import COL_NAME, COLUMNS
from tzbackup_gui.ui.progress import RowProgress
from tzbackup_gui.ui.sign_in_dialog import SignInDialog
from tzbackup_gui.ui.theme import MIN_CONTRAST, contrast_ratio, warning_fill

from .conftest import run
from .contrast_support import (
    PALETTES,
    make_palette,
    painted_contrast,
    readable_widgets,
    widget_contrast,
)
from .window_support import close_window, make_context, make_window

ROLE = QPalette.ColorRole
#: a short word of thin glyphs ("lilith") may never paint one pixel at its full colour (anti-aliasing splits
#: its one-pixel stems); the colour itself is checked strictly through the model's role
ANTIALIAS_SLACK = 0.25


@pytest.fixture(params=PALETTES)
def themed(qapp: QApplication, request: Any) -> Iterator[str]:
    """The whole app in one palette (as a desktop theme switch does), restored afterwards."""
    before = QPalette(qapp.palette())
    qapp.setPalette(make_palette(request.param))
    try:
        yield str(request.param)
    finally:
        qapp.setPalette(before)


@pytest.fixture
def demo_window(qtbot: Any, qloop: Any, sandbox: Any, tmp_path: Path, qsettings: Any) -> Iterator[MainWindow]:
    ctx = make_context(sandbox, tmp_path / "data")
    ctx.config.demo = True  # the demo banner too
    window = make_window(qtbot, ctx, qsettings, tray=False)
    window.resize(1000, 640)
    run(qloop, qtbot, window.start())
    try:
        yield window
    finally:
        close_window(qloop, qtbot, window)


def _unreadable(top: QWidget) -> list[str]:
    found = []
    for widget in readable_widgets(top):
        ratio, background, text = widget_contrast(widget)
        if ratio < MIN_CONTRAST:
            what = widget.objectName() or type(widget).__name__
            label = getattr(widget, "text", lambda: "")()
            found.append(f"{what} {label[:40]!r}: {text.name()} on {background.name()} = {ratio:.2f}")
    return found


def _every_state(window: MainWindow) -> None:
    """Rows in every colour the status column has: backed up (green), failed (red), kept (amber), not started
    (muted), idle; plus the red data-folder banner, the paused schedule line and a stopped bar."""
    slugs = sorted(window.model.owned_slugs())
    states = [
        RowProgress(state="done", text="backed up: 3 new", done=3, expected=3, stored=3),
        RowProgress(state="failed", text="offline — resumes next time", kind="NetworkError"),
        RowProgress(state="cancelled", text="1,100 of 2,600 fetched — resumes next time", done=1100),
        RowProgress(state="not_started", text="not started"),
    ]
    window.tracker.rows = dict(zip(slugs, states, strict=False))
    window.model.progress = window.tracker.rows
    window.model.mark_dirty(set(slugs))
    window.model.flush()
    window.data_dir_banner_label.setText("<b>The data folder ~/x cannot be used:</b> it is read-only.")
    window.data_dir_banner.setVisible(True)
    window.schedule_label.setText("Scheduled backups paused after 3 failures: you are offline")
    window._schedule_paused = True
    window._apply_theme()
    window.overall_label.setText("Stopped: you are offline — 1 backed up, 1 not finished, 1 not started")
    window.filter_edit.setFocus()  # no highlighted row: the palette's own selection colours are not ours


def test_main_window_text_is_readable_in_every_theme(
    themed: str, demo_window: MainWindow, qtbot: Any
) -> None:
    window = demo_window
    _every_state(window)
    qtbot.wait(80)
    assert window.demo_banner is not None and window.demo_banner.isVisible()
    assert _unreadable(window) == [], themed

    # the table, cell by cell: what the model asks for, and what is painted
    palette = window.table.palette()
    backgrounds = (palette.color(ROLE.Base), palette.color(ROLE.AlternateBase))
    image = window.table.viewport().grab().toImage()
    proxy = window.proxy
    problems = []
    for r in range(proxy.rowCount()):
        for c in range(len(COLUMNS)):
            index = proxy.index(r, c)
            color = index.data(Qt.ItemDataRole.ForegroundRole)
            if isinstance(color, QColor):
                worst = min(contrast_ratio(color, bg) for bg in backgrounds)
                if worst < MIN_CONTRAST:
                    problems.append(f"role {r},{c} {index.data()!r}: {worst:.2f}")
            rect = window.table.visualRect(index)
            if c == COL_NAME:  # the text, right of the check box and the avatar
                rect.setLeft(rect.left() + 24 + window.table.iconSize().width() + 4)
            ratio, bg, fg = painted_contrast(image, rect.adjusted(1, 1, -1, -1))
            if str(index.data() or "").strip("— ") and ratio < MIN_CONTRAST - ANTIALIAS_SLACK:
                problems.append(f"painted {r},{c} {index.data()!r}: {fg.name()} on {bg.name()} = {ratio:.2f}")
    assert problems == [], themed

    # a stopped bar: its text over the amber fill
    bar_palette = window.overall_bar.palette()
    fill = warning_fill(window.palette())
    assert contrast_ratio(bar_palette.color(ROLE.HighlightedText), fill) >= MIN_CONTRAST


def test_settings_are_readable_in_every_theme(themed: str, demo_window: MainWindow, qtbot: Any) -> None:
    demo_window.open_settings()
    dialog = demo_window.settings_dialog
    assert dialog is not None
    dialog._refuse("~/x cannot be used: it is read-only.")  # the red problem line
    qtbot.waitExposed(dialog)
    qtbot.wait(50)
    assert dialog.data_dir_problem.isVisible()
    assert _unreadable(dialog) == [], themed
    dialog.reject()


def test_sign_in_dialog_is_readable_in_every_theme(themed: str, qtbot: Any, qloop: Any) -> None:
    async def no_browsers() -> list[Any]:
        return []

    async def never(_credential: Any, _session_only: bool) -> Any:
        raise AssertionError("not called")

    dialog = SignInDialog(
        never, keyring_available=False, keyring_name="", parent=None, scan_browsers=no_browsers,
        resume_prompt="Your shapes.inc session ended during the backup. Sign in again to resume it.",
    )
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    qtbot.wait(50)
    assert _unreadable(dialog) == [], themed  # the cookie field's placeholder too
    dialog.cookie_edit.setText("not a cookie at all =;")  # the red validation line
    qtbot.wait(80)
    assert _unreadable(dialog) == [], themed
    dialog.reject()
