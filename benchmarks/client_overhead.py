"""Benchmark the service client's own overhead against the sandbox.

The sandbox runs in a separate process (``python -m tzbackup_gui.sandbox --port 0``), so the CPU time
measured here (``time.process_time`` of this process) is the client's alone: httpx, pacing, retries,
classification and JSON parsing of the pages.

1. Throughput: fetch ``--pages`` memory pages (20 memories each) with pacing 0: requests/s and client CPU
   milliseconds per request.
2. Pacing accuracy: ``--requests`` requests with a ``--delay`` spacing: wall time against the ideal
   (N - 1) x delay, and the overhead in percent (target: under 3 %).

    .venv/bin/python benchmarks/client_overhead.py                 # 200 pages; 11 requests at 1 s
    .venv/bin/python benchmarks/client_overhead.py --requests 4    # a quicker pacing run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

import httpx

from tzbackup_gui.service import Pacer, RetryPolicy, ShapesClient
from tzbackup_gui.service.auth import parse_cookie_input

BENCH_SLUG = "bench-pages"


class SandboxProcess:
    """The sandbox in its own interpreter; reads the URL and cookie from what it prints."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tzbackup_gui.sandbox", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        self.base_url = self.files_base_url = self.cookie = ""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (self.base_url and self.cookie and self.files_base_url):
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the sandbox process exited before it was ready")
            if "listening on" in line:
                self.base_url = line.rsplit(" ", 1)[-1].strip()
            elif "files URL:" in line:
                self.files_base_url = line.rsplit(" ", 1)[-1].strip()
            elif "cookie:" in line:
                self.cookie = line.split("cookie:", 1)[1].strip()

    def control(self, op: str, **kwargs: Any) -> Any:
        request = urllib.request.Request(
            f"{self.base_url}/__sandbox/{op}", data=json.dumps(kwargs).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["result"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def throughput(sb: SandboxProcess, pages: int) -> dict[str, float]:
    shape = sb.control("add_personality", slug=BENCH_SLUG, memories=pages * 20)
    async with httpx.AsyncClient() as http:
        client = ShapesClient(http, parse_cookie_input(sb.cookie), base_url=sb.base_url,
                              files_base_url=sb.files_base_url, pacer=Pacer(0), retry=RetryPolicy())
        await client.get_memory_page(shape["id"], 1)  # warm-up: connection, first-call imports
        items = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for page in range(1, pages + 1):
            items += len((await client.get_memory_page(shape["id"], page)).items)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    assert items == pages * 20, items
    return {"pages": pages, "wall_s": wall, "req_per_s": pages / wall, "cpu_ms_per_req": 1000 * cpu / pages,
            "wall_ms_per_req": 1000 * wall / pages}


async def pacing(sb: SandboxProcess, requests: int, delay: float) -> dict[str, float]:
    async with httpx.AsyncClient() as http:
        client = ShapesClient(http, parse_cookie_input(sb.cookie), base_url=sb.base_url,
                              files_base_url=sb.files_base_url, pacer=Pacer(delay), retry=RetryPolicy())
        start = time.perf_counter()
        for _ in range(requests):
            await client.me()
        wall = time.perf_counter() - start
    ideal = (requests - 1) * delay
    return {"requests": requests, "delay": delay, "wall_s": wall, "ideal_s": ideal,
            "overhead_pct": 100 * (wall - ideal) / ideal if ideal else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=200, help="memory pages for the throughput run")
    parser.add_argument("--requests", type=int, default=11, help="requests for the pacing run (>= 2)")
    parser.add_argument("--delay", type=float, default=1.0, help="spacing for the pacing run, seconds")
    args = parser.parse_args(argv)

    sb = SandboxProcess()
    try:
        t = asyncio.run(throughput(sb, args.pages))
        print(f"throughput: {t['pages']:.0f} memory pages (20 memories each), pacing 0, "
              "sandbox in its own process")
        print(f"  wall {t['wall_s']:.3f} s   {t['req_per_s']:.0f} requests/s   "
              f"{t['wall_ms_per_req']:.2f} ms wall/request   client CPU {t['cpu_ms_per_req']:.2f} ms/request")
        p = asyncio.run(pacing(sb, max(2, args.requests), args.delay))
        print(f"pacing: {p['requests']:.0f} requests at {p['delay']:g} s spacing")
        print(f"  wall {p['wall_s']:.3f} s   ideal (N-1) x delay = {p['ideal_s']:.3f} s   "
              f"overhead {p['overhead_pct']:.2f} % (target < 3 %)")
    finally:
        sb.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
