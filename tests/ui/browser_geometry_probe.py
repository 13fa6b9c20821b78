"""Open the real browser on a screen of a given size and scale, and print what a user would see, as JSON.

Run in a subprocess by ``test_browser_geometry.py``: ``QT_SCALE_FACTOR`` and the offscreen platform's
screen size can only be chosen before the QApplication exists.

    python -m tests.ui.browser_geometry_probe DATA_DIR SETTINGS_INI [--resize WxH]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QRect, QSettings
from PySide6.QtWidgets import QApplication, QWidget


def _inside(widget: QWidget, page: QWidget) -> bool:
    """Shown whole: visible, and its rectangle within the page's (nothing clipped at the window's edge)."""
    rect = QRect(widget.mapTo(page, QPoint(0, 0)), widget.size())
    return widget.isVisible() and page.rect().contains(rect)


def _pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("settings", type=Path)
    parser.add_argument("--resize", default="")
    args = parser.parse_args()
    app = QApplication([])
    from tzbackup_gui.ui.browser_window import BrowserWindow

    settings = QSettings(str(args.settings), QSettings.Format.IniFormat)
    win = BrowserWindow(args.data_dir, settings=settings)
    win.show()
    end = time.monotonic() + 20
    while win.indexing and time.monotonic() < end:
        _pump(app, 0.02)
    win.select_personality("lilith")
    _pump(app, 0.1)
    area = win.screen().availableGeometry()
    out: dict[str, Any] = {
        "area": [area.x(), area.y(), area.width(), area.height()],
        "frame": [win.frameGeometry().x(), win.frameGeometry().y(), win.frameGeometry().width(),
                  win.frameGeometry().height()],
        "size": [win.width(), win.height()],
        "minimum": [win.minimumSizeHint().width(), win.minimumSizeHint().height()],
        "ratio": win.devicePixelRatioF(),
    }
    avatar = win.profile.avatar.pixmap()
    out["avatar"] = [avatar.width(), avatar.height(), avatar.devicePixelRatio()]
    win.tabs.setCurrentIndex(1)
    win.table.selectRow(0)
    _pump(app, 0.1)
    page = win.tabs.currentWidget()
    tools = [win.memory_sort, win.memory_dates, win.show_deleted, win.show_upstream]
    out["memory_tools_inside"] = all(_inside(w, page) for w in tools)
    out["memory_table_hscroll"] = win.table.horizontalScrollBar().isVisible()
    out["memory_rows_visible"] = win.table.viewport().height() // max(1, win.table.rowHeight(0))
    win.tabs.setCurrentIndex(2)
    win.search_edit.setText("umbrella")
    win.run_search()
    _pump(app, 0.1)
    page = win.tabs.currentWidget()
    tools = [win.search_edit, win.scope, *win.search.kind_boxes.values(), win.search.order, win.search.dates,
             win.search.open_button]
    out["search_tools_inside"] = all(_inside(w, page) for w in tools)
    out["results_hscroll"] = win.results.horizontalScrollBar().isVisible()
    out["list_width"] = win.list.width()
    if args.resize:
        width, height = (int(v) for v in args.resize.split("x"))
        win.resize(width, height)
        _pump(app, 0.05)
    win.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
