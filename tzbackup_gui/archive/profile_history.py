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
import gzip
import hashlib
import json
import os
import re
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CorruptBackupError, TzBackupError
from .profile_delta import VOLATILE_FIELDS, apply_delta, canonical, make_delta, strip_volatile
from .profile_diff import FieldChanges, FieldDiff, field_changes, field_diffs, unified_profile_diff, word_diff
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

Path_ = tuple[str, ...]


# --- hashing and comparing ---------------------------------------------------------------------------------


def profile_hash(profile: Any) -> str:
    """A short hash of the raw profile (key order ignored)."""
    return hashlib.sha256(canonical(profile)).hexdigest()[:20]


def content_hash(profile: dict[str, Any]) -> str:
    """The hash of what counts as the profile's content: everything but :data:`VOLATILE_FIELDS`."""
    return profile_hash(strip_volatile(profile))


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
        if canonical(old) != canonical(profile):
            atomic_write_json(profile_path, profile)  # new counters: not a new version
        return None
    ensure_dir(directory)
    records = _read_records(folder)
    previous: dict[str, Any] = {
        "hash": profile_hash(old), "content": content_hash(old), "base": content_hash(profile),
    }
    delta = make_delta(profile, old)
    encoded = canonical(delta)
    if (_deltas_since_keyframe(records) + 1 >= KEYFRAME_EVERY
            or len(encoded) * 2 > len(gzip.compress(canonical(old), mtime=0))):
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
