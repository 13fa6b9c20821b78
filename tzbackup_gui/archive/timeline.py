"""One personality's timeline: backup runs, profile versions and section changes, newest first.

Merges three records the backup already keeps: the run history in the metadata (``runs``: status and
memories new / edited / deleted upstream per run), the profile versions (:mod:`.profile_history`) and the
previous versions of knowledge, training and personalization entries (``.section-history.jsonl``, written
by ``backup/sections.py``). A profile version or section change is shown under the run that made it: the
latest run that started before it. One with no such run (the run history keeps the last 500 runs) gets an
entry of its own. Qt-free and read-only; shared by the browser's Timeline tab and ``tzbackup history``.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TzBackupError
from .layout import METADATA_NAME
from .profile_history import FieldChanges, ProfileHistory, format_iso, parse_when
from .store import read_json, read_jsonl

__all__ = ["SECTION_HISTORY_NAME", "Timeline", "TimelineEntry", "build_timeline", "run_summary"]

#: Written by ``backup/sections.py`` (same name there: ``SECTION_HISTORY_NAME``).
SECTION_HISTORY_NAME = ".section-history.jsonl"


@dataclass
class TimelineEntry:
    """One line of the timeline: a backup run (with what it changed), or a change no run record covers."""

    ts: str  # ISO time (the run's start, or the change's time)
    kind: str  # "run" | "profile" | "sections"
    title: str
    details: list[str] = field(default_factory=list)
    run: dict[str, Any] | None = None
    #: the profile version this entry made (its number), and what changed to make it
    version: int | None = None
    changes: FieldChanges | None = None
    #: records of .section-history.jsonl (previous versions of knowledge / training / personalization)
    sections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def when(self) -> str:
        return format_iso(self.ts)

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts, "kind": self.kind, "title": self.title, "details": self.details,
            "run": self.run, "profileVersion": self.version,
            "profileChanges": None if self.changes is None else {
                "added": self.changes.added, "removed": self.changes.removed,
                "changed": self.changes.changed},
            "sectionChanges": [{k: v for k, v in rec.items() if k != "previous"} for rec in self.sections],
        }


@dataclass
class Timeline:
    folder: Path
    history: ProfileHistory
    entries: list[TimelineEntry]  # newest first
    problems: list[str] = field(default_factory=list)


def _when(text: object) -> dt.datetime | None:
    return parse_when(text) if isinstance(text, str) and text else None


def run_summary(run: dict[str, Any]) -> str:
    """``ok: 12 new, 1 edited, 0 deleted upstream`` from a run record."""
    status = str(run.get("status") or "?")
    figures = [f"{run[key]} {label}" for key, label in
               (("new", "new"), ("edited", "edited"), ("deletedUpstream", "deleted upstream"))
               if isinstance(run.get(key), int)]
    raw_skipped = run.get("skipped")
    skipped: list[Any] = raw_skipped if isinstance(raw_skipped, list) else []
    if "memories" in skipped:  # a run of chosen sections only: its zeros say nothing about the memories
        chosen = [name for name in ("knowledge", "training", "personalization", "chat", "images")
                  if name not in skipped]
        text = f"{status}: profile{''.join(', ' + name for name in chosen)} (memories not chosen)"
    else:
        text = f"{status}: {', '.join(figures)} memories" if figures else status
    sections = run.get("sections")
    if isinstance(sections, dict):
        failed = [name for name, state in sections.items() if state != "ok"]
        if failed:
            text += f" ({', '.join(failed)} failed)"
    return text


def _section_lines(records: list[dict[str, Any]]) -> list[str]:
    counts: Counter[tuple[str, str]] = Counter(
        (str(r.get("section") or "?"), str(r.get("reason") or "changed")) for r in records)
    by_section: dict[str, list[str]] = {}
    for (section, reason), n in sorted(counts.items()):
        noun = "entry" if n == 1 else "entries"
        by_section.setdefault(section, []).append(f"{n} {noun} {reason}")
    return [f"{section}: {', '.join(parts)} (previous kept)" for section, parts in by_section.items()]


def _version_line(number: int, changes: FieldChanges | None) -> str:
    if changes is None:
        return f"profile v{number} first saved"
    return f"profile v{number}: {changes.summary()}"


def build_timeline(folder: Path) -> Timeline:
    """The timeline of one personality folder (problems are reported, never raised)."""
    problems: list[str] = []
    runs: list[dict[str, Any]] = []
    try:
        meta = read_json(folder / METADATA_NAME)
        raw_runs = meta.get("runs") if isinstance(meta, dict) else None
        runs = [r for r in raw_runs if isinstance(r, dict) and _when(r.get("started"))] \
            if isinstance(raw_runs, list) else []
    except FileNotFoundError:
        problems.append(f"{folder.name} has no {METADATA_NAME}.")
    except TzBackupError as err:
        problems.append(str(err))
    runs.sort(key=lambda r: _when(r.get("started")) or dt.datetime.min.replace(tzinfo=dt.UTC))
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    starts = [_when(r.get("started")) or epoch for r in runs]
    history = ProfileHistory(folder)
    problems += history.problems
    run_entries = [TimelineEntry(str(r.get("started")), "run", f"Backup {run_summary(r)}", run=r)
                   for r in runs]
    loose: list[TimelineEntry] = []

    def owner(ts: str) -> TimelineEntry | None:
        moment = _when(ts)
        if moment is None:
            return None
        at = bisect.bisect_right(starts, moment) - 1
        return run_entries[at] if at >= 0 else None

    for version in history.versions:
        if not version.since:
            continue
        line = _version_line(version.number, version.changes)
        entry = owner(version.since)
        if entry is None or entry.version is not None:
            title = (f"Profile first saved (v{version.number})" if version.changes is None
                     else f"Profile changed (v{version.number})")
            entry = TimelineEntry(version.since, "profile", title)
            loose.append(entry)
        entry.version, entry.changes = version.number, version.changes
        entry.details.append(line)
    sections = [rec for _, rec in read_jsonl(folder / SECTION_HISTORY_NAME)
                if isinstance(rec, dict) and isinstance(rec.get("replacedAt"), str)]
    for rec in sections:
        entry = owner(rec["replacedAt"])
        if entry is None:
            entry = TimelineEntry(rec["replacedAt"], "sections",
                                  "Knowledge / training / personalization changed")
            loose.append(entry)
        entry.sections.append(rec)
    for entry in [*run_entries, *loose]:
        if entry.sections:
            entry.details += _section_lines(entry.sections)
    entries = [*run_entries, *loose]
    entries.sort(key=lambda e: _when(e.ts) or epoch, reverse=True)
    return Timeline(folder, history, entries, problems)
