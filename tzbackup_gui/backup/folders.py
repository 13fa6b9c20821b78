"""A personality's folder: found by shape id (renamed after a slug change), or created; its format and owner
checked, a damaged one refused before any byte of it changes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..archive.layout import (
    CHUNK_SIZE,
    MEMORY_DIR,
    METADATA_NAME,
    STATE_DIR,
    personalities_root,
    personality_path,
    safe_folder_name,
)
from ..archive.personality import PersonalityArchive, check_format
from ..archive.store import ensure_dir
from ..errors import CorruptBackupError, OwnerMismatchError, TzBackupError
from .engine import EngineCore
from .report import PersonalityResult

__all__ = ["FolderSteps"]


class FolderSteps(EngineCore):
    """The folder steps of :class:`~.run.BackupEngine` (blocking: called through ``_blocking``)."""

    @staticmethod
    def _check_folder(archive: PersonalityArchive) -> None:
        """Refuse a damaged folder (:class:`CorruptBackupError` names the file) before touching it."""
        metadata = archive.read_metadata() or {}
        archive.load_index(int(metadata.get("chunkSize") or CHUNK_SIZE))

    def _open_folder(self, shape_id: str, slug: str, profile: dict[str, Any]) -> PersonalityArchive:
        """Find this shape's folder (renaming it after a slug change) or create it; check format and owner."""
        root = personalities_root(self.data_dir)
        ensure_dir(root)
        folders = sorted(e for e in os.listdir(root) if (root / e).is_dir())
        owner_of: dict[str, str] = {}
        metas: dict[str, dict[str, Any] | None] = {}
        damaged: dict[str, TzBackupError] = {}
        for name in folders:
            try:
                meta = PersonalityArchive(root / name).read_metadata()
            except TzBackupError as err:
                meta, damaged[name] = None, err
            metas[name] = meta
            if meta and isinstance(meta.get("shapeId"), str):
                owner_of[meta["shapeId"]] = name
        folder = owner_of.get(shape_id)
        if folder is None:
            if safe_folder_name(slug) in damaged:  # our folder, but its metadata cannot be read: never guess
                raise CorruptBackupError(
                    f"The backup of {slug!r} cannot be used: {damaged[safe_folder_name(slug)]} "
                    "Nothing was changed.",
                    path=str(root / safe_folder_name(slug) / METADATA_NAME),
                    hint="Restore that file from a copy, or move the folder aside and back up again; "
                    "'tzbackup verify' shows details.",
                )
            folder = self._new_folder_name(slug, folders, metas)
        else:
            meta = metas[folder] or {}
            if meta.get("slug") != slug:
                folder = self._rename(root, folder, slug, folders)
        archive = PersonalityArchive(personality_path(self.data_dir, folder))
        metadata = archive.read_metadata() if archive.path.exists() else None
        if metadata is None:
            if _has_foreign_files(archive.path):
                check_format({}, archive.path)  # an older tool's folder: refuse, never reinterpret
            archive.create_dirs()
            result = PersonalityResult(slug=slug, folder=folder)
            initial = self._metadata({}, profile, result, index_total=0)
            initial["lastBackup"] = None
            archive.write_metadata(initial)
            return archive
        check_format(metadata, archive.path)
        owner = metadata.get("ownerId")
        if owner and owner != self._user_id:
            raise OwnerMismatchError(
                f"The backup folder {archive.path} belongs to another shapes.inc account; "
                "tzbackup never mixes two accounts' data."
            )
        archive.create_dirs()
        archive.recover()
        return archive

    def _new_folder_name(self, slug: str, folders: list[str], metas: dict[str, dict[str, Any] | None]) -> str:
        plain = safe_folder_name(slug)
        if plain in metas:
            meta = metas[plain]
            path = personalities_root(self.data_dir) / plain
            if meta is None and not _has_foreign_files(path):
                return plain  # our own folder, left by a run that died before writing any metadata
            if meta is None and (path / STATE_DIR).is_dir():
                raise CorruptBackupError(
                    f"The backup of {slug!r} in {path} has lost its {METADATA_NAME} (the memory files are "
                    "still there). Nothing was changed.",
                    path=str(path / METADATA_NAME),
                    hint="Restore that file from a copy, or move the folder aside and back up again.",
                )
            check_format(meta or {}, path)
            return safe_folder_name(slug, taken=folders)
        return safe_folder_name(slug, taken=[f for f in folders if f != plain])

    def _rename(self, root: Path, folder: str, slug: str, folders: list[str]) -> str:
        """The shape's slug changed: move its folder (and the files named after it) to the new name."""
        target = safe_folder_name(slug, taken=[f for f in folders if f != folder])
        if target == folder:
            return folder
        if (root / target).exists():
            return folder  # keep the old folder rather than touch another one; the metadata has the slug
        os.rename(personality_path(self.data_dir, folder), root / target)
        archive = PersonalityArchive(personality_path(self.data_dir, target))
        archive.adopt_folder_name()
        return target


def _has_foreign_files(path: Path) -> bool:
    """True when a folder without our metadata holds anything we did not put there."""
    if not path.is_dir():
        return False
    for entry in os.listdir(path):
        if entry in (STATE_DIR, MEMORY_DIR) and not os.listdir(path / entry):
            continue
        if entry == STATE_DIR:
            continue
        return True
    return False
