"""The browser's Chat tab on a large chat: open, scroll, filter, memory.

    .venv/bin/python benchmarks/chat_tab.py [--messages 100000]

Generates the chat in the on-disk layout (chunk files of 500 sandbox-style messages, no network), then, with
QT_QPA_PLATFORM=offscreen, measures: time to open the tab (count + first screen painted) and the chunk files
read; a scroll through the whole table a page per 10 ms tick (longest gap between ticks, files read); the
filter for a rare phrase and a common word (total time, longest GUI-thread step, matches); peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def generate(folder: Path, n: int) -> None:
    from tzbackup_gui.archive.chat import CHAT_CHUNK_SIZE, chat_chunk_name
    from tzbackup_gui.sandbox.data import make_chat

    chat = make_chat(random.Random(1), "Bench", n, start=1.7e9, files_base_url="http://127.0.0.1:1/files")
    chat[n // 3]["message"] = "a Zanzibar marmalade question"
    (folder / "chat").mkdir(parents=True)
    for k in range(0, n, CHAT_CHUNK_SIZE):
        name = chat_chunk_name(folder.name, k // CHAT_CHUNK_SIZE + 1)
        (folder / "chat" / name).write_text(json.dumps({"messages": chat[k:k + CHAT_CHUNK_SIZE]}), "utf-8")
    meta = {"formatVersion": 1, "tool": "tzbackup", "slug": folder.name, "displayName": "Bench",
            "folder": folder.name, "totalMemories": 0, "chunkSize": 250,
            "sections": {"chat": {"count": n, "status": "ok", "lastSync": "2026-01-01T00:00:00Z",
                                  "error": None}}}
    (folder / ".backup-metadata.json").write_text(json.dumps(meta), "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    n = parser.parse_args().messages
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from tzbackup_gui.archive.browse import load_personality
    from tzbackup_gui.ui.chat_view import ChatView

    app = QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "bench"
        folder.mkdir()
        t0 = time.perf_counter()
        generate(folder, n)
        print(f"generated {n} messages in {time.perf_counter() - t0:.1f} s")
        view = ChatView()
        view.resize(1100, 700)
        view.show()
        app.processEvents()
        t0 = time.perf_counter()
        view.show_details(load_personality(folder))
        view.table.viewport().repaint()
        app.processEvents()
        print(f"open: {1000 * (time.perf_counter() - t0):.1f} ms, rows {view.model.rowCount()}, "
              f"chunk files read {view.model.chunks.loads}")

        # scroll a page per 10 ms tick
        bar = view.table.verticalScrollBar()
        gaps: list[float] = []
        last = time.perf_counter()

        def tick() -> None:
            nonlocal last
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
            if bar.value() >= bar.maximum():
                timer.stop()
                app.quit()
            bar.setValue(bar.value() + bar.pageStep())

        timer = QTimer(interval=10)
        timer.timeout.connect(tick)
        loads = view.model.chunks.loads
        timer.start()
        app.exec()
        print(f"scroll: {len(gaps)} pages, longest gap {1000 * max(gaps):.1f} ms (includes the 10 ms tick), "
              f"chunk files read {view.model.chunks.loads - loads}")

        for needle in ("zanzibar MARMALADE", "the"):
            steps: list[float] = []
            original = view._scan_step

            def timed(original: object = original, steps: list[float] = steps) -> None:
                s = time.perf_counter()
                original()  # type: ignore[operator]
                steps.append(time.perf_counter() - s)
                if not view.searching:
                    app.quit()

            view._step_timer.timeout.disconnect()
            view._step_timer.timeout.connect(timed)
            view.filter_edit.setText(needle)
            t0 = time.perf_counter()
            view.apply_filter()
            app.exec()
            print(f"filter {needle!r}: {view.model.rowCount()} matches in {time.perf_counter() - t0:.2f} s, "
                  f"{len(steps)} steps, longest GUI-thread step {1000 * max(steps):.1f} ms")
            view._step_timer.timeout.disconnect()
            view._step_timer.timeout.connect(original)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {rss:.0f} MB (generation included)")


if __name__ == "__main__":
    main()
