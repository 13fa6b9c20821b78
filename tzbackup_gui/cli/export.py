"""``tzbackup export`` and ``tzbackup import``, and ``verify`` of an exported zip (no network, no Qt).

Export holds the data dir's lock while it reads, so a backup running at the same time cannot change the
files half-way (a data dir on read-only media is exported without the lock). Import takes the lock itself.

Exit codes: a backup or memory that is not there, or a damaged backup (the export still writes everything
it can read, and says what it could not) is 1; an ``--output`` whose folder does not exist, or a zip that
does not exist, is a usage error (2: no folder is ever created for an output); an output that cannot be
written is 4 ("cannot write to FOLDER: reason").
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ArchiveError, DiskFullError, OwnerMismatchError
from ..model.export_formats import EXPORT_FORMATS
from ..model.words import plural
from .context import Command, Context, check_names, find_backup, require_writable
from .options import EXIT_FATAL, EXIT_OK, EXIT_PARTIAL, UsageError

if TYPE_CHECKING:
    from ..archive.export import ExportResult

__all__ = ["COMMANDS", "FORMAT_HELP", "run_export", "run_import", "split_zip_names", "verify_zip_result"]

#: what ``--format`` says of each format (``tzbackup export --help``); the formats themselves, in their order,
#: are :data:`tzbackup_gui.model.export_formats.EXPORT_FORMATS`
FORMAT_HELP: dict[str, str] = {
    "zip": "zip (the backup folder + manifest)",
    "markdown": "markdown (one readable document)",
    "card": "card (Character Card V2 JSON + PNG)",
    "card-v3": "card-v3 (Character Card V3 JSON + PNG, with a V2 card inside the PNG for older readers)",
    "sillytavern-chat": "sillytavern-chat (the saved chat as a SillyTavern chat file, JSON Lines)",
}


def _export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="zip",
                   help=", ".join(FORMAT_HELP.get(f, f) for f in EXPORT_FORMATS) + "; default zip")
    p.add_argument("-o", "--output", default=None, metavar="PATH",  # text: a trailing slash means a folder
                   help="file to write, or a folder to write it in (default: the current folder)")
    p.add_argument("--memories", default=None, metavar="none|all|N",
                   help="card and card-v3: memories to put into the card's lorebook beside the knowledge, "
                        "each keyed by its most distinctive words: none (default), all, or N (the newest N)")


def _import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, metavar="FILE.zip")


def cmd_export(ctx: Context) -> int:
    a = ctx.settings.args
    check_names([a.name])
    if a.memories is not None and a.format not in ("card", "card-v3"):
        raise UsageError("--memories goes with --format card or card-v3 (the memories go into the card's "
                         "lorebook).")
    return run_export(ctx, ctx.settings.data_dir, a.name, a.format, a.output, memories=a.memories or "none")


def cmd_import(ctx: Context) -> int:
    check_input_file(ctx.settings.args.file)
    # nothing is created before the archive passes its checks (a refused import leaves no trace)
    require_writable(ctx.settings.data_dir, create=False)
    return run_import(ctx, ctx.settings.data_dir, ctx.settings.args.file)


def _describe(result: ExportResult) -> str:
    size = f"{result.bytes / 1e6:.1f} MB" if result.bytes >= 1e6 else f"{result.bytes / 1e3:.1f} KB"
    memories = f"{result.memories} memories"
    if result.format == "sillytavern-chat":
        memories = f"{result.messages} chat messages"
    if result.recorded is not None and result.recorded != result.memories:
        memories = f"{result.memories} of {result.recorded} memories"
    return f"{memories}, {result.files} file(s), {size}"


def _shown(problems: list[str], limit: int = 5) -> str:
    text = "; ".join(p.rstrip(". ") for p in problems[:limit])
    return text + (f"; and {len(problems) - limit} more" if len(problems) > limit else "")


def check_output_folders(*paths: Path | None) -> None:
    """Each output's folder must exist: an export creates files, never folders (a typo in ``--output``
    must not leave a tree of new folders behind). Raises the CLI's usage error (exit 2)."""
    for path in paths:
        if path is None:
            continue
        folder = path.parent
        if not folder.is_dir():
            what = " (a file is there)" if folder.exists() else ""
            raise UsageError(f"no such folder: {folder}{what} (for --output); create it first, or name an "
                             "existing folder.")


def check_input_file(path: Path) -> None:
    """A file named on the command line (``import FILE.zip``, ``verify FILE.zip``) must exist and be a file
    (else the CLI's usage error, exit 2)."""
    if not path.exists():
        raise UsageError(f"no such file: {path}")
    if not path.is_file():
        raise UsageError(f"not a file: {path}")


def run_export(
    ctx: Context, data_dir: Path, name: str, fmt: str, output: Path | str | None, *, memories: str = "none"
) -> int:
    """Export one personality in one of the export formats (``memories``: ``none``, ``all`` or N, the
    memories a card's lorebook holds). A damaged backup is exported as far as it can be read, with a
    warning naming what could not be (exit 1)."""
    from ..archive.card_memories import parse_memory_choice
    from ..archive.export import export_as
    from ..archive.export_paths import default_outputs

    try:
        choice = parse_memory_choice(memories)
    except ValueError as err:
        raise UsageError(f"--memories: {err}") from None

    backup, problem = find_backup(data_dir, name)
    if backup is None:
        print(f"error: {problem}", file=ctx.err)
        return EXIT_PARTIAL
    main, png = default_outputs(backup.folder.name, fmt, output)
    check_output_folders(main, png)
    try:
        result, problems = export_as(backup.folder, fmt, main, png, memories=choice)
    except (OSError, ArchiveError) as err:
        cause = err if isinstance(err, OSError) else err.__cause__
        # the store names a failed write as an ArchiveError (or DiskFullError) caused by the OS error
        if not isinstance(cause, OSError) or not (isinstance(err, OSError | DiskFullError)
                                                  or type(err) is ArchiveError):
            raise
        folder = Path(cause.filename).parent if cause.filename else main.parent
        print(f"error: cannot write to {folder}: {cause.strerror or cause}", file=ctx.err)
        print("  hint: name a folder you can write to with --output; nothing was written.", file=ctx.err)
        return EXIT_FATAL
    for path in result.paths:
        ctx.say(str(path))
    ctx.note(f"Exported {backup.display_name or backup.slug} as {fmt}: {_describe(result)}.")
    for note in result.notes:
        ctx.note(f"  {note}")
    if result.unreadable:
        print(f"warning: could not read {len(result.unreadable)} file(s) of the backup, left out: "
              f"{_shown(result.unreadable)}.", file=ctx.err)
    if problems:
        print(f"warning: the backup has problems: {_shown(problems)}.", file=ctx.err)
    if problems or result.unreadable:
        if fmt == "zip":
            print("  hint: the zip holds every file that could be read, the damaged ones as they are; "
                  f"importing it will be refused until they are fixed. 'tzbackup verify {backup.slug}' lists "
                  "every problem.", file=ctx.err)
        else:
            print(f"  hint: everything that could be read was exported; 'tzbackup verify {backup.slug}' "
                  "lists every problem.", file=ctx.err)
        return EXIT_PARTIAL
    return EXIT_OK


def run_import(ctx: Context, data_dir: Path, zip_path: Path) -> int:
    """Import an exported zip; a refused archive is exit 1 with the reason (and nothing written)."""
    from ..archive.importer import ImportRefusedError, import_archive

    try:
        result = import_archive(zip_path, data_dir)
    except (ImportRefusedError, OwnerMismatchError) as err:
        print(f"error: {err}", file=ctx.err)
        if err.hint:
            print(f"  hint: {err.hint}", file=ctx.err)
        return EXIT_PARTIAL
    action = "replaced the older local copy" if result.replaced else "new in this data dir"
    ctx.say(f"Imported {result.display_name or result.slug}: {result.memories} memories, {result.files} "
            f"file(s) into {result.folder} ({action}).")
    if result.history_kept:
        ctx.note(f"  kept {plural(result.history_kept, 'older memory version')} that only the local copy had")
    for name, count in result.carried.items():
        ctx.note(f"  kept {count} entr{'y' if count == 1 else 'ies'} of {name} that only the local copy had")
    return EXIT_OK


def split_zip_names(names: list[str], data_dir: Path | None = None) -> tuple[list[Path], list[str]]:
    """``verify`` arguments that are exported zip files, and the rest (personality names). A name ending in
    ``.zip`` is a file unless a local backup has that name; one that does not exist is a usage error
    ("no such file: NAME"), never "no local backup named ..."."""
    from ..archive.reader import list_backups

    local: set[str] = set()
    if data_dir is not None and any(n.lower().endswith(".zip") for n in names):
        local = {name for b in list_backups(data_dir) for name in (b.slug, b.folder.name)}
    zips: list[Path] = []
    rest: list[str] = []
    for name in names:
        if name.lower().endswith(".zip") and (Path(name).is_file() or name not in local):
            check_input_file(Path(name))
            zips.append(Path(name))
        else:
            rest.append(name)
    return zips, rest


def verify_zip_result(zip_path: Path) -> dict[str, Any]:
    """``verify`` of an exported zip, in the shape of ``tzbackup verify``'s results."""
    from ..archive.importer import verify_export

    report = verify_export(zip_path)
    return {"username": zip_path.name, "folder": str(zip_path), "ok": report.ok, "problems": report.problems,
            "checked_files": report.checked_files, "memories": report.memories}


COMMANDS = (
    Command("export", "export a saved personality as a zip, a Markdown file, a character card (V2 or V3) or "
            "a SillyTavern chat file (no network)",
            _export_arguments, run=cmd_export, reads_data_dir=True),
    Command("import", "import an exported zip into the data dir (verified; never overwrites newer data)",
            _import_arguments, run=cmd_import),
)
