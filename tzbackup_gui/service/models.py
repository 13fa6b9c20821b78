"""Drift-tolerant views over the service's JSON.

The API is observed, not documented, and its envelopes changed over time (``items`` / ``memories`` / a bare
array; four pagination spellings). Each parser accepts every form seen so far and raises
:class:`DriftError` naming what arrived (top-level keys or type, never values) for anything else. The raw
objects are kept untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import DriftError
from ..model.memory import content_hash, memory_created_at, memory_sort_key
from ..model.memory import sub_mapping as _sub

__all__ = [
    "MemoryPage",
    "ShapeSummary",
    "content_hash",
    "describe_payload",
    "memory_created_at",
    "memory_sort_key",
    "parse_entry_list",
    "parse_memory_page",
    "parse_personalization",
    "parse_shape_list",
]

JSONDict = dict[str, Any]


def describe_payload(payload: object) -> str:
    """What arrived, for drift messages: the type and, for objects, the top-level keys (never values)."""
    if isinstance(payload, Mapping):
        keys = sorted(str(k) for k in payload)
        shown = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "")
        return f"a JSON object with keys [{shown}]"
    if isinstance(payload, list):
        return f"a JSON array of {len(payload)} item(s)"
    if payload is None:
        return "null"
    return f"a JSON {type(payload).__name__}"


def _dict_items(items: list[Any], what: str, path: str) -> list[JSONDict]:
    bad = [type(i).__name__ for i in items if not isinstance(i, dict)]
    if bad:
        raise DriftError(
            f"The service sent {what} for {path} whose entries are not objects (found {bad[0]}).",
            arrived=f"array with {bad[0]} entries",
            url_path=path,
        )
    return [dict(i) for i in items]


# --- memories ---------------------------------------------------------------------------------------------


@dataclass
class MemoryPage:
    """One page of long-term memories, newest first, with whatever pagination the service sent."""

    page: int
    items: list[JSONDict] = field(default_factory=list)
    has_next: bool | None = None
    total_pages: int | None = None
    total: int | None = None
    #: True when the service answered 404 (the client reports page 1's 404 as an empty page; the engine
    #: decides what it means: "no memories" only for a full walk, never a reason to record deletions)
    not_found: bool = False


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _as_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def parse_memory_page(payload: object, page: int, path: str = "/api/memory/") -> MemoryPage:
    """Items from ``items`` | ``memories`` | a bare array; pagination from every spelling seen."""
    if isinstance(payload, list):
        return MemoryPage(page, _dict_items(payload, "a memory page", path))
    if not isinstance(payload, Mapping):
        raise DriftError(
            f"The memory page {page} from {path} is {describe_payload(payload)}, not a list of memories.",
            arrived=describe_payload(payload),
            url_path=path,
        )
    raw_items = payload.get("items")
    if not isinstance(raw_items, list):
        raw_items = payload.get("memories")
    if not isinstance(raw_items, list):
        raise DriftError(
            f"The memory page {page} from {path} has no 'items' or 'memories' list; it is "
            f"{describe_payload(payload)}.",
            arrived=describe_payload(payload),
            url_path=path,
        )
    pagination = _sub(payload, "pagination")
    meta_pagination = _sub(_sub(payload, "meta"), "pagination")
    has_next = _first(_as_bool, pagination.get("has_next"), meta_pagination.get("has_next"),
                      payload.get("has_next"), payload.get("hasNext"))
    total_pages = _first(_as_int, pagination.get("total_pages"), payload.get("totalPages"),
                         meta_pagination.get("total_pages"), pagination.get("totalPages"))
    total = _first(_as_int, pagination.get("total"), payload.get("total"), meta_pagination.get("total"))
    return MemoryPage(page, _dict_items(raw_items, "a memory page", path), has_next, total_pages, total)


def _first(conv: Any, *values: object) -> Any:
    for value in values:
        converted = conv(value)
        if converted is not None:
            return converted
    return None


# --- shapes -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShapeSummary:
    """One entry of ``/api/shapes?category=self``: ``username`` is the slug, ``name`` the display name."""

    id: str
    name: str
    username: str
    avatar: str = ""
    raw: JSONDict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_raw(cls, d: Mapping[str, Any]) -> ShapeSummary:
        """Tolerant: missing fields become ""; a missing display name falls back to the slug."""
        def text(key: str) -> str:
            value = d.get(key)
            return "" if value is None else str(value)

        username = text("username")
        return cls(
            id=text("id"),
            name=text("name") or username,
            username=username,
            avatar=text("avatar"),
            raw=dict(d),
        )


def parse_shape_list(payload: object, path: str = "/api/shapes") -> list[ShapeSummary]:
    """A bare array of shapes (seen), or ``{items: [...]}`` (tolerated)."""
    items = payload.get("items") if isinstance(payload, Mapping) else payload
    if not isinstance(items, list):
        raise DriftError(
            f"The list of personalities from {path} is {describe_payload(payload)}, not a list.",
            arrived=describe_payload(payload),
            url_path=path,
        )
    return [ShapeSummary.from_raw(d) for d in _dict_items(items, "a personality list", path)]


# --- story / training / personalization -----------------------------------------------------------------

_ENVELOPE_KEYS = ("items", "story", "knowledge", "training", "data")


def parse_entry_list(payload: object, path: str) -> list[JSONDict]:
    """Story / training envelopes: bare array, ``{items|story|knowledge|training: [...]}``, or one object."""
    if isinstance(payload, list):
        return _dict_items(payload, "a list", path)
    if isinstance(payload, Mapping):
        for key in _ENVELOPE_KEYS:
            value = payload.get(key)
            if isinstance(value, list):
                return _dict_items(value, "a list", path)
            if isinstance(value, Mapping) and key != "data":
                return [dict(value)]
        if not payload:
            return []
        if {"id", "content", "story_type"} & set(payload):
            return [dict(payload)]
    raise DriftError(
        f"The entries from {path} came as {describe_payload(payload)}, which is none of the known forms.",
        arrived=describe_payload(payload),
        url_path=path,
    )


def parse_personalization(payload: object, path: str) -> JSONDict:
    """The user's personalization: an object (``{}`` = none); ``null`` is taken as none too."""
    if payload is None:
        return {}
    if isinstance(payload, Mapping):
        return dict(payload)
    raise DriftError(
        f"The personalization from {path} is {describe_payload(payload)}, not an object.",
        arrived=describe_payload(payload),
        url_path=path,
    )
