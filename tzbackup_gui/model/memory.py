"""Rules over one raw memory object: its id, its timestamp, its text, its chronological key and its content
hash.

What the client parses and what the archive stores must never disagree on these, so both take them from here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "as_float",
    "content_hash",
    "memory_created_at",
    "memory_id",
    "memory_sort_key",
    "memory_text",
    "memory_ts",
    "sub_mapping",
]


def sub_mapping(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``mapping[key]`` when it is a mapping, else an empty one (drifted shapes read as absent)."""
    value = mapping.get(key)
    return value if isinstance(value, Mapping) else {}


def as_float(value: object) -> float | None:
    """A number from an int, float or numeric string; None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def memory_created_at(memory: Mapping[str, Any]) -> float:
    """``metadata.created_at``, else top-level ``created_at``, else ``metadata.end_ts``, else 0.0."""
    meta = sub_mapping(memory, "metadata")
    for value in (meta.get("created_at"), memory.get("created_at"), meta.get("end_ts")):
        number = as_float(value)
        if number is not None:
            return number
    return 0.0


memory_ts = memory_created_at


def memory_id(memory: Mapping[str, Any]) -> str:
    """The memory's id as a string ("" when it has none: such items cannot be stored)."""
    value = memory.get("id")
    return value if isinstance(value, str) else ("" if value is None else str(value))


def memory_sort_key(memory: Mapping[str, Any]) -> tuple[float, str]:
    """Chronological order (oldest first); ties broken by id so the order is total and stable."""
    return memory_created_at(memory), memory_id(memory)


def memory_text(memory: Mapping[str, Any]) -> str:
    """The memory's text: ``result``, else ``content``, else "" (when neither is a string)."""
    for key in ("result", "content"):
        value = memory.get(key)
        if isinstance(value, str):
            return value
    return ""


def content_hash(memory: Mapping[str, Any]) -> str:
    """SHA-256 (first 32 hex digits) of the canonical JSON of the whole memory: any edit upstream changes
    it. The archive stores this value, so changing the canonical form would flag every memory as edited."""
    canonical = json.dumps(memory, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
