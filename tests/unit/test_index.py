"""The search index and the browse helpers on archives written in the on-disk layout (no network)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.archive.browse import ChunkCache, load_personality, resolve_source
from tzbackup_gui.archive.index import (
    FLAG_DELETED,
    FLAG_UPSTREAM,
    HIT_END,
    HIT_START,
    KINDS,
    ORDERS,
    IndexCancelled,
    IndexProgress,
    SearchIndex,
    fts_query,
    update_index,
)
from tzbackup_gui.archive.store import atomic_write_json

DAY = 86400.0
T0 = 1_700_000_000.0


def memory(n: int, text: str, *, deleted: bool = False, ts: float | None = None) -> dict[str, Any]:
    created = T0 + n * DAY if ts is None else ts
    return {
        "id": f"m{n:05d}",
        "result": text,
        "summary_type": "automatic",
        "deleted": deleted,
        "senders": ["owner"],
        "metadata": {
            "created_at": created,
            "start_ts": created - 60,
            "end_ts": created,
            "msg_ids": [f"a{n}"],
        },
    }


def write_personality(
    data_dir: Path, folder: str, memories: list[dict[str, Any]], *, chunk: int = 3, **meta: Any
) -> Path:
    path = data_dir / "personalities" / folder
    (path / "memory").mkdir(parents=True)
    for i in range(0, len(memories), chunk):
        atomic_write_json(
            path / "memory" / f"{folder}_memory_{i // chunk + 1}.json", {"memories": memories[i : i + chunk]}
        )
    atomic_write_json(path / f"{folder}.json", {"name": folder.title(), "description": f"{folder} loves tea"})
    metadata = {
        "formatVersion": 1,
        "slug": folder,
        "displayName": folder.title(),
        "ownerId": "owner",
        "totalMemories": len(memories),
        "deletedUpstream": {},
        "runs": [],
    }
    metadata.update(meta)
    atomic_write_json(path / ".backup-metadata.json", metadata)
    return path


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    texts = [
        "a lost umbrella in the rain",
        "the cello lesson",
        "jazz chords at night",
        "umbrella again",
        "stargazing from the roof",
        "a quiet évening",
    ]
    mems = [memory(i, t, deleted=(i == 3)) for i, t in enumerate(texts)]
    write_personality(tmp_path, "lilith", mems, deletedUpstream={"m00001": "2025-01-01T00:00:00Z"})
    write_personality(tmp_path, "ada", [memory(100 + i, f"engine note {i}") for i in range(4)])
    return tmp_path


def test_build_search_and_rows(archive: Path) -> None:
    with SearchIndex.for_path(archive) as index:
        report = index.update()
        assert report.errors == {}
        assert index.path == archive / ".tzbackup-index.sqlite3"
        assert index.count("lilith") == 6 and index.count("ada") == 4
        hits = index.search("umbrella")
        assert {h.memory_id for h in hits} == {"m00000", "m00003"}
        assert all(HIT_START + "umbrella" + HIT_END in h.snippet for h in hits)
        assert index.search("evening")[0].memory_id == "m00005"  # diacritics folded
        assert index.search('"jazz chords"')[0].memory_id == "m00002"
        assert index.search('"chords jazz"') == []
        profile = index.search("tea", folder="ada")
        assert [(h.kind, h.folder) for h in profile] == [("profile", "ada")]
        rows = index.memory_rows("lilith")
        assert len(rows) == 6 and list(rows.ts) == sorted(rows.ts)
        flags = {
            rows.pos[i] + 3 * rows.paths[rows.file_idx[i]].name.endswith("_2.json"): rows.flags[i]
            for i in range(len(rows))
        }
        assert flags[1] == FLAG_UPSTREAM and flags[3] == FLAG_DELETED and flags[0] == 0
        cache = ChunkCache(max_files=1)
        raw = cache.memory(rows.paths[rows.file_idx[2]], rows.pos[2])
        assert raw is not None and raw["id"] == "m00002"


def test_date_filter_and_scope(archive: Path) -> None:
    with SearchIndex.for_path(archive) as index:
        index.update()
        assert {h.memory_id for h in index.search("umbrella", since=T0 + 2 * DAY)} == {"m00003"}
        assert {h.memory_id for h in index.search("umbrella", until=T0 + 2 * DAY)} == {"m00000"}
        assert index.search("umbrella", folder="ada") == []
        assert index.search("tea", since=T0) == []  # profiles have no date


def test_incremental_update_reads_only_changed_files(archive: Path) -> None:
    assert update_index(archive).indexed_files == 2 * 4  # metadata + profile + 2 chunk files, twice
    again = update_index(archive)
    assert again.indexed_files == 0 and not again.rebuilt
    chunk = archive / "personalities" / "lilith" / "memory" / "lilith_memory_2.json"
    data = json.loads(chunk.read_text("utf-8"))
    data["memories"][0]["result"] = "a brand new harpsichord story"
    atomic_write_json(chunk, data)
    report = update_index(archive)
    assert report.indexed_files == 1
    with SearchIndex.for_path(archive) as index:
        assert [h.memory_id for h in index.search("harpsichord")] == ["m00003"]
        assert [h.memory_id for h in index.search("umbrella")] == ["m00000"]
    chunk.unlink()
    assert update_index(archive).removed_files == 1
    with SearchIndex.for_path(archive) as index:
        assert index.count("lilith") == 3


def test_update_commits_folder_by_folder_first_one_first(archive: Path) -> None:
    events: list[IndexProgress] = []
    with SearchIndex.for_path(archive) as writer:
        reader = SearchIndex(writer.source, reader_of=writer.path)
        seen_by_reader: dict[str, int] = {}

        def progress(event: IndexProgress) -> None:
            events.append(event)
            if event.folder is not None:  # the other connection already sees the committed folder
                seen_by_reader[event.folder] = reader.count(event.folder)

        writer.update(first="lilith", progress=progress)
        reader.close()
    assert [e.folder for e in events if e.folder] == ["lilith", "ada"]
    assert seen_by_reader == {"lilith": 6, "ada": 4}
    assert events[0] == IndexProgress(0, 8) and events[-1].done == events[-1].total == 8
    assert [e.done for e in events if e.folder is None] == list(range(9))
    again: list[IndexProgress] = []
    update_index(archive)
    with SearchIndex.for_path(archive) as index:
        index.update(progress=again.append)
    assert [(e.folder, e.changed) for e in again if e.folder] == [("ada", False), ("lilith", False)]


def test_stopped_update_keeps_committed_folders(archive: Path) -> None:
    calls = 0

    def stop_after_first_folder() -> bool:
        nonlocal calls
        calls += 1
        return calls > 4  # lilith's 4 files are read, then the stop is noticed in "ada"

    with SearchIndex.for_path(archive) as index, pytest.raises(IndexCancelled):
        index.update(first="lilith", should_stop=stop_after_first_folder)
    with SearchIndex.for_path(archive) as index:
        assert index.count("lilith") == 6 and index.count("ada") == 0
        assert index.update().indexed_files == 4  # only ada's files are left to read
        assert index.count("ada") == 4


def test_date_range(archive: Path) -> None:
    with SearchIndex.for_path(archive) as index:
        assert index.date_range() is None
        index.update()
        assert index.date_range("lilith") == (T0, T0 + 5 * DAY)
        assert index.date_range("ada") == (T0 + 100 * DAY, T0 + 103 * DAY)
        assert index.date_range() == (T0, T0 + 103 * DAY)
        assert index.date_range("nobody") is None


def test_corrupt_index_is_rebuilt(archive: Path) -> None:
    update_index(archive)
    (archive / ".tzbackup-index.sqlite3").write_bytes(b"this is not a database" * 100)
    with SearchIndex.for_path(archive) as index:
        report = index.update()
        assert report.rebuilt and report.indexed_files == 8
        assert len(index.search("umbrella")) == 2


def test_damaged_memory_file_is_reported_and_rest_indexed(archive: Path) -> None:
    chunk = archive / "personalities" / "lilith" / "memory" / "lilith_memory_1.json"
    chunk.write_text('{"memories": [{"id": "m0", "res', "utf-8")
    with SearchIndex.for_path(archive) as index:
        report = index.update()
        rel = "personalities/lilith/memory/lilith_memory_1.json"
        assert list(report.errors) == [rel] and "damaged" in report.errors[rel]
        assert index.file_errors("lilith")[0][0] == rel
        assert index.count("lilith") == 3  # the second file
        assert index.count("ada") == 4
        assert ChunkCache().memory(chunk, 0) is None


def test_newer_format_is_refused(archive: Path) -> None:
    meta_path = archive / "personalities" / "lilith" / ".backup-metadata.json"
    meta = json.loads(meta_path.read_text("utf-8"))
    meta["formatVersion"] = 99
    atomic_write_json(meta_path, meta)
    details = load_personality(archive / "personalities" / "lilith")
    assert "format 99" in details.refused and "Upgrade" in details.refused
    with SearchIndex.for_path(archive) as index:
        report = index.update()
        assert any("format 99" in msg for msg in report.errors.values())
        assert index.count("lilith") == 0 and index.search("umbrella") == []
        assert index.count("ada") == 4


def test_single_personality_folder_and_read_only_fallback(archive: Path) -> None:
    folder = archive / "personalities" / "ada"
    source = resolve_source(folder)
    assert source.folders == [folder.resolve()]
    with SearchIndex(source) as index:
        index.update()
        assert index.count("ada") == 4
    assert resolve_source(archive / "personalities").folders == resolve_source(archive).folders
    if os.geteuid() != 0:  # root ignores permissions
        os.chmod(archive, 0o500)
        try:
            (archive / ".tzbackup-index.sqlite3").unlink(missing_ok=True)
            with SearchIndex.for_path(archive) as index:
                index.update()
                assert index.path.parent != archive and index.count("ada") == 4
        finally:
            os.chmod(archive, 0o700)


@pytest.mark.parametrize(
    ("typed", "query"),
    [
        ("umbrella", '"umbrella"*'),
        ("lost umb", '"lost" "umb"*'),
        ('"lost umbrella"', '"lost umbrella"'),
        ("AND OR (", '"AND" "OR" "("*'),
        ('say "hi', '"say" """hi"*'),
        ("   ", ""),
    ],
)
def test_fts_query_is_safe(typed: str, query: str) -> None:
    assert fts_query(typed) == query


def test_odd_queries_do_not_crash(archive: Path) -> None:
    with SearchIndex.for_path(archive) as index:
        index.update()
        for text in ['"', "NEAR(", "*", "a:b", "-x", "umbrella AND"]:
            index.search(text)


def _add_chat_and_knowledge(archive: Path) -> Path:
    """Lilith gets two chat files (an exchange about an umbrella, regenerated replies) and a knowledge
    file; Ada a knowledge file in another envelope."""
    folder = archive / "personalities" / "lilith"
    (folder / "chat").mkdir()
    messages = [
        {"id": f"c{n}", "message": f"hello {n}", "reply": f"reply {n}", "ts": T0 + n * DAY + 10}
        for n in range(6)
    ]
    messages[1]["message"] = "where is my umbrella"
    messages[4]["regenerated_replies"] = ["an umbrella appears in a regenerated reply"]
    atomic_write_json(folder / "chat" / "lilith_chat_1.json", {"messages": messages[:3]})
    atomic_write_json(folder / "chat" / "lilith_chat_2.json", {"messages": messages[3:]})
    atomic_write_json(folder / "knowledge.json", {"items": [
        {"id": "k1", "title": "Umbrella policy", "content": "Lilith lends an umbrella to friends.",
         "metadata": {"created_at": T0 + 3.5 * DAY}},
        "not an entry",
        {"id": "k2", "title": None, "content": "Lilith likes the cello."},
    ]})
    atomic_write_json(archive / "personalities" / "ada" / "knowledge.json",
                      [{"id": "k9", "content": "Ada keeps an umbrella by the engine."}])
    return folder


def test_chat_and_knowledge_are_searched_by_kind(archive: Path) -> None:
    folder = _add_chat_and_knowledge(archive)
    with SearchIndex.for_path(archive) as index:
        assert index.update().errors == {}
        assert index.count("lilith") == 6  # chat and knowledge are not memories
        everything = KINDS
        hits = index.search("umbrella", kinds=everything)
        found = {(h.kind, h.folder, h.memory_id) for h in hits}
        assert found == {
            ("memory", "lilith", "m00000"), ("memory", "lilith", "m00003"),
            ("chat", "lilith", "c1"), ("chat", "lilith", "c4"),
            ("knowledge", "lilith", "k1"), ("knowledge", "ada", "k9"),
        }
        chat = {h.memory_id: h for h in hits if h.kind == "chat"}
        assert chat["c1"].path == folder.resolve() / "chat" / "lilith_chat_1.json" and chat["c1"].pos == 1
        assert chat["c4"].path.name == "lilith_chat_2.json" and chat["c4"].pos == 1
        assert chat["c4"].ts == T0 + 4 * DAY + 10
        knowledge = {h.memory_id: h for h in hits if h.kind == "knowledge"}
        assert knowledge["k1"].pos == 0 and knowledge["k1"].ts == T0 + 3.5 * DAY
        assert index.search("cello", kinds=["knowledge"])[0].pos == 1  # positions skip non-entries
        # the default kinds are those the CLI always searched
        assert {h.kind for h in index.search("umbrella")} == {"memory"}
        assert {h.kind for h in index.search("umbrella", kinds=["chat"])} == {"chat"}
        assert index.search("umbrella", kinds=[]) == []
        assert index.count_hits("umbrella") == {"memory": 2, "chat": 2, "knowledge": 2}
        # counted by rowid ranges (no filter) and by looking records up (a filter): the same figures
        assert index.count_hits("umbrella", since=0.0) == index.count_hits("umbrella")
        assert index.count_hits("tea", since=0.0) == index.count_hits("tea") == {"profile": 2}
        assert index.count_hits("umbrella", folder="ada") == {"knowledge": 1}
        assert index.count_hits("tea") == {"profile": 2}
        assert index.count_hits("tea", since=T0) == {}  # the profile has no date


def test_search_orders_by_date_with_undated_last(archive: Path) -> None:
    _add_chat_and_knowledge(archive)
    with SearchIndex.for_path(archive) as index:
        index.update()
        newest = index.search("umbrella", kinds=KINDS, order="newest")
        times = [h.ts for h in newest]
        assert times[-1] == 0.0 and times[:-1] == sorted(times[:-1], reverse=True)  # Ada's undated entry
        oldest = index.search("umbrella", kinds=KINDS, order="oldest")
        assert [h.ts for h in oldest][:-1] == sorted(times[:-1]) and oldest[-1].ts == 0.0
        assert [h.memory_id for h in oldest[:3]] == ["m00000", "c1", "m00003"]
        assert len(index.search("umbrella", kinds=KINDS, order="relevance")) == 6
        window = index.search("umbrella", kinds=KINDS, since=T0 + 1 * DAY, until=T0 + 4 * DAY)
        assert {h.memory_id for h in window} == {"c1", "m00003", "k1"}
        assert {h.memory_id for h in index.search("umbrella", kinds=KINDS, until=T0 + DAY)} == {"m00000"}
        assert ORDERS == ("relevance", "newest", "oldest")
