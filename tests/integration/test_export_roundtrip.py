"""Export round trip on real backups made by the engine from the sandbox: zip → import → verify; Markdown;
card; and the merge rules of import (never overwrite newer data, never lose memories)."""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.integration.engine_support import Runner, stored_ids, upstream_ids
from tzbackup_gui.archive import list_backups, verify_backup
from tzbackup_gui.archive.browse import load_personality
from tzbackup_gui.archive.export import export_card, export_markdown, export_zip, validate_card
from tzbackup_gui.archive.importer import LocalBackupNewerError, import_archive, verify_export
from tzbackup_gui.archive.png_card import read_card
from tzbackup_gui.cli import main
from tzbackup_gui.errors import OwnerMismatchError
from tzbackup_gui.sandbox import SandboxServer

SLUG = "dr.ada.lovelace"


def _set_last_backup(folder: Path, value: str) -> None:
    path = folder / ".backup-metadata.json"
    meta = json.loads(path.read_text("utf-8"))
    meta["lastBackup"] = value
    path.write_text(json.dumps(meta), "utf-8")


@pytest.fixture
def backed_up(sandbox: SandboxServer, tmp_path: Path) -> Runner:
    """Two personalities backed up twice, with an edit, a soft delete and an upstream deletion between."""
    runner = Runner(sandbox, tmp_path / "data")
    assert runner.run([SLUG, "zoë-✨"]).exit_code == 0
    ids = upstream_ids(sandbox, SLUG)
    sandbox.state.edit_memory(SLUG, ids[5], "An edited memory about the Analytical Engine.")
    sandbox.state.delete_memory(SLUG, ids[6], soft=True)
    sandbox.state.delete_memory(SLUG, ids[7])
    sandbox.state.add_memories(SLUG, 3)
    assert runner.run([SLUG], full=True).exit_code == 0
    assert runner.metadata(SLUG)["deletedUpstream"]
    assert (runner.folder(SLUG) / ".memory-history.jsonl").exists()
    return runner


def test_zip_round_trip_into_an_empty_data_dir(backed_up: Runner, tmp_path: Path) -> None:
    for folder in (backed_up.folder(SLUG), *[p for p in backed_up.folder(SLUG).parent.iterdir()
                                            if p.name.startswith("zo")]):
        out = tmp_path / f"{folder.name}.zip"
        result = export_zip(folder, out)
        report = verify_export(out)
        assert report.ok, report.problems
        assert report.memories == result.memories == len(stored_ids(folder))
        target = tmp_path / "imported"
        imported = import_archive(out, target)
        new = target / "personalities" / folder.name
        assert imported.folder == new and imported.memories == result.memories
        assert verify_backup(new).ok, verify_backup(new).problems
        assert stored_ids(new) == stored_ids(folder)
        for name in (".backup-metadata.json", ".memory-history.jsonl", f"{folder.name}.json"):
            if (folder / name).exists():
                assert (new / name).read_bytes() == (folder / name).read_bytes()
        assert not (new / ".tzbackup").exists()
        # the offline browser sees the same personality
        a, b = load_personality(folder), load_personality(new)
        assert (b.status.total_memories, b.status.deleted_upstream, b.title) == (
            a.status.total_memories, a.status.deleted_upstream, a.title)
    assert sorted(b.slug for b in list_backups(tmp_path / "imported")) == sorted(
        b.slug for b in list_backups(backed_up.data_dir))


def test_markdown_of_a_real_backup(backed_up: Runner, sandbox: SandboxServer, tmp_path: Path) -> None:
    folder = backed_up.folder(SLUG)
    export_markdown(folder, tmp_path / "ada.md")
    text = (tmp_path / "ada.md").read_text("utf-8")
    assert text.startswith("# Dr. Ada Lovelace\n")
    upstream = {m["id"]: m for m in sandbox.state.personalities[SLUG].memories}
    some = next(iter(upstream.values()))
    assert some["result"] in text
    assert "An edited memory about the Analytical Engine." in text
    assert text.count("· **deleted upstream** (") == len(backed_up.metadata(SLUG)["deletedUpstream"])
    assert "· **deleted** ·" in text
    assert f"## Memories ({len(stored_ids(folder))})" in text
    assert text.count("`") // 2 >= len(stored_ids(folder))


def test_card_of_a_real_backup(backed_up: Runner, tmp_path: Path) -> None:
    folder = backed_up.folder(SLUG)
    export_card(folder, tmp_path / "ada.card.json", tmp_path / "ada.card.png")
    card = json.loads((tmp_path / "ada.card.json").read_text("utf-8"))
    assert validate_card(card) == []
    assert read_card((tmp_path / "ada.card.png").read_bytes()) == card
    profile = json.loads((folder / f"{SLUG}.json").read_text("utf-8"))
    assert card["data"]["name"] == profile["name"]
    assert card["data"]["system_prompt"] == profile["jailbreak"]
    assert card["data"]["first_mes"] == profile["initial_message"]
    saved = card["data"]["extensions"]["tzbackup"]["profile"]
    assert saved["personality_traits"] == profile["personality_traits"]


def test_import_never_overwrites_newer_data(
    backed_up: Runner, sandbox: SandboxServer, tmp_path: Path
) -> None:
    folder = backed_up.folder(SLUG)
    older = tmp_path / "older" / SLUG
    shutil.copytree(folder, older)
    _set_last_backup(older, "2020-01-01T00:00:00Z")
    export_zip(folder, tmp_path / "now.zip")
    # same data: refused, nothing changed
    with pytest.raises(LocalBackupNewerError, match="newer than the archive or as new"):
        import_archive(tmp_path / "now.zip", backed_up.data_dir)
    # an older archive over the newer local copy: refused
    export_zip(older, tmp_path / "older.zip")
    with pytest.raises(LocalBackupNewerError):
        import_archive(tmp_path / "older.zip", backed_up.data_dir)
    # a newer archive over an older local copy with fewer memories: replaced, old history kept
    other = tmp_path / "other-data"
    target = other / "personalities" / SLUG
    shutil.copytree(older, target)
    (target / ".memory-history.jsonl").write_text(
        '{"id": "x/y", "hash": "h1", "replacedAt": "2020", "memory": {"id": "x/y"}}\n', "utf-8")
    result = import_archive(tmp_path / "now.zip", other)
    assert result.replaced and result.history_kept == 1
    assert stored_ids(target) == stored_ids(folder)
    assert verify_backup(target).ok
    assert [n for n in (other / "personalities").iterdir() if n.name.startswith(".")] == []
    # the local copy has a memory the archive lacks: refused even though the archive is newer
    sandbox.state.add_memories(SLUG, 2)
    assert backed_up.run([SLUG]).exit_code == 0
    _set_last_backup(folder, "2020-01-02T00:00:00Z")
    before = stored_ids(folder)
    with pytest.raises(LocalBackupNewerError, match="2 memories the archive lacks"):
        import_archive(tmp_path / "now.zip", backed_up.data_dir)
    assert stored_ids(folder) == before


def test_import_refuses_another_owner(backed_up: Runner, tmp_path: Path) -> None:
    folder = backed_up.folder(SLUG)
    export_zip(folder, tmp_path / "now.zip")
    _set_last_backup(folder, "2020-01-01T00:00:00Z")
    meta = backed_up.metadata(SLUG)
    meta["ownerId"] = "someone-else"
    (folder / ".backup-metadata.json").write_text(json.dumps(meta), "utf-8")
    with pytest.raises(OwnerMismatchError):
        import_archive(tmp_path / "now.zip", backed_up.data_dir)


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_cli_export_import_and_verify(backed_up: Runner, tmp_path: Path) -> None:
    data = str(backed_up.data_dir)
    code, out, err = _cli("export", SLUG, "--format", "zip", "--output", str(tmp_path), "--data-dir", data)
    assert code == 0, err
    zip_path = tmp_path / f"{SLUG}.tzbackup.zip"
    assert out.strip() == str(zip_path)
    code, out, err = _cli("verify", str(zip_path), "--data-dir", data)
    assert code == 0 and "ok" in out, err
    code, out, err = _cli("--data-dir", str(tmp_path / "new"), "import", str(zip_path))
    assert code == 0 and "Imported Dr. Ada Lovelace" in out, err
    code, out, err = _cli("--data-dir", str(tmp_path / "new"), "import", str(zip_path))
    assert code == 1 and "nothing imported" in err
    code, out, err = _cli("export", "Dr. Ada Lovelace", "--format", "card", "--output",
                          str(tmp_path / "ada.card.json"), "--data-dir", data)
    assert code == 0, err
    assert read_card((tmp_path / "ada.card.png").read_bytes()) == json.loads(
        (tmp_path / "ada.card.json").read_text("utf-8"))
    code, out, err = _cli("export", SLUG, "--format", "markdown", "--output", str(tmp_path / "a.md"),
                          "--data-dir", data)
    assert code == 0 and (tmp_path / "a.md").read_text("utf-8").startswith("# Dr. Ada Lovelace")
    code, out, err = _cli("export", "nobody", "--format", "zip", "--data-dir", data)
    assert code == 1 and "no local backup named 'nobody'" in err
    (tmp_path / "bad.zip").write_bytes(b"junk")
    code, out, err = _cli("--data-dir", str(tmp_path / "new2"), "import", str(tmp_path / "bad.zip"))
    assert code == 1 and "not a readable zip" in err and not (tmp_path / "new2").exists()


def test_cli_export_warns_and_verify_zip_agrees_with_import(backed_up: Runner, tmp_path: Path) -> None:
    """A backup with a problem: export still writes the zip but warns (exit 1); ``verify FILE.zip`` reports
    the same problem the import refuses on, so the two agree."""
    data = str(backed_up.data_dir)
    meta = backed_up.metadata(SLUG)
    meta["totalMemories"] += 1
    (backed_up.folder(SLUG) / ".backup-metadata.json").write_text(json.dumps(meta), "utf-8")
    code, out, err = _cli("export", SLUG, "--format", "zip", "--output", str(tmp_path), "--data-dir", data)
    zip_path = tmp_path / f"{SLUG}.tzbackup.zip"
    assert code == 1 and out.strip() == str(zip_path) and zip_path.is_file()
    assert f"warning: the backup has problems: The metadata says totalMemories={meta['totalMemories']}" in err
    code, out, err = _cli("verify", str(zip_path), "--data-dir", data)
    assert code == 1 and "PROBLEM" in out and "The backup inside the archive: The metadata says" in out, out
    code, out, err = _cli("--data-dir", str(tmp_path / "new"), "import", str(zip_path))
    assert code == 1 and "The backup inside the archive was refused" in err and ".." not in err
    assert not (tmp_path / "new" / "personalities").exists()
    # markdown and card exports do not verify (they are not restores): unchanged exit 0
    code, out, err = _cli("export", SLUG, "--format", "markdown", "--output", str(tmp_path / "a.md"),
                          "--data-dir", data)
    assert code == 0, err
