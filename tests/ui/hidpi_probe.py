"""Run in a subprocess by test_hidpi_small.py (QT_SCALE_FACTOR must be set before Qt starts): builds the real
main window on the sandbox at a given logical size and prints what a person would see, as JSON.

    python -m tests.ui.hidpi_probe WIDTH HEIGHT [--log]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QSettings, QSize
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication
from qasync import run as run_qasync  # after PySide6 (qasync picks the binding already imported)


def _png(side: int) -> bytes:
    image = QImage(side, side, QImage.Format.Format_RGB32)
    for y in range(side):
        for x in range(side):
            image.setPixelColor(x, y, QColor("black") if (x + y) % 2 else QColor("white"))
    buffer = QBuffer()
    buffer.open(QBuffer.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data().data())


def icons(ratio: float) -> dict[str, Any]:
    from tzbackup_gui.ui.avatars import AVATAR_SIZE, initials_icon, round_icon

    out: dict[str, Any] = {"ratio": ratio}
    for name, icon in (("initials", initials_icon("Lilith")), ("avatar", round_icon(_png(256)))):
        assert icon is not None
        pix = icon.pixmap(QSize(AVATAR_SIZE, AVATAR_SIZE), ratio)
        out[name] = {"dpr": pix.devicePixelRatio(), "pixels": pix.width(),
                     "sizes": sorted({s.width() for s in icon.availableSizes()})}
    return out


async def window(width: int, height: int, show_log: bool) -> dict[str, Any]:
    from tests.ui.window_support import make_context
    from tzbackup_gui.sandbox import SandboxServer
    from tzbackup_gui.ui.main_window import MainWindow
    from tzbackup_gui.ui.progress import RowProgress

    with SandboxServer(port=0, seed=1) as sandbox:
        folder = Path(tempfile.mkdtemp())
        ctx = make_context(sandbox, folder / "data")
        ctx.config.demo = True
        w = MainWindow(ctx, settings=QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat), tray=False)
        w.show()
        await w.start()
        slugs = sorted(w.model.owned_slugs())
        texts = ["syncing memories 2,600 of 2,600", "offline: 1,100 of 2,600 fetched — resumes next time",
                 "backed up: 2,600 new, 12 edited, 3 deleted upstream", "not started", "queued"]
        w.tracker.rows = {s: RowProgress(state="done", text=t) for s, t in zip(slugs, texts, strict=False)}
        w.model.progress = w.tracker.rows
        w.model.mark_dirty(set(slugs))
        w.model.flush()
        w.schedule_label.setText("Next backup: tomorrow at 03:00 (daily at 03:00)")
        w.overall_label.setText("Stopped: you are offline — 1 backed up, 1 not finished, 1 not started")
        w.log_toggle.setChecked(show_log)
        w.resize(width, height)
        for _ in range(5):  # the loop processes the resize, the re-fit of the columns, the splitter
            await asyncio.sleep(0.05)
        table, header = w.table, w.table.horizontalHeader()
        result = {
            "window": [w.width(), w.height()],
            "minimum": [w.minimumSizeHint().width(), w.minimumSizeHint().height()],
            "viewport": table.viewport().width(),
            "columns": [header.sectionSize(c) for c in range(header.count())],
            "hscroll": table.horizontalScrollBar().isVisible() or table.horizontalScrollBar().maximum() > 0,
            "rows_shown": table.viewport().height() / table.verticalHeader().defaultSectionSize(),
            "log": w.log_pane.height() if w.log_pane.isVisible() else 0,
            "splitter": w.splitter.height(),
            "data_dir_label": [w.data_dir_label.width(), w.data_dir_label.isVisible()],
            "icon": icons(w.devicePixelRatioF()),
            "app_ratio": QApplication.instance().devicePixelRatio(),  # type: ignore[union-attr]
        }
        w.scheduler.stop()
        w.remove_log_handler()
        await ctx.aclose()
        return result


def main() -> None:
    width, height = int(sys.argv[1]), int(sys.argv[2])
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert app is not None
    result = run_qasync(window(width, height, "--log" in sys.argv))
    print("PROBE " + json.dumps(result))


if __name__ == "__main__":
    main()
