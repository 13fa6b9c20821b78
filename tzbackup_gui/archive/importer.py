"""Import an exported zip into a data dir (:func:`import_archive`); the checks of the zip itself are
:mod:`.import_check` (``verify_export`` included, re-exported here).

:func:`import_archive` runs the whole check of the zip first without writing anything, then takes the data
dir's lock, extracts into a staging folder inside ``personalities/`` (same checks again: the file may have
changed), runs :func:`~.verify.verify_backup` on the staged folder, and only then moves it into place
with renames. A personality that is already backed up is replaced only when the archive is strictly newer
(``lastBackup``), belongs to the same owner and shape, has no unfinished memory or chat run, and holds
every memory id, every chat message id and every profile version record the local copy holds (anything
the local copy alone has that cannot be merged refuses the import, naming it). What can be merged safely
is carried over: lines of the append-only histories (``.memory-history.jsonl``, ``.chat-history.jsonl``,
``.section-history.jsonl``) and kept pictures (``history/images/``) that only the local copy has. The old
folder is kept as a ``.<folder>.replaced-<time>`` sibling until the new one is in place, then removed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OwnerMismatchError, TzBackupError
from ..model.memory import memory_id
from .chat import CHAT_HISTORY_NAME, ChatArchive, iter_chat, message_id
from .import_check import (
    ImportLimits,
    ImportRefusedError,
    Manifest,
    check_archive,
    refusal,
    staged_report,
    verify_export,
)
from .layout import HISTORY_NAME, personalities_root
from .lock import DataDirLock
from .personality import PersonalityArchive, check_format
from .profile_history import PROFILE_HISTORY_DIR, VERSIONS_NAME
from .store import (
    DIR_MODE,
    append_missing,
    atomic_write_bytes,
    ensure_dir,
    fsync_dir,
    read_jsonl,
    record_key,
    write_error,
)
from .verify import VerifyReport

__all__ = [
    "ImportRefusedError",
    "ImportResult",
    "LocalBackupNewerError",
    "import_archive",
    "verify_export",
]

#: written by the engine layer (backup.sections / backup.images); spelled here so the archive layer does not
#: import the engine
_SECTION_HISTORY_NAME = ".section-history.jsonl"
_IMAGE_HISTORY_DIR = "history/images"


class LocalBackupNewerError(ImportRefusedError):
    """The data dir already holds a copy of this personality that the archive must not overwrite."""

    hint = "Nothing was imported; the local backup was left as it is."


@dataclass
class ImportResult:
    folder: Path
    slug: str = ""
    display_name: str = ""
    memories: int = 0
    files: int = 0
    bytes: int = 0
    replaced: bool = False
    history_kept: int = 0  # old memory versions only the replaced local copy had, carried over
    #: other history only the replaced local copy had, carried over: file name -> lines (or files)
    carried: dict[str, int] = field(default_factory=dict)


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _memory_ids(folder: Path) -> set[str]:
    """Every memory id of a backup folder, one memory file in RAM at a time."""
    archive = PersonalityArchive(folder)
    return {memory_id(m) for _, name in archive.chunk_files() for m in archive.load_chunk(name)}


def _existing_checks(target: Path, manifest: Manifest) -> None:
    """Refuse when the local copy must not be replaced by the archive (checked before extracting)."""
    archive = PersonalityArchive(target)
    try:
        meta = archive.read_metadata()
    except TzBackupError as err:
        raise LocalBackupNewerError(f"The local folder {target} cannot be read ({err}); nothing imported.") \
            from err
    if meta is None:
        raise LocalBackupNewerError(
            f"{target} exists but is not a tzbackup backup; nothing imported.",
            hint="Move that folder elsewhere, then import again.",
        )
    check_format(meta, target)
    theirs, ours = manifest.personality, meta
    if ours.get("ownerId") and theirs.get("ownerId") and ours.get("ownerId") != theirs.get("ownerId"):
        raise OwnerMismatchError(
            f"The archive belongs to another shapes.inc account than the local backup of {target.name}; "
            "nothing imported."
        )
    if ours.get("shapeId") and theirs.get("shapeId") and ours.get("shapeId") != theirs.get("shapeId"):
        raise LocalBackupNewerError(
            f"The local folder {target.name} holds a different personality (shape id {ours.get('shapeId')}); "
            "nothing imported.",
            hint="Move the local folder elsewhere, then import again.",
        )
    local, incoming = _parse_time(ours.get("lastBackup")), _parse_time(theirs.get("lastBackup"))
    if local is not None and (incoming is None or local >= incoming):
        raise LocalBackupNewerError(
            f"The local backup of {target.name} is newer than the archive or as new (local "
            f"{ours.get('lastBackup')}, archive {theirs.get('lastBackup') or 'never'}); nothing imported."
        )
    if archive.commit_path.exists() or archive.journal_path.exists():
        raise LocalBackupNewerError(
            f"The local backup of {target.name} has an unfinished backup run; nothing imported.",
            hint="Run 'tzbackup backup' for it first (it completes the run), then import again.",
        )
    chat = ChatArchive(target)
    if chat.commit_path.exists() or chat.journal_path.exists():
        raise LocalBackupNewerError(
            f"The local backup of {target.name} has an unfinished chat backup run; nothing imported.",
            hint="Run 'tzbackup backup' for it first (it completes the run), then import again.",
        )


def _other_copies(root: Path, manifest: Manifest) -> None:
    """Refuse when the same personality, or a folder name that differs only in case, lives elsewhere."""
    if not root.is_dir():
        return
    shape_id = manifest.personality.get("shapeId")
    for entry in os.listdir(root):
        path = root / entry
        if entry == manifest.folder or entry.startswith(".") or not path.is_dir():
            continue
        if entry.casefold() == manifest.folder.casefold():
            raise LocalBackupNewerError(
                f"The local folder {entry} differs from the archive's {manifest.folder} only in case; "
                "nothing imported."
            )
        try:
            meta = PersonalityArchive(path).read_metadata() or {}
        except TzBackupError:
            continue
        if shape_id and meta.get("shapeId") == shape_id:
            raise LocalBackupNewerError(
                f"This personality is already backed up in the folder {entry} (under another name); "
                "nothing imported.",
                hint="Back it up once with 'tzbackup backup' or move that folder aside, then import again.",
            )


def _staged_checks(staged: Path, manifest: Manifest) -> VerifyReport:
    """:func:`_staged_report`, refusing the import when the backup inside the archive has problems."""
    report = staged_report(staged, manifest)
    if not report.ok:
        raise ImportRefusedError(refusal("The backup inside the archive", report.problems))
    return report


def _kept_pictures(folder: Path) -> dict[str, Path]:
    """The regular files in ``history/images/`` (symlinks and folders are not kept pictures)."""
    where = folder.joinpath(*_IMAGE_HISTORY_DIR.split("/"))
    if not where.is_dir():
        return {}
    with os.scandir(where) as entries:
        return {e.name: Path(e.path) for e in entries if e.is_file(follow_symlinks=False)}


def _carry_pictures(old: Path, staged: Path) -> int:
    """Copy the kept pictures only the local copy has into the staged ``history/images/``; a name the
    archive also uses for different bytes is kept under a ``local-`` name beside it."""
    theirs = _kept_pictures(staged)
    where = staged.joinpath(*_IMAGE_HISTORY_DIR.split("/"))
    kept = 0
    for name, path in sorted(_kept_pictures(old).items()):
        data = path.read_bytes()
        if name in theirs and theirs[name].read_bytes() == data:
            continue
        ensure_dir(where.parent)
        ensure_dir(where)
        dest, n = where / name, 1
        while dest.exists():
            dest = where / (f"local-{name}" if n == 1 else f"local-{n}-{name}")
            n += 1
        atomic_write_bytes(dest, data)
        kept += 1
    return kept


def _local_only_losses(old: Path, staged: Path) -> list[str]:
    """What only the local copy holds, that replacing it would lose and that cannot be merged: chat
    messages and profile version records the archive lacks (empty list = nothing)."""
    losses: list[str] = []
    try:
        ours = {message_id(m) for m in iter_chat(old)}
        lacking = len(ours - {message_id(m) for m in iter_chat(staged)})
    except TzBackupError as err:
        losses.append(f"the local chat history cannot be read to compare it ({err})")
    else:
        if lacking:
            losses.append(f"the local copy has {lacking} chat message(s) the archive lacks")
    versions = Path(*PROFILE_HISTORY_DIR.split("/"), VERSIONS_NAME)
    present = {record_key(rec) for _, rec in read_jsonl(staged / versions) if isinstance(rec, dict)}
    lacking = sum(1 for _, rec in read_jsonl(old / versions) if isinstance(rec, dict)
                  and record_key(rec) not in present)
    if lacking:
        losses.append(f"the local copy has {lacking} profile version record(s) the archive lacks")
    return losses


def _swap_in(staged: Path, target: Path) -> None:
    """Move ``staged`` to ``target``; an existing target is kept aside until the move succeeded."""
    root = target.parent
    aside: Path | None = None
    if target.exists():
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        aside = root / f".{target.name}.replaced-{stamp}-{secrets.token_hex(2)}"
        os.rename(target, aside)
    try:
        os.rename(staged, target)
    except OSError:
        if aside is not None:
            os.rename(aside, target)
        raise
    fsync_dir(root)
    if aside is not None:
        shutil.rmtree(aside)
        fsync_dir(root)


def import_archive(
    zip_path: Path, data_dir: Path, *, limits: ImportLimits | None = None, lock_wait: float = 0.0
) -> ImportResult:
    """Import an exported zip into ``data_dir`` (checks in the module docstring). Raises
    :class:`ImportRefusedError` / :class:`LocalBackupNewerError` / :class:`OwnerMismatchError`."""
    limits = limits or ImportLimits()
    manifest = check_archive(zip_path, limits)  # nothing is written before this passes
    root = personalities_root(data_dir)
    created_root = not root.exists()
    with DataDirLock(data_dir, wait=lock_wait):
        target = root / manifest.folder
        _other_copies(root, manifest)
        if target.exists():
            _existing_checks(target, manifest)
        ensure_dir(root)
        staging = root / f".import-{secrets.token_hex(6)}"
        try:
            staging.mkdir(mode=DIR_MODE)
            check_archive(zip_path, limits, sink=staging)
            staged = staging / manifest.folder
            report = _staged_checks(staged, manifest)
            result = ImportResult(folder=target, memories=report.memories, files=len(manifest.files),
                                  bytes=sum(s for s, _ in manifest.files.values()),
                                  slug=str(manifest.personality.get("slug") or ""),
                                  display_name=str(manifest.personality.get("displayName") or ""))
            if target.exists():
                missing = _memory_ids(target) - _memory_ids(staged)
                if missing:
                    raise LocalBackupNewerError(
                        f"The local backup of {target.name} holds {len(missing)} memories the archive lacks; "
                        "nothing imported (memories are never dropped)."
                    )
                losses = _local_only_losses(target, staged)
                if losses:
                    raise LocalBackupNewerError(
                        f"The local backup of {target.name} holds what the archive lacks: "
                        f"{'; '.join(losses)}; nothing imported (saved data is never dropped).",
                        hint="Back the personality up on the machine the archive came from, export it again "
                        "and import that newer archive; the local backup was left as it is.",
                    )
                # what only the local copy kept of earlier versions goes into the imported copy
                result.history_kept = append_missing(staged / HISTORY_NAME, target / HISTORY_NAME)
                carried = {
                    CHAT_HISTORY_NAME: append_missing(staged / CHAT_HISTORY_NAME, target / CHAT_HISTORY_NAME),
                    _SECTION_HISTORY_NAME: append_missing(
                        staged / _SECTION_HISTORY_NAME, target / _SECTION_HISTORY_NAME, record_key),
                    _IMAGE_HISTORY_DIR: _carry_pictures(target, staged),
                }
                result.carried = {k: v for k, v in carried.items() if v}
                result.replaced = True
            _swap_in(staged, target)
        except OSError as err:
            raise write_error(err, target) from err
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if created_root:
                with contextlib.suppress(OSError):
                    root.rmdir()  # only succeeds when the import left it empty
    return result
