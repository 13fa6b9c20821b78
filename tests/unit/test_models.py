"""Drift-tolerant parsing: memory pages, shape lists, story/training envelopes, ordering and hashing."""

from __future__ import annotations

from typing import Any

import pytest

from tzbackup_gui.errors import DriftError
from tzbackup_gui.service.models import (
    MemoryPage,
    ShapeSummary,
    content_hash,
    describe_payload,
    memory_created_at,
    memory_sort_key,
    parse_entry_list,
    parse_memory_page,
    parse_personalization,
    parse_shape_list,
)

M1 = {"id": "a/b", "result": "one", "metadata": {"created_at": 2.0}}
M2 = {"id": "c/d", "result": "two", "created_at": 1.0}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"items": [M1, M2], "pagination": {"page": 1, "has_next": True, "total": 41}},
         MemoryPage(1, [M1, M2], True, None, 41)),
        ({"items": [M1], "pagination": {"page": 3, "has_next": False}},
         MemoryPage(1, [M1], False, None, None)),
        ({"memories": [M1], "pagination": {"total_pages": 7, "total": 130}},
         MemoryPage(1, [M1], None, 7, 130)),
        ({"items": [M1], "totalPages": 5, "total": 99}, MemoryPage(1, [M1], None, 5, 99)),
        ({"items": [M1], "meta": {"pagination": {"total_pages": 4, "has_next": True}}},
         MemoryPage(1, [M1], True, 4, None)),
        ({"items": []}, MemoryPage(1, [], None, None, None)),
        ([M1, M2], MemoryPage(1, [M1, M2], None, None, None)),
        # odd types: a string count is coerced, a non-boolean has_next ignored
        ({"items": [M1], "pagination": {"total_pages": "3", "has_next": "yes"}},
         MemoryPage(1, [M1], None, 3, None)),
    ],
)
def test_memory_page_variants(payload: Any, expected: MemoryPage) -> None:
    assert parse_memory_page(payload, 1) == expected


def test_items_wins_over_memories() -> None:
    page = parse_memory_page({"items": [M1], "memories": [M2]}, 2)
    assert page.items == [M1] and page.page == 2


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"data": [M1], "page": 1}, "data, page"),
        ({"items": "nope"}, "items"),
        ("<html>", "str"),
        (None, "null"),
        (42, "int"),
        ([M1, "x"], "str"),
    ],
)
def test_memory_page_drift_names_what_arrived(payload: Any, named: str) -> None:
    with pytest.raises(DriftError) as err:
        parse_memory_page(payload, 1, "/api/memory/abc")
    assert named in str(err.value) and "/api/memory/abc" in str(err.value)
    assert err.value.arrived


def test_drift_message_shows_keys_not_values() -> None:
    with pytest.raises(DriftError) as err:
        parse_memory_page({"secretish": "VALUE-THAT-MUST-NOT-SHOW"}, 1)
    assert "secretish" in str(err.value) and "VALUE-THAT-MUST-NOT-SHOW" not in str(err.value)
    assert "..." in describe_payload({str(i): i for i in range(20)})


def test_created_at_precedence() -> None:
    both = {"id": "x", "created_at": 1.0, "metadata": {"created_at": 2.0, "end_ts": 3.0}}
    assert memory_created_at(both) == 2.0
    assert memory_created_at({"created_at": 1.5, "metadata": {"end_ts": 3.0}}) == 1.5
    assert memory_created_at({"metadata": {"end_ts": 3.0}}) == 3.0
    assert memory_created_at({"metadata": "broken"}) == 0.0
    assert memory_created_at({"created_at": "12.5"}) == 12.5
    assert memory_created_at({"created_at": True}) == 0.0


def test_sort_key_orders_by_time_then_id() -> None:
    a = {"id": "b", "created_at": 5.0}
    b = {"id": "a", "created_at": 5.0}
    c = {"id": "z", "metadata": {"created_at": 1.0}}
    assert sorted([a, b, c], key=memory_sort_key) == [c, b, a]
    assert memory_sort_key({"id": None}) == (0.0, "")


def test_content_hash_is_stable_and_detects_edits() -> None:
    m = {"id": "a", "result": "x", "metadata": {"b": 1, "a": 2}}
    reordered = {"metadata": {"a": 2, "b": 1}, "result": "x", "id": "a"}
    assert content_hash(m) == content_hash(reordered)
    assert content_hash(m) != content_hash({**m, "result": "y"})
    assert content_hash(m) != content_hash({**m, "deleted": True})


def test_shape_summary_from_raw() -> None:
    raw = {"id": "s1", "name": "Lilith", "username": "lilith", "avatar": "https://f/a.png", "x": 1}
    s = ShapeSummary.from_raw(raw)
    assert (s.id, s.name, s.username, s.avatar, s.raw) == ("s1", "Lilith", "lilith", "https://f/a.png", raw)
    bare = ShapeSummary.from_raw({"id": "s2", "username": "echo", "avatar": None})
    assert bare.name == "echo" and bare.avatar == ""


def test_shape_list_bare_and_items() -> None:
    raw = [{"id": "1", "name": "A", "username": "a"}]
    assert [s.username for s in parse_shape_list(raw)] == ["a"]
    assert [s.username for s in parse_shape_list({"items": raw})] == ["a"]
    with pytest.raises(DriftError, match="shapes"):
        parse_shape_list({"shapes": raw})


E = {"id": "k1", "story_type": "general", "content": "c"}


@pytest.mark.parametrize(
    "payload",
    [[E], {"items": [E]}, {"story": [E]}, {"knowledge": [E]}, {"training": [E]}, E, {"story": E}],
)
def test_entry_envelopes(payload: Any) -> None:
    assert parse_entry_list(payload, "/api/shapes/x/story") == [E]


def test_entry_envelopes_empty_and_drift() -> None:
    assert parse_entry_list([], "/p") == []
    assert parse_entry_list({}, "/p") == []
    assert parse_entry_list({"items": []}, "/p") == []
    with pytest.raises(DriftError, match="unexpected"):
        parse_entry_list({"unexpected": 1}, "/p")
    with pytest.raises(DriftError):
        parse_entry_list("text", "/p")


def test_personalization() -> None:
    assert parse_personalization({}, "/p") == {}
    assert parse_personalization(None, "/p") == {}
    assert parse_personalization({"backstory": "b"}, "/p") == {"backstory": "b"}
    with pytest.raises(DriftError):
        parse_personalization([1], "/p")
