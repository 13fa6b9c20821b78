"""Benchmark the backup engine against the sandbox: first backups of 2k / 10k / 50k memories and an
incremental run with 5 new memories over the 50k backup.

The sandbox runs in its own process (so its memory is not counted) and every measured backup runs in a
fresh child process, which reports its wall time, CPU time (user + system) and peak RSS (``ru_maxrss``).
Pacing is 0.

    .venv/bin/python benchmarks/sync.py            # sizes 2000 10000 50000
    .venv/bin/python benchmarks/sync.py --sizes 2000 10000
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
                sb.state.add_personality(args["slug"], memories=args["memories"])
                conn.send(None)
            elif op == "add_memories":
                conn.send(len(sb.state.add_memories(args["slug"], args["n"])))
            elif op == "clear_log":
                sb.state.clear_log()
                conn.send(None)
            elif op == "count":
                conn.send(sb.state.count(args.get("prefix", "/api/memory/")))


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


async def _child_backup(base_url: str, files_base_url: str, data_dir: Path, slug: str) -> dict[str, Any]:
    import httpx

    from tzbackup_gui.backup import BackupEngine
    from tzbackup_gui.service import Pacer, ShapesClient
    from tzbackup_gui.service.auth import SessionCredential

    cookie = os.environ["TZBACKUP_BENCH_COOKIE"]
    async with httpx.AsyncClient(timeout=60) as http:
        client = ShapesClient(
            http,
            SessionCredential.from_value(cookie),
            base_url=base_url,
            files_base_url=files_base_url,
            pacer=Pacer(delay=0),
        )
        engine = BackupEngine(client, data_dir)
        report = await engine.run([slug])
    result = report.results[0]
    return {
        "status": result.status,
        "new": result.new,
        "total": result.total,
        "error": result.error,
        "requests": result.requests,
    }


def child_main(args: argparse.Namespace) -> None:
    wall0, ru0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    out = asyncio.run(_child_backup(args.base_url, args.files_base_url, Path(args.data_dir), args.slug))
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    out["wall_s"] = time.perf_counter() - wall0
    out["cpu_s"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    out["peak_rss_mb"] = ru1.ru_maxrss / 1024  # Linux: KiB
    print(json.dumps(out))


def _measure(sb: Sandbox, data_dir: Path, slug: str) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--base-url",
        sb.info["base_url"],
        "--files-base-url",
        sb.info["files_base_url"],
        "--data-dir",
        str(data_dir),
        "--slug",
        slug,
    ]
    env = dict(os.environ, TZBACKUP_BENCH_COOKIE=sb.info["cookie"])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _baseline_rss() -> float:
    code = (
        "import resource, httpx, tzbackup_gui.backup, tzbackup_gui.service;"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    return float(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 50000])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--files-base-url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--slug", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    sb = Sandbox()
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for size in args.sizes:
                slug = f"bench-{size}"
                sb.call("add_personality", slug=slug, memories=size)
                sb.call("clear_log")
                out = _measure(sb, Path(tmp) / f"d{size}", slug)
                out["pages"] = sb.call("count")
                rows.append((f"first backup, {size:,} memories", out))
            largest = max(args.sizes)
            slug = f"bench-{largest}"
            sb.call("add_memories", slug=slug, n=5)
            sb.call("clear_log")
            out = _measure(sb, Path(tmp) / f"d{largest}", slug)
            out["pages"] = sb.call("count")
            rows.append((f"incremental, +5 over {largest:,}", out))
    finally:
        sb.close()
    print(f"baseline RSS (imports only): {_baseline_rss():.1f} MB")
    print(
        f"{'run':34} {'status':7} {'new':>7} {'total':>7} {'pages':>6} {'wall s':>8} {'cpu s':>7} "
        f"{'peak RSS MB':>11}  {'mem/s':>8}"
    )
    for name, r in rows:
        rate = r["new"] / r["wall_s"] if r["wall_s"] else 0.0
        print(
            f"{name:34} {r['status']:7} {r['new']:>7} {r['total']:>7} {r['pages']:>6} {r['wall_s']:>8.2f} "
            f"{r['cpu_s']:>7.2f} {r['peak_rss_mb']:>11.1f}  {rate:>8.0f}"
        )


if __name__ == "__main__":
    main()
