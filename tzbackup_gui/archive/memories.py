"""Small pure helpers over raw memory objects: id, chronological key, content hash.

The timestamp rule and the content hash are the service layer's (``service/models.py``), so what the client
parses and what the archive stores can never disagree; this module adds what the archive needs on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..service.models import content_hash
from ..service.models import memory_created_at as memory_ts

__all__ = ["content_hash", "memory_id", "memory_ts", "sort_key"]


def memory_id(memory: Mapping[str, Any]) -> str:
    """The memory's id as a string ("" when it has none: such items cannot be stored)."""
    value = memory.get("id")
    return value if isinstance(value, str) else ("" if value is None else str(value))


def sort_key(memory: Mapping[str, Any]) -> tuple[float, str]:
    """Chronological order (oldest first); ties broken by id so the order is total and stable."""
    return (memory_ts(memory), memory_id(memory))
