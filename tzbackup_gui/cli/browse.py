"""``tzbackup search`` and ``tzbackup show``: the offline browser's twin for scripts (no network, no Qt).

Both read only the data dir: the search index is brought up to date first (only changed files re-read). The
archive's reader and index are imported when a command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .context import Command, Context, check_names
from .options import UsageError, date_arg, positive_int

if TYPE_CHECKING:
    from ..archive.index import SearchIndex

__all__ = ["COMMANDS", "run_search", "run_show"]


def _search_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", metavar="QUERY", help='words (all must match) or "a phrase"')
    p.add_argument("--name", metavar="NAME", help="only this personality")
    p.add_argument("--since", type=date_arg, metavar="YYYY-MM-DD", help="only memories from this day on")
    p.add_argument("--until", type=date_arg, metavar="YYYY-MM-DD",
                   help="only memories up to this day (inclusive)")
    p.add_argument("--limit", type=positive_int, default=50, help="at most this many matches (default 50)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _show_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("--memory", metavar="ID", help="show this memory (an id or a unique start of one)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_search(ctx: Context) -> int:
    a = ctx.settings.args
    if a.since and a.until and a.until < a.since:  # both are YYYY-MM-DD: text order is date order
        raise UsageError(f"--until {a.until} is before --since {a.since}.")
    return run_search(ctx, ctx.settings.data_dir, a.query, a.name, a.since, a.until, a.limit, a.json)


def cmd_show(ctx: Context) -> int:
    a = ctx.settings.args
    check_names([a.name])
    if a.memory is not None and not a.memory.strip():
        raise UsageError("--memory needs a memory id (or a unique start of one).")
    return run_show(ctx, ctx.settings.data_dir, a.name, a.memory, a.json)


def _day(text: str | None, *, end: bool = False) -> float | None:
    """``YYYY-MM-DD`` as local midnight (the next one for ``end``, which is exclusive)."""
    if not text:
        return None
    import datetime as dt

    day = dt.datetime.strptime(text, "%Y-%m-%d") + dt.timedelta(days=1 if end else 0)
    return day.timestamp()


def _find_folder(index: SearchIndex, name: str) -> Path | None:
    """A personality folder by folder name, slug or (case-insensitive) display name."""
    from ..archive.browse import load_personality

    folders = index.source.folders
    for folder in folders:
        if folder.name == name:
            return folder
    for folder in folders:
        status = load_personality(folder).status
        if name == status.slug or (status.display_name and status.display_name.casefold() == name.casefold()):
            return folder
    return None


def _flags(flags: int) -> list[str]:
    from ..archive.index import FLAG_DELETED, FLAG_UPSTREAM

    return (["deleted upstream"] if flags & FLAG_UPSTREAM else []) + (
        ["deleted"] if flags & FLAG_DELETED else []
    )


def run_search(
    ctx: Context,
    data_dir: Path,
    query: str,
    name: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> int:
    from ..archive.browse import format_ts, resolve_source
    from ..archive.index import HIT_END, HIT_START, SearchIndex

    with SearchIndex(resolve_source(data_dir)) as index:
        index.update()
        folder = None
        if name:
            found = _find_folder(index, name)
            if found is None:
                print(f"error: no local backup named {name!r} in {data_dir}", file=ctx.err)
                return 1
            folder = found.name
        hits = index.search(query, folder=folder, since=_day(since), until=_day(until, end=True), limit=limit)
    if as_json:
        ctx.say(
            json.dumps(
                [
                    {
                        "personality": h.folder,
                        "kind": h.kind,
                        "id": h.memory_id,
                        "created_at": h.ts or None,
                        "flags": _flags(h.flags),
                        "file": str(h.path),
                        "position": h.pos,
                        "snippet": h.snippet.replace(HIT_START, "").replace(HIT_END, ""),
                    }
                    for h in hits
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    if not hits:
        ctx.say(f"No matches for {query!r}.")
        return 0
    for h in hits:
        when = "profile" if h.kind == "profile" else format_ts(h.ts)
        marks = "".join(f" [{m}]" for m in _flags(h.flags))
        ctx.say(f"{h.folder}  {when}  {h.memory_id}{marks}")
        text = " ".join(h.snippet.replace(HIT_START, "[").replace(HIT_END, "]").split())
        ctx.say(f"    {text}")
    ctx.say(f"{len(hits)}{'+' if len(hits) >= limit else ''} matches.")
    return 0


def _memory_dict(raw: dict[str, Any], flags: list[str]) -> dict[str, Any]:
    return {"flags": flags, "memory": raw}


def run_show(ctx: Context, data_dir: Path, name: str, memory: str | None, as_json: bool) -> int:
    from ..archive.browse import load_personality, resolve_source
    from ..archive.index import SearchIndex

    with SearchIndex(resolve_source(data_dir)) as index:
        index.update()
        folder = _find_folder(index, name)
        if folder is None:
            print(f"error: no local backup named {name!r} in {data_dir}", file=ctx.err)
            return 1
        details = load_personality(folder)
        if details.refused:
            print(f"error: {details.refused}", file=ctx.err)
            return 1
        errors = index.file_errors(folder.name)
        if memory is not None:
            return _show_memory(ctx, index, folder, memory, details.deleted_upstream, as_json)
        count = index.count(folder.name)
    st = details.status
    if as_json:
        ctx.say(
            json.dumps(
                {
                    "name": details.title,
                    "username": st.slug,
                    "folder": str(folder),
                    "lastBackup": st.last_backup,
                    "memories": count,
                    "deletedUpstream": st.deleted_upstream,
                    "runs": details.runs,
                    "profile": details.profile,
                    "errors": [{"file": rel, "error": msg} for rel, msg in errors],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return 1 if errors else 0
    profile = details.profile or {}
    lines = [
        f"{details.title} (@{st.slug})",
        f"  folder:           {folder}",
        f"  last backup:      {st.last_backup or 'never'}",
        f"  memories:         {count}",
        f"  deleted upstream: {st.deleted_upstream}",
        f"  runs recorded:    {len(details.runs)}",
    ]
    for key in ("tagline", "description", "engine_model"):
        if profile.get(key):
            lines.append(f"  {key.replace('_', ' ') + ':':17} {profile[key]}")
    if details.profile_error:
        lines.append(f"  profile:          {details.profile_error}")
    ctx.say("\n".join(lines))
    for rel, msg in errors:
        print(f"error: {rel}: {msg}", file=ctx.err)
    return 1 if errors else 0


def _show_memory(
    ctx: Context, index: SearchIndex, folder: Path, memory: str, gone: dict[str, str], as_json: bool
) -> int:
    from ..archive.browse import ChunkCache, format_ts, memory_fields

    places = index.locate(folder.name, memory)
    if len(places) != 1:
        what = "no memory" if not places else f"{len(places)} memories"
        print(f"error: {what} with id {memory!r} in {folder.name}", file=ctx.err)
        return 1
    raw = ChunkCache(max_files=1).memory(*places[0])
    if raw is None:
        print(f"error: the memory file {places[0][0]} cannot be read", file=ctx.err)
        return 1
    f = memory_fields(raw)
    flags = (["deleted upstream"] if f.id in gone else []) + (["deleted"] if f.deleted else [])
    if as_json:
        ctx.say(json.dumps(_memory_dict(raw, flags), indent=2, ensure_ascii=False))
        return 0
    ctx.say(
        "\n".join(
            [
                f"id:           {f.id}",
                f"created:      {format_ts(f.created, seconds=True)}",
                f"conversation: {format_ts(f.start, seconds=True)} - {format_ts(f.end, seconds=True)}",
                f"type:         {f.summary_type}",
                f"senders:      {', '.join(f.senders)}",
                f"message ids:  {', '.join(f.msg_ids)}",
                *([f"flags:        {', '.join(flags)}"] if flags else []),
                "",
                f.text,
            ]
        )
    )
    return 0


COMMANDS = (
    Command("search", "search the memories and profiles saved locally (no network)", _search_arguments,
            run=cmd_search, reads_data_dir=True),
    Command("show", "show a saved personality, or one of its memories (no network)", _show_arguments,
            run=cmd_show, reads_data_dir=True),
)
