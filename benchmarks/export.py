"""Benchmark the exports of a 50,000-memory personality: zip, Markdown, card; then verify and import the zip.

The backup folder is written directly in the on-disk layout (chunk files of 250, metadata, profile) from
the sandbox's memory generator, then checked with ``verify_backup`` so it is a valid backup. Every step
(the build too) runs in a fresh child process, which reports its wall time, CPU time and peak RSS
(``ru_maxrss``); the parent stays small, since on Linux a child's ``ru_maxrss`` starts from its parent's.

    .venv/bin/python benchmarks/export.py                 # 50,000 memories
    .venv/bin/python benchmarks/export.py --memories 10000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SLUG = "bench"


def build(data_dir: Path, n: int) -> Path:
    """A valid backup folder of ``n`` memories."""
    from tzbackup_gui.archive import verify_backup
    from tzbackup_gui.archive.layout import CHUNK_SIZE, FORMAT_VERSION, chunk_file_name
    from tzbackup_gui.archive.store import atomic_write_json
    from tzbackup_gui.sandbox.data import BASE_TS, DEMO_USER_ID, build_profile, make_memories

    rng = random.Random(7)
    shape_id = "00000000-0000-4000-8000-000000000050"
    folder = data_dir / "personalities" / SLUG
    (folder / "memory").mkdir(parents=True)
    profile = build_profile(rng, shape_id, SLUG, "Bench Mark", [DEMO_USER_ID], "", BASE_TS)
    atomic_write_json(folder / f"{SLUG}.json", profile)
    memories = make_memories(rng, shape_id, "Bench Mark", n, start=BASE_TS)
    for number, at in enumerate(range(0, n, CHUNK_SIZE), 1):
        atomic_write_json(folder / "memory" / chunk_file_name(SLUG, number),
                          {"memories": memories[at : at + CHUNK_SIZE]}, indent=1)
    deleted = {m["id"]: "2025-06-01T00:00:00Z" for m in memories[::1000]}
    atomic_write_json(folder / ".backup-metadata.json", {
        "formatVersion": FORMAT_VERSION, "tool": "tzbackup", "shapeId": shape_id, "slug": SLUG,
        "displayName": "Bench Mark", "ownerId": DEMO_USER_ID, "folder": SLUG,
        "lastBackup": "2025-06-01T00:00:00Z", "totalMemories": n, "chunkSize": CHUNK_SIZE,
        "deletedUpstream": deleted, "runs": [], "lastMemoryId": memories[-1]["id"],
    })
    report = verify_backup(folder)
    assert report.ok, report.problems[:3]
    return folder


def measure(step: str, folder: Path, out: Path) -> dict[str, Any]:
    """Run one step in this (child) process; wall, CPU and peak RSS."""
    from tzbackup_gui.archive.export import export_card, export_markdown, export_zip
    from tzbackup_gui.archive.importer import import_archive, verify_export

    start, cpu0 = time.perf_counter(), time.process_time()
    detail: dict[str, Any] = {}
    if step.startswith("build"):
        build(out, int(step.split(":")[1]))
    elif step == "zip":
        detail["bytes_in"] = export_zip(folder, out).bytes
    elif step == "markdown":
        export_markdown(folder, out)
    elif step == "card":
        export_card(folder, out, out.with_suffix(".png"))
    elif step == "verify_export":
        report = verify_export(out)
        assert report.ok, report.problems[:3]
        detail["memories"] = report.memories
    elif step == "import":
        detail["memories"] = import_archive(out, folder).memories
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = sum(p.stat().st_size for p in (out, out.with_suffix(".png")) if p.is_file() and step != "import")
    return {"step": step, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mb": round(rss, 1),
            "output_bytes": size, **detail}


def child(step: str, folder: Path, out: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", step, str(folder), str(out)],
                          check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memories", type=int, default=50_000)
    parser.add_argument("--child", nargs=3, metavar=("STEP", "FOLDER", "OUT"))
    args = parser.parse_args()
    if args.child:
        step, folder, out = args.child
        print(json.dumps(measure(step, Path(folder), Path(out))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        # built in a child too: on Linux ru_maxrss survives exec, so the parent must stay small
        child(f"build:{args.memories}", root, root / "data")
        folder = root / "data" / "personalities" / SLUG
        folder_bytes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        print(f"built {args.memories} memories ({folder_bytes / 1e6:.1f} MB on disk) in "
              f"{time.perf_counter() - t0:.1f}s")
        zip_path = root / "bench.zip"
        rows = [
            child("zip", folder, zip_path),
            child("markdown", folder, root / "bench.md"),
            child("card", folder, root / "bench.card.json"),
            child("verify_export", folder, zip_path),
            child("import", root / "imported", zip_path),
        ]
        for row in rows:
            print(json.dumps(row))
        print(f"zip / folder size ratio: {rows[0]['output_bytes'] / folder_bytes:.3f}")


if __name__ == "__main__":
    main()
