"""A small hand-made archive for the browser's desktop tests, a dark palette, and a contrast reader.

The archive is written in the on-disk layout (no engine, no network), so each test gets a fresh copy in
milliseconds:

* ``lilith``: 75 memories, one a day from 2025-01-01 (one deleted), some about an umbrella; 8 chat messages
  (one about an umbrella); two knowledge entries (one about an umbrella); a profile that changed once (two
  versions) under two backup runs.
* ``echo``: backed up, but the service had no memory and no chat message for it.
* ``fresh``: a folder whose first backup has not run yet (metadata only).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette, QTextCursor, QTextDocument

from tzbackup_gui.archive.profile_history import record_profile
from tzbackup_gui.archive.store import atomic_write_json
from tzbackup_gui.ui.theme import contrast_ratio

T0 = dt.datetime(2025, 1, 1, 12, 0, tzinfo=dt.UTC).timestamp()
DAY = 86400.0
UMBRELLA_DAYS = (3, 17, 40, 41, 66)  # memories about the lost umbrella
LAST_BACKUP = "2026-12-06T03:49:20Z"


def memory(n: int, *, deleted: bool = False) -> dict[str, Any]:
    created = T0 + n * DAY
    text = (
        f"The user told Lilith about a lost umbrella on day {n}."
        if n in UMBRELLA_DAYS
        else f"The user and Lilith talked about the harbour, day {n}."
    )
    return {
        "id": f"mem-{n:03d}",
        "result": text,
        "summary_type": "automatic",
        "deleted": deleted,
        "senders": ["owner-1"],
        "metadata": {
            "created_at": created,
            "start_ts": created - 600,
            "end_ts": created - 30,
            "msg_ids": [f"msg-{n}-a", f"msg-{n}-b"],
        },
    }


def _metadata(slug: str, total: int, runs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "formatVersion": 1,
        "slug": slug,
        "displayName": slug.title(),
        "ownerId": "owner-1",
        "totalMemories": total,
        "deletedUpstream": {},
        "runs": runs,
    }
    if runs:
        meta["lastBackup"] = runs[-1]["finished"]
    meta.update(extra)
    return meta


def _run(started: str, finished: str, new: int) -> dict[str, Any]:
    return {
        "started": started,
        "finished": finished,
        "status": "ok",
        "new": new,
        "edited": 0,
        "deletedUpstream": 0,
        "requests": 12,
        "error": None,
    }


def make_archive(data_dir: Path) -> Path:
    """Write the three personalities under ``data_dir/personalities``; returns ``data_dir``."""
    root = data_dir / "personalities"
    lilith = root / "lilith"
    (lilith / "memory").mkdir(parents=True)
    memories = [memory(n, deleted=(n == 10)) for n in range(75)]
    for start in range(0, 75, 25):
        atomic_write_json(
            lilith / "memory" / f"lilith_memory_{start // 25 + 1}.json",
            {"memories": memories[start : start + 25]},
        )
    (lilith / "chat").mkdir()
    chat = [
        {
            "id": f"chat-{n}",
            "message": f"hello {n}",
            "reply": f"Hello to you too ({n}).",
            "ts": T0 + (n * 9 + 0.5) * DAY,
        }
        for n in range(8)
    ]
    chat[5]["message"] = "have you seen my umbrella anywhere?"
    atomic_write_json(lilith / "chat" / "lilith_chat_1.json", {"messages": chat})
    atomic_write_json(
        lilith / "knowledge.json",
        {
            "items": [
                {
                    "id": "know-1",
                    "title": "Harbour",
                    "story_type": "general",
                    "content": "Lilith lives by the harbour.",
                },
                {
                    "id": "know-2",
                    "title": "Umbrella rule",
                    "story_type": "general",
                    "content": "Lilith always lends her umbrella.",
                    "metadata": {"created_at": T0 + 35 * DAY},
                },
            ]
        },
    )
    profile = {
        "name": "Lilith",
        "username": "lilith",
        "tagline": "Ask me about the harbour",
        "description": "A calm companion who collects umbrellas.",
        "created_ts": T0 - 90 * DAY,
        "updated_ts": T0 - 10 * DAY,
        "creator_username": "demo_creator",
        "search_description": "Lilith: a calm companion",
        "jailbreak": "Stay in character.",
        "personality_likes": "rain",
        "engine_temperature": 0.8,
        "ltm_enabled": True,
    }
    first = dt.datetime(2025, 3, 10, 9, 0, tzinfo=dt.UTC)
    second = dt.datetime(2025, 3, 20, 10, 0, tzinfo=dt.UTC)
    record_profile(lilith, lilith / "lilith.json", profile, now=first + dt.timedelta(seconds=5))
    changed = dict(profile, personality_likes="rain on the window, old maps", voice_accent="soft Scottish")
    record_profile(lilith, lilith / "lilith.json", changed, now=second + dt.timedelta(seconds=5))
    runs = [
        _run("2025-03-10T09:00:00Z", "2025-03-10T09:00:30Z", 70),
        _run("2025-03-20T10:00:00Z", "2025-03-20T10:00:20Z", 5),
    ]
    sections = {
        "chat": {"count": 8, "new": 8, "lastSync": "2025-03-20T10:00:20Z", "status": "ok", "error": None},
        "knowledge": {"count": 2, "lastSync": "2025-03-20T10:00:20Z", "status": "ok", "error": None},
    }
    atomic_write_json(lilith / ".backup-metadata.json", _metadata("lilith", 75, runs, sections=sections))
    echo = root / "echo"
    echo.mkdir()
    atomic_write_json(echo / "echo.json", {"name": "Echo", "username": "echo"})
    echo_sections = {"chat": {"count": 0, "new": 0, "lastSync": LAST_BACKUP, "status": "ok", "error": None}}
    atomic_write_json(
        echo / ".backup-metadata.json",
        _metadata("echo", 0, [_run("2026-12-06T03:49:00Z", LAST_BACKUP, 0)], sections=echo_sections),
    )
    fresh = root / "fresh"
    fresh.mkdir()
    atomic_write_json(fresh / ".backup-metadata.json", _metadata("fresh", 0, []))
    return data_dir


def dark_palette() -> QPalette:
    """A dark palette as a dark desktop theme gives (Fusion's dark colours; the placeholder text is a
    translucent light grey, as Qt makes it)."""
    palette = QPalette()
    role = QPalette.ColorRole
    window, base, text = QColor(45, 45, 45), QColor(30, 30, 30), QColor(230, 230, 230)
    for r, color in (
        (role.Window, window),
        (role.WindowText, text),
        (role.Base, base),
        (role.AlternateBase, QColor(40, 40, 40)),
        (role.ToolTipBase, window),
        (role.ToolTipText, text),
        (role.Text, text),
        (role.Button, window),
        (role.ButtonText, text),
        (role.BrightText, QColor("red")),
        (role.Link, QColor(90, 160, 255)),
        (role.Highlight, QColor(42, 130, 218)),
        (role.HighlightedText, QColor("white")),
        (role.PlaceholderText, QColor(230, 230, 230, 128)),
    ):
        palette.setColor(r, color)
    for r in (role.Text, role.WindowText, role.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, r, QColor(120, 120, 120))
    return palette


def high_contrast_palette() -> QPalette:
    """White on black with a yellow highlight, as a high-contrast desktop theme gives."""
    palette = QPalette(QColor("black"))
    role = QPalette.ColorRole
    for r in (role.Window, role.Base, role.AlternateBase, role.Button, role.ToolTipBase):
        palette.setColor(r, QColor("black"))
    for r in (role.WindowText, role.Text, role.ButtonText, role.ToolTipText, role.PlaceholderText):
        palette.setColor(r, QColor("white"))
    palette.setColor(role.Highlight, QColor("yellow"))
    palette.setColor(role.HighlightedText, QColor("black"))
    return palette


def document_contrasts(doc: QTextDocument, text: QColor, background: QColor) -> list[tuple[float, str]]:
    """(contrast ratio, text) of every piece of text in ``doc``: its own colour or ``text``, on its own
    background, its table cell's or table's, or ``background``."""
    found: list[tuple[float, str]] = []
    block = doc.begin()
    while block.isValid():
        back = background
        table = QTextCursor(block).currentTable()
        if table is not None:
            cell = table.cellAt(QTextCursor(block)).format().background()
            whole = table.format().background()
            if cell.style() != Qt.BrushStyle.NoBrush:
                back = cell.color()
            elif whole.style() != Qt.BrushStyle.NoBrush:
                back = whole.color()
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.isValid() and fragment.text().strip():
                fmt = fragment.charFormat()
                fore = fmt.foreground().color() if fmt.foreground().style() != Qt.BrushStyle.NoBrush else text
                behind = (
                    fmt.background().color() if fmt.background().style() != Qt.BrushStyle.NoBrush else back
                )
                found.append((contrast_ratio(fore, behind), fragment.text()))
            it += 1
        block = block.next()
    return found


def html_contrasts(html: str, text: QColor, background: QColor) -> list[tuple[float, str]]:
    doc = QTextDocument()
    doc.setHtml(html)
    return document_contrasts(doc, text, background)


def unreadable(found: list[tuple[float, str]], minimum: float = 4.5) -> list[tuple[float, str]]:
    return [(round(ratio, 2), text) for ratio, text in found if ratio < minimum]
