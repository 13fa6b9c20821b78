"""Character Card V3 on disk: JSON and PNG (``ccv3`` + a backfilled V2 ``chara``), validated against the
spec's fields and read back with our own reader; memories in the lorebook (none / newest N / all) keyed by
their distinctive words."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_export import BASE, DAY, PROFILE, make_folder, memory
from tzbackup_gui.archive.card import (
    CARD_V2_FIELDS,
    CARD_V3_FIELDS,
    V3_BACKFILL_NOTE,
    build_card_v3,
    card_data_fields,
    validate_card,
    validate_card_v3,
)
from tzbackup_gui.archive.card_export import read_card_file
from tzbackup_gui.archive.card_memories import MemoryChoice, memory_keys, parse_memory_choice
from tzbackup_gui.archive.export import export_as, export_card
from tzbackup_gui.archive.png_card import CARD_KEYWORD, CARD_V3_KEYWORD, embed_card, read_card, solid_png

TOPICS = ["Zoë and the user talked about Darjeeling tea and the monsoon harvest.",
          "The user discussed the Analytical Engine and Babbage's punched cards.",
          "Zoë mentioned her cat Marmalade, who sleeps on the Persian rug.",
          "They talked about tea again: oolong from Taiwan this time.",
          "The user asked about the lighthouse keeper on Skellig Michael.",
          "Zoë told the user about sourdough starters and rye flour.",
          "The user shared a story about a violin recital in Vienna."]
KNOWLEDGE = [{"id": "k1", "title": "Tea house", "content": "Zoë runs a tea house.", "story_type": "general"},
             {"id": "k2", "title": "", "content": "Always polite.", "story_type": "general"}]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    mems = [memory(i, BASE + i * DAY, TOPICS[i]) for i in range(len(TOPICS))]
    mems[5]["deleted"] = True  # deleted by its owner: never in a lorebook
    f = make_folder(tmp_path, mems, deletedUpstream={mems[6]["id"]: "2025-03-02T00:00:00Z"})
    (f / "knowledge.json").write_text(json.dumps({"items": KNOWLEDGE}), "utf-8")
    return f


def memory_entries(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in card["data"]["character_book"]["entries"] if "memoryId" in e["extensions"]["tzbackup"]]


def test_v3_json_and_png_round_trip_through_our_reader(folder: Path, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    result = export_card(folder, tmp_path / "z.json", tmp_path / "z.png", version=3,
                         memories=MemoryChoice(None), on_card=seen.append)
    card = seen[0]
    assert result.format == "card-v3" and result.paths == [tmp_path / "z.json", tmp_path / "z.png"]
    assert validate_card_v3(card) == []
    assert (card["spec"], card["spec_version"]) == ("chara_card_v3", "3.0")
    data = card["data"]
    assert set(CARD_V2_FIELDS) <= set(data)  # the V2 fields are kept for older readers
    assert data["group_only_greetings"] == [] and data["source"] == ["https://shapes.inc/zoe"]
    assert data["assets"] == [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}]
    assert isinstance(data["modification_date"], int) and data["modification_date"] > BASE
    assert data["system_prompt"] == PROFILE["jailbreak"] and data["first_mes"] == "Hello there!"
    for path in (tmp_path / "z.json", tmp_path / "z.png"):
        back = read_card_file(path)
        assert back == card  # every field, lorebook included
        assert {k: back["data"][k] for k in card_data_fields(back) if k in back["data"]} == {
            k: data[k] for k in card_data_fields(card) if k in data}
    png = (tmp_path / "z.png").read_bytes()
    assert read_card(png, CARD_V3_KEYWORD) == card
    v2 = read_card(png, CARD_KEYWORD)
    assert v2 is not None and validate_card(v2) == []
    assert v2["data"]["creator_notes"].startswith(V3_BACKFILL_NOTE)
    assert v2["data"]["character_book"]["entries"] == data["character_book"]["entries"]
    assert "group_only_greetings" not in v2["data"]


def test_memories_in_the_lorebook_none_newest_all(folder: Path, tmp_path: Path) -> None:
    cards = {}
    for label, choice in (("none", MemoryChoice(0)), ("two", MemoryChoice(2)), ("all", MemoryChoice(None))):
        seen: list[dict[str, Any]] = []
        export_card(folder, tmp_path / f"{label}.json", None, version=3, memories=choice, on_card=seen.append)
        cards[label] = seen[0]
    book = cards["none"]["data"]["character_book"]
    assert [e["content"] for e in book["entries"]] == [k["content"] for k in KNOWLEDGE]  # knowledge only
    two = memory_entries(cards["two"])
    assert [e["content"] for e in two] == [TOPICS[4], TOPICS[6]]  # the newest two live ones, oldest first
    every = memory_entries(cards["all"])
    assert [e["content"] for e in every] == [t for i, t in enumerate(TOPICS) if i != 5]  # deleted left out
    entries = cards["all"]["data"]["character_book"]["entries"]
    knowledge = cards["none"]["data"]["character_book"]["entries"]
    assert entries[:2] == [{**e, "use_regex": False} for e in knowledge]
    assert [e["insertion_order"] for e in entries] == list(range(len(entries)))
    assert len({e["id"] for e in entries}) == len(entries)
    for entry in every:
        keys = entry["keys"]
        assert 1 <= len(keys) <= 5 and entry["enabled"] and entry["use_regex"] is False
        assert not {"zoë", "user", "talked", "the", "about", "discussed"} & set(keys)
        assert all(k in entry["content"].casefold() for k in keys)
    darjeeling = every[0]["keys"]
    assert "darjeeling" in darjeeling and "tea" in darjeeling
    assert "marmalade" in every[2]["keys"]
    assert every[-1]["extensions"]["tzbackup"]["memoryId"] == "m00006/x"  # deleted upstream: kept


def test_v2_card_with_memories_validates_and_defaults_are_unchanged(folder: Path, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    export_card(folder, tmp_path / "v2.json", None, on_card=seen.append)
    assert seen[0]["spec"] == "chara_card_v2" and not memory_entries(seen[0])
    export_card(folder, tmp_path / "v2m.json", None, memories=MemoryChoice(3), on_card=seen.append)
    assert validate_card(seen[1]) == [] and len(memory_entries(seen[1])) == 3


def test_export_as_card_v3_writes_json_and_png(folder: Path, tmp_path: Path) -> None:
    result, problems = export_as(folder, "card-v3", tmp_path / "c.json", tmp_path / "c.png",
                                 memories=MemoryChoice(1))
    assert problems == [] and result.memories == 1
    assert any("lorebook: 2 knowledge entries and 1 memories" in n for n in result.notes)
    assert read_card_file(tmp_path / "c.png")["spec"] == "chara_card_v3"


def test_validate_card_v3_names_what_is_wrong() -> None:
    card = build_card_v3(PROFILE, {"slug": "zoe"}, KNOWLEDGE)
    assert validate_card_v3(card) == []
    broken = json.loads(json.dumps(card))
    del broken["data"]["group_only_greetings"]
    broken["spec_version"] = "2.0"
    broken["data"]["character_book"]["entries"][0].pop("use_regex")
    broken["data"]["assets"] = [{"type": "icon", "uri": 3}]
    broken["data"]["creation_date"] = "yesterday"
    broken["data"]["mood"] = "x"
    problems = validate_card_v3(broken)
    for needle in ("spec_version must be '3.0'", "data.group_only_greetings is missing",
                   "entries[0].use_regex is missing", "data.assets[0].uri must be a string",
                   "data.assets[0].name is missing", "data.creation_date must be a number",
                   "not in the V3 spec: mood"):
        assert any(needle in p for p in problems), (needle, problems)
    assert validate_card_v3([]) == ["the card is not a JSON object"]
    assert set(CARD_V3_FIELDS) - set(CARD_V2_FIELDS) == {"group_only_greetings"}


def test_png_chunks_are_replaced_not_stacked() -> None:
    base = solid_png(2, 2, (1, 2, 3))
    v3 = build_card_v3(PROFILE, {"slug": "zoe"})
    once = embed_card(base, {"spec": "chara_card_v2", "n": 1}, v3)
    twice = embed_card(once, {"spec": "chara_card_v2", "n": 2}, v3)
    assert twice.count(b"tEXtchara\x00") == 1 and twice.count(b"tEXtccv3\x00") == 1
    v2_only = embed_card(twice, {"spec": "chara_card_v2", "n": 3})  # no stale V3 card left to win
    assert read_card(v2_only, CARD_V3_KEYWORD) is None
    assert read_card(v2_only) == {"spec": "chara_card_v2", "n": 3}


def test_memory_keys_prefer_rare_words_and_skip_stop_words() -> None:
    docs = ["tea tea garden", "tea with milk", "tea and biscuits"]
    freq = collections.Counter(w for d in docs for w in set(d.split()))
    assert memory_keys("tea tea garden", freq, 3)[0] == "garden"  # tea is in every memory
    assert memory_keys("The user talked about it", freq, 3) == []
    assert memory_keys("Zoë visited Ada", freq, 3, exclude=["zoë"]) == ["ada", "visited"]  # names first
    assert "東京" in memory_keys("東京 で 会った Tokyo", freq, 3)  # letters of any script


@pytest.mark.parametrize(("text", "newest"),
                         [("none", 0), ("0", 0), ("all", None), ("ALL", None), ("25", 25)])
def test_parse_memory_choice(text: str, newest: int | None) -> None:
    assert parse_memory_choice(text).newest == newest


def test_parse_memory_choice_refuses_the_rest() -> None:
    with pytest.raises(ValueError, match="not none, all or a number"):
        parse_memory_choice("-3")
