"""``tzbackup history`` and ``tzbackup diff``: a personality's evolution, read from the data dir only
(no network, no Qt). The offline browser's Timeline tab shows the same.

``history NAME`` lists backup runs and profile versions newest first, with what changed (profile fields
added / removed / changed, memories new / edited / deleted upstream, knowledge / training / personalization
entries replaced); ``--version V`` prints one kept version of the profile as JSON (a restore).
``diff NAME [--from V] [--to V]`` prints a unified diff of two versions, field by field (default: the
previous version against the current one). V is ``vN``, ``current``, ``previous`` or a time: the version
that was current then (``2026-05-01`` means the end of that day; times are UTC, as ``history`` shows them).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import TzBackupError
from ..model.words import plural
from .context import Command, Context, check_names, find_backup
from .options import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE

if TYPE_CHECKING:
    from ..archive.profile_history import ProfileHistory, ProfileVersion

__all__ = ["COMMANDS", "run_diff", "run_history"]


def _history_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("--version", dest="profile_version", metavar="V",
                   help="print this kept profile version as JSON (vN, previous, or a date/time: the "
                        "version current then)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _diff_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("--from", dest="from_ts", metavar="TS",
                   help="older version: a date/time (the version current then; a day means its end, UTC), "
                        "vN or previous (default: the version before --to)")
    p.add_argument("--to", dest="to_ts", metavar="TS", help="newer version, same forms (default: current)")


def cmd_history(ctx: Context) -> int:
    a = ctx.settings.args
    check_names([a.name])
    return run_history(ctx, ctx.settings.data_dir, a.name, a.json, a.profile_version)


def cmd_diff(ctx: Context) -> int:
    a = ctx.settings.args
    check_names([a.name])
    return run_diff(ctx, ctx.settings.data_dir, a.name, a.from_ts, a.to_ts)


def _folder(ctx: Context, data_dir: Path, name: str) -> tuple[Path, str] | None:
    """The backup folder of ``name`` and the name to show for it (the username, not the folder's safe name,
    which can carry a hash suffix)."""
    backup, problem = find_backup(data_dir, name)
    if backup is None:
        print(f"error: {problem}", file=ctx.err)
        return None
    return backup.folder, backup.slug or backup.folder.name


def _version_json(v: ProfileVersion) -> dict[str, object]:
    return {
        "version": v.number, "since": v.since, "until": v.until, "current": v.is_current, "hash": v.hash,
        "stored": v.stored,
        "changes": None if v.changes is None else {
            "added": v.changes.added, "removed": v.changes.removed, "changed": v.changes.changed},
    }


def _pick(ctx: Context, history: ProfileHistory, text: str, option: str) -> ProfileVersion | None:
    from ..archive.profile_history import parse_when

    found = history.find(text)
    if found is None:
        kept = len(history.versions)
        print(f"error: {option} {text!r} names no kept profile version ({kept} kept, v1 to v{kept}; "
              "use vN, current, previous, or a date / time like 2026-05-01 or 2026-05-01T12:00)",
              file=ctx.err)
        return None
    when = parse_when(text, end_of_precision=True)
    first = history.versions[0]
    first_seen = parse_when(first.since) if first.since else None
    if when is not None and first_seen is not None and when < first_seen:
        print(f"note: {option} {text}: nothing was backed up yet then; using the oldest kept version, "
              f"{first.label}.", file=ctx.err)
    return found


def run_history(ctx: Context, data_dir: Path, name: str, as_json: bool, version: str | None = None) -> int:
    """The timeline of one personality (or, with ``version``, that profile version as JSON)."""
    from ..archive.profile_history import format_iso
    from ..archive.timeline import build_timeline

    found = _folder(ctx, data_dir, name)
    if found is None:
        return EXIT_PARTIAL
    folder, shown = found
    timeline = build_timeline(folder)
    history = timeline.history
    if version is not None:
        picked = _pick(ctx, history, version, "--version")
        if picked is None:
            return EXIT_USAGE
        try:
            ctx.say(json.dumps(history.load(picked), indent=2, ensure_ascii=False))
        except TzBackupError as err:
            print(f"error: {err}", file=ctx.err)
            return EXIT_PARTIAL
        return EXIT_OK
    if as_json:
        ctx.say(json.dumps({
            "name": name, "folder": str(folder),
            "versions": [_version_json(v) for v in history.versions],
            "entries": [e.to_json() for e in timeline.entries],
            "problems": timeline.problems,
        }, indent=2, ensure_ascii=False))
        return EXIT_PARTIAL if timeline.problems else EXIT_OK
    current = history.current
    runs = plural(sum(e.kind == "run" for e in timeline.entries), "backup run")
    ctx.say(f"{shown}: {plural(len(history.versions), 'profile version')} kept"
            + (f", current v{current.number} since {format_iso(current.since) or 'the first backup'}"
               if current else "") + f"; {runs}")
    for entry in timeline.entries:
        ctx.say(f"{entry.when:<24} {entry.title}")
        for line in entry.details:
            ctx.say(f"{'':<24}   {line}")
    for problem in timeline.problems:
        print(f"error: {problem}", file=ctx.err)
    return EXIT_PARTIAL if timeline.problems else EXIT_OK


def run_diff(ctx: Context, data_dir: Path, name: str, from_ts: str | None, to_ts: str | None) -> int:
    """Unified diff of two profile versions, field by field (default: previous -> current)."""
    from ..archive.profile_history import ProfileHistory, unified_profile_diff

    found = _folder(ctx, data_dir, name)
    if found is None:
        return EXIT_PARTIAL
    folder, shown = found
    history = ProfileHistory(folder)
    for problem in history.problems:
        print(f"warning: {problem}", file=ctx.err)
    if not history.versions:
        print(f"error: {shown} has no saved profile.", file=ctx.err)
        return EXIT_PARTIAL
    new = _pick(ctx, history, to_ts, "--to") if to_ts else history.current
    if new is None:
        return EXIT_USAGE
    if from_ts:
        old = _pick(ctx, history, from_ts, "--from")
        if old is None:
            return EXIT_USAGE
    elif new.number > 1:
        old = history.version(new.number - 1)
    else:
        ctx.say(f"{shown}: only one profile version is kept ({new.label}); nothing to compare yet.")
        return EXIT_OK
    if old.number == new.number:
        ctx.say(f"--from and --to both name {new.label}; nothing to compare.")
        return EXIT_OK
    try:
        text = unified_profile_diff(history.load(old), history.load(new), old.label, new.label)
    except TzBackupError as err:
        print(f"error: {err}", file=ctx.err)
        return EXIT_PARTIAL
    ctx.say(text.rstrip("\n") if text else f"No field differs between {old.label} and {new.label}.")
    return EXIT_OK


COMMANDS = (
    Command("history", "show how a saved personality evolved: backup runs and profile versions (no network)",
            _history_arguments, run=cmd_history, reads_data_dir=True),
    Command("diff", "unified diff of two saved profile versions, field by field (no network)",
            _diff_arguments, run=cmd_diff, reads_data_dir=True),
)
