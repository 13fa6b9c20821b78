"""Profile versions of one personality: what changed between backups, every earlier version kept.

Every backup fetches the whole profile (~170 fields, 30-40 KB) and :func:`record_profile` compares it with
the stored ``<folder>.json``, ignoring the fields that change on every fetch (:data:`VOLATILE_FIELDS`).
When anything else changed, the previous version is kept and a change record says which fields were added,
removed or changed; ``<folder>.json`` stays the current version, as the layout promises.

Files (inside the personality folder, all written atomically / appended with fsync)::

    history/profile/versions.jsonl          one record per line, oldest first
    history/profile/<YYYYMMDDTHHMMSS.ffffffZ>.json[.gz]
                                            a full copy of the version replaced at that time (keyframe)

A record is ``{"ts", "kind": "first", "hash", "content"}`` (the first profile seen) or
``{"ts", "kind": "changed", "added", "removed", "changed", "hash", "content", "previous": {...}}`` where
``previous`` describes the version that was replaced: its ``hash`` (of the raw JSON) and ``content`` (the
same without volatile fields), ``base`` (the content hash of the version it is rebuilt from: the one that
replaced it), and either ``file`` (a keyframe, gzip when larger than :data:`GZIP_OVER` bytes) or ``delta``:
a reverse delta (fields to set back, fields to drop, word-level patches of long texts, and the old values of
the volatile fields). Keyframes are written every :data:`KEYFRAME_EVERY` versions and whenever a delta would
not be much smaller than a compressed copy, so rebuilding a version never replays more than that many
deltas and one damaged line cannot take every older version with it. Rebuilt versions are checked against
their hash.

A crash between appending a record and replacing ``<folder>.json`` leaves a record whose change never
landed: readers skip it (its ``base`` is not the current content but its ``content`` is).

Qt-free; everything blocks (the engine calls :func:`record_profile` through ``asyncio.to_thread``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import gzip
import hashlib
import json
import os
import re
import stat
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CorruptBackupError, TzBackupError
from .store import (
    append_line,
    atomic_write_bytes,
    atomic_write_json,
    dump_json,
    ensure_dir,
    read_json,
    read_jsonl,
)

__all__ = [
    "GZIP_OVER",
    "KEYFRAME_EVERY",
    "PROFILE_HISTORY_DIR",
    "VERSIONS_NAME",
    "VOLATILE_FIELDS",
    "FieldChanges",
    "FieldDiff",
    "ProfileHistory",
    "ProfileVersion",
    "apply_delta",
    "content_hash",
    "field_changes",
    "field_diffs",
    "make_delta",
    "parse_when",
    "profile_hash",
    "record_profile",
    "unified_profile_diff",
    "word_diff",
]

PROFILE_HISTORY_DIR = "history/profile"
VERSIONS_NAME = "versions.jsonl"
#: A full copy of the replaced version is kept every this many versions (and a delta otherwise).
KEYFRAME_EVERY = 30
#: Keyframes larger than this (bytes of JSON) are gzip-compressed.
GZIP_OVER = 4096
#: the largest kept profile version read back (profiles are 30-40 KB; this guards against crafted archives)
MAX_KEPT_BYTES = 16 * 2**20
#: what a kept version's file name looks like (written by _write_keyframe): a plain name, no path
_KEPT_FILE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,80}\.json(?:\.gz)?")
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


# --- hashing and comparing ---------------------------------------------------------------------------------


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def profile_hash(profile: Any) -> str:
    """A short hash of the raw profile (key order ignored)."""
    return hashlib.sha256(_canonical(profile)).hexdigest()[:20]


def _strip_volatile(profile: dict[str, Any]) -> dict[str, Any]:
    """A copy without the volatile fields (copying only the objects on their paths)."""
    out = dict(profile)
    for path in _VOLATILE_PATHS:
        _delete(out, path, copy_parents=True)
    return out


def content_hash(profile: dict[str, Any]) -> str:
    """The hash of what counts as the profile's content: everything but :data:`VOLATILE_FIELDS`."""
    return profile_hash(_strip_volatile(profile))


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
        elif _canonical(old[key]) != _canonical(new[key]):
            out.changed.append(name)
    out.removed += [f"{prefix}{key}" for key in old if key not in new]


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> FieldChanges:
    """What changed from ``old`` to ``new``, field by field (objects compared per nested field)."""
    out = FieldChanges()
    _walk_changes(_strip_volatile(old), _strip_volatile(new), "", out)
    return out


# --- reverse deltas -----------------------------------------------------------------------------------------

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
    return ops if len(_canonical(ops)) < len(target) else None


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
        elif _canonical(old) != _canonical(value):
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
    _walk_delta(_strip_volatile(base), _strip_volatile(target), (), delta)
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


# --- writing ------------------------------------------------------------------------------------------------


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _file_stamp(ts: str) -> str:
    """``2026-05-01T12:00:00.123456Z`` -> ``20260501T120000.123456Z`` (no ``:``, safe on every system)."""
    return ts.replace("-", "").replace(":", "")


def history_dir(folder: Path) -> Path:
    return folder / PROFILE_HISTORY_DIR


def _read_records(folder: Path) -> list[dict[str, Any]]:
    return [rec for _, rec in read_jsonl(history_dir(folder) / VERSIONS_NAME) if isinstance(rec, dict)]


def _deltas_since_keyframe(records: list[dict[str, Any]]) -> int:
    count = 0
    for rec in reversed(records):
        previous = rec.get("previous")
        if rec.get("kind") != "changed" or not isinstance(previous, dict):
            continue
        if previous.get("file"):
            break
        count += 1
    return count


def _write_keyframe(directory: Path, ts: str, profile: dict[str, Any]) -> str:
    data = dump_json(profile)
    name = f"{_file_stamp(ts)}.json"
    if len(data) > GZIP_OVER:
        data, name = gzip.compress(data, compresslevel=9, mtime=0), name + ".gz"
    path = directory / name
    n = 1
    while path.exists():  # two changes in one microsecond: never overwrite a kept version
        path = directory / name.replace(".json", f"-{n}.json", 1)
        n += 1
    atomic_write_bytes(path, data)
    return path.name


def record_profile(
    folder: Path, profile_path: Path, profile: dict[str, Any], *, now: dt.datetime | None = None
) -> FieldChanges | None:
    """Save ``profile`` as the current version; keep the replaced one first when its content differs.

    Returns the changes (None when there was no stored profile, or nothing but volatile fields changed).
    The change record (and a keyframe when due) is written before ``<folder>.json`` is replaced.
    """
    ts = _iso(now or dt.datetime.now(dt.UTC))
    directory = history_dir(folder)
    try:
        old = read_json(profile_path)
    except (FileNotFoundError, CorruptBackupError):
        old = None
    if not isinstance(old, dict):
        ensure_dir(directory)
        atomic_write_json(profile_path, profile)
        first = {"ts": ts, "kind": "first", "hash": profile_hash(profile), "content": content_hash(profile)}
        append_line(directory / VERSIONS_NAME, first)
        return None
    changes = field_changes(old, profile)
    if not changes:
        if _canonical(old) != _canonical(profile):
            atomic_write_json(profile_path, profile)  # new counters: not a new version
        return None
    ensure_dir(directory)
    records = _read_records(folder)
    previous: dict[str, Any] = {
        "hash": profile_hash(old), "content": content_hash(old), "base": content_hash(profile),
    }
    delta = make_delta(profile, old)
    encoded = _canonical(delta)
    if (_deltas_since_keyframe(records) + 1 >= KEYFRAME_EVERY
            or len(encoded) * 2 > len(gzip.compress(_canonical(old), mtime=0))):
        previous["file"] = _write_keyframe(directory, ts, old)
    else:
        previous["delta"] = delta
    record = {
        "ts": ts, "kind": "changed", "added": changes.added, "removed": changes.removed,
        "changed": changes.changed, "hash": profile_hash(profile), "content": content_hash(profile),
        "previous": previous,
    }
    append_line(directory / VERSIONS_NAME, record)
    atomic_write_json(profile_path, profile)
    return changes


# --- reading ------------------------------------------------------------------------------------------------


@dataclass
class ProfileVersion:
    """One kept version of the profile. ``number`` 1 is the oldest kept; the highest is the current one."""

    number: int
    since: str | None  # ISO time of the backup that first saw it (None: before history was kept)
    until: str | None  # ISO time of the backup that saw it replaced (None: the current version)
    hash: str
    #: the change that made this version (None for the first one)
    changes: FieldChanges | None = None
    #: how it is stored: "current" (<folder>.json), "file" (a keyframe), "delta"
    stored: str = "delta"
    file: str | None = None
    record: dict[str, Any] | None = field(default=None, repr=False)  # the record that replaced it

    @property
    def is_current(self) -> bool:
        return self.until is None

    @property
    def label(self) -> str:
        when = format_iso(self.since) if self.since else "before history was kept"
        return f"v{self.number} ({'current, ' if self.is_current else ''}{when})"


def format_iso(ts: str | None) -> str:
    """``2026-05-01T12:00:03.123456Z`` -> ``2026-05-01 12:00:03 UTC`` ("" for None)."""
    if not ts:
        return ""
    parsed = parse_when(ts)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC") if parsed else ts


def parse_when(text: str, *, end_of_precision: bool = False) -> dt.datetime | None:
    """An ISO-like date / time (``2026-05-01``, ``2026-05-01 12:00``, ``...T12:00:03.5Z``, the basic form
    of file names) as an aware UTC datetime; with ``end_of_precision`` the last instant it names (a day
    means its end). None when it does not parse."""
    raw = text.strip().replace("UTC", "").strip().rstrip("Zz").replace(" ", "T")
    basic = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})?(\.\d+)?)?", raw)
    if basic:
        y, mo, d, h, mi, s, frac = basic.groups()
        raw = f"{y}-{mo}-{d}" + (f"T{h}:{mi}" + (f":{s}" if s else "") + (frac or "") if h else "")
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?(?:[+-]00:?00)?", raw)
    if not m:
        return None
    day, hh, mm, ss, frac = m.groups()
    try:
        base = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC)
        if hh is None:
            return base + dt.timedelta(days=1, microseconds=-1) if end_of_precision else base
        base = base.replace(hour=int(hh), minute=int(mm))
        if ss is None:
            return base + dt.timedelta(minutes=1, microseconds=-1) if end_of_precision else base
        base = base.replace(second=int(ss))
        if frac is None:
            return base + dt.timedelta(seconds=1, microseconds=-1) if end_of_precision else base
        return base.replace(microsecond=int((frac[1:] + "000000")[:6]))
    except ValueError:
        return None


class ProfileHistory:
    """The kept profile versions of one personality folder (read-only)."""

    def __init__(self, folder: Path, profile_path: Path | None = None) -> None:
        self.folder = folder
        self.profile_path = profile_path or folder / f"{folder.name}.json"
        self.problems: list[str] = []
        self.records = _read_records(folder)
        self._current: dict[str, Any] | None = None
        try:
            current = read_json(self.profile_path)
            if isinstance(current, dict):
                self._current = current
            else:
                self.problems.append(f"{self.profile_path.name} is not a JSON object.")
        except FileNotFoundError:
            pass
        except TzBackupError as err:
            self.problems.append(str(err))
        self.versions = self._build()

    def _build(self) -> list[ProfileVersion]:
        if self._current is None:
            return []
        newest_first: list[ProfileVersion] = []
        content = content_hash(self._current)
        current = ProfileVersion(0, None, None, profile_hash(self._current), stored="current")
        newest_first.append(current)
        first_seen: str | None = None
        for rec in reversed(self.records):
            if rec.get("kind") == "first":  # where this line of versions starts
                first_seen = str(rec.get("ts") or "") or None
                break
            previous = rec.get("previous")
            if rec.get("kind") != "changed" or not isinstance(previous, dict):
                continue
            if previous.get("base") != content and previous.get("content") == content:
                continue  # an interrupted save: this change never reached <folder>.json
            if previous.get("base") != content and not previous.get("file"):
                self.problems.append(
                    f"The profile history is broken before {format_iso(str(rec.get('ts')))}: older "
                    "versions cannot be rebuilt."
                )
                break
            newest_first[-1].since = str(rec.get("ts"))
            newest_first[-1].changes = FieldChanges(
                list(rec.get("added") or []), list(rec.get("removed") or []), list(rec.get("changed") or []))
            newest_first.append(ProfileVersion(
                0, None, str(rec.get("ts")), str(previous.get("hash") or ""),
                stored="file" if previous.get("file") else "delta",
                file=str(previous["file"]) if previous.get("file") else None, record=rec,
            ))
            content = str(previous.get("content") or "")
        if first_seen is not None:
            newest_first[-1].since = first_seen
        versions = list(reversed(newest_first))
        for n, version in enumerate(versions, 1):
            version.number = n
        return versions

    @property
    def current(self) -> ProfileVersion | None:
        return self.versions[-1] if self.versions else None

    def version(self, number: int) -> ProfileVersion:
        if not 1 <= number <= len(self.versions):
            raise KeyError(f"no profile version {number}")
        return self.versions[number - 1]

    def at(self, when: dt.datetime) -> ProfileVersion | None:
        """The version that was current at ``when`` (the oldest one for times before it was first seen)."""
        found = None
        for version in self.versions:
            since = parse_when(version.since) if version.since else None
            if since is None or since <= when:
                found = version
        return found if found is not None else (self.versions[0] if self.versions else None)

    def find(self, text: str) -> ProfileVersion | None:
        """A version by ``vN`` / ``N``, ``current`` / ``previous``, or a time (the version current then;
        a day means its end). None when nothing matches."""
        key = text.strip().lower()
        if key in ("current", "latest", "now"):
            return self.current
        if key == "previous":
            return self.versions[-2] if len(self.versions) > 1 else None
        number = re.fullmatch(r"v?(\d{1,5})", key)
        if number:
            n = int(number.group(1))
            return self.versions[n - 1] if 1 <= n <= len(self.versions) else None
        when = parse_when(text, end_of_precision=True)
        return None if when is None else self.at(when)

    def load(self, version: ProfileVersion | int) -> dict[str, Any]:
        """The raw profile of a version, rebuilt from the nearest newer full copy and checked against its
        hash. Raises :class:`CorruptBackupError` when it cannot be rebuilt."""
        number = version if isinstance(version, int) else version.number
        target = self.version(number)
        start = next(v for v in self.versions[number - 1:] if v.stored in ("current", "file"))
        profile = self._full(start)
        for v in reversed(self.versions[number - 1:start.number - 1]):
            assert v.record is not None
            delta = v.record["previous"].get("delta")
            if not isinstance(delta, dict):
                raise CorruptBackupError(f"Profile version {v.number} has no delta in {VERSIONS_NAME}.",
                                         path=str(history_dir(self.folder) / VERSIONS_NAME))
            try:
                profile = apply_delta(profile, delta)
            except (ValueError, TypeError, IndexError, KeyError) as err:
                raise CorruptBackupError(f"Profile version {v.number} cannot be rebuilt: {err}",
                                         path=str(history_dir(self.folder) / VERSIONS_NAME)) from err
        if target.hash and profile_hash(profile) != target.hash:
            raise CorruptBackupError(
                f"Profile version {number} was rebuilt but does not match its checksum; the history in "
                f"{PROFILE_HISTORY_DIR} is damaged.", path=str(history_dir(self.folder)))
        return profile

    def _full(self, version: ProfileVersion) -> dict[str, Any]:
        if version.stored == "current":
            assert self._current is not None
            return self._current
        assert version.file is not None
        # versions.jsonl may come from an imported archive: its file names and sizes are untrusted
        if not _KEPT_FILE.fullmatch(version.file):
            raise CorruptBackupError(
                f"{VERSIONS_NAME} names a kept profile version {version.file[:80]!r} that is not a file in "
                f"{PROFILE_HISTORY_DIR}; the history is damaged.", path=str(history_dir(self.folder)))
        path = history_dir(self.folder) / version.file
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                raise CorruptBackupError(f"The kept profile version {path.name} is not a regular file.",
                                         path=str(path))
            with path.open("rb") as fh:
                data = fh.read(MAX_KEPT_BYTES + 1)
            if path.suffix == ".gz":
                inflater = zlib.decompressobj(wbits=31)
                data = inflater.decompress(data, MAX_KEPT_BYTES + 1)
            if len(data) > MAX_KEPT_BYTES:
                raise CorruptBackupError(
                    f"The kept profile version {path.name} is larger than {MAX_KEPT_BYTES // 2**20} MB; a "
                    "profile never is, so the file is damaged or not ours.", path=str(path))
            profile = json.loads(data)
        except FileNotFoundError as err:
            raise CorruptBackupError(f"The kept profile version {path.name} is missing.",
                                     path=str(path)) from err
        except (OSError, EOFError, ValueError, zlib.error) as err:
            raise CorruptBackupError(f"The kept profile version {path.name} is damaged: {err}",
                                     path=str(path)) from err
        if not isinstance(profile, dict):
            raise CorruptBackupError(f"The kept profile version {path.name} is not a JSON object.",
                                     path=str(path))
        return profile


# --- diffs --------------------------------------------------------------------------------------------------


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
