"""Small pure helpers over raw memory objects: id, chronological key, content hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["content_hash", "memory_id", "memory_ts", "sort_key"]


def memory_id(memory: Mapping[str, Any]) -> str:
    """The memory's id as a string ("" when it has none: such items cannot be stored)."""
    value = memory.get("id")
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _as_float(value: object) -> float | None:
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


def memory_ts(memory: Mapping[str, Any]) -> float:
    """``metadata.created_at``, else top-level ``created_at``, else ``metadata.end_ts``, else 0."""
    meta = memory.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    for value in (meta.get("created_at"), memory.get("created_at"), meta.get("end_ts")):
        number = _as_float(value)
        if number is not None:
            return number
    return 0.0


def sort_key(memory: Mapping[str, Any]) -> tuple[float, str]:
    """Chronological order (oldest first); ties broken by id so the order is total and stable."""
    return (memory_ts(memory), memory_id(memory))


def content_hash(memory: Mapping[str, Any]) -> str:
    """A stable hash of the whole raw object: any change upstream (text, flags, metadata) shows."""
    canonical = json.dumps(memory, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
