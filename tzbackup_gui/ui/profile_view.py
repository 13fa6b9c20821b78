"""A personality's profile as a readable form (grouped), its raw JSON tree, and the backup facts."""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
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

__all__ = ["ProfileView", "profile_html"]

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
        backup = QWidget()
        bl = QVBoxLayout(backup)
        bl.addWidget(self.facts)
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
        server = "unknown" if st.server_total is None else str(st.server_total)
        self.facts.setText(
            f"Last successful backup: <b>{escape(st.last_backup or 'never')}</b><br>"
            f"Memories saved: <b>{st.total_memories}</b> · on the server at the last check: {server} · "
            f"deleted upstream (kept here): {st.deleted_upstream}<br>"
            f"Folder: {escape(str(details.folder))}"
        )
        self.runs.setRowCount(len(details.runs))
        for r, run in enumerate(reversed(details.runs)):
            for c, key in enumerate(RUN_COLUMNS):
                self.runs.setItem(r, c, QTableWidgetItem(field_text(run.get(key))))
        self.runs.resizeColumnsToContents()
