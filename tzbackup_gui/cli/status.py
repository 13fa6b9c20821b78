"""``tzbackup status`` and ``tzbackup verify``: what is backed up locally, and whether it is whole.

Both read the data dir only (``verify --online`` asks the service for each personality's memory count, the one
request it makes, on a loop of its own). ``status`` runs the checks of ``verify`` too, so a damaged backup is
said there ("2350 (damaged)", exit 1); ``verify`` also checks an exported ``FILE.zip``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..paths import personalities_dir
from .context import (
    Command,
    Context,
    check_names,
    http_client,
    local_backups,
    names_or_all,
    require_data_dir,
    table,
)
from .options import EXIT_OK, EXIT_PARTIAL

__all__ = ["COMMANDS"]


def _status_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _verify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--all", action="store_true", help="every local backup")
    p.add_argument("--online", action="store_true",
                   help="also compare with the memory count the service reports (needs a cookie)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _select(ctx: Context, names: Sequence[str]) -> tuple[list[Any], list[str]]:
    """Local backups matching ``names`` (slug, folder or display name); plus the names not found."""
    backups = local_backups(ctx)
    if not names:
        return backups, []
    chosen: list[Any] = []
    missing: list[str] = []
    for name in names:
        hits = [b for b in backups if name in (b.slug, b.folder.name)] or [
            b for b in backups if b.display_name and b.display_name.casefold() == name.casefold()
        ]
        if hits:
            chosen.extend(h for h in hits if h not in chosen)
        else:
            missing.append(name)
    return chosen, missing


@dataclass
class _Health:
    """What ``status`` found on disk for one backup: the problems ``verify`` reports (empty when sound) and
    the memories the memory files still hold; ``checked`` is False while a backup holds the data dir."""

    problems: list[str] = field(default_factory=list)
    readable: int | None = None
    checked: bool = True


def _health(b: Any, busy: bool) -> _Health:
    """Run the checks of ``verify`` on one backup (read-only), unless a backup is writing the data dir now
    (its commit would look like damage half-way)."""
    from ..archive import verify_backup

    if b.problem:
        return _Health([b.problem])
    if busy:
        return _Health(checked=False)
    report = verify_backup(Path(b.folder))
    return _Health(list(report.problems), report.memories)


def _backup_running(data_dir: Path) -> bool:
    """Whether another tzbackup holds the data dir's lock now (asked without creating or taking it)."""
    from ..archive.lock import is_locked

    return is_locked(data_dir)


def _status_dict(b: Any, health: _Health | None = None) -> dict[str, Any]:
    health = health or _Health()
    return {
        "name": b.display_name or b.slug,
        "username": b.slug,
        "folder": str(b.folder),
        "shape_id": b.shape_id,
        "last_backup": b.last_backup,
        "local_memories": b.total_memories,
        "server_total_last_seen": b.server_total,  # only what the service itself reported, else null
        "live_at_last_full_walk": b.live_at_last_full_walk,  # our own count, not the server's
        "deleted_upstream": b.deleted_upstream,
        "pending_resume": b.pending_resume,
        # memories fetched by a walk that did not finish: in the memory files (and in local_memories) already
        "unfinished_walk_memories": b.unfinished_fetched,
        "last_run": b.last_run,
        "problem": b.problem or None,
        # what ``verify`` finds: a damaged backup makes ``status`` exit 1
        "damaged": bool(health.problems),
        "problems": health.problems,
        "readable_memories": health.readable,
        "checked": health.checked,
        "sections": _section_summaries(Path(b.folder)),
    }


def _section_summaries(folder: Path) -> dict[str, Any]:
    """Per-section ``{count, status, lastSync, error}`` from the metadata (``{}`` when unreadable/none)."""
    try:
        meta = json.loads((folder / ".backup-metadata.json").read_bytes())
    except (OSError, ValueError):
        return {}
    sections = meta.get("sections") if isinstance(meta, dict) else None
    if not isinstance(sections, dict):
        return {}
    keys = ("count", "status", "lastSync", "error")
    return {
        name: {k: entry.get(k) for k in keys} for name, entry in sections.items() if isinstance(entry, dict)
    }


def _chat_status_text(folder: Path) -> str:
    """The ``chat`` column of ``status``: messages saved ("320"), "320 (last sync failed)", or "-" when
    the chat was never backed up."""
    chat = _section_summaries(folder).get("chat")
    if not isinstance(chat, dict):
        return "-"
    count = chat.get("count")
    text = str(count) if isinstance(count, int) else "?"
    return f"{text} (last sync failed)" if chat.get("status") == "failed" else text


def _last_run_text(run: dict[str, Any] | None) -> str:
    if not run:
        return "-"
    status = str(run.get("status") or run.get("result") or "?")
    new = run.get("new")
    # an unfinished run's record counts no new memories, though what it fetched was kept: say nothing then
    return f"{status} ({new} new)" if isinstance(new, int) and (status == "ok" or new) else status


def _server_total_text(server_total: int | None, live_at_last_full_walk: int | None) -> str:
    """The "server" cell of ``status``: the total the service reported, else "—". The live count of the last
    full walk is our own measurement, so it only ever appears labelled as such, never as the server's."""
    if server_total is not None:
        return str(server_total)
    if live_at_last_full_walk is not None:
        return f"— ({live_at_last_full_walk} live at last full walk)"
    return "—"


def cmd_status(ctx: Context) -> int:
    check_names(ctx.settings.args.names)
    chosen, missing = _select(ctx, ctx.settings.args.names)
    busy = _backup_running(ctx.settings.data_dir) if chosen else False
    health = {str(b.folder): _health(b, busy) for b in chosen}
    damaged = [b for b in chosen if health[str(b.folder)].problems]
    if ctx.settings.args.json:
        ctx.say(json.dumps({"data_dir": str(ctx.settings.data_dir),
                            "backups": [_status_dict(b, health[str(b.folder)]) for b in chosen],
                            "not_found": missing},
                           indent=2, ensure_ascii=False, default=str))
    elif not chosen and not missing:
        ctx.say(f"No backups yet in {personalities_dir(ctx.settings.data_dir)}.")
    elif chosen:
        rows = [("username", "last backup", "local", "server (last seen)", "deleted upstream", "last run",
                 "chat")]
        for b in chosen:
            server = _server_total_text(b.server_total, b.live_at_last_full_walk)
            last = _last_run_text(b.last_run) + (" (resumable)" if b.pending_resume else "")
            local = str(b.total_memories)
            found = health[str(b.folder)]
            if b.problem:  # the metadata cannot be used (damaged, or an earlier tool's layout)
                local = "? (unusable)"
            elif found.problems:
                local = f"{found.readable} (damaged)"
            elif b.unfinished_fetched:
                local += " (unfinished walk)"
            rows.append((b.slug, b.last_backup or "never", local, server,
                         str(b.deleted_upstream), last, _chat_status_text(Path(b.folder))))
        ctx.say(table(rows, numeric={2, 3, 4}))
        for b in chosen:
            found = health[str(b.folder)]
            if b.problem:
                ctx.say(f"  {b.slug}: {b.problem}")
            elif found.problems:
                more = len(found.problems) - 1
                ctx.say(f"  {b.slug}: DAMAGED: {found.problems[0]}"
                        + (f" ({more} more problem{'s' if more > 1 else ''})" if more else ""))
                ctx.say(f"  {'':{len(b.slug)}}  the memory files hold {found.readable} readable memories; "
                        f"the metadata records {b.total_memories}. 'tzbackup verify {b.slug}' lists every "
                        "problem.")
            elif not found.checked:
                ctx.say(f"  {b.slug}: not checked for damage: a backup is writing this data dir now.")
            elif b.unfinished_fetched:
                ctx.say(f"  {b.slug}: {b.unfinished_fetched} memories come from a walk that did not finish; "
                        "they are saved and searchable, and the next backup completes the walk.")
    for name in missing:
        print(f"error: no local backup named {name!r} in {ctx.settings.data_dir}", file=ctx.err)
    if damaged:
        print(f"error: {len(damaged)} of {len(chosen)} backups are damaged or unusable (listed above); "
              "'tzbackup verify NAME' lists every problem.", file=ctx.err)
    return EXIT_PARTIAL if missing or damaged else EXIT_OK


def cmd_verify(ctx: Context) -> int:
    from ..archive import verify_backup

    args = ctx.settings.args
    names_or_all(args, "the backups to verify")
    check_names(args.names)
    from .export import split_zip_names

    zips, names = split_zip_names(args.names, ctx.settings.data_dir)
    if names or args.all:
        require_data_dir(ctx.settings)
    chosen, missing = _select(ctx, [] if args.all else names) if names or args.all else ([], [])
    server_totals = _server_totals(ctx, [b.shape_id for b in chosen if b.shape_id]) if args.online else {}
    results: list[dict[str, Any]] = []
    for b in chosen:
        rep = verify_backup(b.folder, server_total=server_totals.get(b.shape_id))
        results.append({"username": b.slug, "folder": str(b.folder), "ok": rep.ok, "problems": rep.problems,
                        "checked_files": rep.checked_files, "memories": rep.memories})
    for name in missing:
        results.append({"username": name, "folder": None, "ok": False,
                        "problems": [f"no local backup named {name!r}"], "checked_files": 0, "memories": 0})
    if zips:
        from .export import verify_zip_result

        results += [verify_zip_result(z) for z in zips]
    bad = [r for r in results if not r["ok"]]
    if args.json:
        ctx.say(json.dumps({"ok": not bad, "results": results}, indent=2, ensure_ascii=False))
    else:
        if not results:
            ctx.say(f"No backups to verify in {personalities_dir(ctx.settings.data_dir)}.")
        for r in results:
            if r["ok"]:
                ctx.say(f"ok       {r['username']}: {r['memories']} memories in {r['checked_files']} file(s)")
            else:
                ctx.say(f"PROBLEM  {r['username']}:")
                for problem in r["problems"]:
                    ctx.say(f"           - {problem}")
        if bad:
            print(f"error: {len(bad)} of {len(results)} backups have problems (listed above).", file=ctx.err)
    return EXIT_PARTIAL if bad else EXIT_OK


def _server_totals(ctx: Context, shape_ids: list[str]) -> dict[str, int | None]:
    """``verify --online``: the total each personality's first memory page reports (the only network use of an
    otherwise offline command, so the event loop and the HTTP client start only here)."""
    if not shape_ids:
        return {}

    async def fetch() -> dict[str, int | None]:
        async with http_client() as http:
            ctx.http = http
            client = ctx.client()
            return {shape_id: (await client.get_memory_page(shape_id, 1)).total for shape_id in shape_ids}

    import asyncio

    try:
        return asyncio.run(fetch())
    finally:
        ctx.http = None


COMMANDS = (
    Command("status", "show what is backed up locally (no network)", _status_arguments, run=cmd_status,
            reads_data_dir=True),
    # ``verify`` checks the data dir itself: a FILE.zip needs none
    Command("verify", "check backups on disk against the layout contract (or an exported FILE.zip)",
            _verify_arguments, run=cmd_verify, network=True),
)
