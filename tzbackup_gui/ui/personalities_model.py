"""The personalities table: one row per personality on the account or in the local archive.

A ``QAbstractTableModel`` over a plain list of :class:`PersonalityRow`; live progress comes from a dict of
:class:`~tzbackup_gui.ui.progress.RowProgress` that the main window shares with the model. Repaints are
coalesced: :meth:`PersonalitiesModel.mark_dirty` collects rows and one timer emits ``dataChanged`` at most
20 times a second, so a run at spacing 0 cannot flood the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
)
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QStyle

from ..app import display_path
from .progress import DONE, RowProgress, done_text, kept_text
from .sections import SECTION_LABELS, failed_sections_from_metadata, section_phrase
from .theme import TEXT_AIM, error_color, flatten, muted_text, readable_on, success_color, warning_color

__all__ = [
    "COLUMNS",
    "PersonalitiesModel",
    "PersonalitiesProxy",
    "PersonalityRow",
    "ProgressRole",
    "SlugRole",
    "SortRole",
    "local_and_utc",
    "merge_rows",
    "partial_text",
    "relative_time",
]

COL_NAME, COL_USERNAME, COL_LAST, COL_MEMORIES, COL_STATUS = range(5)
COLUMNS = ("Personality", "Username", "Last backup", "Memories", "Status")
#: what a header means, on hover
_HEADER_TIPS = {
    COL_LAST: "When the last complete backup finished (your local time)",
    COL_MEMORIES: "Memories stored in your backup / memories shapes.inc reports (— when it has not said)",
}

SortRole = Qt.ItemDataRole.UserRole + 1
ProgressRole = Qt.ItemDataRole.UserRole + 2  # float 0..1, -1.0 indeterminate, None when idle
SlugRole = Qt.ItemDataRole.UserRole + 3
FilterRole = Qt.ItemDataRole.UserRole + 4

_AnyIndex = QModelIndex | QPersistentModelIndex


@dataclass
class PersonalityRow:
    """What the table knows about one personality (account data merged with the local archive)."""

    slug: str
    display_name: str
    shape_id: str = ""
    avatar_url: str = ""
    on_account: bool = True
    folder: Path | None = None
    last_backup: datetime | None = None
    total_memories: int | None = None
    #: the total the service itself reported; ``None`` when it sends none (shown as "—", never our count)
    server_total: int | None = None
    #: live memories counted by the last certified full walk: our measurement, only ever shown labelled
    live_at_last_full_walk: int | None = None
    last_status: str = ""
    pending_resume: bool = False
    #: memories an unfinished walk fetched and kept (in the memory files; the next backup resumes the walk)
    unfinished_fetched: int = 0
    problem: str = ""
    checked: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: sections whose last attempt failed ({name: error}): the memories may be fine, the backup is partial
    failed_sections: dict[str, str] = field(default_factory=dict)

    @property
    def local_only(self) -> bool:
        return not self.on_account

    @property
    def unfinished_first(self) -> bool:
        """A first backup that did not finish: memories are kept, but no backup has completed yet."""
        return self.last_backup is None and (self.pending_resume or self.unfinished_fetched > 0)


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _last_status(last_run: object) -> str:
    """A short text for the status column from the archive's ``last_run`` record."""
    if not isinstance(last_run, dict):
        return ""
    status = str(last_run.get("status", "") or "")
    if status == "ok":  # the same words as a row that just finished: "backed up: 3 new"
        new = last_run.get("new")
        return done_text(f"{new:,} new" if isinstance(new, int) else "")
    if status:
        error = str(last_run.get("error", "") or "")
        return f"last backup {status}" + (f": {error}" if error else "")
    return ""


def merge_rows(remote: list[Any], local: list[Any]) -> list[PersonalityRow]:
    """Account shapes (``ShapeSummary``-like) + local backups (``LocalBackup``-like) -> rows.

    Matching is by shape id first (survives renames), then by slug. Local backups with no match are kept
    as "local only" rows.
    """
    by_id = {getattr(b, "shape_id", "") or "": b for b in local if getattr(b, "shape_id", "")}
    by_slug = {getattr(b, "slug", ""): b for b in local}
    used: set[int] = set()
    rows: list[PersonalityRow] = []
    for shape in remote:
        backup = by_id.get(shape.id) or by_slug.get(shape.username)
        row = PersonalityRow(
            slug=shape.username,
            display_name=shape.name or shape.username,
            shape_id=shape.id,
            avatar_url=shape.avatar or "",
        )
        if backup is not None:
            used.add(id(backup))
            _apply_local(row, backup)
        rows.append(row)
    for backup in local:
        if id(backup) in used:
            continue
        row = PersonalityRow(
            slug=backup.slug,
            display_name=getattr(backup, "display_name", "") or backup.slug,
            shape_id=getattr(backup, "shape_id", "") or "",
            on_account=False,
        )
        _apply_local(row, backup)
        rows.append(row)
    return rows


def _apply_local(row: PersonalityRow, backup: Any) -> None:
    row.folder = Path(backup.folder) if getattr(backup, "folder", None) else None
    row.last_backup = _as_datetime(getattr(backup, "last_backup", None))
    row.total_memories = getattr(backup, "total_memories", None)
    row.server_total = getattr(backup, "server_total", None)
    row.live_at_last_full_walk = getattr(backup, "live_at_last_full_walk", None)
    row.last_status = _last_status(getattr(backup, "last_run", None))
    row.pending_resume = bool(getattr(backup, "pending_resume", False))
    row.unfinished_fetched = int(getattr(backup, "unfinished_fetched", 0) or 0)
    row.problem = str(getattr(backup, "problem", "") or "")
    row.failed_sections = failed_sections_from_metadata(getattr(backup, "metadata", None))


def partial_text(base: str, failed: dict[str, str]) -> str:
    """A status with the failed sections said: "backed up (3 new) · knowledge failed"."""
    if not failed:
        return base
    return f"{base or DONE} · {section_phrase(sorted(failed, key=_section_order))} failed"


def _section_order(name: str) -> int:
    order = list(SECTION_LABELS)
    return order.index(name) if name in order else len(order)


def local_and_utc(when: datetime, prefix: str = "") -> str:
    """ "2026-12-06 04:49 (CET; 03:49 UTC)": the local time a person reads, the UTC one for a bug report."""
    local = when.astimezone()
    utc = when.astimezone(UTC)
    if local.utcoffset() == utc.utcoffset():  # the computer keeps UTC: once is enough
        return f"{prefix}{utc:%Y-%m-%d %H:%M} UTC"
    same_day = local.date() == utc.date()
    return (f"{prefix}{local:%Y-%m-%d %H:%M} ({local.tzname() or 'local time'}; "
            f"{utc:%H:%M} UTC" + ("" if same_day else f" on {utc:%Y-%m-%d}") + ")")


def relative_time(when: datetime | None, now: datetime | None = None) -> str:
    """ "never", "just now", "3 min ago", "2 h ago", "yesterday", "5 days ago", or a date."""
    if when is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (now - when).total_seconds()
    if seconds < 45:
        return "just now"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours = round(seconds / 3600)
    if hours < 24:
        return f"{hours} h ago"
    days = round(seconds / 86400)
    if days == 1:
        return "yesterday"
    if days < 30:
        return f"{days} days ago"
    return when.astimezone().strftime("%Y-%m-%d")


class PersonalitiesModel(QAbstractTableModel):
    """Rows of :class:`PersonalityRow`; checkable first column; live progress in the status column."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[PersonalityRow] = []
        self._index: dict[str, int] = {}
        self.progress: dict[str, RowProgress] = {}
        self._avatars: dict[str, QIcon] = {}
        self._placeholder = QIcon()
        self._dirty: set[str] = set()
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(50)  # <= 20 repaints a second
        self._flush_timer.timeout.connect(self.flush)
        self.repaints = 0  # dataChanged bursts emitted (the benchmark and tests read it)

    # --- Qt model interface ---------------------------------------------------------------------------

    def rowCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        if horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return _HEADER_TIPS.get(section)
        return None

    def flags(self, index: _AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == COL_NAME and self._rows[index.row()].on_account:
            base |= Qt.ItemFlag.ItemIsUserCheckable
        return base

    def data(self, index: _AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.CheckStateRole and col == COL_NAME and row.on_account:
            return Qt.CheckState.Checked if row.checked else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.DecorationRole and col == COL_NAME:
            return self._avatars.get(row.slug, self._placeholder)
        if role == Qt.ItemDataRole.DecorationRole and col == COL_STATUS and self._partial(row):
            return _warning_icon()
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, col)
        if role == Qt.ItemDataRole.ForegroundRole and col == COL_STATUS:
            return self._status_color(row) or (_muted() if row.local_only else None)
        if role == Qt.ItemDataRole.ForegroundRole and (row.local_only or col == COL_USERNAME):
            return _muted()
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COL_MEMORIES:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == SortRole:
            return self._sort_key(row, col)
        if role == ProgressRole and col == COL_STATUS:
            return self._progress_value(row)
        if role == SlugRole:
            return row.slug
        if role == FilterRole:
            return f"{row.display_name} {row.slug}"
        return None

    def setData(self, index: _AnyIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or index.column() != COL_NAME or not index.isValid():
            return False
        row = self._rows[index.row()]
        if not row.on_account:
            return False
        state = value.value if isinstance(value, Qt.CheckState) else value
        row.checked = state == Qt.CheckState.Checked.value
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        return True

    # --- our API ------------------------------------------------------------------------------------

    def set_rows(self, rows: list[PersonalityRow]) -> None:
        """Replace all rows, keeping each slug's check mark and avatar."""
        checked = {r.slug for r in self._rows if r.checked}
        for row in rows:
            row.checked = row.checked or (row.slug in checked and row.on_account)
        self.beginResetModel()
        self._rows = list(rows)
        self._index = {r.slug: i for i, r in enumerate(self._rows)}
        self.endResetModel()

    def rows(self) -> list[PersonalityRow]:
        return list(self._rows)

    def row_for(self, slug: str) -> PersonalityRow | None:
        i = self._index.get(slug)
        return None if i is None else self._rows[i]

    def checked_slugs(self) -> list[str]:
        return [r.slug for r in self._rows if r.checked and r.on_account]

    def owned_slugs(self) -> list[str]:
        return [r.slug for r in self._rows if r.on_account]

    def set_checked(self, slugs: set[str] | None) -> None:
        """Check exactly ``slugs`` (``None`` = every row on the account)."""
        for r in self._rows:
            r.checked = r.on_account and (slugs is None or r.slug in slugs)
        if self._rows:
            self.dataChanged.emit(
                self.index(0, COL_NAME),
                self.index(len(self._rows) - 1, COL_NAME),
                [Qt.ItemDataRole.CheckStateRole],
            )

    def set_avatar(self, slug: str, icon: QIcon) -> None:
        self._avatars[slug] = icon
        i = self._index.get(slug)
        if i is not None:
            idx = self.index(i, COL_NAME)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])

    def set_placeholder_icon(self, icon: QIcon) -> None:
        self._placeholder = icon

    def update_row(self, slug: str, **changes: Any) -> None:
        """Change fields of one row (e.g. after a run: last backup, counts) and repaint it."""
        row = self.row_for(slug)
        if row is None:
            return
        for key, value in changes.items():
            setattr(row, key, value)
        self.mark_dirty({slug})

    def mark_dirty(self, slugs: set[str]) -> None:
        """Schedule a repaint of these rows (coalesced)."""
        self._dirty |= slugs
        if self._dirty and not self._flush_timer.isActive():
            self._flush_timer.start()

    def flush(self) -> None:
        """Emit one ``dataChanged`` covering the dirty rows."""
        rows = [self._index[s] for s in self._dirty if s in self._index]
        self._dirty.clear()
        if not rows:
            return
        self.repaints += 1
        self.dataChanged.emit(self.index(min(rows), 0), self.index(max(rows), len(COLUMNS) - 1))

    def palette_changed(self) -> None:
        """The palette changed (dark mode switched): repaint every row in the new colours."""
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(COLUMNS) - 1))

    def refresh_times(self) -> None:
        """Relative times age: repaint the last-backup column."""
        if self._rows:
            self.dataChanged.emit(self.index(0, COL_LAST), self.index(len(self._rows) - 1, COL_LAST))

    # --- helpers ------------------------------------------------------------------------------------

    def _display(self, row: PersonalityRow, col: int) -> str:
        if col == COL_NAME:
            return row.display_name + ("  (local only)" if row.local_only else "")
        if col == COL_USERNAME:
            return row.slug
        if col == COL_LAST:
            return "unfinished" if row.unfinished_first else relative_time(row.last_backup)
        if col == COL_MEMORIES:
            return self._memories_text(row)
        if col == COL_STATUS:
            progress = self.progress.get(row.slug)
            if progress is not None and progress.state != "idle":
                if progress.state == "done" and row.failed_sections:
                    return partial_text(progress.text, row.failed_sections)
                return progress.text
            if row.problem:
                return f"problem: {row.problem}"
            if row.local_only:
                return "local only: no longer on your account"
            if row.pending_resume:
                # the metadata's total is the last complete backup's: "of N" only when it still fits
                total = row.server_total if (row.server_total or 0) >= row.unfinished_fetched else None
                return kept_text(row.unfinished_fetched, total) or "interrupted — resumes next time"
            if row.failed_sections:
                return partial_text(row.last_status, row.failed_sections)
            return row.last_status or ("not backed up yet" if row.last_backup is None else "")
        return ""

    def _partial(self, row: PersonalityRow) -> bool:
        """The row is shown as a partial backup: some sections failed (and the row is not busy/failed)."""
        if not row.failed_sections or row.problem or row.pending_resume:
            return False
        progress = self.progress.get(row.slug)
        return progress is None or progress.state in ("idle", "done")

    def _memory_counts(self, row: PersonalityRow) -> tuple[int | None, int | None]:
        """(stored, on the server): live while a run syncs this row, else from the archive. "On the server"
        is only ever what the service said: a finished run's ``expected`` falls back to the local count, so
        once done the row's own server total is used."""
        progress = self.progress.get(row.slug)
        live = progress is not None and (progress.busy or progress.state == "done")
        if progress is not None and live and progress.stored is not None:
            reported = progress.expected if progress.busy else None
            server = reported if reported is not None else row.server_total
            return progress.stored, server
        unfinished = progress is not None and progress.state in ("failed", "cancelled")
        if unfinished and progress is not None and progress.expected is not None:
            # what the service said in this unfinished run: fresher than the last complete backup's total
            return row.total_memories, progress.expected
        return row.total_memories, row.server_total

    def _memories_text(self, row: PersonalityRow) -> str:
        stored, server = self._memory_counts(row)
        if stored is None and server is None:
            return "—"
        stored_text = "—" if stored is None else f"{stored:,}"
        if row.local_only:
            return stored_text
        return f"{stored_text} / {'—' if server is None else f'{server:,}'}"

    def _tooltip(self, row: PersonalityRow, col: int) -> str | None:
        if col == COL_LAST:
            kept = (f"{row.unfinished_fetched:,} memories fetched so far are kept"
                    if row.unfinished_fetched else "What it fetched is kept")
            if row.unfinished_first:
                return f"The first backup has not finished yet. {kept}; the next backup resumes it."
            if row.last_backup is None:
                return "Never backed up"
            when = local_and_utc(row.last_backup, "Last complete backup: ")
            if row.pending_resume:
                when += f"\nA later backup did not finish. {kept}; the next backup resumes it."
            return when
        if col == COL_NAME:
            where = display_path(row.folder) if row.folder else "no local backup yet"
            extra = "\nNo longer on your account (kept from an earlier backup)" if row.local_only else ""
            return f"{row.display_name} (@{row.slug})\n{where}{extra}\nDouble-click to open the backup"
        if col == COL_STATUS:
            progress = self.progress.get(row.slug)
            if progress is not None and (progress.hint or progress.detail):
                return "\n".join(part for part in (progress.text, progress.detail, progress.hint) if part)
            if self._partial(row):
                lines = [f"{SECTION_LABELS.get(n, n)} failed: {e}" for n, e in row.failed_sections.items()]
                return "\n".join(
                    [self._display(row, col), *lines,
                     "The other sections were saved; the next backup tries the failed ones again."]
                )
            return self._display(row, col) or None
        if col == COL_MEMORIES:
            progress = self.progress.get(row.slug)
            if progress is not None and progress.busy and progress.stored is not None:
                return "Memories the backup will hold when this run is saved / memories the service reports"
            text = "Memories stored in the local backup / memories the service reports"
            if self._memory_counts(row)[1] is None and not row.local_only:
                text += "\nThe service does not report a total for this personality"
                if row.live_at_last_full_walk is not None:
                    text += (f"; the last full walk counted {row.live_at_last_full_walk:,} live memories "
                             "(our count, not the service's)")
            return text
        return None

    def _status_color(self, row: PersonalityRow) -> QColor | None:
        """Green done, amber kept-but-unfinished, red failed: hues from ``theme``, made readable on the
        table's rows (both the base and the alternate colour) in the current palette."""
        if self._partial(row):
            return _row_color(warning_color)  # amber: saved, but not everything
        progress = self.progress.get(row.slug)
        if progress is None or progress.state == "idle":
            if row.problem:
                return _row_color(error_color)
            return _row_color(warning_color) if row.pending_resume else None
        if progress.state == "failed":
            return _row_color(error_color)
        if progress.state == "done":
            return _row_color(success_color)
        if progress.state == "cancelled":
            return _row_color(warning_color)  # amber: kept, not finished
        if progress.state == "not_started":
            return _muted()
        return None

    def _sort_key(self, row: PersonalityRow, col: int) -> Any:
        if col == COL_NAME:
            return row.display_name.casefold()
        if col == COL_USERNAME:
            return row.slug.casefold()
        if col == COL_LAST:
            return row.last_backup.timestamp() if row.last_backup else 0.0
        if col == COL_MEMORIES:
            return self._memory_counts(row)[0] or 0
        return self._display(row, col)

    def _progress_value(self, row: PersonalityRow) -> float | None:
        progress = self.progress.get(row.slug)
        if progress is None or not progress.busy:
            return None  # a finished row shows its outcome as (coloured) text, not a full bar
        fraction = progress.fraction()
        return -1.0 if fraction is None else fraction


def _row_backgrounds() -> tuple[QColor, QColor]:
    palette = QApplication.palette()
    return palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.AlternateBase)


def _row_color(semantic: Callable[[QPalette, QColor | None], QColor]) -> QColor:
    """A semantic colour (``theme.success_color``...) readable on both row colours of the table."""
    base, alternate = _row_backgrounds()
    return readable_on(semantic(QApplication.palette(), base), base, alternate, minimum=TEXT_AIM)


def _muted() -> QColor:
    """Secondary text (usernames, rows no longer on the account): quieter than the text, still readable
    (the palette's disabled text is not meant to be read, and is grey on grey in dark themes)."""
    base, alternate = _row_backgrounds()
    muted = flatten(muted_text(QApplication.palette(), base), base)
    return readable_on(muted, base, alternate, minimum=TEXT_AIM)


_WARNING: QIcon | None = None


def _warning_icon() -> QIcon:
    """The style's warning icon (made once, on first use: a QApplication exists by then)."""
    global _WARNING
    if _WARNING is None:
        _WARNING = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
    return _WARNING


class PersonalitiesProxy(QSortFilterProxyModel):
    """Sorting by :data:`SortRole` and a case-insensitive text filter over name and username."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SortRole)
        self.setFilterRole(FilterRole)
        self.setFilterKeyColumn(COL_NAME)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
