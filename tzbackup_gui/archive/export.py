"""Portable exports of one personality folder, and the one entry point the CLI and the GUI call.

Formats (each in a module of its own; this module runs one under the data dir's lock; their names and
default file names are :mod:`tzbackup_gui.model.export_formats`):

- ``zip`` (:mod:`.export_zip`): the folder plus ``manifest.json``, verifiable and importable
  (:mod:`.import_check`, :mod:`.importer`);
- ``markdown`` (:mod:`.export_markdown`): one readable document, memories grouped by day;
- ``card`` / ``card-v3`` (:mod:`.card`, :mod:`.card_export`): a Character Card V2 / V3 as JSON and in a
  PNG, the knowledge (and, when asked, memories: :mod:`.card_memories`) as its lorebook;
- ``sillytavern-chat`` (:mod:`.sillytavern`): the saved chat as a SillyTavern chat file (JSON Lines).

All of them only read the backup and write their output atomically (:mod:`.export_common`). The names
in ``__all__`` are re-exported because callers import them from here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .card import CARD_V2_FIELDS, build_card, validate_card
from .card_export import export_card
from .card_memories import MemoryChoice
from .export_common import REDACTED, ExportResult, load_knowledge, open_folder
from .export_markdown import export_markdown
from .export_zip import archive_files, export_zip
from .sillytavern import export_sillytavern_chat
from .store import atomic_output

__all__ = [
    "CARD_V2_FIELDS",
    "REDACTED",
    "ExportResult",
    "archive_files",
    "build_card",
    "export_as",
    "export_card",
    "export_markdown",
    "export_profile_json",
    "export_zip",
    "load_knowledge",
    "validate_card",
]

_CARDS = ("card", "card-v3")


def export_profile_json(folder: Path, output: Path, profile: dict[str, Any]) -> ExportResult:
    """Write a raw profile (e.g. an earlier version from the profile history) as JSON, exactly as it was
    saved: the same form as ``<folder>.json``, credential fields included (it is a restore, like the zip)."""
    open_folder(folder)
    data = (json.dumps(profile, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    with atomic_output(output) as fh:
        fh.write(data)
    return ExportResult(format="json", paths=[output], bytes=len(data), files=1)


def export_as(
    folder: Path, fmt: str, main: Path, png: Path | None = None, *, memories: MemoryChoice | None = None
) -> tuple[ExportResult, list[str]]:
    """Export one personality folder in one of the export formats under its data dir's lock (when it lies in
    one). ``memories``: which memories a card's lorebook holds besides the knowledge (none by default). For
    a zip, the folder is verified first and the problems are returned beside the result: the zip is still
    written, but the user must learn of them before moving it (import would refuse it)."""
    from .lock import reading_lock
    from .verify import verify_backup

    data_dir = folder.parent.parent if folder.parent.name == "personalities" else None
    problems: list[str] = []
    with reading_lock(data_dir):
        if fmt == "zip":
            problems = verify_backup(folder).problems
            return export_zip(folder, main), problems
        if fmt == "markdown":
            return export_markdown(folder, main), problems
        if fmt in _CARDS:
            return export_card(folder, main, png, version=3 if fmt == "card-v3" else 2,
                               memories=memories), problems
        if fmt == "sillytavern-chat":
            return export_sillytavern_chat(folder, main), problems
    raise ValueError(f"unknown export format {fmt!r}")
