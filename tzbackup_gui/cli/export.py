"""``tzbackup export`` and ``tzbackup import``, and ``verify`` of an exported zip (no network, no Qt).

Export holds the data dir's lock while it reads, so a backup running at the same time cannot change the
files half-way (a data dir on read-only media is exported without the lock). Import takes the lock itself.

Exit codes: a backup or memory that is not there, or a damaged backup (the export still writes everything
it can read, and says what it could not) is 1; an ``--output`` whose folder does not exist, or a zip that
does not exist, is a usage error (2: no folder is ever created for an output); an output that cannot be
written is 4 ("cannot write to FOLDER: reason").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TextIO

from ..archive.export import ExportResult, export_as
from ..archive.export_paths import EXPORT_FORMATS, default_outputs
from ..archive.importer import ImportRefusedError, verify_export
from ..archive.reader import LocalBackup, list_backups
from ..errors import ArchiveError, DiskFullError, OwnerMismatchError

__all__ = ["FORMATS", "default_outputs", "run_export", "run_import", "split_zip_names", "verify_zip_result"]

FORMATS = EXPORT_FORMATS
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_FATAL = 0, 1, 2, 4


class _Ctx(Protocol):
    err: TextIO

    def say(self, text: str) -> None: ...

    def note(self, text: str) -> None: ...


def find_backup(data_dir: Path, name: str) -> tuple[LocalBackup | None, str]:
    """The local backup called ``name`` (folder, slug, or a unique display name), else an error text."""
    backups = list_backups(data_dir)
    hits = [b for b in backups if name in (b.slug, b.folder.name)]
    if not hits:
        hits = [b for b in backups if b.display_name and b.display_name.casefold() == name.casefold()]
    if len(hits) == 1:
        return hits[0], ""
    if hits:
        return None, f"{name!r} matches {len(hits)} backups; use the username: " + ", ".join(
            b.slug for b in hits)
    return None, f"no local backup named {name!r} in {data_dir}"


def _describe(result: ExportResult) -> str:
    size = f"{result.bytes / 1e6:.1f} MB" if result.bytes >= 1e6 else f"{result.bytes / 1e3:.1f} KB"
    memories = f"{result.memories} memories"
    if result.recorded is not None and result.recorded != result.memories:
        memories = f"{result.memories} of {result.recorded} memories"
    return f"{memories}, {result.files} file(s), {size}"


def _shown(problems: list[str], limit: int = 5) -> str:
    text = "; ".join(p.rstrip(". ") for p in problems[:limit])
    return text + (f"; and {len(problems) - limit} more" if len(problems) > limit else "")


def check_output_folders(*paths: Path | None) -> None:
    """Each output's folder must exist: an export creates files, never folders (a typo in ``--output``
    must not leave a tree of new folders behind). Raises the CLI's usage error (exit 2)."""
    from . import UsageError

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
    from . import UsageError

    if not path.exists():
        raise UsageError(f"no such file: {path}")
    if not path.is_file():
        raise UsageError(f"not a file: {path}")


def run_export(ctx: _Ctx, data_dir: Path, name: str, fmt: str, output: Path | str | None) -> int:
    """Export one personality as ``zip``, ``markdown`` or ``card``. A damaged backup is exported as far as
    it can be read, with a warning naming what could not be (exit 1)."""
    backup, problem = find_backup(data_dir, name)
    if backup is None:
        print(f"error: {problem}", file=ctx.err)
        return EXIT_PARTIAL
    main, png = default_outputs(backup.folder.name, fmt, output)
    check_output_folders(main, png)
    try:
        result, problems = export_as(backup.folder, fmt, main, png)
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


def run_import(ctx: _Ctx, data_dir: Path, zip_path: Path) -> int:
    """Import an exported zip; a refused archive is exit 1 with the reason (and nothing written)."""
    from ..archive.importer import import_archive

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
        ctx.note(f"  kept {result.history_kept} older memory version(s) that only the local copy had")
    for name, count in result.carried.items():
        ctx.note(f"  kept {count} entr{'y' if count == 1 else 'ies'} of {name} that only the local copy had")
    return EXIT_OK


def split_zip_names(names: list[str], data_dir: Path | None = None) -> tuple[list[Path], list[str]]:
    """``verify`` arguments that are exported zip files, and the rest (personality names). A name ending in
    ``.zip`` is a file unless a local backup has that name; one that does not exist is a usage error
    ("no such file: NAME"), never "no local backup named ..."."""
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
    report = verify_export(zip_path)
    return {"username": zip_path.name, "folder": str(zip_path), "ok": report.ok, "problems": report.problems,
            "checked_files": report.checked_files, "memories": report.memories}
