"""The sync algorithm against the real sandbox over loopback: exact ids on disk and request counts."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tzbackup_gui.archive import CHUNK_SIZE, list_backups, read_backup_status, verify_backup
from tzbackup_gui.events import MemoryPageFetched, PersonalityFinished, PhaseChanged, Reconciling, RunFinished
from tzbackup_gui.sandbox import SandboxServer

from .engine_support import Runner, max_pages, sandbox, stored, stored_ids, upstream_ids

__all__ = ["sandbox"]

SLUG = "eng-sync"


@pytest.fixture
def runner(sandbox: SandboxServer, tmp_path: Path) -> Runner:
    return Runner(sandbox, tmp_path / "data")


def _first(runner: Runner, memories: int) -> None:
    runner.sb.state.add_personality(SLUG, "Engine Sync", memories=memories)
    report = runner.run([SLUG])
    assert report.exit_code == 0, report
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(runner.sb, SLUG)


def test_first_run_layout(runner: Runner) -> None:
    _first(runner, 613)
    folder = runner.folder(SLUG)
    # 613 memories = 31 pages of 20, read once each, + one top-up read of page 1 (memories added meanwhile)
    assert runner.memory_requests() == 32
    meta = runner.metadata(SLUG)
    upstream = upstream_ids(runner.sb, SLUG)
    profile = runner.sb.state.personalities[SLUG].profile
    assert meta["formatVersion"] == 1 and meta["chunkSize"] == CHUNK_SIZE
    assert meta["totalMemories"] == 613 and meta["lastMemoryId"] == upstream[-1]
    assert meta["shapeId"] == profile["id"] and meta["slug"] == SLUG
    assert meta["ownerId"] == runner.sb.demo_user["id"] and meta["lastBackup"].endswith("Z")
    assert meta["runs"][-1]["status"] == "ok" and meta["runs"][-1]["new"] == 613
    # every request made for this personality is in its run record: the profile, every memory page, then
    # knowledge, training, personalization, one (empty) chat batch and the avatar
    for_this = [r for r in runner.sb.state.request_log
                if not r.path.startswith("/api/users") and r.path != "/api/shapes"]
    assert meta["runs"][-1]["requests"] == len(for_this) == 1 + 32 + 5, [r.path for r in for_this]
    assert json.loads((folder / f"{SLUG}.json").read_text("utf-8")) == profile
    sizes = [
        len(json.loads(p.read_text())["memories"])
        for p in sorted((folder / "memory").iterdir(), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    ]
    assert sizes == [250, 250, 113]
    assert verify_backup(folder).ok
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    assert not (folder / ".tzbackup" / "journal.jsonl").exists()
    events = runner.events
    assert any(isinstance(e, PhaseChanged) and e.phase == "memories" for e in events)
    pages = [e for e in events if isinstance(e, MemoryPageFetched)]
    assert pages[-1].memories_done == 613 and pages[-1].expected in (613, None)
    assert isinstance(events[-1], RunFinished) and events[-1].done == 1
    listed = list_backups(runner.data_dir)
    assert [b.slug for b in listed] == [SLUG] and listed[0].total_memories == 613


@pytest.mark.parametrize("k", [0, 5, 25, 250])
def test_incremental_request_counts(runner: Runner, k: int) -> None:
    _first(runner, 300)
    before = {m["id"]: m for m in stored(runner.folder(SLUG))}
    files_before = {p.name: p.stat().st_mtime_ns for p in (runner.folder(SLUG) / "memory").iterdir()}
    if k:
        runner.sb.state.add_memories(SLUG, k)
    report = runner.run([SLUG])
    assert report.exit_code == 0
    pages = runner.memory_requests()
    assert pages == 1 if k == 0 else pages <= max_pages(k)
    assert report.results[0].new == k
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(runner.sb, SLUG)
    after = {m["id"]: m for m in stored(runner.folder(SLUG))}
    assert all(after[i] == m for i, m in before.items())  # nothing known was touched
    files_after = {p.name: p.stat().st_mtime_ns for p in (runner.folder(SLUG) / "memory").iterdir()}
    assert (
        files_after[f"{SLUG}_memory_1.json"] == files_before[f"{SLUG}_memory_1.json"]
    )  # full file untouched
    assert verify_backup(runner.folder(SLUG)).ok


def test_newest_deleted_upstream(runner: Runner) -> None:
    _first(runner, 100)
    newest = upstream_ids(runner.sb, SLUG)[-1]
    runner.sb.state.delete_memory(SLUG, newest)
    report = runner.run([SLUG])
    assert report.exit_code == 0
    ids = stored_ids(runner.folder(SLUG))
    assert newest in ids and len(ids) == 100  # kept locally
    # Page 1 is the newest window: the missing newest memory is explained there, so the total agrees and
    # no full walk is needed; the deletion is still recorded.
    assert runner.memory_requests() == 1
    assert newest in runner.metadata(SLUG)["deletedUpstream"]
    assert report.results[0].deleted_upstream == 1
    assert not any(isinstance(e, Reconciling) for e in runner.events)
    runner.events.clear()
    report = runner.run([SLUG])
    assert runner.memory_requests() == 1 and report.results[0].new == 0  # and then costs nothing extra


def test_newest_deleted_without_total_costs_one_page(runner: Runner) -> None:
    runner.sb.state.set_variant(include_total=False)
    _first(runner, 100)
    newest = upstream_ids(runner.sb, SLUG)[-1]
    runner.sb.state.delete_memory(SLUG, newest)
    report = runner.run([SLUG])
    assert runner.memory_requests() == 1 and report.results[0].total == 100
    assert newest in runner.metadata(SLUG)["deletedUpstream"]  # seen missing from the newest window


def test_old_memory_deleted_kept_and_marked(runner: Runner) -> None:
    _first(runner, 120)
    old = upstream_ids(runner.sb, SLUG)[3]
    soft = upstream_ids(runner.sb, SLUG)[7]
    runner.sb.state.delete_memory(SLUG, old)
    runner.sb.state.delete_memory(SLUG, soft, soft=True)
    report = runner.run([SLUG], full=True)
    res = report.results[0]
    assert res.status == "ok" and res.full_walk and res.deleted_upstream == 1
    ids = stored_ids(runner.folder(SLUG))
    assert len(ids) == 120 and old in ids and soft in ids
    meta = runner.metadata(SLUG)
    assert list(meta["deletedUpstream"]) == [old] and meta["deletedUpstream"][old].endswith("Z")
    soft_copy = next(m for m in stored(runner.folder(SLUG)) if m["id"] == soft)
    assert soft_copy["deleted"] is True  # the service's flag is kept as it came
    assert meta["totalMemories"] == 120
    assert verify_backup(runner.folder(SLUG)).ok


def test_edit_updates_and_keeps_history(runner: Runner) -> None:
    _first(runner, 60)
    target = upstream_ids(runner.sb, SLUG)[5]
    old_version = next(m for m in stored(runner.folder(SLUG)) if m["id"] == target)
    runner.sb.state.edit_memory(SLUG, target, "Rewritten by the owner")
    report = runner.run([SLUG], full=True)
    assert report.results[0].edited == 1
    ids = stored_ids(runner.folder(SLUG))
    assert ids == upstream_ids(runner.sb, SLUG)
    new_version = next(m for m in stored(runner.folder(SLUG)) if m["id"] == target)
    assert new_version["result"] == "Rewritten by the owner"
    lines = (runner.folder(SLUG) / ".memory-history.jsonl").read_text("utf-8").splitlines()
    history = [json.loads(line) for line in lines]
    assert [h["id"] for h in history] == [target] and history[0]["memory"] == old_version
    runner.run([SLUG], full=True)  # a second full walk adds nothing to the history
    assert len((runner.folder(SLUG) / ".memory-history.jsonl").read_text("utf-8").splitlines()) == 1


def test_reset_upstream_loses_nothing(runner: Runner) -> None:
    _first(runner, 90)
    everything = upstream_ids(runner.sb, SLUG)
    runner.sb.state.reset_memories(SLUG)
    report = runner.run([SLUG])
    assert report.exit_code == 0
    assert stored_ids(runner.folder(SLUG)) == everything
    meta = runner.metadata(SLUG)
    assert sorted(meta["deletedUpstream"]) == sorted(everything)
    assert meta["totalMemories"] == 90
    runner.sb.state.add_memories(SLUG, 3)
    runner.run([SLUG])
    assert stored_ids(runner.folder(SLUG)) == everything + upstream_ids(runner.sb, SLUG)
    assert verify_backup(runner.folder(SLUG)).ok


def test_additions_and_deletions_during_run(runner: Runner) -> None:
    runner.sb.state.add_personality(SLUG, "Engine Sync", memories=400)
    initial = set(upstream_ids(runner.sb, SLUG))
    fired: set[int] = set()

    def hook(record: object) -> None:
        path = getattr(record, "path", "")
        page = int(getattr(record, "query", {}).get("page", "0") or 0)
        if not path.startswith("/api/memory/") or page in fired:
            return
        fired.add(page)
        ids = upstream_ids(runner.sb, SLUG)
        if page == 4:
            runner.sb.state.add_memories(SLUG, 7)  # shifts everything down
        elif page == 7:
            for mid in ids[-30:-25]:  # near the top: shifts everything below up by 5
                runner.sb.state.delete_memory(SLUG, mid)
        elif page == 10:
            runner.sb.state.add_memories(SLUG, 3)
            runner.sb.state.delete_memory(SLUG, ids[-2])

    runner.sb.state.hooks.append(hook)
    report = runner.run([SLUG])
    runner.sb.state.hooks.clear()
    assert report.exit_code == 0
    ids = stored_ids(runner.folder(SLUG))
    live = set(upstream_ids(runner.sb, SLUG))
    assert live <= set(ids) <= live | initial  # nothing live missing, nothing invented, no duplicate
    assert verify_backup(runner.folder(SLUG)).ok
    report = runner.run([SLUG], full=True)
    ids2 = stored_ids(runner.folder(SLUG))
    assert set(ids2) == set(ids) and report.results[0].new == 0


def test_status_and_events(runner: Runner) -> None:
    _first(runner, 30)
    status = read_backup_status(runner.folder(SLUG))
    assert status.total_memories == 30 and status.last_run is not None and status.last_run["status"] == "ok"
    finished = [e for e in runner.events if isinstance(e, PersonalityFinished)]
    assert finished and finished[0].new == 30 and finished[0].total == 30
