"""A personality's profile as a readable form (grouped, in people's words), its knowledge entries, its raw
JSON tree, and the backup facts (times local, UTC in tooltips). Colours come from the palette."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QGuiApplication, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from ..archive.browse import PersonalityDetails, field_text, format_iso_local, format_ts, format_utc
from ..archive.export import load_knowledge
from ..model.words import plural
from .avatars import initials_icon
from .browser_widgets import secondary_text
from .json_tree_model import JsonTreeModel
from .sections import SECTION_LABELS
from .theme import banner_colors, error_color

__all__ = [
    "ProfileView",
    "field_label",
    "hidpi_scaled",
    "image_facts",
    "knowledge_html",
    "profile_html",
    "section_rows",
]

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
RUN_HEADERS = ("Started", "Finished", "Status", "New", "Edited", "Deleted upstream", "Requests", "Error")
SECTION_COLUMNS = ("Section", "Saved", "Last sync", "Status")
IMAGE_KINDS = ("avatar", "banner")
AVATAR_SIDE = 64  # logical pixels; drawn at the screen's device pixel ratio

#: what a profile field is called on screen (anything else: its name in words, see :func:`field_label`)
FIELD_LABELS = {
    "id": "Shape id",
    "creator_username": "Creator",
    "created_ts": "Created",
    "updated_ts": "Last updated",
    "search_description": "Search description",
    "jailbreak": "System prompt (jailbreak)",
    "user_prompt": "User prompt",
    "initial_message": "First message",
    "error_message": "Error message",
    "wack_message": "Confused-reply message",
    "sleep_message": "Sleep message",
    "engine_custom_instructions": "Custom instructions",
}
_PREFIXES = (("personality_", ""), ("engine_", ""), ("ltm_", "Long-term memory: "), ("voice_", "Voice: "),
             ("image_", "Image: "))
_WORDS = {"ltm": "long-term memory", "stm": "short-term memory", "tts": "text to speech", "url": "URL",
          "api": "API", "id": "id", "nsfw": "NSFW", "p": "p", "k": "k"}


def field_label(key: str) -> str:
    """A profile field as people read it: ``created_ts`` → "Created", ``engine_top_p`` → "Top p",
    ``personality_likes`` → "Likes", ``ltm_enabled`` → "Long-term memory: enabled"."""
    if key in FIELD_LABELS:
        return FIELD_LABELS[key]
    head, rest = "", key
    for prefix, label in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            head, rest = label, key[len(prefix):]
            break
    words = [w for w in rest.split("_") if w]
    if len(words) > 1 and words[-1] == "ts":  # a time: "last_trained_ts" → "Last trained"
        words = words[:-1]
    text = " ".join(_WORDS.get(w, w) for w in words) or key
    return head + text if head else text[:1].upper() + text[1:]


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
            saved = plural(count, "message") + (f" ({new:,} new)" if isinstance(new, int) and new else "")
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
    """``*_ts`` fields as a readable local date."""
    if key.endswith("_ts") and isinstance(value, int | float) and not isinstance(value, bool):
        return format_ts(float(value))
    return value


def _label_color(palette: QPalette | None) -> str:
    palette = palette or QGuiApplication.palette()
    return secondary_text(palette, palette.color(QPalette.ColorRole.Base)).name()


def _section(title: str, rows: list[tuple[str, Any]], muted: str) -> str:
    cells = "".join(
        f"<tr><td style='color:{muted};padding-right:12px;vertical-align:top'>{escape(field_label(k))}"
        f"</td><td>{escape(field_text(v)).replace(chr(10), '<br>')}</td></tr>"
        for k, v in rows
        if field_text(v) != ""
    )
    return f"<h3>{escape(title)}</h3><table cellspacing='2'>{cells}</table>" if cells else ""


def profile_html(profile: dict[str, Any], palette: QPalette | None = None) -> str:
    """Identity, prompts, personality fields and engine settings, each as a two-column table with the
    fields' names in people's words, in a muted colour readable on the palette's base."""
    muted = _label_color(palette)
    personality = [(k, v) for k, v in profile.items() if k.startswith("personality_")]
    engine = [
        (k, v)
        for k, v in profile.items()
        if k.startswith(("engine_", "ltm_", "voice_", "image_")) and k not in PROMPTS
    ]
    return "".join(
        (
            _section("Identity", [(k, _when(k, profile.get(k))) for k in IDENTITY if k in profile], muted),
            _section("Prompts", [(k, profile.get(k)) for k in PROMPTS if k in profile], muted),
            _section("Personality", personality, muted),
            _section("Engine settings", engine, muted),
        )
    )


def knowledge_html(entries: list[dict[str, Any]], palette: QPalette | None = None, chosen: int = -1) -> str:
    """Knowledge entries, each under an anchor ``k<position>``; entry ``chosen`` stands out (opened from a
    search result)."""
    palette = palette or QGuiApplication.palette()
    muted = _label_color(palette)
    mark, mark_text = banner_colors(palette, "info")
    parts = []
    for n, entry in enumerate(entries):
        title = field_text(entry.get("title")).strip() or f"Entry {n + 1}"
        kind = field_text(entry.get("story_type")).strip()
        body = escape(field_text(entry.get("content"))).replace("\n", "<br>")
        style = f" style='background:{mark.name()};color:{mark_text.name()}'" if n == chosen else ""
        parts.append(
            f"<a name='k{n}'></a><table width='100%' cellpadding='4'{style}><tr><td>"
            f"<b>{escape(title)}</b>" + (f" <span style='color:{muted}'>({escape(kind)})</span>"
                                         if kind and n != chosen else f" ({escape(kind)})" if kind else "")
            + f"<br>{body}</td></tr></table>"
        )
    return "".join(parts)


class ProfileView(QWidget):
    """Tabs: Profile (form), Knowledge (entries), Raw JSON (lazy tree), Backup (facts and run history)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.details: PersonalityDetails | None = None
        self.knowledge: list[dict[str, Any]] = []
        self.knowledge_problem = ""
        self.chosen_entry = -1
        self.avatar = QLabel()
        self.avatar.setObjectName("profileAvatar")
        self.avatar.setFixedSize(AVATAR_SIDE + 8, AVATAR_SIDE + 8)
        self.title = QLabel()
        self.title.setObjectName("profileTitle")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(self.avatar)
        head.addWidget(self.title, 1)
        self.form = QTextBrowser()
        self.form.setObjectName("profileForm")
        self.form.setAccessibleName("Profile")
        self.form.setTabChangesFocus(True)
        self.knowledge_view = QTextBrowser()
        self.knowledge_view.setObjectName("knowledgeView")
        self.knowledge_view.setAccessibleName("Knowledge entries")
        self.knowledge_view.setOpenLinks(False)
        self.knowledge_view.setTabChangesFocus(True)
        self.json_model = JsonTreeModel(self)
        self.json_view = QTreeView()
        self.json_view.setObjectName("profileJson")
        self.json_view.setAccessibleName("Profile as JSON")
        self.json_view.setModel(self.json_model)
        self.json_view.setUniformRowHeights(True)
        self.facts = QLabel()
        self.facts.setObjectName("backupFacts")
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.runs = QTableWidget(0, len(RUN_COLUMNS))
        self.runs.setObjectName("runHistory")
        self.runs.setAccessibleName("Backup runs")
        self.runs.setHorizontalHeaderLabels(list(RUN_HEADERS))
        self.runs.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.runs.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.runs.setTabKeyNavigation(False)
        self.runs.verticalHeader().hide()
        self.sections = QTableWidget(0, len(SECTION_COLUMNS))
        self.sections.setObjectName("sectionFacts")
        self.sections.setAccessibleName("Sections saved")
        self.sections.setHorizontalHeaderLabels(list(SECTION_COLUMNS))
        self.sections.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.sections.setTabKeyNavigation(False)
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
        self.runs.setMinimumHeight(120)
        bl.addWidget(self.runs, 1)
        backup_scroll = QScrollArea()  # a small window scrolls the facts rather than growing past the screen
        backup_scroll.setObjectName("backupScroll")
        backup_scroll.setWidgetResizable(True)
        backup_scroll.setFrameShape(QFrame.Shape.NoFrame)
        backup_scroll.setWidget(backup)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("profileTabs")
        self.tabs.addTab(self.form, "Profile")
        self.tabs.addTab(self.knowledge_view, "Knowledge")
        self.tabs.addTab(self.json_view, "Raw JSON")
        self.tabs.addTab(backup_scroll, "Backup")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.tabs, 1)
        self._empty("Select a personality to see its profile.")

    def _colors(self, widget: QWidget) -> tuple[str, str]:
        """(muted, error) text colours readable on ``widget``'s background."""
        palette = widget.palette()
        role = QPalette.ColorRole.Base if isinstance(widget, QTextBrowser) else QPalette.ColorRole.Window
        background = palette.color(role)
        return secondary_text(palette, background).name(), error_color(palette, background).name()

    def _empty(self, message: str) -> None:
        muted, _error = self._colors(self.form)
        self.form.setHtml(f"<p style='color:{muted}'>{escape(message)}</p>")
        self.knowledge_view.setHtml(f"<p style='color:{muted}'>{escape(message)}</p>")

    def show_details(self, details: PersonalityDetails) -> None:
        changed = details is not self.details
        self.details = details
        st = details.status
        self._show_avatar(details)
        tagline = (details.profile or {}).get("tagline") or ""
        muted, _error = self._colors(self.title)
        self.title.setText(
            f"<span style='font-size:16pt;font-weight:600'>{escape(details.title)}</span>"
            f"<br><span style='color:{muted}'>@{escape(st.slug)}"
            + (f" · {escape(str(tagline))}" if tagline else "") + "</span>"
        )
        if details.profile is not None:
            self.form.setHtml(profile_html(details.profile, self.form.palette()))
        else:
            _m, form_error = self._colors(self.form)
            self.form.setHtml(f"<p style='color:{form_error}'>{escape(details.profile_error)}</p>")
        if changed:
            self.knowledge, self.knowledge_problem = load_knowledge(details.folder)
            self.chosen_entry = -1
        self._show_knowledge()
        self.json_model.load(details.profile if details.profile is not None else {})
        server = server_count_phrase(st.server_total, st.live_at_last_full_walk)
        last = format_iso_local(st.last_backup) if st.last_backup else "never"
        self.facts.setText(
            f"Last successful backup: <b>{escape(last)}</b><br>"
            f"Memories saved: <b>{st.total_memories:,}</b> · {server} · "
            f"deleted upstream (kept here): {st.deleted_upstream:,}<br>"
            f"Folder: {escape(str(details.folder))}"
        )
        utc = format_utc(st.last_backup) if st.last_backup else ""
        self.facts.setToolTip(f"Last successful backup: {utc}" if utc else "")
        self._show_sections(details)
        self._show_runs(details)

    def _show_avatar(self, details: PersonalityDetails) -> None:
        """The saved picture (or initials), scaled from the full picture at the screen's pixel ratio, so it
        is sharp on a HiDPI screen rather than a 64-pixel picture blown up."""
        ratio = self.avatar.devicePixelRatioF()
        pix = QPixmap(str(details.avatar)) if details.avatar else QPixmap()
        if pix.isNull():
            pix = initials_icon(details.title, AVATAR_SIDE).pixmap(QSize(AVATAR_SIDE, AVATAR_SIDE), ratio)
        self.avatar.setPixmap(hidpi_scaled(pix, AVATAR_SIDE, AVATAR_SIDE, ratio))

    def _show_knowledge(self) -> None:
        muted, error = self._colors(self.knowledge_view)
        if self.knowledge:
            self.knowledge_view.setHtml(knowledge_html(self.knowledge, self.knowledge_view.palette(),
                                                       self.chosen_entry))
            self.tabs.setTabText(1, f"Knowledge ({len(self.knowledge):,})")
            return
        self.tabs.setTabText(1, "Knowledge")
        if self.knowledge_problem:
            self.knowledge_view.setHtml(f"<p style='color:{error}'>{escape(self.knowledge_problem)}</p>")
            return
        meta = self.details.status.metadata if self.details is not None else {}
        sections = meta.get("sections") if isinstance(meta, dict) else None
        recorded = isinstance(sections, dict) and isinstance(sections.get("knowledge"), dict)
        reason = ("The service had no knowledge entries for this personality at the last backup."
                  if recorded else "The knowledge section was not chosen in the backups made so far "
                  "(Settings → Sections, or tzbackup backup --sections).")
        self.knowledge_view.setHtml(f"<h3>No knowledge entries saved</h3><p style='color:{muted}'>"
                                    f"{escape(reason)}</p>")

    def show_knowledge_entry(self, position: int) -> bool:
        """The Knowledge tab with entry ``position`` marked and scrolled to (opened from a search result)."""
        self.tabs.setCurrentWidget(self.knowledge_view)
        if not 0 <= position < len(self.knowledge):
            return False
        self.chosen_entry = position
        self._show_knowledge()
        self.knowledge_view.scrollToAnchor(f"k{position}")
        return True

    def _show_runs(self, details: PersonalityDetails) -> None:
        """Newest run first; times local (UTC in the tooltip)."""
        self.runs.setRowCount(len(details.runs))
        for r, run in enumerate(reversed(details.runs)):
            ran = run.get("sections")
            failed = [n for n, s in ran.items() if s != "ok"] if isinstance(ran, dict) else []
            for c, key in enumerate(RUN_COLUMNS):
                value = run.get(key)
                text = field_text(value)
                item = QTableWidgetItem()
                if key in ("started", "finished") and isinstance(value, str):
                    text = format_iso_local(value, seconds=True)
                    item.setToolTip(format_utc(value))
                elif key == "status" and failed:  # a partial run: say which sections failed
                    text = f"{text} ({', '.join(failed)} failed)"
                item.setText(text)
                self.runs.setItem(r, c, item)
        self.runs.resizeColumnsToContents()

    def _show_sections(self, details: PersonalityDetails) -> None:
        """Per section: items saved, last sync and status (a failed one in the warning colours, its error
        said)."""
        meta = details.status.metadata if isinstance(details.status.metadata, dict) else {}
        rows = section_rows(meta)
        self.sections.setRowCount(len(rows))
        warn_back, warn_text = self.warning_colors()
        for r, (label, saved, last, status, error) in enumerate(rows):
            cells = (label, saved, format_iso_local(last) if last != "never" else last,
                     f"failed: {error}" if status == "failed" and error else status)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 2 and last != "never":
                    item.setToolTip(format_utc(last))
                if status == "failed":
                    item.setBackground(QBrush(warn_back))
                    item.setForeground(QBrush(warn_text))
                    item.setToolTip(f"The last {label.lower()} sync failed: {error or 'unknown error'}. "
                                    "What was saved before is kept.")
                self.sections.setItem(r, c, item)
        self.sections.resizeColumnsToContents()
        self.sections.setFixedHeight(
            self.sections.horizontalHeader().sizeHint().height() + 4
            + sum(self.sections.rowHeight(r) for r in range(len(rows)))
        )
        self.sections.setVisible(bool(rows))
        ratio = self.devicePixelRatioF()
        for kind, path, text in image_facts(details.folder, meta):
            self.images[kind].setText(f"<b>{escape(kind.capitalize())}</b>: {escape(text)}")
            pix = QPixmap(str(path)) if path is not None else QPixmap()
            if pix.isNull():
                self.thumbs[kind].clear()
                self.thumbs[kind].hide()
            else:
                self.thumbs[kind].setPixmap(hidpi_scaled(pix, 200, 64, ratio))
                self.thumbs[kind].show()

    def warning_colors(self) -> tuple[Any, Any]:
        """(background, text) of a failed section's row: the palette's warning banner colours."""
        return banner_colors(self.sections.palette(), "warning")


def hidpi_scaled(pix: QPixmap, width: int, height: int, ratio: float) -> QPixmap:
    """``pix`` fitted into ``width`` × ``height`` logical pixels at the device pixel ratio ``ratio``."""
    scaled = pix.scaled(
        max(1, round(width * ratio)),
        max(1, round(height * ratio)),
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
    scaled.setDevicePixelRatio(ratio)
    return scaled
