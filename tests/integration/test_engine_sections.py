"""Knowledge, training and personalization sections against the real sandbox over loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.archive import verify_backup
from tzbackup_gui.archive.export import load_knowledge
from tzbackup_gui.backup.sections import history_records
from tzbackup_gui.sandbox import SandboxServer
from tzbackup_gui.sandbox.data import make_training, make_user_data

from .engine_support import Runner, sandbox, stored_ids, upstream_ids

__all__ = ["sandbox"]

SLUG = "eng-sections"


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
    assert result.sections == {"knowledge": "ok", "training": "ok", "personalization": "ok"}
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
    assert report.results[0].sections == {"knowledge": "ok", "training": "ok", "personalization": "ok"}
    sections = runner.metadata(SLUG)["sections"]
    assert {name: s["count"] for name, s in sections.items()} == {
        "knowledge": 0, "training": 0, "personalization": 0
    }
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
    assert result.sections == {"knowledge": "failed", "training": "ok", "personalization": "ok"}
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
