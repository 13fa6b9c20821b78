"""The on-disk archive: layout and safe names, crash-safe writes, reading, verifying, the data-dir lock."""

from __future__ import annotations

from .layout import CHUNK_SIZE, FORMAT_VERSION, personality_path, safe_folder_name
from .lock import DataDirLock
from .personality import PersonalityArchive
from .reader import LocalBackup, list_backups, read_backup_status
from .verify import VerifyReport, verify_backup

__all__ = [
    "CHUNK_SIZE",
    "FORMAT_VERSION",
    "DataDirLock",
    "LocalBackup",
    "PersonalityArchive",
    "VerifyReport",
    "list_backups",
    "personality_path",
    "read_backup_status",
    "safe_folder_name",
    "verify_backup",
]
