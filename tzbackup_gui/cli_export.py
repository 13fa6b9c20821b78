"""``tzbackup export`` and ``tzbackup import``, and ``verify`` of an exported zip (no network, no Qt).

Export holds the data dir's lock while it reads, so a backup running at the same time cannot change the
files half-way (a data dir on read-only media is exported without the lock). Import takes the lock itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TextIO

from .archive.export import ExportResult, export_as
from .archive.importer import ImportRefusedError, verify_export
from .archive.reader import LocalBackup, list_backups
from .errors import OwnerMismatchError

__all__ = ["FORMATS", "default_outputs", "run_export", "run_import", "split_zip_names", "verify_zip_result"]

FORMATS = ("zip", "markdown", "card")
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


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


def default_outputs(folder: str, fmt: str, output: Path | None) -> tuple[Path, Path | None]:
    """Where an export goes: ``output`` (a file, or a folder to put the default name in) or the current
    folder. The second path is the card's PNG (None for other formats)."""
    names = {"zip": f"{folder}.tzbackup.zip", "markdown": f"{folder}.md", "card": f"{folder}.card.json"}
    if output is None:
        main = Path(names[fmt])
    elif output.is_dir() or str(output).endswith(("/", "\\")):
        main = output / names[fmt]
    else:
        main = output
    if fmt != "card":
        return main, None
    if main.suffix.lower() == ".png":
        return main.with_suffix(".json"), main
    return main, main.with_suffix(".png") if main.suffix.lower() == ".json" else main.with_name(
        main.name + ".png")


def _describe(result: ExportResult) -> str:
    size = f"{result.bytes / 1e6:.1f} MB" if result.bytes >= 1e6 else f"{result.bytes / 1e3:.1f} KB"
    return f"{result.memories} memories, {result.files} file(s), {size}"


def run_export(ctx: _Ctx, data_dir: Path, name: str, fmt: str, output: Path | None) -> int:
    """Export one personality as ``zip``, ``markdown`` or ``card``."""
    backup, problem = find_backup(data_dir, name)
    if backup is None:
        print(f"error: {problem}", file=ctx.err)
        return EXIT_PARTIAL
    main, png = default_outputs(backup.folder.name, fmt, output)
    result, problems = export_as(backup.folder, fmt, main, png)
    for path in result.paths:
        ctx.say(str(path))
    ctx.note(f"Exported {backup.display_name or backup.slug} as {fmt}: {_describe(result)}.")
    for note in result.notes:
        ctx.note(f"  {note}")
    if problems:
        shown = "; ".join(p.rstrip(". ") for p in problems[:5])
        shown += f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        print(f"warning: the backup has problems: {shown}.", file=ctx.err)
        print(f"  hint: the zip was written, but importing it will be refused until they are fixed; run "
              f"'tzbackup verify {backup.slug}' for the list.", file=ctx.err)
        return EXIT_PARTIAL
    return EXIT_OK


def run_import(ctx: _Ctx, data_dir: Path, zip_path: Path) -> int:
    """Import an exported zip; a refused archive is exit 1 with the reason (and nothing written)."""
    from .archive.importer import import_archive

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


def split_zip_names(names: list[str]) -> tuple[list[Path], list[str]]:
    """``verify`` arguments that are exported zip files, and the rest (personality names)."""
    zips = [Path(n) for n in names if n.lower().endswith(".zip") and Path(n).is_file()]
    return zips, [n for n in names if Path(n) not in zips]


def verify_zip_result(zip_path: Path) -> dict[str, Any]:
    """``verify`` of an exported zip, in the shape of ``tzbackup verify``'s results."""
    report = verify_export(zip_path)
    return {"username": zip_path.name, "folder": str(zip_path), "ok": report.ok, "problems": report.problems,
            "checked_files": report.checked_files, "memories": report.memories}
