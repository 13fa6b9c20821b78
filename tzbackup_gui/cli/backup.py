"""``tzbackup list`` and ``tzbackup backup``: the personalities on the account, and backing them up.

``backup`` runs the engine with the progress display (:mod:`.progress`) as its event callback, lets Ctrl+C
or SIGTERM cancel it cleanly (what was fetched is kept and the next run resumes), and ends with the summary
table and what stopped the run, if anything did.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import TYPE_CHECKING, Any

from .context import (
    Command,
    Context,
    check_names,
    local_backups,
    names_or_all,
    require_data_dir,
    require_writable,
    table,
)
from .options import EXIT_AUTH, EXIT_CANCELLED, EXIT_OK, UsageError, sections_arg

if TYPE_CHECKING:
    import asyncio

    from ..backup import PersonalityResult, RunReport
    from .progress import Kept

__all__ = ["COMMANDS"]


def _list_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _backup_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME", help="personality username (or unique display name)")
    p.add_argument("--all", action="store_true", help="every personality you own")
    p.add_argument("--full", action="store_true", help="walk every memory page (find edits and deletions)")
    p.add_argument("--allow-not-owned", action="store_true",
                   help="back up the public part of personalities you do not own")
    p.add_argument("--reconcile-days", type=float, default=7.0, metavar="N",
                   help="do a full walk when the last one is older than N days (default 7)")
    p.add_argument("--sections", type=sections_arg, default=None, metavar="LIST",
                   help="comma list of what to back up: profile, memories, knowledge, training, "
                        "personalization, chat, images, or all (default all; the profile is always saved; "
                        "sections left out keep their previous files)")


async def cmd_list(ctx: Context) -> int:
    # a missing default data dir only means nothing was backed up yet; a named one that is missing is a typo
    if ctx.settings.args.data_dir is not None or ctx.settings.data_dir.exists():
        require_data_dir(ctx.settings)
    shapes = await ctx.client().list_own_shapes()
    local = local_backups(ctx)
    by_id = {b.shape_id: b for b in local if b.shape_id}
    by_slug = {b.slug: b for b in local}
    rows: list[dict[str, Any]] = []
    for shape in shapes:
        backup = by_id.get(shape.id) or by_slug.get(shape.username)
        rows.append({
            "name": shape.name,
            "username": shape.username,
            "id": shape.id,
            "last_backup": backup.last_backup if backup else None,
            "local_memories": backup.total_memories if backup else 0,
            "folder": str(backup.folder) if backup else None,
        })
    if ctx.settings.args.json:
        ctx.say(json.dumps(rows, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        ctx.say("You own no personalities on this account.")
        return EXIT_OK
    shown = [("name", "username", "last backup", "memories")]
    shown += [(r["name"], r["username"], r["last_backup"] or "never", str(r["local_memories"])) for r in rows]
    ctx.say(table(shown, numeric={3}))
    return EXIT_OK


async def cmd_backup(ctx: Context) -> int:
    import asyncio

    from ..backup import BackupEngine, BackupOptions
    from .progress import ProgressDisplay, kept_numbers, stored_totals

    args = ctx.settings.args
    names_or_all(args, "the personalities to back up")
    check_names(args.names)
    if not args.reconcile_days >= 0:  # NaN too
        raise UsageError(f"--reconcile-days must be zero or more days, not {args.reconcile_days:g}.")
    await asyncio.to_thread(require_writable, ctx.settings.data_dir)
    before = await asyncio.to_thread(stored_totals, ctx.settings.data_dir)
    display = ProgressDisplay(ctx.out, ctx.err, quiet=ctx.settings.quiet, delay=ctx.settings.delay)
    client = ctx.client(on_event=display)
    options = BackupOptions(full=args.full, reconcile_age_days=args.reconcile_days,
                            allow_not_owned=args.allow_not_owned, sections=args.sections)
    engine = BackupEngine(client, ctx.settings.data_dir, options=options, on_event=display)
    task = asyncio.ensure_future(engine.run(None if args.all else list(args.names)))
    cancelled = await _await_cancellable(task, ctx, display)
    display.close()
    report = engine.report
    _print_report(ctx, report, kept_numbers(ctx.settings.data_dir, report.results, before, display.walks))
    if cancelled:
        return EXIT_CANCELLED
    return report.exit_code


async def _await_cancellable(task: asyncio.Future[Any], ctx: Context, display: Any) -> bool:
    """Await the engine task; Ctrl+C (SIGINT) or SIGTERM cancels it cleanly. True when it was cancelled."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    interrupts = 0

    def interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            display.close()
            print("\nStopping safely (finishing the current write)...", file=ctx.err, flush=True)
        task.cancel()

    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, interrupt)
            installed.append(sig)
    ticker = asyncio.ensure_future(_tick(display)) if getattr(display, "tty", False) else None
    try:
        await task
        return False
    except asyncio.CancelledError:
        if interrupts or task.cancelled():
            return True
        raise
    finally:
        if ticker is not None:
            ticker.cancel()
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _tick(display: Any) -> None:
    import asyncio

    while True:
        await asyncio.sleep(0.5)
        display.refresh()


def _print_report(ctx: Context, report: RunReport, kept: dict[str, Kept] | None = None) -> None:
    """The summary table, then what stopped the run. ``kept``: what unfinished personalities stored."""
    from .progress import run_sections, summary_table

    # every personality of the run, those a stopped run never reached too ("not attempted", not "failed")
    results: list[PersonalityResult] = list(report.results)
    if results:
        ctx.say("")
        ctx.say(summary_table(results, run_sections(ctx.settings.data_dir, results), kept))
    # each personality's failure was printed as it happened (with its hint); here only what stopped the run
    if report.stopped_by:
        shown = any(r.error == report.error for r in report.results)
        total = len(report.results)
        if not shown:
            print(f"error: {report.error}", file=ctx.err)
        if total:
            skipped = f", {report.not_attempted} not attempted" if report.not_attempted else ""
            resumes = "" if "resumes" in report.error else "; the next run resumes where this one stopped"
            print(f"{'error: the run stopped: ' if shown else '  '}{report.done} of {total} personalities "
                  f"were backed up{skipped}{resumes}.", file=ctx.err)
        # a hint already printed under a personality's failure is not repeated
        hint = "" if shown or any(r.hint == report.hint for r in report.results) else report.hint
        if report.exit_code == EXIT_AUTH and ctx.auth_hint():
            hint = f"{hint} {ctx.auth_hint()}".strip()
        if hint:
            print(f"  hint: {hint}", file=ctx.err)
    if report.cancelled:
        print("Cancelled: the backup stopped cleanly; run the same command again to resume.", file=ctx.err)
    ctx.err.flush()


COMMANDS = (
    Command("list", "list your personalities with their local backup state", _list_arguments,
            run_async=cmd_list, network=True),
    Command("backup", "back up personalities (incremental; resumes an interrupted run)", _backup_arguments,
            run_async=cmd_backup, network=True),
)
