"""Offline browser benchmark: index build, open -> first rows painted, scroll stalls, search latency, RSS.

    .venv/bin/python benchmarks/browser.py [--sizes 10000 100000] [--personalities 5]

Each size is generated in the on-disk layout (chunk files of 250, no network) and measured in a fresh
subprocess (so peak RSS belongs to that size alone), with QT_QPA_PLATFORM=offscreen.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORDS = [
    "umbrella",
    "cello",
    "jazz",
    "chords",
    "stargazing",
    "roof",
    "insomnia",
    "bicycle",
    "petrichor",
    "sibling",
    "interview",
    "knitting",
    "scarf",
    "fibonacci",
    "summer",
    "trains",
    "harbour",
    "lantern",
    "violin",
    "glacier",
    "orchard",
    "recipe",
]
QUERIES = [
    "umbrella",
    "cello lesson",
    "jazz",
    '"lost umbrella"',
    "stargazing roof",
    "petrichor",
    "bicycle",
    "knit",
    "fibonacci",
    "summer trains",
    "harbour",
    "lantern",
    "violin",
    "glacier",
    "orchard",
    "recipe",
    "sibling interview",
    "scarf",
    "insomnia",
    "trains",
]


def generate(data_dir: Path, total: int, personalities: int) -> None:
    from tzbackup_gui.archive.layout import CHUNK_SIZE
    from tzbackup_gui.archive.store import atomic_write_json

    rng = random.Random(1)
    per = total // personalities
    for p in range(personalities):
        name = f"bench-{p}"
        folder = data_dir / "personalities" / name
        (folder / "memory").mkdir(parents=True)
        t = 1_700_000_000.0
        for start in range(0, per, CHUNK_SIZE):
            chunk = []
            for i in range(start, min(per, start + CHUNK_SIZE)):
                t += rng.uniform(60, 3600)
                a, b = rng.sample(WORDS, 2)
                text = (
                    f"The user told {name} about a lost {a}; they agreed to talk about {b} another time. {i}"
                )
                chunk.append(
                    {
                        "id": f"{p}-{i:07d}",
                        "result": text,
                        "summary_type": "automatic",
                        "deleted": False,
                        "senders": ["owner"],
                        "created_at": t,
                        "metadata": {
                            "created_at": t,
                            "start_ts": t - 300,
                            "end_ts": t - 30,
                            "msg_ids": [f"m{i}a", f"m{i}b"],
                        },
                    }
                )
            atomic_write_json(
                folder / "memory" / f"{name}_memory_{start // CHUNK_SIZE + 1}.json",
                {"memories": chunk},
                indent=None,
            )
        atomic_write_json(folder / f"{name}.json", {"name": name.title(), "username": name})
        atomic_write_json(
            folder / ".backup-metadata.json",
            {
                "formatVersion": 1,
                "slug": name,
                "displayName": name.title(),
                "ownerId": "owner",
                "totalMemories": per,
                "deletedUpstream": {},
                "runs": [],
            },
        )


def measure(data_dir: Path) -> dict[str, float]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from tzbackup_gui.archive.index import SearchIndex, update_index
    from tzbackup_gui.ui.browser_window import BrowserWindow

    app = QApplication([])
    started = time.perf_counter()
    update_index(data_dir)
    build = time.perf_counter() - started
    index_size = (data_dir / ".tzbackup-index.sqlite3").stat().st_size
    win = BrowserWindow(data_dir)
    win.resize(1200, 760)
    win.show()
    win.tabs.setCurrentIndex(1)
    app.processEvents()
    started = time.perf_counter()
    win.select_personality("bench-3")
    win.table.viewport().repaint()
    first_rows = time.perf_counter() - started
    # scroll the whole list one page per 10 ms tick and record the gaps between ticks
    bar = win.table.verticalScrollBar()
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    timer = QTimer(interval=10)

    def tick() -> None:
        gaps.append(clock.restart())
        if bar.value() >= bar.maximum():
            timer.stop()
            app.quit()
        bar.setValue(bar.value() + bar.pageStep())

    timer.timeout.connect(tick)
    timer.start()
    app.exec()
    with SearchIndex.for_path(data_dir) as index:
        times = []
        for q in QUERIES:
            t0 = time.perf_counter()
            index.search(q, limit=200)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "build_s": build,
        "index_mb": index_size / 1e6,
        "first_rows_ms": first_rows * 1000,
        "max_gap_ms": max(gaps[1:] or [0]),
        "ticks": len(gaps),
        "search_p50_ms": statistics.median(times),
        "search_p95_ms": times[int(0.95 * (len(times) - 1))],
        "rows": win.model.rowCount(),
        "rss_mb": rss,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--personalities", type=int, default=5)
    parser.add_argument("--child", type=Path, default=None)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return 0
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            generate(Path(tmp), size, args.personalities)
            gen = time.perf_counter() - t0
            out = (
                subprocess.run(
                    [sys.executable, __file__, "--child", tmp], capture_output=True, text=True, check=True
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            rows.append((size, gen, json.loads(out)))
    print(
        f"{'memories':>9} {'gen s':>6} {'index s':>8} {'index MB':>9} {'open->rows ms':>14} "
        f"{'rows':>6} {'max stall ms':>13} {'search p50':>11} {'p95 ms':>7} {'peak RSS MB':>12}"
    )
    for size, gen, r in rows:
        print(
            f"{size:>9} {gen:>6.1f} {r['build_s']:>8.2f} {r['index_mb']:>9.1f} {r['first_rows_ms']:>14.0f} "
            f"{r['rows']:>6.0f} {r['max_gap_ms']:>13.0f} {r['search_p50_ms']:>11.1f} "
            f"{r['search_p95_ms']:>7.1f} "
            f"{r['rss_mb']:>12.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
