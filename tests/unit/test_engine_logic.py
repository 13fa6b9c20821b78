"""The engine's sync logic against a tiny in-process fake of the memory API.

The sandbox tests (tests/integration/test_engine_*.py) cover the same over the wire.

The fake pages a live list exactly like the service (newest first, 20 a page, ``has_next`` + ``total``) and
lets a test mutate the list between two page requests, which is how page boundaries shift in real life.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.archive import verify_backup
from tzbackup_gui.archive.layout import personalities_root
from tzbackup_gui.backup import BackupEngine, BackupOptions
from tzbackup_gui.errors import NotFoundError

USER = "user-1"


@dataclass
class Page:
    page: int
    items: list[dict[str, Any]]
    has_next: bool | None
    total_pages: int | None
    total: int | None


@dataclass
class Summary:
    id: str
    name: str
    username: str


class OneShapeAccount:
    """The account side of a fake service: one user who owns one personality, Lilith (``shape-1``). Each call
    counts in ``requests_made``, a field of the dataclass that mixes this in."""

    requests_made: int

    async def me(self) -> dict[str, Any]:
        self.requests_made += 1
        return {"id": USER}

    async def list_own_shapes(self) -> list[Summary]:
        self.requests_made += 1
        return [Summary("shape-1", "Lilith", "lilith")]

    async def get_profile(self, slug: str) -> dict[str, Any]:
        self.requests_made += 1
        return {"id": "shape-1", "name": "Lilith", "username": slug, "user_id": [USER]}


@dataclass
class FakeService(OneShapeAccount):
    memories: list[dict[str, Any]] = field(default_factory=list)  # chronological
    before_page: Callable[[int], None] | None = None
    report_total: bool = True
    current_slug: str = ""
    requests_made: int = 0
    pages: list[int] = field(default_factory=list)
    counter: int = 0

    def add(self, n: int) -> list[str]:
        ids = []
        for _ in range(n):
            self.counter += 1
            mid = f"m{self.counter:06d}"
            self.memories.append(
                {
                    "id": mid,
                    "result": f"text {self.counter}",
                    "deleted": False,
                    "metadata": {"created_at": 1_700_000_000.0 + self.counter},
                }
            )
            ids.append(mid)
        return ids

    def delete(self, mid: str) -> None:
        self.memories = [m for m in self.memories if m["id"] != mid]

    async def get_memory_page(self, shape_id: str, page: int, limit: int = 20) -> Page:
        self.requests_made += 1
        if self.before_page:
            self.before_page(page)
        self.pages.append(page)
        newest_first = self.memories[::-1]
        items = newest_first[(page - 1) * limit : page * limit]
        if not items and page == 1:
            raise NotFoundError("no memories")
        return Page(
            page,
            [dict(m) for m in items],
            page * limit < len(newest_first),
            None,
            len(newest_first) if self.report_total else None,
        )


def stored_ids(data_dir: Path, folder: str = "lilith") -> list[str]:
    base = personalities_root(data_dir) / folder / "memory"
    ids: list[str] = []
    n = 1
    while (base / f"{folder}_memory_{n}.json").exists():
        ids += [m["id"] for m in json.loads((base / f"{folder}_memory_{n}.json").read_text())["memories"]]
        n += 1
    return ids


def run(service: FakeService, data_dir: Path, **opts: Any) -> Any:
    engine = BackupEngine(service, data_dir, options=BackupOptions(**opts))  # type: ignore[arg-type]
    return asyncio.run(engine.run(["lilith"]))


def test_first_then_incremental(tmp_path: Path) -> None:
    svc = FakeService()
    svc.add(613)
    report = run(svc, tmp_path)
    assert report.exit_code == 0, report
    assert stored_ids(tmp_path) == [m["id"] for m in svc.memories]
    assert verify_backup(personalities_root(tmp_path) / "lilith").ok
    svc.pages.clear()
    run(svc, tmp_path)
    assert svc.pages == [1]
    svc.add(45)
    svc.pages.clear()
    report = run(svc, tmp_path)
    assert len(svc.pages) <= 4 and report.results[0].new == 45
    assert stored_ids(tmp_path) == [m["id"] for m in svc.memories]
    assert verify_backup(personalities_root(tmp_path) / "lilith").ok


def test_deletions_mid_walk_skip_nothing(tmp_path: Path) -> None:
    svc = FakeService()
    svc.add(200)
    expected_ids = {m["id"] for m in svc.memories}
    deleted: list[str] = []

    def hook(page: int) -> None:
        if page in (3, 6):  # delete memories above the boundary: everything shifts up
            for m in svc.memories[-5:]:
                deleted.append(m["id"])
                svc.delete(m["id"])

    svc.before_page = hook
    run(svc, tmp_path)
    on_disk = stored_ids(tmp_path)
    assert len(on_disk) == len(set(on_disk))
    # every memory still live was stored; the deleted ones may or may not have been seen first
    assert {m["id"] for m in svc.memories} <= set(on_disk) <= expected_ids


def test_additions_mid_walk(tmp_path: Path) -> None:
    svc = FakeService()
    svc.add(150)

    def hook(page: int) -> None:
        if page in (2, 4):
            svc.add(7)

    svc.before_page = hook
    run(svc, tmp_path)
    svc.before_page = None
    on_disk = stored_ids(tmp_path)
    assert on_disk == [m["id"] for m in svc.memories]


def test_edit_and_delete_on_reconcile(tmp_path: Path) -> None:
    svc = FakeService()
    svc.add(300)
    run(svc, tmp_path)
    old = svc.memories[10]["id"]
    svc.memories[20]["result"] = "edited"
    edited = svc.memories[20]["id"]
    svc.delete(old)
    report = run(svc, tmp_path, full=True)
    res = report.results[0]
    assert (res.edited, res.deleted_upstream, res.total) == (1, 1, 300)
    folder = personalities_root(tmp_path) / "lilith"
    meta = json.loads((folder / ".backup-metadata.json").read_text())
    assert old in meta["deletedUpstream"]
    history = [json.loads(line) for line in (folder / ".memory-history.jsonl").read_text().splitlines()]
    assert [h["id"] for h in history] == [edited]
    assert history[0]["memory"]["result"] != "edited"
    assert len(stored_ids(tmp_path)) == 300
    assert verify_backup(folder).ok


def test_cancel_then_resume_without_refetch(tmp_path: Path) -> None:
    svc = FakeService()
    svc.add(400)
    holder: dict[str, asyncio.Task[Any]] = {}

    def hook(page: int) -> None:
        if page == 6:
            holder["task"].cancel()

    svc.before_page = hook

    async def main() -> BackupEngine:
        engine = BackupEngine(svc, tmp_path)  # type: ignore[arg-type]
        holder["task"] = asyncio.ensure_future(engine.run(["lilith"]))
        with pytest.raises(asyncio.CancelledError):
            await holder["task"]
        return engine

    engine = asyncio.run(main())
    assert engine.report.cancelled and engine.report.results[0].status == "cancelled"
    assert svc.pages == [1, 2, 3, 4, 5, 6]
    folder = personalities_root(tmp_path) / "lilith"
    meta = json.loads((folder / ".backup-metadata.json").read_text())
    # what arrived before the cancel is committed at once (readable, exportable), marked unfinished; the
    # first backup has still not succeeded
    fetched = [m["id"] for m in svc.memories[-120:]]
    assert meta["runs"][-1]["status"] == "cancelled" and meta["totalMemories"] == 120
    assert stored_ids(tmp_path) == fetched and meta["unfinishedWalk"]["fetched"] == 120
    assert meta["lastBackup"] is None and "lastFullReconcile" not in meta and not meta["deletedUpstream"]
    assert (folder / ".tzbackup" / "journal.jsonl").exists()
    svc.before_page = None
    svc.pages.clear()
    report = run(svc, tmp_path)
    assert report.exit_code == 0
    assert svc.pages[0] == 7 and svc.pages.count(1) == 1  # resumed; one top-up read of page 1
    assert stored_ids(tmp_path) == [m["id"] for m in svc.memories]
    assert not (folder / ".tzbackup" / "journal.jsonl").exists()


def test_crash_during_commit_rolls_forward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tzbackup_gui.archive import personality

    svc = FakeService()
    svc.add(600)
    real_apply = personality.PersonalityArchive._apply
    state = {"armed": True}

    def crash(self: Any, plan: dict[str, Any]) -> None:
        if state["armed"]:
            state["armed"] = False
            raise KeyboardInterrupt  # the process dies after the commit record was written
        real_apply(self, plan)

    monkeypatch.setattr(personality.PersonalityArchive, "_apply", crash)
    with pytest.raises(KeyboardInterrupt):
        run(svc, tmp_path)
    folder = personalities_root(tmp_path) / "lilith"
    assert (folder / ".tzbackup" / "commit.json").exists()
    assert stored_ids(tmp_path) == []  # nothing moved yet, and the metadata claims nothing
    svc.pages.clear()
    report = run(svc, tmp_path)
    assert report.exit_code == 0
    assert stored_ids(tmp_path) == [m["id"] for m in svc.memories]
    assert svc.pages == [1]  # the finished walk was committed, then one incremental page
    assert verify_backup(folder).ok


def test_disk_full_keeps_previous_backup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    from tzbackup_gui.archive import store

    svc = FakeService()
    svc.add(260)
    run(svc, tmp_path)
    before = stored_ids(tmp_path)
    svc.add(30)
    real_write = os.write
    calls = {"n": 0}

    def failing(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] >= 4:  # a few journal pages go through, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(store.os, "write", failing)
    report = run(svc, tmp_path)
    monkeypatch.undo()
    assert report.exit_code == 4 and report.stopped_by == "DiskFullError"
    assert report.results[0].status == "failed"
    assert stored_ids(tmp_path) == before
    folder = personalities_root(tmp_path) / "lilith"
    assert verify_backup(folder).ok
    assert not [p for p in folder.rglob("*") if ".tmp-" in p.name]
    report = run(svc, tmp_path)
    assert report.exit_code == 0
    assert stored_ids(tmp_path) == [m["id"] for m in svc.memories]


def test_corrupt_chunk_refused_and_kept(tmp_path: Path) -> None:
    svc = FakeService()
    svc.add(600)
    run(svc, tmp_path)
    folder = personalities_root(tmp_path) / "lilith"
    bad = folder / "memory" / "lilith_memory_2.json"
    bad.write_text('{"memories": [{"id": "x"', "utf-8")
    (folder / ".tzbackup" / "index.json").unlink()
    check = verify_backup(folder)
    assert not check.ok and any("lilith_memory_2.json" in p for p in check.problems)
    report = run(svc, tmp_path)
    res = report.results[0]
    assert res.status == "refused" and res.error_kind == "CorruptBackupError"
    assert "lilith_memory_2.json" in res.error
    assert bad.read_text("utf-8") == '{"memories": [{"id": "x"'
    # moving only the damaged file aside leaves a gap: never renumbered around, still refused and reported
    bad.rename(folder / "lilith_memory_2.json.corrupt")
    report = run(svc, tmp_path, full=True)
    assert report.exit_code == 1 and report.results[0].status == "refused"
    assert "lilith_memory_2.json" in report.results[0].error
    left = sorted(p.name for p in (folder / "memory").iterdir())
    assert left == ["lilith_memory_1.json", "lilith_memory_3.json"]
    assert any("lilith_memory_2.json" in p for p in verify_backup(folder).problems)
    # moving the personality folder aside (the hint's way out) gives a whole backup from the service
    folder.rename(tmp_path / "lilith-damaged")
    report = run(svc, tmp_path, full=True)
    assert report.exit_code == 0
    assert stored_ids(tmp_path) == [m["id"] for m in svc.memories]
    assert verify_backup(folder).ok


def test_no_total_reported_costs_one_page(tmp_path: Path) -> None:
    svc = FakeService(report_total=False)
    svc.add(100)
    run(svc, tmp_path)
    svc.delete(svc.memories[-1]["id"])  # the newest memory is deleted upstream
    svc.pages.clear()
    report = run(svc, tmp_path)
    assert svc.pages == [1] and report.results[0].total == 100


def test_edit_recorded_once(tmp_path: Path) -> None:
    svc = FakeService()
    svc.add(600)
    run(svc, tmp_path)
    svc.memories[3]["result"] = "edited in the first file"
    assert run(svc, tmp_path, full=True).results[0].edited == 1
    assert run(svc, tmp_path, full=True).results[0].edited == 0
    (personalities_root(tmp_path) / "lilith" / ".tzbackup" / "index.json").unlink()
    assert run(svc, tmp_path, full=True).results[0].edited == 0


def test_old_full_walk_triggers_reconcile(tmp_path: Path) -> None:
    from tzbackup_gui.events import Reconciling

    svc = FakeService()
    svc.add(95)
    run(svc, tmp_path)
    meta_path = personalities_root(tmp_path) / "lilith" / ".backup-metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["lastFullReconcile"] = "2020-01-01T00:00:00Z"
    meta_path.write_text(json.dumps(meta))
    events: list[Any] = []
    svc.pages.clear()
    engine = BackupEngine(svc, tmp_path, on_event=events.append)  # type: ignore[arg-type]
    report = asyncio.run(engine.run(["lilith"]))
    # every page once, then one top-up read of page 1 for memories added while the walk ran
    assert report.results[0].full_walk and svc.pages == [1, 2, 3, 4, 5, 1]
    assert any(isinstance(e, Reconciling) and "days old" in e.reason for e in events)
    svc.pages.clear()
    assert not run(svc, tmp_path).results[0].full_walk and svc.pages == [1]
    svc.pages.clear()
    assert run(svc, tmp_path, reconcile_age_days=0).results[0].full_walk


def test_unexplained_total_continues_as_full_walk(tmp_path: Path) -> None:
    svc = FakeService()
    svc.add(130)
    run(svc, tmp_path)
    gone = svc.memories[40]["id"]
    svc.delete(gone)  # an old memory: the early stop cannot see it, but the total drops by one
    svc.add(3)
    svc.pages.clear()
    report = run(svc, tmp_path)
    res = report.results[0]
    assert res.full_walk and res.new == 3 and res.deleted_upstream == 1
    # pages 2.. continue the same walk (page 1 is not walked twice), then one top-up read of page 1
    assert svc.pages == [1, 2, 3, 4, 5, 6, 7, 1]
    meta = json.loads((personalities_root(tmp_path) / "lilith" / ".backup-metadata.json").read_text())
    assert gone in meta["deletedUpstream"] and meta["totalMemories"] == 133


def test_page_entries_without_an_id_are_counted_not_guessed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    svc = FakeService()
    svc.add(30)
    svc.memories.insert(10, {"result": "a memory object without an id", "metadata": {"created_at": 1.0}})
    svc.memories.insert(20, {"id": "", "result": "an empty id", "metadata": {"created_at": 2.0}})
    with caplog.at_level("WARNING", logger="tzbackup.engine"):
        report = run(svc, tmp_path)
    assert report.exit_code == 0
    assert stored_ids(tmp_path) == [m["id"] for m in svc.memories if m.get("id")]
    meta = json.loads((personalities_root(tmp_path) / "lilith" / ".backup-metadata.json").read_text())
    assert meta["runs"][-1]["skippedWithoutId"] == 2
    assert "2 page entries were not memory objects with an id" in caplog.text
    # never dropped: both are kept verbatim beside the memories, once each (a second run adds nothing)
    quarantine = personalities_root(tmp_path) / "lilith" / ".memory-quarantine.jsonl"
    kept = [json.loads(line)["entry"] for line in quarantine.read_text("utf-8").splitlines()]
    assert sorted(kept, key=str) == sorted([m for m in svc.memories if not m.get("id")], key=str)
    run(svc, tmp_path, full=True)
    assert len(quarantine.read_text("utf-8").splitlines()) == 2
