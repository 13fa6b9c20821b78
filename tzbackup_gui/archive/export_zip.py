"""The zip export: a personality folder as ``<folder>/...`` entries plus ``manifest.json`` at the root.

The engine's private state (``.tzbackup/``: journal, id index, commit staging), temp files, locks and caches
are left out; the metadata, the memory files and ``.memory-history.jsonl`` are in. Entries come in a fixed
order (natural sort of their paths, manifest last); each file is read once, hashed (SHA-256) while it is
compressed. :func:`~.import_check.verify_export` checks such a zip, with the same checks as the import.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import CorruptBackupError
from .export_common import TOOL, ExportResult, open_damaged, recorded_total, utc_now
from .layout import MEMORY_DIR, STATE_DIR, chunk_number
from .store import FILE_MODE, atomic_output

__all__ = ["MANIFEST_FORMAT", "MANIFEST_NAME", "archive_files", "count_chunk_memories", "export_zip"]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
_BLOCK = 1024 * 1024


def _natural_key(path: str) -> list[Any]:
    """``memory_2`` before ``memory_10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def _is_private(rel: str) -> bool:
    """Engine state, temp files, locks and caches: never part of an export."""
    parts = rel.split("/")
    name = parts[-1]
    return (
        parts[0] == STATE_DIR
        or ".tmp-" in name
        or name.endswith((".lock", ".sqlite3", ".sqlite3-journal", ".sqlite3-wal", ".sqlite3-shm"))
        or any(p.startswith(".cache") for p in parts)
    )


def archive_files(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """``(relative posix path, file)`` of everything an export holds, in entry order; plus the skipped
    entries that are neither files nor folders (symlinks, sockets...)."""
    found: list[tuple[str, Path]] = []
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        rel_dir = base.relative_to(folder).as_posix()
        for name in list(dirnames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if (base / name).is_symlink():
                skipped.append(rel)
                dirnames.remove(name)
            elif _is_private(rel):
                dirnames.remove(name)
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            path = base / name
            if _is_private(rel):
                continue
            if path.is_symlink() or not path.is_file():
                skipped.append(rel)
                continue
            found.append((rel, path))
    found.sort(key=lambda item: _natural_key(item[0]))
    return found, sorted(skipped)


def _zip_info(name: str, mtime: float | None) -> zipfile.ZipInfo:
    when = dt.datetime.fromtimestamp(mtime, dt.UTC) if mtime else dt.datetime(1980, 1, 1)
    stamp = max(when.timetuple()[:6], (1980, 1, 1, 0, 0, 0))
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, so external_attr's mode bits mean what they say
    info.external_attr = (0o100000 | FILE_MODE) << 16  # a regular file, 0600
    return info


def _is_chunk(rel: str, folder: str) -> bool:
    parts = rel.split("/")
    return len(parts) == 2 and parts[0] == MEMORY_DIR and chunk_number(parts[1], folder) is not None


def count_chunk_memories(data: bytes, name: str) -> int:
    """How many memories a chunk file's bytes hold (a damaged file raises)."""
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptBackupError(f"The memory file {name} is damaged: {err}", path=name) from err
    items = parsed.get("memories") if isinstance(parsed, dict) else None
    if not isinstance(items, list):
        raise CorruptBackupError(f"The memory file {name} does not hold a 'memories' list.", path=name)
    return len(items)


def export_zip(folder: Path, output: Path) -> ExportResult:
    """Write ``folder`` as a zip with ``manifest.json`` (format, personality, counts, SHA-256 per file)."""
    _, meta, damaged = open_damaged(folder)
    files, skipped = archive_files(folder)
    result = ExportResult(format="zip", paths=[output], recorded=recorded_total(meta))
    result.notes += [f"skipped {rel} (not a regular file)" for rel in skipped]
    if damaged:
        result.notes.append(f"{damaged}; copied as it is")
    entries: list[dict[str, Any]] = []
    with atomic_output(output) as fh, zipfile.ZipFile(fh, "w", compresslevel=6) as zf:
        for rel, path in files:
            name = f"{folder.name}/{rel}"
            digest = hashlib.sha256()
            size = 0
            chunk_data: list[bytes] | None = [] if _is_chunk(rel, folder.name) else None
            try:  # a file that cannot be opened is left out and named; everything readable goes in
                src = path.open("rb")
                mtime = os.fstat(src.fileno()).st_mtime
            except OSError as err:
                result.unreadable.append(f"{rel}: {err.strerror or err}")
                continue
            with src, zf.open(_zip_info(name, mtime), "w") as dst:
                try:
                    while block := src.read(_BLOCK):
                        digest.update(block)
                        size += len(block)
                        dst.write(block)
                        if chunk_data is not None:
                            chunk_data.append(block)
                except OSError as err:  # cut short: the entry holds what was read (the manifest says so)
                    result.unreadable.append(f"{rel}: {err.strerror or err} after {size} bytes")
                    chunk_data = None
            if chunk_data is not None:
                # a damaged one is exported byte for byte as it is; ``verify`` (and the CLI) name the damage
                with contextlib.suppress(CorruptBackupError):
                    result.memories += count_chunk_memories(b"".join(chunk_data), rel)
            entries.append({"path": name, "size": size, "sha256": digest.hexdigest()})
            result.bytes += size
        manifest = {
            "tool": TOOL,
            "version": __version__,
            "formatVersion": MANIFEST_FORMAT,
            "created": utc_now(),
            "personality": {
                "folder": folder.name,
                "slug": str(meta.get("slug") or folder.name),
                "shapeId": str(meta.get("shapeId") or ""),
                "displayName": str(meta.get("displayName") or ""),
                "ownerId": str(meta.get("ownerId") or ""),
                "lastBackup": meta.get("lastBackup") if isinstance(meta.get("lastBackup"), str) else None,
                "backupFormatVersion": meta.get("formatVersion"),
            },
            "counts": {"memories": result.memories, "files": len(entries), "bytes": result.bytes},
            "files": entries,
        }
        data = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
        zf.writestr(_zip_info(MANIFEST_NAME, None), data)
    result.files = len(entries)
    return result
