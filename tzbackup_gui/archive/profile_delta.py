"""Reverse deltas between two profile versions: what ``history/profile/versions.jsonl`` stores instead of a
full copy (see :mod:`.profile_history`). Their shape is part of the on-disk format.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

__all__ = ["TEXT_PATCH_MIN", "VOLATILE_FIELDS", "apply_delta", "canonical", "make_delta", "strip_volatile"]

#: Strings at least this long are stored as word-level patches in deltas, shorter ones whole.
TEXT_PATCH_MIN = 160

#: Profile fields that change on every fetch (or on every save, even one that changes nothing else):
#: they never make a new version, and change records never list them. Found in the profile data
#: (SERVICE_API.md's field list, the sandbox's ``data.build_profile``). Dotted names reach into objects.
VOLATILE_FIELDS: tuple[str, ...] = (
    "user_count",  # people who talked to the personality: grows with use
    "message_count",  # messages exchanged: grows with use
    "updated_ts",  # bumped by every save in the editor, also a save that changes nothing
    "shape_settings.last_trained_ts",  # when training last ran (activity, not configuration)
    "shape_settings.knowledge_count",  # mirrors the knowledge section, which keeps its own history
    "shape_settings.training_count",  # mirrors the training section, likewise
)
_VOLATILE_PATHS: tuple[tuple[str, ...], ...] = tuple(tuple(name.split(".")) for name in VOLATILE_FIELDS)

Path_ = tuple[str, ...]


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def strip_volatile(profile: dict[str, Any]) -> dict[str, Any]:
    """A copy without the volatile fields (copying only the objects on their paths)."""
    out = dict(profile)
    for path in _VOLATILE_PATHS:
        _delete(out, path, copy_parents=True)
    return out




#: Words, runs of punctuation, runs of whitespace. Text patches in stored deltas address these tokens by
#: position: this pattern is part of the on-disk format (a change needs a new delta format marker).
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]+")


def _tokens(text: str) -> list[str]:
    """Words, punctuation and the whitespace between them; joined they give ``text`` back exactly."""
    return _TOKEN.findall(text)


def _get(obj: dict[str, Any], path: Path_) -> tuple[bool, Any]:
    cur: Any = obj
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return False, None
        cur = cur[key]
    return True, cur


def _parent(obj: dict[str, Any], path: Path_, *, create: bool) -> dict[str, Any] | None:
    """The object holding ``path[-1]``, copying every object on the way (the input is never changed)."""
    cur = obj
    for key in path[:-1]:
        child = cur.get(key)
        if not isinstance(child, dict):
            if not create:
                return None
            child = {}
        child = dict(child)
        cur[key] = child
        cur = child
    return cur


def _delete(obj: dict[str, Any], path: Path_, *, copy_parents: bool) -> None:
    found, _ = _get(obj, path)
    if not found:
        return
    parent = _parent(obj, path, create=False) if copy_parents else _get(obj, path[:-1])[1]
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def _set(obj: dict[str, Any], path: Path_, value: Any) -> None:
    parent = _parent(obj, path, create=True)
    assert parent is not None
    parent[path[-1]] = value


def _opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    """``SequenceMatcher`` opcodes, with the common start and end matched first: a small edit in a long
    prompt then compares only the few tokens around it (the matcher is quadratic on repetitive text)."""
    lead = 0
    limit = min(len(a), len(b))
    while lead < limit and a[lead] == b[lead]:
        lead += 1
    trail = 0
    while trail < limit - lead and a[-1 - trail] == b[-1 - trail]:
        trail += 1
    ops: list[tuple[str, int, int, int, int]] = [("equal", 0, lead, 0, lead)] if lead else []
    middle = difflib.SequenceMatcher(None, a[lead:len(a) - trail], b[lead:len(b) - trail], autojunk=False)
    ops += [(tag, i1 + lead, i2 + lead, j1 + lead, j2 + lead) for tag, i1, i2, j1, j2 in middle.get_opcodes()]
    if trail:
        ops.append(("equal", len(a) - trail, len(a), len(b) - trail, len(b)))
    return ops


def _text_patch(base: str, target: str) -> list[list[Any]] | None:
    """Ops turning ``base`` into ``target`` at word level: ``[start, end, replacement]`` token ranges of
    ``base``; None when a patch would not be smaller than ``target`` itself."""
    a, b = _tokens(base), _tokens(target)
    ops = [[i1, i2, "".join(b[j1:j2])] for tag, i1, i2, j1, j2 in _opcodes(a, b) if tag != "equal"]
    return ops if len(canonical(ops)) < len(target) else None


def _apply_text(base: str, ops: list[list[Any]]) -> str:
    tokens = _tokens(base)
    out: list[str] = []
    at = 0
    for start, end, text in ops:
        out.extend(tokens[at:start])
        out.append(text)
        at = end
    out.extend(tokens[at:])
    return "".join(out)


def _walk_delta(base: dict[str, Any], target: dict[str, Any], path: Path_, delta: dict[str, Any]) -> None:
    for key in base:
        if key not in target:
            delta["unset"].append([*path, key])
    for key, value in target.items():
        sub = (*path, key)
        if key not in base:
            delta["set"].append([list(sub), value])
            continue
        old = base[key]
        if isinstance(old, dict) and isinstance(value, dict):
            _walk_delta(old, value, sub, delta)
        elif isinstance(old, str) and isinstance(value, str) and old != value and len(old) >= TEXT_PATCH_MIN:
            ops = _text_patch(old, value)
            if ops is None:
                delta["set"].append([list(sub), value])
            else:
                delta["text"].append([list(sub), ops])
        elif canonical(old) != canonical(value):
            delta["set"].append([list(sub), value])


def _moved(keys: list[str], moves: list[list[Any]]) -> list[str]:
    """``keys`` with each ``[key, predecessor]`` move applied in turn (predecessor None: to the front)."""
    out = list(keys)
    for key, before in moves:
        if key not in out:
            continue
        out.remove(key)
        out.insert(out.index(before) + 1 if before in out else 0, key)
    return out


def _order_fixes(got: dict[str, Any], want: dict[str, Any], path: Path_, out: list[list[Any]]) -> None:
    """Key orders of ``want`` that rebuilding does not reproduce by itself (fields dropped and set back):
    ``[path, [[key, predecessor], ...]]`` moves, or ``[path, [every key]]`` when moves do not suffice."""
    have, need = list(got), list(want)
    if have != need:
        before = {k: (need[i - 1] if i else None) for i, k in enumerate(need)}
        moves = [[k, before[k]] for i, k in enumerate(have) if k in before and (have[i - 1] if i else None)
                 != before[k]]
        moves.sort(key=lambda m: need.index(str(m[0])))
        out.append([list(path), moves if _moved(have, moves) == need else need])
    for key, value in want.items():
        if isinstance(value, dict) and isinstance(got.get(key), dict):
            _order_fixes(got[key], value, (*path, key), out)


def make_delta(base: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """A delta that rebuilds ``target`` from ``base`` (any base with the same content: the volatile fields'
    values of ``target`` are stored whole, so later counter-only updates of the base do not matter)."""
    delta: dict[str, Any] = {"set": [], "unset": [], "text": [], "order": [], "volatile": []}
    _walk_delta(strip_volatile(base), strip_volatile(target), (), delta)
    for path in _VOLATILE_PATHS:
        found, value = _get(target, path)
        delta["volatile"].append([list(path), value] if found else [list(path)])
    delta = {k: v for k, v in delta.items() if v}
    order: list[list[Any]] = []
    _order_fixes(apply_delta(base, delta), target, (), order)
    if order:
        delta["order"] = order
    return delta


def apply_delta(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """The profile ``delta`` rebuilds from ``base`` (``base`` is left unchanged)."""
    out = dict(base)
    for path in delta.get("unset", []):
        _delete(out, tuple(path), copy_parents=True)
    for path, value in delta.get("set", []):
        _set(out, tuple(path), value)
    for path, ops in delta.get("text", []):
        found, text = _get(out, tuple(path))
        if not found or not isinstance(text, str):
            raise ValueError(f"no text at {'.'.join(path)}")
        _set(out, tuple(path), _apply_text(text, ops))
    for entry in delta.get("volatile", []):  # set in place (the key keeps its position), or dropped
        if len(entry) == 2:
            _set(out, tuple(entry[0]), entry[1])
        else:
            _delete(out, tuple(entry[0]), copy_parents=True)
    for path, keys in delta.get("order", []):
        found, obj = (True, out) if not path else _get(out, tuple(path))
        if found and isinstance(obj, dict):
            if keys and isinstance(keys[0], list):
                keys = _moved(list(obj), keys)
            ordered = {k: obj[k] for k in keys if k in obj}
            ordered.update(obj)
            if path:
                _set(out, tuple(path), ordered)
            else:
                out = ordered
    return out


