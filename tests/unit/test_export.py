"""Exports of a backup folder written on disk: zip + manifest, Markdown, Character Card V2."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.archive.export import (
    CARD_V2_FIELDS,
    REDACTED,
    archive_files,
    build_card,
    export_card,
    export_markdown,
    export_zip,
    validate_card,
)
from tzbackup_gui.archive.importer import verify_export
from tzbackup_gui.archive.png_card import read_card, solid_png
from tzbackup_gui.errors import ArchiveError, UnsupportedFormatError

DAY = 86400.0
BASE = 1_740_000_000.0  # 2025-02-19


def memory(n: int, ts: float, text: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": f"m{n:05d}/x", "result": text or f"Memory number {n} about tea.",
            "summary_type": "automatic", "deleted": False, "created_at": ts,
            "metadata": {"created_at": ts}, **extra}


PROFILE = {
    "id": "shape-1", "name": "Zoë Test", "username": "zoe", "description": "A kind test personality.",
    "search_description": "Zoë: kind.", "tagline": "Ask me about tea", "tags": ["cozy", 3, "tea"],
    "jailbreak": "You are Zoë. Stay in character.", "user_prompt": "The user is a friend.",
    "initial_message": "Hello there!", "personality_traits": "warm", "personality_age": "30",
    "personality_conversational_examples": "User: hi\nZoë: hello", "creator_username": "demo_creator",
    "engine_model": "m1", "engine_temperature": 0.7, "engine_api_key": "sk-SECRET-123", "ltm_enabled": True,
    "shape_settings": {"version": 7, "shape_initial_message": "unused"}, "updated_ts": BASE,
}


def make_folder(root: Path, memories: list[dict[str, Any]], *, chunk: int = 3, **meta: Any) -> Path:
    folder = root / "personalities" / "zoe"
    (folder / "memory").mkdir(parents=True)
    for n, at in enumerate(range(0, len(memories), chunk), 1):
        data = {"memories": memories[at : at + chunk]}
        (folder / "memory" / f"zoe_memory_{n}.json").write_text(json.dumps(data), "utf-8")
    metadata = {"formatVersion": 1, "chunkSize": chunk, "slug": "zoe", "shapeId": "shape-1",
                "displayName": "Zoë Test", "ownerId": "owner-1", "lastBackup": "2025-03-01T00:00:00Z",
                "totalMemories": len(memories), "deletedUpstream": {},
                "lastMemoryId": memories[-1]["id"] if memories else None, **meta}
    (folder / ".backup-metadata.json").write_text(json.dumps(metadata), "utf-8")
    (folder / "zoe.json").write_text(json.dumps(PROFILE), "utf-8")
    return folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    mems = [memory(i, BASE + i * DAY / 2) for i in range(7)]
    mems[2]["deleted"] = True
    mems[3]["result"] = "# not a heading\n> not a quote\nsecond line"
    f = make_folder(tmp_path, mems, deletedUpstream={mems[4]["id"]: "2025-03-02T00:00:00Z"})
    (f / ".memory-history.jsonl").write_text('{"id": "m00001/x", "hash": "h", "memory": {}}\n', "utf-8")
    state = f / ".tzbackup"
    state.mkdir()
    (state / "journal.jsonl").write_text("{}\n", "utf-8")
    (state / "index.json").write_text("{}", "utf-8")
    (f / ".zoe.json.tmp-1-abcd").write_text("half", "utf-8")
    return f


# --- zip ------------------------------------------------------------------------------------------------


def test_archive_files_keeps_contract_and_dot_files_and_drops_engine_state(folder: Path) -> None:
    os.symlink("/etc/hostname", folder / "link.json")
    (folder / "memory" / "zoe_memory_10.json").write_text('{"memories": []}', "utf-8")
    files, skipped = archive_files(folder)
    names = [rel for rel, _ in files]
    assert names == [".backup-metadata.json", ".memory-history.jsonl", "memory/zoe_memory_1.json",
                     "memory/zoe_memory_2.json", "memory/zoe_memory_3.json", "memory/zoe_memory_10.json",
                     "zoe.json"]
    assert skipped == ["link.json"]


def test_zip_has_manifest_with_counts_and_a_hash_of_every_file(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "zoe.zip"
    result = export_zip(folder, out)
    assert result.memories == 7 and result.files == 6
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        assert names[-1] == "manifest.json"
        assert names[:-1] == [e["path"] for e in manifest["files"]]
        for entry in manifest["files"]:
            data = zf.read(entry["path"])
            assert len(data) == entry["size"]
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert data == (folder.parent / entry["path"]).read_bytes()
        info = zf.getinfo("zoe/zoe.json")
        assert (info.external_attr >> 16) == 0o100600
    assert manifest["tool"] == "tzbackup" and manifest["formatVersion"] == 1
    assert manifest["created"].endswith("Z")
    assert manifest["personality"] == {
        "folder": "zoe", "slug": "zoe", "shapeId": "shape-1", "displayName": "Zoë Test",
        "ownerId": "owner-1", "lastBackup": "2025-03-01T00:00:00Z", "backupFormatVersion": 1}
    assert manifest["counts"]["memories"] == 7 and manifest["counts"]["files"] == 6
    assert not any(".tzbackup" in n or ".tmp-" in n for n in names)
    assert os.listdir(out.parent) == ["zoe.zip"]  # no temp file left behind
    report = verify_export(out)
    assert report.ok, report.problems
    assert report.memories == 7 and report.checked_files == 6


def test_zip_entry_order_is_deterministic(folder: Path, tmp_path: Path) -> None:
    export_zip(folder, tmp_path / "a.zip")
    export_zip(folder, tmp_path / "b.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as a, zipfile.ZipFile(tmp_path / "b.zip") as b:
        assert a.namelist() == b.namelist()
        assert [a.read(n) for n in a.namelist()[:-1]] == [b.read(n) for n in b.namelist()[:-1]]


def test_export_refuses_interrupted_commit_and_older_tool_folders(folder: Path, tmp_path: Path) -> None:
    (folder / ".tzbackup" / "commit.json").write_text("{}", "utf-8")
    with pytest.raises(ArchiveError, match="interrupted"):
        export_zip(folder, tmp_path / "x.zip")
    (folder / ".tzbackup" / "commit.json").unlink()
    meta = json.loads((folder / ".backup-metadata.json").read_text("utf-8"))
    del meta["formatVersion"]
    (folder / ".backup-metadata.json").write_text(json.dumps(meta), "utf-8")
    with pytest.raises(UnsupportedFormatError):
        export_markdown(folder, tmp_path / "x.md")
    assert not (tmp_path / "x.zip").exists() and not (tmp_path / "x.md").exists()


def test_verify_export_reports_a_changed_entry(folder: Path, tmp_path: Path) -> None:
    export_zip(folder, tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as src, zipfile.ZipFile(tmp_path / "b.zip", "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "zoe/zoe.json":
                data = data.replace(b"Stay", b"Stya")  # same size, other bytes
            dst.writestr(info, data)
    report = verify_export(tmp_path / "b.zip")
    assert not report.ok
    assert any("SHA-256" in p and "zoe/zoe.json" in p for p in report.problems)


# --- markdown -------------------------------------------------------------------------------------------


def test_markdown_has_profile_sections_and_every_memory_by_day(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "zoe.md"
    result = export_markdown(folder, out)
    text = out.read_text("utf-8")
    assert result.bytes == len(text.encode("utf-8"))
    assert text.startswith("# Zoë Test\n")
    for heading in ("## Identity", "## Description", "## System prompt", "## User prompt",
                    "## First message", "## Personality", "### Traits", "## Engine settings",
                    "## Memories (7)"):
        assert f"\n{heading}" in text, heading
    assert "You are Zoë. Stay in character." in text
    assert "| engine_model | m1 |" in text
    for i in (0, 1, 5, 6):
        assert f"Memory number {i} about tea." in text
    days = [line[4:] for line in text.splitlines() if line.startswith("### 2025")]
    assert days == sorted(days) and len(days) == 4  # two memories a day, oldest first
    assert text.index("Memory number 0") < text.index("Memory number 6")
    block = text[text.index("`m00004/x`") - 200 : text.index("`m00004/x`")]
    assert "**deleted upstream** (2025-03-02T00:00:00Z)" in block
    assert "**deleted**" in text[text.index("`m00002/x`") - 60 : text.index("`m00002/x`")]
    assert "\\# not a heading  \n\\> not a quote  \nsecond line" in text
    assert "sk-SECRET-123" not in text and REDACTED in text
    assert "## Knowledge" not in text  # no knowledge file saved


def test_markdown_reads_knowledge_in_any_envelope_and_survives_a_damaged_memory_file(
    folder: Path, tmp_path: Path
) -> None:
    entry = {"id": "k1", "story_type": "general", "title": "Tea lore", "content": "Green tea is calming."}
    (folder / "knowledge.json").write_text(json.dumps({"items": [entry]}), "utf-8")
    (folder / "memory" / "zoe_memory_2.json").write_text("{broken", "utf-8")
    export_markdown(folder, tmp_path / "zoe.md")
    text = (tmp_path / "zoe.md").read_text("utf-8")
    assert "## Knowledge (1 entries)" in text and "### Tea lore (general)" in text
    assert "Green tea is calming." in text
    assert "zoe_memory_2.json could not be read" in text
    assert "Memory number 0 about tea." in text and "Memory number 6 about tea." in text


def test_markdown_streams_a_missing_profile(folder: Path, tmp_path: Path) -> None:
    (folder / "zoe.json").unlink()
    export_markdown(folder, tmp_path / "zoe.md")
    text = (tmp_path / "zoe.md").read_text("utf-8")
    assert text.startswith("# Zoë Test\n") and "No profile file was saved." in text
    assert "Memory number 6 about tea." in text


# --- card -----------------------------------------------------------------------------------------------


def test_card_maps_the_profile_fields() -> None:
    knowledge = [{"id": "k1", "title": "Tea lore", "content": "Green tea.", "story_type": "general"},
                 {"id": "k2", "content": "Untitled fact."}]
    card = build_card(PROFILE, {"ownerId": "owner-1"}, knowledge)
    data = card["data"]
    assert validate_card(card) == []
    assert data["name"] == "Zoë Test"
    assert data["description"].startswith("A kind test personality.") and "Age: 30" in data["description"]
    assert data["personality"] == "Traits: warm"
    assert data["scenario"] == "The user is a friend."
    assert data["first_mes"] == "Hello there!"
    assert data["mes_example"] == "<START>\nUser: hi\nZoë: hello"
    assert data["system_prompt"] == "You are Zoë. Stay in character."
    assert data["tags"] == ["cozy", "tea"]
    assert data["creator"] == "demo_creator" and data["character_version"] == "7"
    assert "Ask me about tea" in data["creator_notes"]
    ext = data["extensions"]["tzbackup"]
    assert ext["profile"] == PROFILE and ext["shapeId"] == "shape-1" and ext["ownerId"] == "owner-1"
    book = data["character_book"]["entries"]
    assert [e["keys"] for e in book] == [["Tea lore"], []]
    assert [e["constant"] for e in book] == [False, True]


def test_validator_names_each_problem() -> None:
    good = build_card(PROFILE, {})
    assert validate_card(good) == []
    assert validate_card([]) == ["the card is not a JSON object"]
    bad = json.loads(json.dumps(good))
    bad["spec"] = "chara_card_v3"
    del bad["data"]["first_mes"]
    bad["data"]["tags"] = ["ok", 5]
    bad["data"]["extensions"] = []
    bad["data"]["mood"] = "extra"
    bad["data"]["character_book"] = {"entries": [{"keys": "x", "content": "c", "extensions": {},
                                                  "enabled": True, "insertion_order": True}]}
    problems = validate_card(bad)
    assert "spec must be 'chara_card_v2', not 'chara_card_v3'" in problems
    assert "data.first_mes is missing" in problems
    assert "data.tags must hold strings only" in problems
    assert "data.extensions must be an object" in problems
    assert "data has fields that are not in the V2 spec: mood" in problems
    assert "data.character_book.entries[0].keys must be a list" in problems
    assert "data.character_book.entries[0].insertion_order must be a number" in problems
    assert set(CARD_V2_FIELDS) <= set(good["data"])


def test_card_json_and_png_hold_the_same_card(folder: Path, tmp_path: Path) -> None:
    result = export_card(folder, tmp_path / "zoe.card.json", tmp_path / "zoe.card.png")
    card = json.loads((tmp_path / "zoe.card.json").read_text("utf-8"))
    assert validate_card(card) == []
    assert read_card((tmp_path / "zoe.card.png").read_bytes()) == card
    assert any("placeholder" in n for n in result.notes)
    assert card["data"]["extensions"]["tzbackup"]["profile"]["engine_api_key"] == REDACTED
    assert "sk-SECRET" not in (tmp_path / "zoe.card.json").read_text("utf-8")


def test_card_uses_the_saved_avatar_png(folder: Path, tmp_path: Path) -> None:
    avatar = solid_png(8, 8, (200, 10, 10))
    (folder / "avatar.png").write_bytes(avatar)
    result = export_card(folder, tmp_path / "c.json", tmp_path / "c.png")
    png = (tmp_path / "c.png").read_bytes()
    assert png.startswith(avatar[: avatar.index(b"IEND") - 4])
    assert read_card(png) == json.loads((tmp_path / "c.json").read_text("utf-8"))
    assert any("saved avatar" in n for n in result.notes)
