"""The on-disk layout of a backup: folder names, file names, and safe-name rules.

A personality's folder is ``DATA_DIR/personalities/<folder>/`` where ``<folder>`` is its slug made safe
(DESIGN.md "Safe names"). Inside it:

- ``<folder>.json``: the raw profile, untouched;
- ``.backup-metadata.json``: the metadata (``formatVersion`` mandatory);
- ``memory/<folder>_memory_N.json``: ``{"memories": [...]}``, N=1 holds the oldest memories, every file but
  the last holds exactly ``chunkSize`` memories;
- ``.memory-history.jsonl``: previous versions of memories edited upstream (append-only, one JSON per line);
- ``.tzbackup/``: engine-private state (journal of an unfinished walk, id-index cache, commit staging).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from ..errors import UnsafeNameError

__all__ = [
    "CHUNK_SIZE",
    "FORMAT_VERSION",
    "HISTORY_NAME",
    "MAX_NAME_BYTES",
    "MEMORY_DIR",
    "MEMORY_NOUN",
    "METADATA_NAME",
    "QUARANTINE_NAME",
    "STATE_DIR",
    "chunk_file_name",
    "chunk_number",
    "personalities_root",
    "personality_path",
    "profile_file_name",
    "record_file_name",
    "record_file_number",
    "safe_folder_name",
]

FORMAT_VERSION = 1
CHUNK_SIZE = 250
METADATA_NAME = ".backup-metadata.json"
HISTORY_NAME = ".memory-history.jsonl"
#: page entries the service sent that are not memory objects with an id: kept verbatim, never guessed at
QUARANTINE_NAME = ".memory-quarantine.jsonl"
MEMORY_DIR = "memory"
#: the word in memory chunk file names: ``<folder>_memory_N.json``
MEMORY_NOUN = "memory"
STATE_DIR = ".tzbackup"
MAX_NAME_BYTES = 100
_SUFFIX_LEN = 9  # "-" + 8 hex digits

# Names Windows refuses as file names (harmless here, but backups get copied around).
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def _allowed(ch: str) -> bool:
    """Letters (any script, with their combining marks), decimal digits, and ``. _ -``."""
    if ch in "._-":
        return True
    cat = unicodedata.category(ch)
    return cat[0] in ("L", "M") or cat == "Nd"


def _cap_bytes(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes without splitting a character."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore")


def _slug_hash(slug: str) -> str:
    return hashlib.sha256(slug.encode("utf-8", errors="surrogatepass")).hexdigest()[:8]


def safe_folder_name(slug: str, taken: Iterable[str] = ()) -> str:
    """Map a slug to a folder name that can never escape ``personalities/``.

    ``taken`` holds the folder names already used by *other* personalities; a case-insensitive clash with
    one of them gets the hash suffix too. The result is stable for a given slug and set of other folders.
    """
    cleaned = "".join(ch if _allowed(ch) else "_" for ch in slug).lstrip(".")
    base = _cap_bytes(cleaned, MAX_NAME_BYTES)
    clashes = {name.casefold() for name in taken}
    needs_suffix = (
        base != slug or not base or base.upper().split(".")[0] in _RESERVED or base.casefold() in clashes
    )
    if not needs_suffix:
        return base
    base = _cap_bytes(base, MAX_NAME_BYTES - _SUFFIX_LEN) or "_"
    name = f"{base}-{_slug_hash(slug)}"
    if name.casefold() in clashes:
        raise UnsafeNameError(
            f"The personality name {slug!r} clashes with another backup folder ({name!r}) even after "
            "making it unique."
        )
    return name


def personalities_root(data_dir: Path) -> Path:
    return data_dir / "personalities"


def personality_path(data_dir: Path, folder: str) -> Path:
    """The folder of one personality, checked to lie directly inside ``personalities/``."""
    if not folder or folder in (".", "..") or "/" in folder or "\\" in folder or "\x00" in folder:
        raise UnsafeNameError(f"{folder!r} is not a safe folder name.")
    root = personalities_root(data_dir).resolve()
    path = (root / folder).resolve()
    if path.parent != root:
        raise UnsafeNameError(f"The folder {folder!r} would lie outside {root}.")
    return path


def profile_file_name(folder: str) -> str:
    return f"{folder}.json"


def record_file_name(folder: str, noun: str, number: int) -> str:
    """``<folder>_<noun>_N.json``: the chunk file N of one kind of record (``memory``, ``chat``)."""
    return f"{folder}_{noun}_{number}.json"


def record_file_number(file_name: str, noun: str, folder: str | None = None) -> int | None:
    """N of ``<folder>_<noun>_N.json`` (any prefix when ``folder`` is None), else None."""
    match = re.match(rf"^(?P<prefix>.+)_{re.escape(noun)}_(?P<n>[1-9][0-9]*)\.json$", file_name)
    if match is None or (folder is not None and match.group("prefix") != folder):
        return None
    return int(match.group("n"))


def chunk_file_name(folder: str, number: int) -> str:
    return record_file_name(folder, MEMORY_NOUN, number)


def chunk_number(file_name: str, folder: str | None = None) -> int | None:
    """N of ``<folder>_memory_N.json`` (any prefix when ``folder`` is None), else None."""
    return record_file_number(file_name, MEMORY_NOUN, folder)
