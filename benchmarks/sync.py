"""Benchmark the backup engine against the sandbox: first backups of 2k / 10k / 50k memories and an
incremental run with 5 new memories over the 50k backup; then the cost of a full memory walk on every
response shape the sandbox serves, undisturbed and with deletions mid-walk (150 already-read memories at
once, then one per request for 36 requests): memory-page requests per walk divided by pages, beside the
issue's ceiling 1 + (2·ceil(log2 P) + 3)/P (P + 1 where the service sends a total), and whether the result
was exact (every live memory stored, none recorded deleted upstream).

The sandbox runs in its own process (so its memory is not counted) and every measured backup runs in a
fresh child process, which reports its wall time, CPU time (user + system) and peak RSS (``ru_maxrss``).
Pacing is 0.

    .venv/bin/python benchmarks/sync.py            # sizes 2000 10000 50000
    .venv/bin/python benchmarks/sync.py --sizes 2000 10000
    .venv/bin/python benchmarks/sync.py --walks-only --sizes 2000   # only the walk-cost table
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
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
            elif op == "set_variant":
                sb.state.set_variant(**args)
                conn.send(None)
            elif op == "arm_deletions":
                sb.state.hooks.clear()
                sb.state.hooks.append(_deleter(sb, args["slug"]))
                conn.send(None)
            elif op == "disarm":
                sb.state.hooks.clear()
                conn.send(None)
            elif op == "live_ids":
                conn.send([m["id"] for m in sb.state.personalities[args["slug"]].memories])


def _deleter(sb: Any, slug: str) -> Any:
    """A hook that deletes memories the walk has already read while it runs: the 150 newest but 5 at the
    10th memory request, then the newest one at each of the 36 requests from the 20th on."""
    seen = [0]

    def hook(record: Any) -> None:
        if not record.path.startswith("/api/memory/"):
            return
        seen[0] += 1
        ids = [m["id"] for m in sb.state.personalities[slug].memories]
        if seen[0] == 10:
            for mid in ids[-155:-5]:
                sb.state.delete_memory(slug, mid)
        elif 20 <= seen[0] < 56:
            sb.state.delete_memory(slug, ids[-1])

    return hook


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


SHAPES: dict[str, dict[str, Any]] = {
    "has_next": {"pagination": "has_next", "include_total": False},
    "has_next+total": {"pagination": "has_next", "include_total": True},
    "total_pages": {"pagination": "total_pages", "include_total": False},
    "total_pages+total": {"pagination": "total_pages", "include_total": True},
    "none": {"pagination": "none", "include_total": False},
}


def _stored(data_dir: Path, slug: str) -> tuple[set[str], set[str]]:
    """Ids in the memory files and ids recorded deleted upstream."""
    folder = data_dir / "personalities" / slug
    ids: set[str] = set()
    for path in (folder / "memory").glob("*.json"):
        ids.update(m["id"] for m in json.loads(path.read_text("utf-8"))["memories"])
    meta = json.loads((folder / ".backup-metadata.json").read_text("utf-8"))
    return ids, set(meta.get("deletedUpstream") or {})


def walk_costs(sb: Sandbox, sizes: list[int], tmp: Path) -> None:
    """Print memory-page requests per full walk / pages, per shape and size, undisturbed and disturbed."""
    print(f"\n{'shape':18} {'memories':>8} {'pages':>6} {'ceiling':>8} {'undisturbed':>12} {'deletions':>10} "
          f"{'exact':>6}")
    for shape, variant in SHAPES.items():
        sb.call("set_variant", **variant)
        for size in sizes:
            pages = -(-size // 20)
            has_total = variant["include_total"]
            ceiling = 1 + (1 if has_total else 2 * math.ceil(math.log2(pages)) + 3) / pages
            ratios: list[float] = []
            exact = True
            for disturbed in (False, True):
                slug = f"walk-{shape}-{size}-{int(disturbed)}".replace("+", "-")
                sb.call("add_personality", slug=slug, memories=size)
                if disturbed:
                    sb.call("arm_deletions", slug=slug)
                sb.call("clear_log")
                data = tmp / slug
                out = _measure(sb, data, slug)
                requests = sb.call("count")
                sb.call("disarm")
                live = set(sb.call("live_ids", slug=slug))
                stored, deleted = _stored(data, slug)
                exact = exact and out["status"] == "ok" and live <= stored and not (live & deleted)
                ratios.append(requests / pages)
            print(f"{shape:18} {size:>8,} {pages:>6} {ceiling:>8.3f} {ratios[0]:>12.3f} {ratios[1]:>10.3f} "
                  f"{'yes' if exact else 'NO':>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 50000])
    parser.add_argument("--walks-only", action="store_true", help="only the walk-cost table")
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
            if not args.walks_only:
                rows = _sync_rows(sb, args.sizes, Path(tmp))
            walk_costs(sb, args.sizes, Path(tmp))
    finally:
        sb.close()
    if rows:
        _print_rows(rows)


def _sync_rows(sb: Sandbox, sizes: list[int], tmp: Path) -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = []
    for size in sizes:
        slug = f"bench-{size}"
        sb.call("add_personality", slug=slug, memories=size)
        sb.call("clear_log")
        out = _measure(sb, tmp / f"d{size}", slug)
        out["pages"] = sb.call("count")
        rows.append((f"first backup, {size:,} memories", out))
    largest = max(sizes)
    slug = f"bench-{largest}"
    sb.call("add_memories", slug=slug, n=5)
    sb.call("clear_log")
    out = _measure(sb, tmp / f"d{largest}", slug)
    out["pages"] = sb.call("count")
    rows.append((f"incremental, +5 over {largest:,}", out))
    return rows


def _print_rows(rows: list[tuple[str, dict[str, Any]]]) -> None:
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
