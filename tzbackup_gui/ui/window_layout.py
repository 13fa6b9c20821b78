"""The main window's widgets, as the eye reads them: banners, account bar, filter and tools, the table over
the log, the progress line and the Back Up buttons; their tab order, colours and column widths.

Nothing here acts: the layers above connect the widgets to what they do (``window_status``, ``window_rows``,
``window_menus``, ``main_window``), so a change of layout touches this file only.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QPainter, QPaintEvent, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from ..app import AppContext, display_path
from .avatars import AVATAR_SIZE, AvatarCache
from .export_dialog import ExportImport
from .log_pane import LogPane, PaneHandler
from .notifier import Notifier
from .personalities_model import (
    COL_LAST,
    COL_MEMORIES,
    COL_NAME,
    COL_STATUS,
    COL_USERNAME,
    PersonalitiesModel,
    PersonalitiesProxy,
)
from .progress import RunTracker
from .progress_delegate import ProgressDelegate
from .run_controller import RunController
from .scheduler import BackupScheduler
from .settings_dialog import SettingsDialog
from .sign_in_dialog import SignInDialog
from .theme import (
    TEXT_AIM,
    banner_colors,
    banner_sheet,
    css,
    error_color,
    placeholder_color,
    readable,
    warning_fill,
)
from .tray import Tray

__all__ = ["ElidedLabel", "LogSplitter", "WindowLayout"]

#: the margin Qt's item views leave on each side of a cell's text (used to size columns for their widest text)
_CELL_MARGIN = 4


class WindowLayout(QMainWindow):
    """The widgets of the main window. The state below is set up by :class:`MainWindow` before the widgets
    are built; it is declared here so every layer of the window can read it."""

    ctx: AppContext
    settings: QSettings
    notifier: Notifier
    open_folder: Callable[[Path], None]
    model: PersonalitiesModel
    proxy: PersonalitiesProxy
    runs: RunController
    tracker: RunTracker
    avatars: AvatarCache
    files: ExportImport
    scheduler: BackupScheduler
    tray: Tray | None
    sign_in_dialog: SignInDialog | None
    settings_dialog: SettingsDialog | None
    message_box: QMessageBox | None
    last_row_menu: QMenu | None
    help_viewer: Any
    browser: Any
    data_dir_problem: str
    in_tray: bool
    _quitting: bool
    _schedule_paused: bool
    _avatar_task: asyncio.Task[None] | None
    _refresh_task: asyncio.Task[None] | None
    _count_task: asyncio.Task[None] | None
    _resume_sign_in_task: asyncio.Task[None] | None
    _counted: dict[str, int]
    _restore_checked: set[str] | None
    _remote: list[Any]
    _account_ready: bool
    _log_handler: PaneHandler
    # the menus' actions (``window_menus``); the buttons' state is kept in step with them
    sign_in_action: QAction
    sign_out_action: QAction
    back_up_selected_action: QAction
    back_up_all_action: QAction
    cancel_action: QAction
    count_action: QAction
    open_backup_action: QAction
    browse_row_action: QAction
    export_menu: QMenu

    def _build_ui(self) -> None:
        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(10, 8, 10, 6)

        self.demo_banner: QLabel | None = None
        if self.ctx.config.demo:
            banner = QLabel(
                "Demo mode: a local sandbox with made-up personalities. Nothing is sent to shapes.inc "
                "and nothing is stored in your keyring.",
            )
            banner.setObjectName("demoBanner")
            banner.setWordWrap(True)
            outer.addWidget(banner)
            self.demo_banner = banner
        outer.addWidget(self._data_dir_banner())

        account = QHBoxLayout()
        self.account_label = QLabel()
        self.account_label.setObjectName("accountLabel")
        self.account_label.setTextFormat(Qt.TextFormat.RichText)
        self.account_label.setWordWrap(True)  # a narrow window wraps it instead of growing sideways
        self.sign_in_button = QPushButton("Sign &In…")
        self.sign_in_button.setObjectName("signInButton")
        self.sign_out_button = QPushButton("Sign &Out")
        self.sign_out_button.setObjectName("signOutButton")
        account.addWidget(self.account_label, 1)
        account.addWidget(self.sign_in_button)
        account.addWidget(self.sign_out_button)
        outer.addLayout(account)

        tools = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("filterEdit")
        self.filter_edit.setPlaceholderText("Filter by name or username  (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setAccessibleName("Filter personalities")
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.select_all_button = QPushButton("Select &All")
        self.select_all_button.setObjectName("selectAllButton")
        self.select_all_button.clicked.connect(lambda: self.model.set_checked(None))
        self.select_none_button = QPushButton("Select &None")
        self.select_none_button.setObjectName("selectNoneButton")
        self.select_none_button.clicked.connect(lambda: self.model.set_checked(set()))
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setObjectName("refreshButton")
        self.refresh_button.setToolTip("Reload the list from shapes.inc and the local backups (F5)")
        self.select_all_button.setToolTip("Tick every personality on your account (Ctrl+Shift+A)")
        self.select_none_button.setToolTip("Untick all (Ctrl+Shift+N)")
        tools.addWidget(self.filter_edit, 1)
        tools.addWidget(self.select_all_button)
        tools.addWidget(self.select_none_button)
        tools.addWidget(self.refresh_button)
        outer.addLayout(tools)

        self.table = QTableView()
        self.table.setObjectName("personalitiesTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL_NAME, Qt.SortOrder.AscendingOrder)
        # one selection story: the ticks are what Back Up Selected and Export act on; the highlighted row is
        # only the keyboard cursor (a single row, which the row menu and Return act on)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table; the arrows move inside it
        self.table.setAccessibleName("Personalities")
        self.table.setAccessibleDescription(
            "Space ticks a row for Back Up Selected; Return browses its backup; the Menu key lists more"
        )
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setIconSize(QSize(AVATAR_SIZE, AVATAR_SIZE))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(AVATAR_SIZE + 6)
        self.table.setItemDelegateForColumn(COL_STATUS, ProgressDelegate(self.table))
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.installEventFilter(self)
        self.table.viewport().installEventFilter(self)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setHighlightSections(False)
        header.setMinimumSectionSize(36)
        header.setTextElideMode(Qt.TextElideMode.ElideRight)
        self._fit_timer = QTimer(self)  # one re-fit after a burst of resizes (dies with the window)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(self._fit_columns)
        self.model.modelReset.connect(self._fit_timer.start)

        self.log_pane = LogPane()
        self.splitter = LogSplitter(objectName="mainSplitter")
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.log_pane)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.table.setMinimumHeight(AVATAR_SIZE * 3)
        outer.addWidget(self.splitter, 1)

        progress_row = QHBoxLayout()
        self.overall_label = ElidedLabel("Ready.", objectName="overallLabel")
        self.overall_bar = QProgressBar()
        self.overall_bar.setObjectName("overallProgress")
        self.overall_bar.setAccessibleName("Overall progress")
        self.overall_bar.setRange(0, 1000)
        self.overall_bar.setTextVisible(True)
        self.overall_bar.setFormat("%p%")
        self.overall_bar.setVisible(False)
        progress_row.addWidget(self.overall_label, 1)
        progress_row.addWidget(self.overall_bar, 1)
        outer.addLayout(progress_row)

        buttons = QHBoxLayout()
        self.log_toggle = QToolButton()
        self.log_toggle.setObjectName("logToggle")
        self.log_toggle.setText("Show &Log")
        self.log_toggle.setCheckable(True)
        self.log_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.log_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.log_toggle.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # Tab skips a tool button otherwise
        self.log_toggle.setAccessibleName("Show the log")
        self.log_toggle.toggled.connect(self.set_log_visible)
        self.back_up_selected_button = QPushButton("Back Up &Selected")
        self.back_up_selected_button.setObjectName("backUpSelectedButton")
        self.back_up_all_button = QPushButton("Back Up A&ll")
        self.back_up_all_button.setObjectName("backUpAllButton")
        self.cancel_button = QPushButton("&Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.back_up_selected_button.setDefault(True)
        buttons.addWidget(self.log_toggle)
        self.schedule_label = ElidedLabel(objectName="scheduleLabel")
        self.schedule_label.setToolTip("Scheduled backups run Back Up All (File → Settings…)")
        self.resume_schedule_button = QPushButton("&Resume")
        self.resume_schedule_button.setObjectName("resumeScheduleButton")
        self.resume_schedule_button.setToolTip("Resume scheduled backups")
        self.resume_schedule_button.setVisible(False)
        buttons.addSpacing(12)
        buttons.addWidget(self.schedule_label)
        buttons.addWidget(self.resume_schedule_button)
        buttons.addStretch(1)
        buttons.addWidget(self.back_up_selected_button)
        buttons.addWidget(self.back_up_all_button)
        buttons.addWidget(self.cancel_button)
        outer.addLayout(buttons)
        self.setCentralWidget(central)
        self.log_pane.setVisible(False)

        self.data_dir_label = ElidedLabel(
            f"Data folder: {display_path(self.ctx.config.data_dir)}", objectName="dataDirLabel",
            mode=Qt.TextElideMode.ElideMiddle,
        )
        self.data_dir_label.setToolTip(str(self.ctx.config.data_dir))
        self.statusBar().addPermanentWidget(self.data_dir_label)

        # top to bottom, left to right, as the window reads (hidden or disabled ones are skipped by Qt)
        order = [
            self.choose_data_dir_button,
            self.sign_in_button,
            self.sign_out_button,
            self.filter_edit,
            self.select_all_button,
            self.select_none_button,
            self.refresh_button,
            self.table,
            self.log_pane,
            self.log_toggle,
            self.resume_schedule_button,
            self.back_up_selected_button,
            self.back_up_all_button,
            self.cancel_button,
        ]
        for first, second in itertools.pairwise(order):
            self.setTabOrder(first, second)
        self.setMinimumSize(480, 360)

        self._overall_timer = QTimer(self)
        self._overall_timer.setInterval(250)
        self._clock_timer = QTimer(self)
        self._clock_timer.setInterval(30_000)
        self._clock_timer.timeout.connect(self.model.refresh_times)
        self._clock_timer.start()

    def _data_dir_banner(self) -> QFrame:
        """Shown while the data folder cannot be used: which folder, why, and a way to choose another."""
        self.data_dir_banner = QFrame()
        self.data_dir_banner.setObjectName("dataDirBanner")
        row = QHBoxLayout(self.data_dir_banner)
        row.setContentsMargins(8, 6, 8, 6)
        self.data_dir_banner_label = QLabel()
        self.data_dir_banner_label.setObjectName("dataDirBannerLabel")
        self.data_dir_banner_label.setWordWrap(True)
        self.data_dir_banner_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choose_data_dir_button = QPushButton("Choose Another Fol&der…")
        self.choose_data_dir_button.setObjectName("chooseDataDirButton")
        row.addWidget(self.data_dir_banner_label, 1)
        row.addWidget(self.choose_data_dir_button)
        self.data_dir_banner.setVisible(False)
        return self.data_dir_banner

    def _apply_theme(self) -> None:
        """Colours derived from the current palette with a contrast check (``theme``): the banners, the
        paused schedule line, a stopped bar. Called at start and whenever the palette changes."""
        if getattr(self, "_theming", False) or not hasattr(self, "overall_bar"):
            return
        self._theming = True  # setting a style sheet sends a palette change to the widget itself
        try:
            palette = self.palette()
            if self.demo_banner is not None:
                self.demo_banner.setStyleSheet(banner_sheet(palette, "info", "6px 8px"))
            background, text = banner_colors(palette, "error")
            text = readable(text, background, TEXT_AIM)
            self.data_dir_banner.setStyleSheet(
                f"QFrame#dataDirBanner {{ background: {css(background)}; border-radius: 4px; }}"
                f" QLabel#dataDirBannerLabel {{ color: {css(text)}; }}"
            )
            paused = getattr(self, "_schedule_paused", False)
            window = palette.color(QPalette.ColorRole.Window)
            self.schedule_label.setStyleSheet(
                f"QLabel {{ color: {css(readable(error_color(palette, window), window, TEXT_AIM))}; }}"
                if paused else ""
            )
            edit_palette = self.filter_edit.palette()
            edit_palette.setColor(QPalette.ColorRole.PlaceholderText, placeholder_color(palette))
            self.filter_edit.setPalette(edit_palette)
            self._set_bar_state(str(self.overall_bar.property("stoppedText") or ""))
            self.model.palette_changed()
        finally:
            self._theming = False

    def _set_bar_state(self, stopped: str) -> None:
        """``stopped`` = what the bar says instead of its percentage ("" = running or complete)."""
        self.overall_bar.setFormat(stopped or "%p%")
        self.overall_bar.setProperty("stopped", bool(stopped))
        self.overall_bar.setProperty("stoppedText", stopped)
        palette = self.palette()
        if stopped:
            palette.setColor(QPalette.ColorRole.Highlight, warning_fill(palette))
        self.overall_bar.setPalette(palette)
        self.overall_bar.setToolTip(self.tracker.summary() if stopped else "")

    def set_log_visible(self, visible: bool) -> None:
        self.log_pane.setVisible(visible)
        self.log_toggle.setText("Hide &Log" if visible else "Show &Log")
        self.log_toggle.setAccessibleName("Hide the log" if visible else "Show the log")
        self.log_toggle.setArrowType(Qt.ArrowType.DownArrow if visible else Qt.ArrowType.RightArrow)
        if visible:
            self.splitter.give_way()

    def _fit_columns(self) -> None:
        """Columns that fit the window's width (no sideways scrolling at 800 pixels or less). Each column
        wants its header and its widest text; when that does not fit, the least needed give way first: the
        username (down to a stub), then the headers of the date and count columns (they elide, the values
        stay whole), then the name and the status share what is left (both elide, full text in tooltips)."""
        header = self.table.horizontalHeader()
        available = self.table.viewport().width()
        if available <= 0:
            return
        metrics = self.table.fontMetrics()

        def text(sample: str) -> int:
            return metrics.horizontalAdvance(sample) + 2 * _CELL_MARGIN + 6

        def wanted(col: int, sample: str = "") -> int:
            """As wide as the header, the rows, and ``sample`` (the widest text the column will show)."""
            rows = self.table.sizeHintForColumn(col) + 6
            return max(rows, header.sectionSizeFromContents(col).width() + 6, text(sample) if sample else 0)

        name_full = wanted(COL_NAME)
        widths = {
            COL_USERNAME: min(wanted(COL_USERNAME), max(60, available // 6)),
            COL_LAST: wanted(COL_LAST, "2026-12-31"),
            COL_MEMORIES: wanted(COL_MEMORIES, "88,888 / 88,888"),
        }
        status_min = text("1,100 of 2,600 fetched")
        name_min = min(name_full, text("Dr. Ada Lovelace") + self.table.iconSize().width() + 24)
        shrink = [
            (COL_USERNAME, 60),
            (COL_LAST, text("2026-12-31")),
            (COL_MEMORIES, text("88,888 / 88,888")),
        ]
        for col, least in shrink:  # give way, in this order, until the name and the status have their room
            over = sum(widths.values()) + name_min + status_min - available
            if over <= 0:
                break
            widths[col] = max(least, widths[col] - over)
        rest = available - sum(widths.values())
        # wide: the name as wide as it wants, up to 45 % of the rest; narrow: the two share what there is
        name = min(name_full, max(name_min, int(rest * 0.45)))
        if rest - name < status_min:
            name = max(60, min(name, rest - status_min) if rest - status_min >= name_min else rest // 2)
        widths[COL_NAME] = name
        for col, width in widths.items():
            if header.sectionSize(col) != width:
                header.resizeSection(col, width)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The table's viewport: a new width re-fits the columns (after a burst of resizes, once)."""
        table: QTableView | None = getattr(self, "table", None)
        if (table is not None and watched is table.viewport() and event.type() == QEvent.Type.Resize
                and hasattr(self, "_fit_timer")):
            self._fit_timer.start()
        return super().eventFilter(watched, event)


class ElidedLabel(QLabel):
    """A one-line label that shrinks with the window, eliding its text ("…") instead of widening the window;
    the full text stays its accessible text, and its tooltip when no other is set."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, objectName: str = "",
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight) -> None:
        super().__init__(text, parent)
        if objectName:
            self.setObjectName(objectName)
        self._mode = mode
        self.setTextFormat(Qt.TextFormat.PlainText)
        # as wide as its text when there is room, down to nothing when there is not
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(self.text(), self._mode, rect.width())
        align = int(self.alignment()) if self.alignment() else int(Qt.AlignmentFlag.AlignVCenter)
        self.style().drawItemText(painter, rect, align, self.palette(), self.isEnabled(), shown,
                                  self.foregroundRole())
        painter.end()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and not self.toolTip() and self.elided():
            QToolTip.showText(event.globalPos(), self.text(), self)  # type: ignore[attr-defined]
            return True
        return super().event(event)


class LogSplitter(QSplitter):
    """The table above the log: when the window gets shorter the log gives way first (to a third of the
    height at most), so the table keeps its rows on a small screen."""

    def __init__(self, *, objectName: str = "") -> None:
        super().__init__(Qt.Orientation.Vertical)
        self.setObjectName(objectName)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.give_way()

    def give_way(self) -> None:
        log = self.widget(1) if self.count() > 1 else None
        if log is None or not log.isVisible():
            return
        sizes = self.sizes()
        total = sum(sizes)
        cap = max(log.minimumSizeHint().height(), log.minimumHeight(), total // 3)
        if total > 0 and sizes[1] > cap:
            self.setSizes([total - cap, cap])

