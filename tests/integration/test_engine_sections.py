"""Knowledge, training and personalization sections against the real sandbox over loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.archive import verify_backup
from tzbackup_gui.archive.export import load_knowledge
from tzbackup_gui.backup.engine import load_chat_sync
from tzbackup_gui.backup.sections import history_records
from tzbackup_gui.sandbox import SandboxServer
from tzbackup_gui.sandbox.data import make_training, make_user_data

from .engine_support import Runner, sandbox, stored_ids, upstream_ids

__all__ = ["sandbox"]

SLUG = "eng-sections"
#: sections every full run reports besides knowledge/training/personalization (chat once chat.py exists)
OTHERS = {"images": "ok", **({"chat": "ok"} if load_chat_sync() else {})}
SMALL = ("knowledge", "training", "personalization")


def _read(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def _setup(sandbox: SandboxServer, *, story: int = 7, training: int = 3) -> None:
    import random

    p = sandbox.state.add_personality(SLUG, memories=45, story=story)
    p.training = make_training(random.Random(5), p.id, training)
    p.user_data = make_user_data(random.Random(6), p.id)


@pytest.mark.parametrize("envelope", ["bare", "items", "story", "knowledge", "single"])
def test_sections_saved_for_every_story_envelope(
    sandbox: SandboxServer, tmp_path: Path, envelope: str
) -> None:
    sandbox.state.set_variant(story_envelope=envelope)
    story = 1 if envelope == "single" else 7  # "single" is one object, not a list: one entry per section
    training = 1 if envelope == "single" else 3
    _setup(sandbox, story=story, training=training)
    runner = Runner(sandbox, tmp_path)
    report = runner.run([SLUG])
    assert report.exit_code == 0, report.results
    result = report.results[0]
    assert result.sections == {"knowledge": "ok", "training": "ok", "personalization": "ok", **OTHERS}
    folder = runner.folder(SLUG)
    upstream = sandbox.state.personalities[SLUG]
    assert _read(folder / "knowledge.json") == {"items": upstream.story}
    assert _read(folder / "training.json") == {"items": upstream.training}
    assert _read(folder / "personalization.json") == upstream.user_data
    entries, problem = load_knowledge(folder)  # the exporter reads what the engine wrote
    assert problem == "" and len(entries) == story
    sections = runner.metadata(SLUG)["sections"]
    assert sections["knowledge"]["count"] == story
    assert sections["training"]["count"] == training
    assert sections["personalization"]["count"] == 1
    assert all(s["status"] == "ok" and s["error"] is None and s["lastSync"] for s in sections.values())
    assert runner.metadata(SLUG)["runs"][-1]["sections"]["knowledge"] == "ok"
    assert stored_ids(folder) == upstream_ids(sandbox, SLUG)
    assert verify_backup(folder).ok


def test_missing_sections_count_zero(sandbox: SandboxServer, tmp_path: Path) -> None:
    p = sandbox.state.add_personality(SLUG, memories=5, story=0)
    p.user_data = None  # 404
    runner = Runner(sandbox, tmp_path)
    report = runner.run([SLUG])
    expected = {"knowledge": "ok", "training": "ok", "personalization": "ok", **OTHERS}
    assert report.results[0].sections == expected
    sections = runner.metadata(SLUG)["sections"]
    assert {name: sections[name]["count"] for name in SMALL} == {
        "knowledge": 0, "training": 0, "personalization": 0
    }
    assert sections["images"]["count"] == 1  # the avatar (no banner)
    assert _read(runner.folder(SLUG) / "knowledge.json") == {"items": []}


def test_failing_section_is_reported_failed_and_keeps_previous_file(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    _setup(sandbox)
    runner = Runner(sandbox, tmp_path)
    assert runner.run([SLUG]).exit_code == 0
    folder = runner.folder(SLUG)
    before = (folder / "knowledge.json").read_bytes()
    first_sync = runner.metadata(SLUG)["sections"]["knowledge"]["lastSync"]
    sandbox.state.add_memories(SLUG, 4)
    sandbox.state.personalities[SLUG].training.append({"id": "t-new", "input": "hi", "output": "hello"})
    sandbox.state.set_fault("server_error", count=None, path_contains="/story")
    report = runner.run([SLUG])
    result = report.results[0]
    assert result.status == "ok" and result.new == 4  # the memories still complete
    assert report.exit_code == 1 and result.summary_status == "ok (knowledge failed)"  # a partial failure
    assert result.sections == {"knowledge": "failed", "training": "ok", "personalization": "ok", **OTHERS}
    assert (folder / "knowledge.json").read_bytes() == before
    meta = runner.metadata(SLUG)
    knowledge = meta["sections"]["knowledge"]
    assert knowledge["status"] == "failed" and knowledge["error"]
    assert knowledge["count"] == 7 and knowledge["lastSync"] == first_sync  # never "0 new"
    assert meta["sections"]["training"] == {**meta["sections"]["training"], "status": "ok", "count": 4}
    assert meta["runs"][-1]["sections"]["knowledge"] == "failed"
    assert stored_ids(folder) == upstream_ids(sandbox, SLUG)


def test_changed_entry_keeps_old_version_in_history(sandbox: SandboxServer, tmp_path: Path) -> None:
    _setup(sandbox)
    runner = Runner(sandbox, tmp_path)
    runner.run([SLUG])
    folder = runner.folder(SLUG)
    assert history_records(folder) == []
    runner.run([SLUG])  # nothing changed: no history
    assert history_records(folder) == []
    upstream = sandbox.state.personalities[SLUG]
    old_entry = dict(upstream.story[2])
    removed = upstream.story.pop(5)
    upstream.story[2] = {**old_entry, "content": "rewritten"}
    assert runner.run([SLUG]).exit_code == 0
    records = history_records(folder)
    assert {(r["section"], r["reason"], r["id"]) for r in records} == {
        ("knowledge", "changed", old_entry["id"]),
        ("knowledge", "removed", removed["id"]),
    }
    by_reason = {r["reason"]: r["previous"] for r in records}
    assert by_reason["changed"] == old_entry and by_reason["removed"] == removed
    assert _read(folder / "knowledge.json") == {"items": upstream.story}
    assert runner.metadata(SLUG)["sections"]["knowledge"]["count"] == 6


# --- choosing sections (BackupOptions.sections / --sections) -------------------------------------------


def _paths(sandbox: SandboxServer) -> list[str]:
    return [r.path for r in sandbox.state.request_log]


def _hits(paths: list[str], part: str) -> int:
    """Requests to an endpoint ending in ``part`` (or under ``part`` when it ends with "/")."""
    return sum(1 for path in paths if (part in path if part.endswith("/") else path.endswith(part)))


def test_profile_only_first_backup_is_a_valid_folder(sandbox: SandboxServer, tmp_path: Path) -> None:
    _setup(sandbox)
    runner = Runner(sandbox, tmp_path)
    report = runner.run([SLUG], sections=frozenset({"profile"}))
    assert report.exit_code == 0 and report.results[0].status == "ok"
    assert report.results[0].sections == {}
    paths = _paths(sandbox)
    assert runner.memory_requests() == 0
    for part in ("/story", "/training", "/user", "/chat/", "/files/"):
        assert _hits(paths, part) == 0, (part, paths)
    assert _hits(paths, f"/api/shapes/username/{SLUG}") == 1
    folder = runner.folder(SLUG)
    meta = runner.metadata(SLUG)
    assert meta["formatVersion"] == 1 and meta["totalMemories"] == 0 and meta["lastBackup"]
    assert meta["shapeId"] == sandbox.state.personalities[SLUG].id
    assert "sections" not in meta and meta["runs"][-1]["skipped"] == [
        "memories", "knowledge", "training", "personalization", "chat", "images"
    ]
    assert (folder / f"{SLUG}.json").exists() and not (folder / "knowledge.json").exists()
    assert verify_backup(folder).ok, verify_backup(folder).problems


def test_excluded_sections_keep_previous_files_and_summaries(sandbox: SandboxServer, tmp_path: Path) -> None:
    _setup(sandbox)
    runner = Runner(sandbox, tmp_path)
    assert runner.run([SLUG]).exit_code == 0
    folder = runner.folder(SLUG)
    before = runner.metadata(SLUG)
    training_file = (folder / "training.json").read_bytes()
    upstream = sandbox.state.personalities[SLUG]
    sandbox.state.add_memories(SLUG, 5)  # would be new memories: not fetched in this run
    upstream.training.append({"id": "t-new", "input": "hi", "output": "hello"})  # not fetched either
    upstream.story[0] = {**upstream.story[0], "content": "changed upstream"}
    report = runner.run([SLUG], sections=frozenset({"profile", "knowledge"}))
    assert report.exit_code == 0 and report.results[0].sections == {"knowledge": "ok"}
    paths = _paths(sandbox)
    assert runner.memory_requests() == 0 and _hits(paths, "/story") == 1
    assert _hits(paths, "/training") == _hits(paths, "/user") == _hits(paths, "/files/") == 0
    after = runner.metadata(SLUG)
    assert after["totalMemories"] == before["totalMemories"] == 45
    assert after["lastMemoryId"] == before["lastMemoryId"]
    for name in ("training", "personalization", "images"):
        assert after["sections"][name] == before["sections"][name]
    assert after["sections"]["knowledge"]["lastSync"]
    assert _read(folder / "knowledge.json") == {"items": upstream.story}
    assert (folder / "training.json").read_bytes() == training_file
    assert after["runs"][-1]["sections"] == {"knowledge": "ok"}
    assert verify_backup(folder).ok, verify_backup(folder).problems
    # memories only: no section endpoint, and the 5 new memories arrive
    report = runner.run([SLUG], sections=frozenset({"memories"}))
    assert report.exit_code == 0 and report.results[0].new == 5 and report.results[0].sections == {}
    paths = _paths(sandbox)
    assert runner.memory_requests() >= 1
    assert sum(_hits(paths, part) for part in ("/story", "/training", "/user", "/chat/", "/files/")) == 0
    assert stored_ids(folder) == upstream_ids(sandbox, SLUG)


def test_auth_failure_inside_a_section_stops_the_run(sandbox: SandboxServer, tmp_path: Path) -> None:
    _setup(sandbox)
    sandbox.state.add_personality("eng-sections-2", memories=10)
    runner = Runner(sandbox, tmp_path)
    sandbox.state.set_fault("login_redirect", count=None, path_contains="/training")
    report = runner.run([SLUG, "eng-sections-2"])
    assert report.exit_code == 3 and report.stopped_by == "LoginRedirectError"
    first, second = report.results
    assert second.status == "not_started"
    assert first.status == "ok" and first.sections["knowledge"] == "ok"  # what completed is kept
    assert first.sections["training"] == "failed" and "personalization" not in first.sections
    meta = runner.metadata(SLUG)
    assert meta["sections"]["training"]["status"] == "failed" and meta["sections"]["training"]["error"]
    assert meta["sections"]["knowledge"]["count"] == 7
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(sandbox, SLUG)  # the memories were saved
    assert _hits(_paths(sandbox), "/user") == 0  # nothing after the stop
    assert verify_backup(runner.folder(SLUG)).ok


def test_session_expiring_during_sections_stops_with_exit_3(sandbox: SandboxServer, tmp_path: Path) -> None:
    _setup(sandbox)
    sandbox.state.add_personality("eng-sections-2", memories=10)
    armed: list[bool] = []

    def expire_at_story(record: object) -> None:
        if getattr(record, "path", "").endswith("/story") and not armed:
            armed.append(True)
            sandbox.state.set_fault("expire_after", requests=1)  # the /story request itself, then 401

    sandbox.state.hooks.append(expire_at_story)
    runner = Runner(sandbox, tmp_path)
    report = runner.run([SLUG, "eng-sections-2"])
    assert not sandbox.state.hook_errors
    assert report.exit_code == 3 and report.stopped_by in ("SessionExpiredError", "AuthError")
    assert [r.status for r in report.results] == ["ok", "not_started"]
    statuses = runner.metadata(SLUG)["sections"]
    assert statuses["knowledge"]["status"] == "ok" and statuses["training"]["status"] == "failed"
    sandbox.state.clear_faults()
    report = runner.run([SLUG, "eng-sections-2"], cookie=sandbox.state.new_session())
    assert report.exit_code == 0, report.results
    assert runner.metadata(SLUG)["sections"]["training"]["status"] == "ok"


# --- chat (backup/chat.py, built separately) wired into the engine -------------------------------------


@pytest.mark.skipif(load_chat_sync() is None, reason="backup/chat.py is not installed")
def test_chat_section_is_wired(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tzbackup_gui.backup import engine as engine_module
    from tzbackup_gui.events import PhaseChanged

    sandbox.state.add_personality(SLUG, memories=5, chat=120)
    real = load_chat_sync()
    assert real is not None
    calls: list[dict[str, Any]] = []

    async def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return await real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "load_chat_sync", lambda: spy)
    runner = Runner(sandbox, tmp_path)
    report = runner.run([SLUG])
    assert report.exit_code == 0 and report.results[0].sections["chat"] == "ok"
    assert calls[-1]["full"] is False and callable(calls[-1]["on_progress"])
    chat_events = [e for e in runner.events if isinstance(e, PhaseChanged) and e.phase == "chat"]
    assert chat_events and chat_events[-1].detail == "120 messages"
    assert runner.metadata(SLUG)["sections"]["chat"]["count"] == 120
    folder = runner.folder(SLUG)
    assert verify_backup(folder).ok, verify_backup(folder).problems
    assert runner.run([SLUG], full=True).exit_code == 0 and calls[-1]["full"] is True
    # excluded: not called, no chat request
    calls.clear()
    runner.run([SLUG], sections=frozenset({"knowledge"}))
    assert calls == [] and not any("/chat/" in r.path for r in sandbox.state.request_log)
    # verify goes through verify_chat: a damaged chat file is reported
    chat_files = sorted(p for p in (folder / "chat").rglob("*.json") if p.is_file())
    assert chat_files
    chat_files[0].write_text("{not json", "utf-8")
    assert not verify_backup(folder).ok


@pytest.mark.skipif(load_chat_sync() is None, reason="backup/chat.py is not installed")
def test_auth_failure_during_chat_stops_the_run(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality(SLUG, memories=30, chat=80)
    sandbox.state.set_fault("login_redirect", count=None, path_contains="/chat/history")
    runner = Runner(sandbox, tmp_path)
    report = runner.run([SLUG, "echo-new"])
    assert report.exit_code == 3 and [r.status for r in report.results] == ["ok", "not_started"]
    result = report.results[0]
    assert result.sections["chat"] == "failed" and "images" not in result.sections
    assert runner.metadata(SLUG)["sections"]["chat"]["status"] == "failed"
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(sandbox, SLUG)
    sandbox.state.clear_faults()
    assert runner.run([SLUG]).exit_code == 0
    assert runner.metadata(SLUG)["sections"]["chat"]["count"] == 80
