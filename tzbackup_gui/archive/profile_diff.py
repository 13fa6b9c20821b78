"""Differences between two profile versions as people read them: per field, word by word, or unified."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .profile_delta import _get, _opcodes, _tokens, canonical, strip_volatile

__all__ = [
    "FieldChanges",
    "FieldDiff",
    "field_changes", "field_diffs", "field_text", "unified_profile_diff", "word_diff"]


@dataclass
class FieldChanges:
    """Dotted field names added, removed and changed between two profiles (volatile fields left out)."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        """``changed jailbreak, tagline; added x; removed y`` (or ``no field changed``)."""
        parts = [f"{what} {', '.join(names)}" for what, names in
                 (("changed", self.changed), ("added", self.added), ("removed", self.removed)) if names]
        return "; ".join(parts) or "no field changed"


def _walk_changes(old: dict[str, Any], new: dict[str, Any], prefix: str, out: FieldChanges) -> None:
    for key in new:
        name = f"{prefix}{key}"
        if key not in old:
            out.added.append(name)
        elif isinstance(old[key], dict) and isinstance(new[key], dict):
            _walk_changes(old[key], new[key], f"{name}.", out)
        elif canonical(old[key]) != canonical(new[key]):
            out.changed.append(name)
    out.removed += [f"{prefix}{key}" for key in old if key not in new]


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> FieldChanges:
    """What changed from ``old`` to ``new``, field by field (objects compared per nested field)."""
    out = FieldChanges()
    _walk_changes(strip_volatile(old), strip_volatile(new), "", out)
    return out


def field_text(value: Any) -> str:
    """A profile value as diffable text: strings as they are, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


@dataclass
class FieldDiff:
    """One field that differs between two versions (``old`` / ``new`` None when absent there)."""

    name: str
    kind: str  # "changed" | "added" | "removed"
    old: str | None
    new: str | None


def _leaves(profile: dict[str, Any], names: Iterable[str]) -> Iterator[tuple[str, Any]]:
    for name in names:
        found, value = _get(profile, tuple(name.split(".")))
        yield name, value if found else None


def field_diffs(old: dict[str, Any], new: dict[str, Any]) -> list[FieldDiff]:
    """The fields that differ (volatile ones left out), changed first, in profile order."""
    changes = field_changes(old, new)
    pairs = zip(_leaves(old, changes.changed), _leaves(new, changes.changed), strict=True)
    out = [FieldDiff(n, "changed", field_text(a), field_text(b)) for (n, a), (_, b) in pairs]
    out += [FieldDiff(n, "added", None, field_text(v)) for n, v in _leaves(new, changes.added)]
    out += [FieldDiff(n, "removed", field_text(v), None) for n, v in _leaves(old, changes.removed)]
    return out


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """``(op, text)`` pieces turning ``old`` into ``new`` word by word; op is "equal", "delete" or
    "insert" (a replacement is a delete followed by an insert)."""
    a, b = _tokens(old), _tokens(new)
    raw: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in _opcodes(a, b):
        if tag == "equal":
            raw.append(("equal", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            raw.append(("delete", "".join(a[i1:i2])))
        if j2 > j1:
            raw.append(("insert", "".join(b[j1:j2])))
    # A space or comma that happens to match between two changes would cut a rewritten phrase into
    # word-sized crumbs ("[-likes-]{+rain+} [-of-]{+on+}"); fold it in, so the phrase reads as one change.
    out: list[tuple[str, str]] = []
    gone, came = "", ""
    for n, (op, text) in enumerate(raw):
        if op == "delete":
            gone += text
        elif op == "insert":
            came += text
        elif (gone or came) and not any(c.isalnum() for c in text) and n + 1 < len(raw) \
                and raw[n + 1][0] != "equal":
            gone += text
            came += text
        else:
            out += [(o, t) for o, t in (("delete", gone), ("insert", came)) if t]
            gone, came = "", ""
            out.append(("equal", text))
    out += [(o, t) for o, t in (("delete", gone), ("insert", came)) if t]
    return out


def _lines(text: str) -> list[str]:
    """Text as diff lines: its own lines, long ones cut after sentence ends so an edit shows alone."""
    out: list[str] = []
    for line in text.splitlines() or [""]:
        if len(line) > 100:
            out += [part for part in re.split(r"(?<=[.!?])\s+(?=\S)", line) if part]
        else:
            out.append(line)
    return out


def _marked(text: str, sign: str) -> str:
    """``[-text-]`` / ``{+text+}`` with the surrounding whitespace kept outside the marks."""
    core = text.strip()
    lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()):]
    return f"{lead}[-{core}-]{trail}" if sign == "-" else f"{lead}{{+{core}+}}{trail}"


def _word_marks(old: str, new: str, context: int = 4) -> list[str]:
    """Each edit as ``…context [-old words-]{+new words+} context…`` (like ``git diff --word-diff``)."""
    pieces = word_diff(old, new)
    out: list[str] = []
    for i, (op, text) in enumerate(pieces):
        if op == "equal" or (op == "insert" and i and pieces[i - 1][0] == "delete"):
            continue
        before = pieces[i - 1][1] if i and pieces[i - 1][0] == "equal" else ""
        j = i + 1
        if op == "delete" and j < len(pieces) and pieces[j][0] == "insert":
            mark = _marked(text.rstrip(), "-") + _marked(pieces[j][1].lstrip(), "+")
            j += 1
        else:
            mark = _marked(text, "-" if op == "delete" else "+")
        after = pieces[j][1] if j < len(pieces) and pieces[j][0] == "equal" else ""
        head = re.search(rf"(?:\S+\s*){{0,{context}}}$", before)
        tail = re.match(rf"(?:\s*\S+){{0,{context}}}", after)
        text_out = (head.group(0) if head else "") + mark + (tail.group(0) if tail else "")
        out.append("…" + " ".join(text_out.split("\n")) + "…")
    return out


def unified_profile_diff(old: dict[str, Any], new: dict[str, Any], old_label: str, new_label: str) -> str:
    """A unified diff of two profiles, field by field, with the changed words marked after each field."""
    chunks: list[str] = []
    for d in field_diffs(old, new):
        a = _lines(d.old) if d.old is not None else []
        b = _lines(d.new) if d.new is not None else []
        from_name = f"{d.name} ({old_label})" if d.old is not None else "/dev/null"
        to_name = f"{d.name} ({new_label})" if d.new is not None else "/dev/null"
        body = list(difflib.unified_diff(a, b, from_name, to_name, lineterm="", n=1))
        chunks.append("\n".join(body))
        if d.old is not None and d.new is not None:
            chunks.append("\n".join(f"~ {mark}" for mark in _word_marks(d.old, d.new)))
    return "\n".join(c for c in chunks if c) + ("\n" if chunks else "")
