"""Which sections a backup takes (Settings → Sections), kept in QSettings, and their names for people.

The setting stores the sections the user turned *off* (``backup/excluded_sections``, comma-separated), so a
section added by a later version is backed up by default. ``profile`` is always taken: it identifies the
personality and its folder.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

from ..backup.report import ALL_SECTIONS

__all__ = [
    "EXCLUDED_KEY",
    "SECTION_LABELS",
    "chosen_sections",
    "failed_sections_from_metadata",
    "save_sections",
    "section_phrase",
]

EXCLUDED_KEY = "backup/excluded_sections"

#: What the Settings dialog and the status column call each section.
SECTION_LABELS: dict[str, str] = {
    "profile": "Profile",
    "memories": "Memories",
    "knowledge": "Knowledge",
    "training": "Training",
    "personalization": "Personalization",
    "chat": "Chat history",
    "images": "Avatar & banner",
}


def _excluded(settings: QSettings) -> set[str]:
    value = settings.value(EXCLUDED_KEY)
    items = value if isinstance(value, list) else str(value or "").split(",")
    return {str(s).strip() for s in items if str(s).strip() in ALL_SECTIONS and str(s).strip() != "profile"}


def chosen_sections(settings: QSettings) -> frozenset[str] | None:
    """The sections to back up for ``BackupOptions.sections``: None when all are chosen (the default)."""
    excluded = _excluded(settings)
    if not excluded:
        return None
    return frozenset(s for s in ALL_SECTIONS if s not in excluded)


def save_sections(settings: QSettings, chosen: set[str] | frozenset[str]) -> None:
    """Store the choice (``profile`` is always on, whatever ``chosen`` says)."""
    excluded = [s for s in ALL_SECTIONS if s != "profile" and s not in chosen]
    settings.setValue(EXCLUDED_KEY, ",".join(excluded))


def section_phrase(names: list[str]) -> str:
    """ "knowledge", "knowledge and chat history", "knowledge, training and chat history"."""
    words = [SECTION_LABELS.get(n, n).lower() for n in names]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def failed_sections_from_metadata(metadata: object) -> dict[str, str]:
    """``{section: error}`` for each ``sections.<name>.status == "failed"`` in a personality's metadata."""
    sections = metadata.get("sections") if isinstance(metadata, dict) else None
    if not isinstance(sections, dict):
        return {}
    out: dict[str, str] = {}
    for name, entry in sections.items():
        if isinstance(entry, dict) and entry.get("status") == "failed":
            out[str(name)] = str(entry.get("error") or "failed")
    return out
