"""Read-only views of the backups in a data dir (for ``tzbackup status`` / ``list`` and the GUI)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TzBackupError
from .layout import personalities_root
from .personality import PersonalityArchive

__all__ = ["LocalBackup", "list_backups", "read_backup_status"]


@dataclass
class LocalBackup:
    folder: Path
    slug: str = ""
    shape_id: str = ""
    display_name: str = ""
    owner_id: str = ""
    last_backup: str | None = None
    total_memories: int = 0
    #: the item total the service itself reported (``pagination.total``); ``None`` when it never said one
    server_total: int | None = None
    #: live memories counted by the last certified full walk: our own count, never to be shown as the server's
    live_at_last_full_walk: int | None = None
    last_run: dict[str, Any] | None = None
    deleted_upstream: int = 0
    format_version: int | None = None
    pending_resume: bool = False  # an unfinished walk will be resumed by the next backup
    #: memories a walk that failed, was cancelled or lost its session committed before it could finish
    #: (they are in the memory files and counted; the walk resumes next time); 0 when none
    unfinished_fetched: int = 0
    problem: str = ""  # set when the metadata cannot be read (legacy layout, damaged file)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)


def read_backup_status(folder: Path) -> LocalBackup:
    """What the metadata of one personality folder says (never raises for a bad folder: see ``problem``)."""
    archive = PersonalityArchive(folder)
    backup = LocalBackup(folder=folder, slug=folder.name)
    try:
        meta = archive.read_metadata()
    except TzBackupError as err:
        backup.problem = str(err)
        return backup
    if meta is None:
        backup.problem = "no .backup-metadata.json (not a tzbackup backup)"
        return backup
    runs = meta.get("runs")
    version = meta.get("formatVersion")
    backup.metadata = meta
    backup.format_version = version if isinstance(version, int) else None
    if backup.format_version is None:
        backup.problem = "written by an earlier backup tool (no formatVersion); move it aside to back up anew"
    backup.slug = str(meta.get("slug") or folder.name)
    backup.shape_id = str(meta.get("shapeId") or "")
    backup.display_name = str(meta.get("displayName") or "")
    backup.owner_id = str(meta.get("ownerId") or "")
    backup.last_backup = meta.get("lastBackup") if isinstance(meta.get("lastBackup"), str) else None
    backup.total_memories = int(meta.get("totalMemories") or 0)
    server_total = meta.get("serverTotal")
    backup.server_total = _count(server_total)
    backup.live_at_last_full_walk = _count(meta.get("liveAtLastFullWalk"))
    backup.last_run = runs[-1] if isinstance(runs, list) and runs and isinstance(runs[-1], dict) else None
    deleted = meta.get("deletedUpstream")
    backup.deleted_upstream = len(deleted) if isinstance(deleted, dict) else 0
    backup.pending_resume = archive.journal_path.exists()
    unfinished = meta.get("unfinishedWalk")
    if isinstance(unfinished, dict):
        backup.unfinished_fetched = _count(unfinished.get("fetched")) or 0
    return backup


def _count(value: object) -> int | None:
    """A count from the metadata: a non-negative int, else ``None`` (``True`` is not a count)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def list_backups(data_dir: Path) -> list[LocalBackup]:
    """Every personality folder under ``data_dir/personalities/``, sorted by folder name."""
    root = personalities_root(data_dir)
    if not root.is_dir():
        return []
    return [
        read_backup_status(root / name)
        for name in sorted(os.listdir(root))
        if (root / name).is_dir() and not name.startswith(".")
    ]
