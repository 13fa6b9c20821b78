"""A personality's profile as a readable form (grouped), its raw JSON tree, and the backup facts."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from ..archive.browse import PersonalityDetails, field_text, format_ts
from .avatars import initials_icon
from .json_tree_model import JsonTreeModel
from .sections import SECTION_LABELS

__all__ = ["ProfileView", "image_facts", "profile_html", "section_rows"]

IDENTITY = (
    "name",
    "username",
    "tagline",
    "description",
    "search_description",
    "category",
    "tags",
    "language",
    "creator_username",
    "created_ts",
    "updated_ts",
    "id",
)
PROMPTS = (
    "jailbreak",
    "user_prompt",
    "initial_message",
    "error_message",
    "wack_message",
    "sleep_message",
    "engine_custom_instructions",
)
RUN_COLUMNS = ("started", "finished", "status", "new", "edited", "deletedUpstream", "requests", "error")
SECTION_COLUMNS = ("section", "saved", "last sync", "status")
IMAGE_KINDS = ("avatar", "banner")
AMBER = QColor("#fff1c7")
AMBER_TEXT = QColor("#7a4b00")


def server_count_phrase(server_total: int | None, live_at_last_full_walk: int | None) -> str:
    """The facts line's "on the server" part: only a total the service itself reported counts as the
    server's; the last full walk's live count is our own measurement and is labelled as such."""
    if server_total is not None:
        return f"on the server at the last check: {server_total:,}"
    if live_at_last_full_walk is not None:
        return (f"on the server: — (not reported by the service; the last full walk counted "
                f"{live_at_last_full_walk:,} live)")
    return "on the server: — (not reported by the service)"


def section_rows(metadata: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """``sections.<name>`` of the metadata as (label, saved, last sync, status, error) rows, in backup order.

    ``saved`` is the item count of the last success (chat: messages, with those new in the last run); a
    section never backed up is absent."""
    sections = metadata.get("sections")
    if not isinstance(sections, dict):
        return []
    order = list(SECTION_LABELS)
    rows = []
    for name in sorted(sections, key=lambda n: (order.index(n) if n in order else len(order), n)):
        entry = sections[name]
        if not isinstance(entry, dict):
            continue
        count = entry.get("count")
        saved = field_text(count)
        new = entry.get("new")
        if name == "chat" and isinstance(count, int):
            saved = f"{count} messages" + (f" ({new} new)" if isinstance(new, int) and new else "")
        status = str(entry.get("status") or "")
        rows.append((SECTION_LABELS.get(name, name), saved, field_text(entry.get("lastSync")) or "never",
                     status, field_text(entry.get("error")) if status == "failed" else ""))
    return rows


def image_facts(folder: Path, metadata: dict[str, Any]) -> list[tuple[str, Path | None, str]]:
    """(kind, saved file or None, description) for the avatar and the banner, sizes read from the disk."""
    sections = metadata.get("sections")
    images = sections.get("images") if isinstance(sections, dict) else None
    out: list[tuple[str, Path | None, str]] = []
    for kind in IMAGE_KINDS:
        entry = images.get(kind) if isinstance(images, dict) else None
        name = entry.get("file") if isinstance(entry, dict) else None
        path = folder / name if isinstance(name, str) and name else None
        if path is None:
            files = sorted(p for p in folder.glob(f"{kind}.*") if p.is_file())
            path = files[0] if files else None
        if path is None:
            out.append((kind, None, "none saved"))
            continue
        try:
            size = path.stat().st_size
        except OSError:
            out.append((kind, None, f"{path.name} is missing"))
            continue
        kind_text = entry.get("type") if isinstance(entry, dict) else None
        out.append((kind, path, f"{path.name}, {_size_text(size)}" + (f", {kind_text}" if kind_text else "")))
    return out


def _size_text(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _when(key: str, value: Any) -> Any:
    """``*_ts`` fields as a readable date."""
    if key.endswith("_ts") and isinstance(value, int | float) and not isinstance(value, bool):
        return format_ts(float(value))
    return value


def _section(title: str, rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><td style='color:#666;padding-right:12px;vertical-align:top'>{escape(k.replace('_', ' '))}"
        f"</td><td>{escape(field_text(v)).replace(chr(10), '<br>')}</td></tr>"
        for k, v in rows
        if field_text(v) != ""
    )
    return f"<h3>{escape(title)}</h3><table cellspacing='2'>{cells}</table>" if cells else ""


def profile_html(profile: dict[str, Any]) -> str:
    """Identity, prompts, personality fields and engine settings, each as a two-column table."""
    personality = [
        (k.removeprefix("personality_"), v) for k, v in profile.items() if k.startswith("personality_")
    ]
    engine = [
        (k, v)
        for k, v in profile.items()
        if k.startswith(("engine_", "ltm_", "voice_", "image_")) and k not in PROMPTS
    ]
    return "".join(
        (
            _section("Identity", [(k, _when(k, profile.get(k))) for k in IDENTITY if k in profile]),
            _section("Prompts", [(k, profile.get(k)) for k in PROMPTS if k in profile]),
            _section("Personality", personality),
            _section("Engine settings", engine),
        )
    )


class ProfileView(QWidget):
    """Tabs: Profile (form), Raw JSON (lazy tree), Backup (facts and run history)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.avatar = QLabel()
        self.avatar.setFixedSize(72, 72)
        self.title = QLabel()
        self.title.setObjectName("profileTitle")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        head = QHBoxLayout()
        head.addWidget(self.avatar)
        head.addWidget(self.title, 1)
        self.form = QTextBrowser()
        self.form.setObjectName("profileForm")
        self.json_model = JsonTreeModel(self)
        self.json_view = QTreeView()
        self.json_view.setObjectName("profileJson")
        self.json_view.setModel(self.json_model)
        self.json_view.setUniformRowHeights(True)
        self.facts = QLabel()
        self.facts.setObjectName("backupFacts")
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.runs = QTableWidget(0, len(RUN_COLUMNS))
        self.runs.setObjectName("runHistory")
        self.runs.setHorizontalHeaderLabels(
            [c if c != "deletedUpstream" else "deleted upstream" for c in RUN_COLUMNS]
        )
        self.runs.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.sections = QTableWidget(0, len(SECTION_COLUMNS))
        self.sections.setObjectName("sectionFacts")
        self.sections.setHorizontalHeaderLabels(list(SECTION_COLUMNS))
        self.sections.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.sections.verticalHeader().hide()
        self.sections.horizontalHeader().setStretchLastSection(True)
        self.images: dict[str, QLabel] = {}  # "Avatar: avatar.png, 1.2 KB, image/png"
        self.thumbs: dict[str, QLabel] = {}  # the saved picture, scaled down (empty when none)
        pictures = QHBoxLayout()
        for kind in IMAGE_KINDS:
            label, thumb = QLabel(), QLabel()
            label.setObjectName(f"{kind}Facts")
            thumb.setObjectName(f"{kind}Thumb")
            box = QVBoxLayout()
            box.addWidget(label)
            box.addWidget(thumb)
            box.addStretch(1)
            self.images[kind], self.thumbs[kind] = label, thumb
            pictures.addLayout(box)
            pictures.addSpacing(24)
        pictures.addStretch(1)
        backup = QWidget()
        bl = QVBoxLayout(backup)
        bl.addWidget(self.facts)
        bl.addWidget(self.sections)
        bl.addLayout(pictures)
        bl.addWidget(self.runs, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.form, "Profile")
        self.tabs.addTab(self.json_view, "Raw JSON")
        self.tabs.addTab(backup, "Backup")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.tabs, 1)

    def show_details(self, details: PersonalityDetails) -> None:
        st = details.status
        pix = QPixmap(str(details.avatar)) if details.avatar else QPixmap()
        if pix.isNull():
            pix = initials_icon(details.title, 64).pixmap(64, 64)
        self.avatar.setPixmap(
            pix.scaled(64, 64, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        )
        tagline = (details.profile or {}).get("tagline") or ""
        self.title.setText(
            f"<span style='font-size:16pt;font-weight:600'>{escape(details.title)}</span>"
            f"<br><span style='color:#666'>@{escape(st.slug)} · {escape(str(tagline))}</span>"
        )
        if details.profile is not None:
            self.form.setHtml(profile_html(details.profile))
        else:
            self.form.setHtml(f"<p style='color:#b00020'>{escape(details.profile_error)}</p>")
        self.json_model.load(details.profile if details.profile is not None else {})
        server = server_count_phrase(st.server_total, st.live_at_last_full_walk)
        self.facts.setText(
            f"Last successful backup: <b>{escape(st.last_backup or 'never')}</b><br>"
            f"Memories saved: <b>{st.total_memories}</b> · {server} · "
            f"deleted upstream (kept here): {st.deleted_upstream}<br>"
            f"Folder: {escape(str(details.folder))}"
        )
        self._show_sections(details)
        self.runs.setRowCount(len(details.runs))
        for r, run in enumerate(reversed(details.runs)):
            ran = run.get("sections")
            failed = [n for n, s in ran.items() if s != "ok"] if isinstance(ran, dict) else []
            for c, key in enumerate(RUN_COLUMNS):
                text = field_text(run.get(key))
                if key == "status" and failed:  # a partial run: say which sections failed
                    text = f"{text} ({', '.join(failed)} failed)"
                self.runs.setItem(r, c, QTableWidgetItem(text))
        self.runs.resizeColumnsToContents()

    def _show_sections(self, details: PersonalityDetails) -> None:
        """Per section: items saved, last sync and status (a failed one in amber, its error said)."""
        meta = details.status.metadata if isinstance(details.status.metadata, dict) else {}
        rows = section_rows(meta)
        self.sections.setRowCount(len(rows))
        for r, (label, saved, last, status, error) in enumerate(rows):
            cells = (label, saved, last, f"failed: {error}" if status == "failed" and error else status)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if status == "failed":
                    item.setBackground(QBrush(AMBER))
                    item.setForeground(QBrush(AMBER_TEXT))
                    item.setToolTip(f"The last {label.lower()} sync failed: {error or 'unknown error'}. "
                                    "What was saved before is kept.")
                self.sections.setItem(r, c, item)
        self.sections.resizeColumnsToContents()
        self.sections.setFixedHeight(
            self.sections.horizontalHeader().sizeHint().height() + 4
            + sum(self.sections.rowHeight(r) for r in range(len(rows)))
        )
        self.sections.setVisible(bool(rows))
        for kind, path, text in image_facts(details.folder, meta):
            self.images[kind].setText(f"<b>{escape(kind.capitalize())}</b>: {escape(text)}")
            pix = QPixmap(str(path)) if path is not None else QPixmap()
            if pix.isNull():
                self.thumbs[kind].clear()
                self.thumbs[kind].hide()
            else:
                self.thumbs[kind].setPixmap(pix.scaled(
                    200, 64, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
                ))
                self.thumbs[kind].show()
