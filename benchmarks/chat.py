"""Benchmark the chat history backup: a first sync of a 100,000-message chat and an incremental sync after 50
new messages, plus a full (re-compare everything) sync.

The sandbox runs in its own process (its memory is not counted); every measured sync runs in a fresh child
process that reports wall time, CPU time (user + system) and peak RSS (``ru_maxrss``). Pacing is 0.

    .venv/bin/python benchmarks/chat.py                 # 100,000 messages
    .venv/bin/python benchmarks/chat.py --size 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SLUG = "bench-chat"


def _serve(conn: Connection) -> None:
    """The sandbox process: serve HTTP, and obey a few commands from the pipe."""
    from tzbackup_gui.sandbox import SandboxServer

    with SandboxServer(port=0, seed=1) as sb:
        conn.send({"base_url": sb.base_url, "files_base_url": sb.files_base_url, "cookie": sb.cookie})
        while True:
            op, args = conn.recv()
            if op == "stop":
                conn.send(None)
                return
            if op == "add_personality":
                p = sb.state.add_personality(args["slug"], chat=args["chat"])
                conn.send(p.id)
            elif op == "add_chat":
                conn.send(len(sb.state.add_chat(args["slug"], args["n"])))
            elif op == "clear_log":
                sb.state.clear_log()
                conn.send(None)
            elif op == "count":
                conn.send(sb.state.count("/api/shapes/"))


class Sandbox:
    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()
        self.info: dict[str, str] = self.conn.recv()

    def call(self, op: str, **args: Any) -> Any:
        self.conn.send((op, args))
        return self.conn.recv()

    def close(self) -> None:
        self.call("stop")
        self.proc.join(5)


async def _child_sync(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from tzbackup_gui.backup.chat import sync_chat
    from tzbackup_gui.backup.engine import _blocking
    from tzbackup_gui.service import Pacer, ShapesClient
    from tzbackup_gui.service.auth import SessionCredential

    folder = Path(args.folder)
    async with httpx.AsyncClient(timeout=60) as http:
        client = ShapesClient(
            http,
            SessionCredential.from_value(os.environ["TZBACKUP_BENCH_COOKIE"]),
            base_url=args.base_url,
            files_base_url=args.files_base_url,
            pacer=Pacer(delay=0),
        )
        out = await sync_chat(client, args.shape_id, folder, _blocking, full=args.full)
    return {"status": out.status, "count": out.count, "new": out.new, "error": out.error, **(out.extra or {})}


def child_main(args: argparse.Namespace) -> None:
    Path(args.folder).mkdir(parents=True, exist_ok=True)
    wall0, ru0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    out = asyncio.run(_child_sync(args))
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    out["wall_s"] = time.perf_counter() - wall0
    out["cpu_s"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    out["peak_rss_mb"] = ru1.ru_maxrss / 1024  # Linux: KiB
    print(json.dumps(out))


def _measure(sb: Sandbox, folder: Path, shape_id: str, *, full: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--base-url", sb.info["base_url"], "--files-base-url",
           sb.info["files_base_url"], "--folder", str(folder), "--shape-id", shape_id]
    if full:
        cmd.append("--full")
    env = dict(os.environ, TZBACKUP_BENCH_COOKIE=sb.info["cookie"], PYTHONPATH=str(ROOT))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _baseline_rss() -> float:
    code = (
        "import resource, httpx, tzbackup_gui.backup.chat, tzbackup_gui.service;"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                env=env).stdout)


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in (folder / "chat").iterdir()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--added", type=int, default=50)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--files-base-url", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--shape-id", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    sb = Sandbox()
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "personalities" / SLUG
            shape_id = sb.call("add_personality", slug=SLUG, chat=args.size)
            sb.call("clear_log")
            out = _measure(sb, folder, shape_id)
            out["http"] = sb.call("count")
            out["mb"] = _size_mb(folder)
            rows.append((f"first sync, {args.size:,} messages", out))
            sb.call("add_chat", slug=SLUG, n=args.added)
            sb.call("clear_log")
            out = _measure(sb, folder, shape_id)
            out["http"] = sb.call("count")
            out["mb"] = _size_mb(folder)
            rows.append((f"incremental, +{args.added}", out))
            sb.call("clear_log")
            out = _measure(sb, folder, shape_id, full=True)
            out["http"] = sb.call("count")
            out["mb"] = _size_mb(folder)
            rows.append(("full re-walk (compare all)", out))
    finally:
        sb.close()
    print(f"baseline RSS (imports only): {_baseline_rss():.1f} MB")
    print(f"{'run':30} {'status':7} {'new':>7} {'count':>7} {'requests':>8} {'wall s':>8} {'cpu s':>7} "
          f"{'peak RSS MB':>11} {'chunks':>6} {'files MB':>8}  {'msg/s':>8}")
    for name, r in rows:
        rate = (r["new"] or 0) / r["wall_s"] if r["wall_s"] else 0.0
        print(f"{name:30} {r['status']:7} {r['new']:>7} {r['count']:>7} {r['http']:>8} {r['wall_s']:>8.2f} "
              f"{r['cpu_s']:>7.2f} {r['peak_rss_mb']:>11.1f} {r.get('chunks', 0):>6} {r['mb']:>8.1f}  "
              f"{rate:>8.0f}")
        if r["status"] != "ok":
            print(f"  error: {r['error']}")


if __name__ == "__main__":
    main()
