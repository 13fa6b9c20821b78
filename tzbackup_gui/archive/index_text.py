"""What the search index reads out of each kind of record, and how typed words become an FTS5 query."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["fts_query"]

_TERM_RE = re.compile(r'"([^"]*)"|(\S+)')


def fts_query(text: str) -> str:
    """Turn what a user typed into a safe FTS5 query: words are ANDed, ``"quoted phrases"`` kept together,
    the last word matches as a prefix (search-as-you-type); FTS5 operators typed by accident are quoted.
    A NUL character (pasted from a binary) separates words: FTS5 would read it as the end of the query."""
    parts: list[str] = []
    for match in _TERM_RE.finditer(text.replace("\x00", " ")):
        phrase, word = match.group(1), match.group(2)
        value = (phrase if phrase is not None else word).strip()
        if value:
            parts.append('"' + value.replace('"', '""') + '"')
    if parts and not text.rstrip().endswith('"'):
        parts[-1] += "*"
    return " ".join(parts)


def _profile_text(profile: dict[str, Any]) -> str:
    """The searchable text of a profile: every non-empty string field, as ``key: value`` lines."""
    lines = []
    for key, value in profile.items():
        if isinstance(value, str) and value.strip() and not value.startswith(("http://", "https://")):
            lines.append(f"{key.replace('_', ' ')}: {value}")
    return "\n".join(lines)


def _text_id(entry: dict[str, Any]) -> str:
    value = entry.get("id")
    return "" if value is None or isinstance(value, dict | list) else str(value)


def _entry_ts(entry: dict[str, Any]) -> float:
    meta = entry.get("metadata")
    value = meta.get("created_at") if isinstance(meta, dict) else entry.get("created_at")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def _knowledge_text(entry: dict[str, Any]) -> str:
    parts = (entry.get("title"), entry.get("content"))
    return "\n".join(p for p in parts if isinstance(p, str) and p.strip())
