"""UI responsiveness while the real window backs up 10,000 memories at spacing 0.

The sandbox runs in its own process (so its work does not count against our event loop). The real
MainWindow runs offscreen on the qasync loop; a QTimer asks to fire every 10 ms and we record the actual
gaps. A gap well above 10 ms means the loop was blocked that long. Target: longest stall < 50 ms.

    .venv/bin/python benchmarks/ui_responsiveness.py [--memories 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SLUG = "bench-ten-thousand"


def serve_sandbox(conn: Connection, memories: int) -> None:
    """Child process: the sandbox with one extra large personality, until the parent says stop."""
    from tzbackup_gui.sandbox import SandboxServer

    with SandboxServer(port=0, seed=1) as sb:
        sb.state.add_personality(SLUG, "Bench Ten Thousand", memories=memories, owned=True)
        conn.send((sb.base_url, sb.files_base_url, sb.cookie))
        conn.recv()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


async def measure(base_url: str, files_url: str, cookie: str, data_dir: Path) -> dict[str, float]:
    import httpx
    from PySide6.QtCore import QSettings, Qt, QTimer
    from PySide6.QtTest import QTest

    from tzbackup_gui.app import AppConfig, AppContext
    from tzbackup_gui.credentials import CredentialStore
    from tzbackup_gui.service import Pacer
    from tzbackup_gui.service.auth import parse_cookie_input
    from tzbackup_gui.ui.main_window import MainWindow

    config = AppConfig(data_dir=data_dir, base_url=base_url, files_base_url=files_url, delay=0.0)
    http = httpx.AsyncClient(timeout=30.0)
    ctx = AppContext(
        config,
        http,
        CredentialStore(memory_only=True),
        credential=parse_cookie_input(cookie),
        pacer=Pacer(delay=0.0),
    )
    settings = QSettings(str(data_dir / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(ctx, settings=settings)
    window.resize(1100, 700)
    window.show()
    await window.start()
    window.model.set_checked({SLUG})

    gaps: list[float] = []
    at: list[float] = []
    # CPU used during each gap by the loop thread and by the whole process: tells a stall of ours (loop
    # thread busy, or a worker holding the GIL) from one the OS caused (another process had the CPU).
    cpu: list[tuple[float, float]] = []
    last = time.perf_counter()
    last_cpu = (time.thread_time(), time.process_time())

    def tick() -> None:
        nonlocal last, last_cpu
        now = time.perf_counter()
        now_cpu = (time.thread_time(), time.process_time())
        gaps.append((now - last) * 1000)
        at.append(now - started)
        cpu.append(((now_cpu[0] - last_cpu[0]) * 1000, (now_cpu[1] - last_cpu[1]) * 1000))
        last, last_cpu = now, now_cpu

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(tick)
    started = time.perf_counter()
    timer.start()
    last = time.perf_counter()
    last_cpu = (time.thread_time(), time.process_time())
    QTest.mouseClick(window.back_up_selected_button, Qt.MouseButton.LeftButton)
    assert window.runs.task is not None
    await asyncio.gather(window.runs.task, return_exceptions=True)
    timer.stop()
    elapsed = time.perf_counter() - started
    row = window.model.row_for(SLUG)
    stored = row.total_memories if row and row.total_memories is not None else 0
    repaints = window.model.repaints
    worst = gaps.index(max(gaps)) if gaps else 0
    loop_cpu, process_cpu = cpu[worst] if cpu else (0.0, 0.0)
    await ctx.aclose()
    window.remove_log_handler()
    window.close()
    return {
        "seconds": elapsed,
        "memories": float(stored),
        "samples": float(len(gaps)),
        "longest": max(gaps) if gaps else 0.0,
        "p99": percentile(gaps, 99),
        "median": statistics.median(gaps) if gaps else 0.0,
        "repaints": float(repaints),
        "stall_at": at[worst] if gaps else 0.0,
        "stall_loop_cpu": loop_cpu,
        "stall_worker_cpu": process_cpu - loop_cpu,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=10_000)
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve_sandbox, args=(child, args.memories), daemon=True)
    proc.start()
    try:
        if not parent.poll(120):
            print("the sandbox did not start", file=sys.stderr)
            return 1
        base_url, files_url, cookie = parent.recv()

        import qasync
        from PySide6.QtWidgets import QApplication  # PySide6 before qasync

        app = QApplication.instance() or QApplication(sys.argv[:1])
        with tempfile.TemporaryDirectory() as tmp, asyncio.Runner(loop_factory=qasync.QEventLoop) as runner:
            result = runner.run(measure(base_url, files_url, cookie, Path(tmp)))
        del app
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.terminate()

    ok = result["longest"] < 50.0
    print(
        f"backed up {result['memories']:.0f} memories in {result['seconds']:.1f} s at spacing 0 "
        f"({result['memories'] / max(result['seconds'], 1e-9):.0f} memories/s)"
    )
    print(
        f"event-loop samples: {result['samples']:.0f} (10 ms timer), table repaints: {result['repaints']:.0f}"
    )
    print(f"median gap: {result['median']:.1f} ms")
    print(f"p99 gap:    {result['p99']:.1f} ms")
    where = f"at {result['stall_at']:.1f} s of {result['seconds']:.1f} s"
    print(f"longest stall: {result['longest']:.1f} ms {where} "
          f"(target < 50 ms: {'PASS' if ok else 'FAIL'})")
    print(
        f"  CPU during it: loop thread {result['stall_loop_cpu']:.1f} ms, "
        f"other threads {result['stall_worker_cpu']:.1f} ms (little of either: the OS ran another process)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
