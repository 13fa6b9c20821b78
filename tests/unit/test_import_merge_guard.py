"""Import never loses what only the local copy has (chat, profile versions, histories, kept pictures), refuses
a local copy with an unfinished chat run, and ``verify_export`` agrees with the import on the inner backup."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_export import BASE, DAY, PROFILE, make_folder, memory
from tests.unit.test_import_hostile import snapshot
from tzbackup_gui.archive import verify_backup
from tzbackup_gui.archive.export import export_zip
from tzbackup_gui.archive.importer import (
    ImportRefusedError,
    LocalBackupNewerError,
    import_archive,
    verify_export,
)
from tzbackup_gui.archive.profile_history import record_profile

MEMS = [memory(i, BASE + i * DAY) for i in range(5)]
NEWER, OLDER = "2025-04-01T00:00:00Z", "2025-03-01T00:00:00Z"
Pair = tuple[Path, Path, Path]


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def message(n: int) -> dict[str, Any]:
    return {"id": f"msg-{n}", "ts": BASE + n, "role": "user" if n % 2 else "assistant", "text": f"hello {n}"}


def write_chat(folder: Path, messages: list[dict[str, Any]]) -> None:
    (folder / "chat").mkdir(exist_ok=True)
    (folder / "chat" / "zoe_chat_1.json").write_text(json.dumps({"messages": messages}), "utf-8")


def versions(folder: Path, *descriptions: str) -> None:
    """Real profile history: the profile saved once per description (each one a new version)."""
    for n, text in enumerate(descriptions):
        record_profile(folder, folder / "zoe.json", {**PROFILE, "description": text},
                       now=dt.datetime(2025, 3, 1 + n, tzinfo=dt.UTC))


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(source folder of a newer archive, data dir, local older copy holding the same memories)."""
    src = make_folder(tmp_path / "src", MEMS, lastBackup=NEWER)
    local = make_folder(tmp_path / "data", MEMS, lastBackup=OLDER)
    return src, tmp_path / "data", local


def assert_refused_unchanged(zip_path: Path, data_dir: Path, match: str) -> LocalBackupNewerError:
    root = data_dir / "personalities"
    before = snapshot(root / "zoe")
    with pytest.raises(LocalBackupNewerError, match=match) as info:
        import_archive(zip_path, data_dir)
    assert "nothing imported" in str(info.value)
    assert snapshot(root / "zoe") == before, "the local copy changed"
    assert sorted(p.name for p in root.iterdir()) == ["zoe"], "staging left behind"
    return info.value


def test_local_only_chat_messages_refuse_the_replacement(pair: Pair, tmp_path: Path) -> None:
    src, data, local = pair
    write_chat(src, [message(n) for n in range(3)])
    write_chat(local, [message(n) for n in range(5)])  # 2 messages only the local copy has
    export_zip(src, tmp_path / "a.zip")
    assert_refused_unchanged(tmp_path / "a.zip", data,
                             r"the local copy has 2 chat message\(s\) the archive lacks")
    # an archive without any chat at all: every local message would be lost
    shutil.rmtree(src / "chat")
    export_zip(src, tmp_path / "b.zip")
    assert_refused_unchanged(tmp_path / "b.zip", data, r"has 5 chat message\(s\)")
    # the archive holds every local message (and more): replaced
    write_chat(src, [message(n) for n in range(7)])
    export_zip(src, tmp_path / "c.zip")
    result = import_archive(tmp_path / "c.zip", data)
    assert result.replaced
    chunk = Path("chat", "zoe_chat_1.json")
    assert (local / chunk).read_bytes() == (src / chunk).read_bytes()


def test_a_damaged_local_chat_refuses_rather_than_guessing(pair: Pair, tmp_path: Path) -> None:
    src, data, local = pair
    (local / "chat").mkdir()
    (local / "chat" / "zoe_chat_1.json").write_text("{not json", "utf-8")
    export_zip(src, tmp_path / "a.zip")
    assert_refused_unchanged(tmp_path / "a.zip", data, "local chat history cannot be read")


def test_local_only_profile_versions_refuse_the_replacement(
    pair: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    src, data, local = pair
    versions(src, "one", "two")
    versions(local, "one", "two", "three")  # a version the archive never saw
    export_zip(src, tmp_path / "a.zip")
    assert verify_export(tmp_path / "a.zip").ok
    assert_refused_unchanged(tmp_path / "a.zip", data, r"profile version record\(s\) the archive lacks")
    # the archive holds the same versions: replaced, and the versions still rebuild
    shutil.rmtree(local / "history")
    shutil.copytree(src / "history", local / "history")
    shutil.copyfile(src / "zoe.json", local / "zoe.json")
    assert import_archive(tmp_path / "a.zip", data).replaced
    assert verify_backup(local).ok, verify_backup(local).problems


def test_append_only_histories_and_kept_pictures_are_carried_over(
    pair: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    src, data, local = pair
    shared_section = {"section": "knowledge", "replacedAt": "2025-02-01", "reason": "removed", "id": "k1"}
    for folder in (src, local):
        (folder / ".section-history.jsonl").write_text(json.dumps(shared_section) + "\n", "utf-8")
        (folder / ".chat-history.jsonl").write_text('{"id": "msg-1", "hash": "h1", "message": {}}\n', "utf-8")
        (folder / "history" / "images").mkdir(parents=True)
        (folder / "history" / "images" / "20250101T000000Z-avatar.png").write_bytes(b"\x89PNG same")
    (src / "history" / "images" / "20250201T000000Z-banner.png").write_bytes(b"\x89PNG archive")
    with (local / ".section-history.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"section": "training", "replacedAt": "2025-02-02", "reason": "edited", "id": "t9"}\n')
    with (local / ".chat-history.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"id": "msg-1", "hash": "h0", "message": {"text": "older"}}\n')
        fh.write('{"id": "msg-1", "hash": "h1", "message": {}, "replacedAt": "x"}\n')  # same version
    (local / "history" / "images" / "20250115T000000Z-avatar.png").write_bytes(b"\x89PNG local only")
    (local / "history" / "images" / "20250201T000000Z-banner.png").write_bytes(b"\x89PNG local banner")
    export_zip(src, tmp_path / "a.zip")
    result = import_archive(tmp_path / "a.zip", data)
    assert result.replaced
    assert result.carried == {".chat-history.jsonl": 1, ".section-history.jsonl": 1, "history/images": 2}
    sections = lines(local / ".section-history.jsonl")
    assert [r["id"] for r in sections] == ["k1", "t9"]
    chat = lines(local / ".chat-history.jsonl")
    assert [(r["id"], r["hash"]) for r in chat] == [("msg-1", "h1"), ("msg-1", "h0")]
    images = local / "history" / "images"
    assert {p.name: p.read_bytes() for p in images.iterdir()} == {
        "20250101T000000Z-avatar.png": b"\x89PNG same",
        "20250115T000000Z-avatar.png": b"\x89PNG local only",
        "20250201T000000Z-banner.png": b"\x89PNG archive",
        "local-20250201T000000Z-banner.png": b"\x89PNG local banner",
    }
    assert verify_backup(local).ok, verify_backup(local).problems


@pytest.mark.parametrize("name", ["chat-journal.jsonl", "chat-commit.json"])
def test_a_pending_chat_run_refuses_the_import(pair: Pair, tmp_path: Path, name: str) -> None:
    src, data, local = pair
    (local / ".tzbackup").mkdir()
    (local / ".tzbackup" / name).write_text('{"kind": "start"}\n', "utf-8")
    export_zip(src, tmp_path / "a.zip")
    err = assert_refused_unchanged(tmp_path / "a.zip", data, "unfinished chat backup run")
    assert err.hint and "tzbackup backup" in err.hint


def _rewrite(zip_path: Path, out: Path, name: str, data: bytes) -> Path:
    """A copy of an export with one entry replaced and the manifest updated to match (a consistent zip whose
    inner backup is damaged)."""
    import hashlib

    with zipfile.ZipFile(zip_path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        entries = {i.filename: zf.read(i) for i in zf.infolist() if i.filename != "manifest.json"}
    entries[name] = data
    for item in manifest["files"]:
        if item["path"] == name:
            item.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    with zipfile.ZipFile(out, "w") as zf:
        for entry, content in entries.items():
            zf.writestr(entry, content)
        zf.writestr("manifest.json", json.dumps(manifest))
    return out


def test_verify_export_runs_the_inner_verify_like_import(tmp_path: Path) -> None:
    src = make_folder(tmp_path / "src", MEMS)
    versions(src, "one", "two", "three")
    export_zip(src, tmp_path / "good.zip")
    assert verify_export(tmp_path / "good.zip").ok
    records = lines(src / "history/profile/versions.jsonl")
    records[1]["previous"]["hash"] = "0" * 20  # that version no longer rebuilds to its recorded hash
    damaged = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    bad = _rewrite(tmp_path / "good.zip", tmp_path / "bad.zip", "zoe/history/profile/versions.jsonl", damaged)
    meta = json.loads((src / ".backup-metadata.json").read_text("utf-8"))
    meta["totalMemories"] = 99
    bad_meta = _rewrite(tmp_path / "good.zip", tmp_path / "meta.zip", "zoe/.backup-metadata.json",
                        json.dumps(meta).encode())
    for zip_path in (bad, bad_meta):
        report = verify_export(zip_path)
        assert not report.ok
        assert all(p.startswith("The backup inside the archive: ") for p in report.problems), report.problems
        with pytest.raises(ImportRefusedError, match="The backup inside the archive was refused") as info:
            import_archive(zip_path, tmp_path / "data")
        assert ".." not in str(info.value) and str(info.value).endswith(".")
        assert not (tmp_path / "data" / "personalities").exists()
    assert "totalMemories=99" in " ".join(verify_export(bad_meta).problems)
    assert "history/profile is damaged" in " ".join(verify_export(bad).problems)
    assert list(tmp_path.glob("tzbackup-verify-*")) == []
