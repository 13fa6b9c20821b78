"""Failures mid-run: 429 / 5xx storms, session expiry, cancellation, disk full, damaged files."""

from __future__ import annotations

import asyncio
import errno
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.archive import store, verify_backup
from tzbackup_gui.events import MemoryPageFetched, Waiting
from tzbackup_gui.sandbox import SandboxServer
from tzbackup_gui.service import RetryPolicy

from .engine_support import Runner, sandbox, stored_ids, upstream_ids

__all__ = ["sandbox"]

SLUG = "eng-faults"


def _setup(sandbox: SandboxServer, tmp_path: Path, memories: int = 200) -> Runner:
    sandbox.state.add_personality(SLUG, "Engine Faults", memories=memories)
    return Runner(sandbox, tmp_path)


@pytest.mark.parametrize(
    ("fault", "params"),
    [
        ("rate_limit", {"retry_after": "0"}),
        ("rate_limit", {"retry_after": None}),
        ("server_error", {"status": 503}),
        ("server_error", {"status": 502}),
        ("drop", {}),
    ],
)
def test_storms_are_ridden_out(
    sandbox: SandboxServer, tmp_path: Path, fault: str, params: dict[str, Any]
) -> None:
    runner = _setup(sandbox, tmp_path)
    sandbox.state.set_fault(fault, count=2, after=3, path_contains="/api/memory/", **params)
    report = runner.run([SLUG])
    assert report.exit_code == 0, report.results
    assert sum(1 for r in sandbox.state.request_log if r.fault == fault) == 2  # the storm really happened
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(sandbox, SLUG)


def test_persistent_5xx_fails_then_resumes(sandbox: SandboxServer, tmp_path: Path) -> None:
    runner = _setup(sandbox, tmp_path)
    sandbox.state.set_fault("server_error", count=1000, after=5, path_contains="/api/memory/", status=500)
    report = runner.run([SLUG])
    res = report.results[0]
    assert report.exit_code == 1 and res.status == "failed" and res.error_kind == "ServerError"
    assert runner.metadata(SLUG)["runs"][-1]["status"] == "failed"
    sandbox.state.clear_faults()
    report = runner.run([SLUG])
    assert report.exit_code == 0
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(sandbox, SLUG)


def test_session_expiry_then_resume_with_new_cookie(sandbox: SandboxServer, tmp_path: Path) -> None:
    runner = _setup(sandbox, tmp_path, memories=300)  # 15 pages
    sandbox.state.set_fault("expire_after", requests=8)
    report = runner.run([SLUG])
    assert report.exit_code == 3 and report.stopped_by in ("SessionExpiredError", "AuthError")
    got_pages = {
        int(r.query.get("page", "1"))
        for r in sandbox.state.request_log
        if r.path.startswith("/api/memory/") and r.status == 200
    }
    assert got_pages, "some pages arrived before the session died"
    cookie = sandbox.state.new_session()
    report = runner.run([SLUG], cookie=cookie)
    assert report.exit_code == 0
    refetched = [p for p in runner.memory_pages() if p in got_pages]
    assert refetched in ([], [1])  # at most the top-up read of page 1
    assert runner.memory_requests() <= 15 - len(got_pages) + 2
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(sandbox, SLUG)


def test_bulk_run_stops_on_auth_failure(sandbox: SandboxServer, tmp_path: Path) -> None:
    for i in range(3):
        sandbox.state.add_personality(f"bulk-{i}", memories=30)
    runner = Runner(sandbox, tmp_path)
    slugs = ["bulk-0", "bulk-1", "bulk-2"]
    sandbox.state.set_fault("expire_after", requests=6)
    report = runner.run(slugs)
    assert report.exit_code == 3
    statuses = [r.status for r in report.results]
    assert statuses[0] == "ok" and "not_started" in statuses


def test_cancel_mid_run_then_resume(sandbox: SandboxServer, tmp_path: Path) -> None:
    runner = _setup(sandbox, tmp_path, memories=400)
    sandbox.state.set_fault("slow", count=1000, seconds=0.05, path_contains="/api/memory/")

    async def cancel_after_pages() -> float:
        fifth_page = runner.when(lambda e: isinstance(e, MemoryPageFetched) and e.page == 5)
        task = asyncio.ensure_future(runner.arun([SLUG]))
        await asyncio.wait_for(fifth_page.wait(), 30)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - t0

    sandbox.state.clear_log()
    elapsed = asyncio.run(cancel_after_pages())
    assert elapsed < 5
    assert runner.engine.report.cancelled
    assert runner.engine.report.results[0].status == "cancelled"
    first_pages = set(runner.memory_pages())
    meta = runner.metadata(SLUG)
    # what arrived before the cancel is in the memory files already (readable, exportable), marked as from
    # an unfinished walk; the journal stays for the resume
    fetched = meta["totalMemories"]
    assert meta["runs"][-1]["status"] == "cancelled" and fetched >= 80 and fetched % 20 == 0
    assert set(stored_ids(runner.folder(SLUG))) <= set(upstream_ids(sandbox, SLUG))
    assert meta["unfinishedWalk"]["fetched"] == fetched and meta["lastBackup"] is None
    assert (runner.folder(SLUG) / ".tzbackup" / "journal.jsonl").exists()
    sandbox.state.clear_faults()
    report = runner.run([SLUG])
    assert report.exit_code == 0
    again = [p for p in runner.memory_pages() if p in first_pages and p != 1]
    assert len(again) <= 1  # only a page whose answer was still in flight when cancelled
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(sandbox, SLUG)


def test_cancel_during_backoff_is_prompt(sandbox: SandboxServer, tmp_path: Path) -> None:
    runner = _setup(sandbox, tmp_path, memories=100)
    sandbox.state.set_fault("rate_limit", count=5, after=2, path_contains="/api/memory/", retry_after="30")

    async def go() -> float:
        patient = RetryPolicy(max_attempts=6, base_delay=0.01, retry_after_cap=120.0)
        long_wait = runner.when(lambda e: isinstance(e, Waiting) and e.seconds >= 20)
        task = asyncio.ensure_future(runner.arun([SLUG], retry=patient))
        await asyncio.wait_for(long_wait.wait(), 30)
        await asyncio.sleep(0.1)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - t0

    sandbox.state.clear_log()
    assert asyncio.run(go()) < 5
    assert any(isinstance(e, Waiting) and e.seconds >= 20 for e in runner.events)  # it was in a 30 s wait
    assert runner.engine.report.results[0].status == "cancelled"


def test_disk_full_keeps_previous_backup(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = _setup(sandbox, tmp_path, memories=260)
    assert runner.run([SLUG]).exit_code == 0
    before = stored_ids(runner.folder(SLUG))
    meta_before = runner.metadata(SLUG)
    sandbox.state.add_memories(SLUG, 300)
    real_write = os.write
    calls = {"n": 0}

    def failing(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] >= 8:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(store.os, "write", failing)
    report = runner.run([SLUG])
    monkeypatch.undo()
    assert report.exit_code == 4 and report.stopped_by == "DiskFullError"
    assert "disk is full" in report.error
    assert stored_ids(runner.folder(SLUG)) == before
    assert runner.metadata(SLUG)["totalMemories"] == meta_before["totalMemories"]
    assert verify_backup(runner.folder(SLUG)).ok
    assert not [p for p in runner.folder(SLUG).rglob("*") if ".tmp-" in p.name]
    assert runner.run([SLUG]).exit_code == 0
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(sandbox, SLUG)


def test_corrupt_memory_file(sandbox: SandboxServer, tmp_path: Path) -> None:
    runner = _setup(sandbox, tmp_path, memories=600)
    runner.run([SLUG])
    folder = runner.folder(SLUG)
    bad = folder / "memory" / f"{SLUG}_memory_2.json"
    bad.write_bytes(bad.read_bytes()[:500])
    check = verify_backup(folder)
    assert not check.ok and any(bad.name in p for p in check.problems)
    sandbox.state.add_memories(SLUG, 3)
    report = runner.run([SLUG])
    res = report.results[0]
    assert report.exit_code == 1 and res.status == "refused" and res.error_kind == "CorruptBackupError"
    assert bad.name in res.error
    assert bad.exists() and len(bad.read_bytes()) == 500  # never deleted or rewritten silently


def test_io_error_fails_one_personality_and_the_others_still_run(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for slug in ("io-a", "io-b"):
        sandbox.state.add_personality(slug, memories=30)
    runner = Runner(sandbox, tmp_path)
    assert runner.run(["io-a", "io-b"]).exit_code == 0
    for slug in ("io-a", "io-b"):
        sandbox.state.add_memories(slug, 5)
    before = stored_ids(runner.folder("io-a"))
    real_write, calls = os.write, {"n": 0}

    def failing_write(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 3:  # somewhere inside io-a's run
            raise OSError(errno.EIO, "Input/output error")
        return real_write(fd, data)

    monkeypatch.setattr(store.os, "write", failing_write)
    report = runner.run(["io-a", "io-b"])
    monkeypatch.setattr(store.os, "write", real_write)
    first, second = report.results
    assert report.exit_code == 1
    assert first.status == "failed" and first.error_kind == "ArchiveError"
    assert "Could not write" in first.error
    assert second.status == "ok" and second.new == 5
    assert stored_ids(runner.folder("io-a")) == before  # the previous backup is intact
    report = runner.run(["io-a"])
    assert report.exit_code == 0 and stored_ids(runner.folder("io-a")) == upstream_ids(sandbox, "io-a")


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_damaged_metadata_is_refused_and_kept(sandbox: SandboxServer, tmp_path: Path, damage: str) -> None:
    sandbox.state.add_personality("meta-x", memories=30)
    runner = Runner(sandbox, tmp_path)
    assert runner.run(["meta-x"]).exit_code == 0
    meta = runner.folder("meta-x") / ".backup-metadata.json"
    if damage == "truncated":
        meta.write_text('{"formatVers', "utf-8")
    else:
        meta.unlink()
    files_before = sorted(p.name for p in (runner.folder("meta-x") / "memory").iterdir())
    report = runner.run(["meta-x"])
    res = report.results[0]
    assert report.exit_code == 1 and res.status == "refused" and res.error_kind == "CorruptBackupError"
    assert ".backup-metadata.json" in res.error and "earlier backup tool" not in res.error
    assert sorted(p.name for p in (runner.folder("meta-x") / "memory").iterdir()) == files_before
    assert (meta.read_text("utf-8") == '{"formatVers') if damage == "truncated" else not meta.exists()
