"""SIGKILL a real ``tzbackup backup`` process mid-walk, then resume: no duplicate, no loss, no refetch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tzbackup_gui.archive import verify_backup
from tzbackup_gui.archive.layout import personalities_root
from tzbackup_gui.sandbox import SandboxServer

from .engine_support import sandbox, stored_ids, upstream_ids

__all__ = ["sandbox"]

CLI = Path(__file__).resolve().parents[2] / "tzbackup_gui" / "cli" / "__init__.py"
SLUG = "eng-kill"

pytestmark = pytest.mark.skipif(
    not CLI.exists(), reason="tzbackup_gui/cli/ (the `tzbackup` CLI) is not written yet"
)


def _cmd(sandbox: SandboxServer, data: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tzbackup_gui.cli",
        "--data-dir",
        str(data),
        "--base-url",
        sandbox.base_url,
        "--delay",
        "0",
        "backup",
        SLUG,
    ]


def _memory_pages_ok(sandbox: SandboxServer) -> list[int]:
    return [
        int(r.query.get("page", "1"))
        for r in sandbox.state.request_log
        if r.path.startswith("/api/memory/") and r.status == 200
    ]


def test_sigkill_then_resume(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality(SLUG, memories=800)  # 40 pages
    sandbox.state.set_fault("slow", count=10_000, seconds=0.03, path_contains="/api/memory/")
    data = tmp_path / "data"
    sandbox.state.clear_log()
    env = dict(os.environ, TZBACKUP_COOKIE=sandbox.cookie)
    proc = subprocess.Popen(_cmd(sandbox, data), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(_memory_pages_ok(sandbox)) < 12:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    first = set(_memory_pages_ok(sandbox))
    folder = personalities_root(data) / SLUG
    assert (folder / ".tzbackup" / "journal.jsonl").exists()
    assert stored_ids(folder) == []  # nothing committed; the metadata claims nothing
    sandbox.state.clear_faults()
    sandbox.state.clear_log()
    done = subprocess.run(_cmd(sandbox, data), env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    second = _memory_pages_ok(sandbox)
    assert len(second) <= 40 - len(first) + 2  # resumed: the journaled pages were not fetched again
    refetched = [p for p in second if p in first and p != 1]
    assert len(refetched) <= 1  # only the page whose answer was in flight when killed
    assert stored_ids(folder) == upstream_ids(sandbox, SLUG)
    assert verify_backup(folder).ok


def test_repeated_kills_converge(sandbox: SandboxServer, tmp_path: Path) -> None:
    """Killed again and again at different moments (also while adding memories upstream), the backup still
    ends with every memory exactly once."""
    sandbox.state.add_personality(SLUG, memories=600)
    sandbox.state.set_fault("slow", count=100_000, seconds=0.02, path_contains="/api/memory/")
    data = tmp_path / "data"
    env = dict(os.environ, TZBACKUP_COOKIE=sandbox.cookie)
    for pages, pause in ((4, 0.0), (9, 0.013), (3, 0.029)):
        sandbox.state.clear_log()
        proc = subprocess.Popen(_cmd(sandbox, data), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(_memory_pages_ok(sandbox)) < pages and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        time.sleep(pause)
        proc.kill()
        proc.wait(10)
        sandbox.state.add_memories(SLUG, 7)
    sandbox.state.clear_faults()
    done = subprocess.run(_cmd(sandbox, data), env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    folder = personalities_root(data) / SLUG
    assert stored_ids(folder) == upstream_ids(sandbox, SLUG)
    assert verify_backup(folder).ok


@pytest.mark.parametrize(
    "variant",
    [{"pagination": "has_next", "include_total": False}, {"pagination": "has_next", "include_total": True},
     {"pagination": "total_pages", "include_total": False}],
    ids=["has_next", "has_next+total", "total_pages"],
)
def test_repeated_kills_with_deletions_mid_walk_converge(
    sandbox: SandboxServer, tmp_path: Path, variant: dict[str, object]
) -> None:
    """Killed again and again while memories the walk already read are deleted upstream (during each run and
    between runs) and new ones arrive: the last run exits 0 with every live memory stored, and no live
    memory is ever recorded as deleted upstream."""
    sandbox.state.set_variant(**variant)  # type: ignore[arg-type]
    sandbox.state.add_personality(SLUG, memories=600)
    sandbox.state.set_fault("slow", count=100_000, seconds=0.02, path_contains="/api/memory/")
    seen = [0]

    def delete_read_ones(record: object) -> None:
        if getattr(record, "path", "").startswith("/api/memory/"):
            seen[0] += 1
            if seen[0] % 5 == 0:  # every fifth memory request: the newest (read on page 1) goes
                sandbox.state.delete_memory(SLUG, upstream_ids(sandbox, SLUG)[-1])

    sandbox.state.hooks.append(delete_read_ones)
    data = tmp_path / "data"
    env = dict(os.environ, TZBACKUP_COOKIE=sandbox.cookie)
    for pages, pause in ((6, 0.0), (11, 0.013), (4, 0.029), (9, 0.007)):
        sandbox.state.clear_log()
        proc = subprocess.Popen(_cmd(sandbox, data), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(_memory_pages_ok(sandbox)) < pages and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        time.sleep(pause)
        proc.kill()
        proc.wait(10)
        sandbox.state.add_memories(SLUG, 7)
        for mid in upstream_ids(sandbox, SLUG)[-30:-27]:
            sandbox.state.delete_memory(SLUG, mid)
    sandbox.state.hooks.clear()
    sandbox.state.clear_faults()
    done = subprocess.run(_cmd(sandbox, data), env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    folder = personalities_root(data) / SLUG
    live = set(upstream_ids(sandbox, SLUG))
    stored = set(stored_ids(folder))
    assert live <= stored
    meta = json.loads((folder / ".backup-metadata.json").read_text("utf-8"))
    assert not set(meta["deletedUpstream"]) & live
    assert verify_backup(folder).ok
