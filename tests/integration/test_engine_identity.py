"""Who owns what, and where it goes: owner checks, renames, hostile names, older layouts, the lock."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tzbackup_gui.archive import DataDirLock, safe_folder_name, verify_backup
from tzbackup_gui.archive.layout import personalities_root
from tzbackup_gui.sandbox import SandboxServer

from .engine_support import Runner, sandbox, stored_ids, upstream_ids

__all__ = ["sandbox"]


def test_not_owned_refused(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality("someone-elses", memories=10, owned=False)
    runner = Runner(sandbox, tmp_path)
    report = runner.run(["someone-elses"])
    res = report.results[0]
    assert report.exit_code == 1 and res.status == "refused" and res.error_kind == "NotOwnedError"
    assert runner.memory_requests() == 0
    assert not (personalities_root(tmp_path) / "someone-elses").exists()


def test_unknown_name_fails_clearly_and_others_still_run(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality("known-one", memories=3)
    runner = Runner(sandbox, tmp_path)
    report = runner.run(["no-such-shape", "known-one"])
    missing, known = report.results
    assert report.exit_code == 1
    assert missing.status == "failed" and missing.error_kind == "NotFoundError"
    assert "No personality named 'no-such-shape'" in missing.error and "tzbackup list" in missing.error
    assert known.status == "ok"
    assert stored_ids(runner.folder("known-one")) == upstream_ids(sandbox, "known-one")
    assert not (personalities_root(tmp_path) / "no-such-shape").exists()


def test_not_owned_allowed_backs_up_public_profile(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality("someone-elses", memories=10, owned=False)
    runner = Runner(sandbox, tmp_path)
    report = runner.run(["someone-elses"], allow_not_owned=True)
    assert report.exit_code == 0 and runner.memory_requests() == 0
    meta = runner.metadata("someone-elses")
    assert meta["profileOnly"] is True and meta["totalMemories"] == 0
    assert (runner.folder("someone-elses") / "someone-elses.json").exists()


def test_owner_list_is_an_array(sandbox: SandboxServer, tmp_path: Path) -> None:
    p = sandbox.state.add_personality("co-owned", memories=5)
    p.profile["user_id"] = ["another-user", sandbox.demo_user["id"]]
    runner = Runner(sandbox, tmp_path)
    assert runner.run(["co-owned"]).exit_code == 0


def test_folder_of_another_account_refused(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality("mine", memories=5)
    runner = Runner(sandbox, tmp_path)
    runner.run(["mine"])
    meta_path = runner.folder("mine") / ".backup-metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["ownerId"] = "somebody-else"
    meta_path.write_text(json.dumps(meta))
    report = runner.run(["mine"])
    res = report.results[0]
    assert res.status == "refused" and res.error_kind == "OwnerMismatchError"
    assert json.loads(meta_path.read_text())["ownerId"] == "somebody-else"


def test_older_tool_layout_refused(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality("legacy", memories=5)
    folder = personalities_root(tmp_path) / "legacy"
    (folder / "memory").mkdir(parents=True)
    (folder / "memory" / "legacy_memory_page_1.json").write_text("[]")
    (folder / ".backup-metadata.json").write_text(
        json.dumps({"lastBackup": "2025-01-01", "lastMemoryId": "x"})
    )
    report = Runner(sandbox, tmp_path).run(["legacy"])
    res = report.results[0]
    assert res.status == "refused" and res.error_kind == "UnsupportedFormatError"
    assert "Move that folder" in res.hint
    assert (folder / "memory" / "legacy_memory_page_1.json").read_text() == "[]"


def test_newer_format_refused(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality("future", memories=5)
    runner = Runner(sandbox, tmp_path)
    runner.run(["future"])
    meta_path = runner.folder("future") / ".backup-metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["formatVersion"] = 99
    meta_path.write_text(json.dumps(meta))
    assert runner.run(["future"]).results[0].error_kind == "UnsupportedFormatError"


def test_rename_moves_folder_without_refetching(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality("old-name", "Renamed One", memories=70)
    runner = Runner(sandbox, tmp_path)
    runner.run(["old-name"])
    sandbox.state.rename_personality("old-name", "new-name")
    report = runner.run(["new-name"])
    assert report.exit_code == 0, report.results
    assert runner.memory_requests() == 1
    assert not runner.folder("old-name").exists()
    folder = runner.folder("new-name")
    assert (folder / "new-name.json").exists()
    assert stored_ids(folder) == upstream_ids(sandbox, "new-name")
    assert runner.metadata("new-name")["slug"] == "new-name"
    assert verify_backup(folder).ok


# ("." and "..", which URLs would treat as path steps unless escaped: test_dot_usernames.py.)
HOSTILE = ["../x", "a/b", "a\\b", "...", ".hidden", "ctl\x01x", "x" * 300, "Лилит 小红", "CON"]


@pytest.mark.parametrize("slug", HOSTILE)
def test_hostile_names_stay_inside(sandbox: SandboxServer, tmp_path: Path, slug: str) -> None:
    sandbox.state.add_personality(slug, memories=25)
    data = tmp_path / "data"
    runner = Runner(sandbox, data)
    report = runner.run([slug])
    res = report.results[0]
    assert res.status == "ok", res
    assert res.folder == safe_folder_name(slug)
    root = personalities_root(data).resolve()
    assert [p.name for p in root.iterdir()] == [res.folder]
    assert sorted(p.name for p in data.iterdir()) == [".tzbackup.lock", "personalities"]
    assert not [p for p in tmp_path.iterdir() if p.name != "data"]
    assert stored_ids(root / res.folder) == upstream_ids(sandbox, slug)
    assert runner.metadata(res.folder)["slug"] == slug


def test_case_clash_gets_distinct_folders(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality("Twin", memories=3)
    sandbox.state.add_personality("twin", memories=4)
    runner = Runner(sandbox, tmp_path)
    report = runner.run(["Twin", "twin"])
    folders = [r.folder for r in report.results]
    assert folders[0] == "Twin" and folders[1].startswith("twin-") and report.exit_code == 0
    assert len(stored_ids(runner.folder(folders[1]))) == 4


def test_all_owned_with_display_name(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality("by-display", "A Very Unique Name", memories=3)
    runner = Runner(sandbox, tmp_path)
    report = runner.run(["A Very Unique Name"])
    assert [r.slug for r in report.results] == ["by-display"] and report.exit_code == 0


def test_bulk_run_backs_up_every_owned(sandbox: SandboxServer, tmp_path: Path) -> None:
    runner = Runner(sandbox, tmp_path)
    report = runner.run(None)
    owned = [s for s, p in sandbox.state.personalities.items() if p.owned]
    assert sorted(r.slug for r in report.results) == sorted(owned)
    assert report.exit_code == 0, [(r.slug, r.error) for r in report.results if r.status != "ok"]
    for r in report.results:
        assert stored_ids(runner.folder(r.folder)) == upstream_ids(sandbox, r.slug)


def test_data_dir_lock(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality("locked", memories=3)
    with DataDirLock(tmp_path):
        report = Runner(sandbox, tmp_path).run(["locked"])
    assert report.exit_code == 4 and report.stopped_by == "DataDirLockedError"
    assert not os.path.exists(personalities_root(tmp_path) / "locked")


def test_rename_carries_the_chat_along(sandbox: SandboxServer, tmp_path: Path) -> None:
    """The chat files carry the folder's name too: after a slug change they follow the folder, so the chat
    is neither hidden behind the old name nor fetched and stored a second time under the new one."""
    from tzbackup_gui.backup.chat import iter_chat, verify_chat

    sandbox.state.add_personality("old-talker", "Talker", memories=30, chat=1_200)
    runner = Runner(sandbox, tmp_path)
    assert runner.run(["old-talker"]).exit_code == 0
    before = [m["id"] for m in iter_chat(runner.folder("old-talker"))]
    assert len(before) == 1_200
    sandbox.state.rename_personality("old-talker", "new-talker")
    report = runner.run(["new-talker"])
    assert report.exit_code == 0, report.results
    folder = runner.folder("new-talker")
    names = sorted(p.name for p in (folder / "chat").iterdir() if "_chat_" in p.name)
    assert names and all(n.startswith("new-talker_chat_") for n in names), names
    after = [m["id"] for m in iter_chat(folder)]
    assert after == before
    chat_requests = sandbox.state.count("/api/shapes/")  # profile + chat pages of this run
    assert chat_requests <= 6, chat_requests
    assert verify_chat(folder) == []
    assert verify_backup(folder).ok
