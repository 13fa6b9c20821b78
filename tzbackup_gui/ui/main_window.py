"""The main window: account bar, personalities table, Back Up buttons, progress, log pane."""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QModelIndex,
    QObject,
    QPoint,
    QSettings,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QContextMenuEvent,
    QDesktopServices,
    QIcon,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
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

from ..app import AppContext, SignInResult, data_dir_problem, display_path, where_text
from ..archive.store import ensure_dir
from ..errors import AuthError, TzBackupError
from ..schedule import Clock, system_clock
from ..service.auth import SessionCredential
from .async_slot import async_slot
from .avatars import AVATAR_SIZE, AvatarCache, initials_icon
from .diagnostics import diagnostics_text
from .export_dialog import EXPORT_FORMATS, ExportImport
from .help_viewer import COOKIE_HELP, DOCS_HELP, show_help
from .log_pane import LogPane, PaneHandler
from .notifier import Notifier, NullNotifier
from .personalities_model import (
    COL_LAST,
    COL_MEMORIES,
    COL_NAME,
    COL_STATUS,
    COL_USERNAME,
    COLUMNS,
    PersonalitiesModel,
    PersonalitiesProxy,
    SlugRole,
    merge_rows,
)
from .progress import format_duration, plural
from .progress_delegate import ProgressDelegate
from .run_controller import ERROR_TITLES, RunController
from .scheduler import BackupScheduler
from .settings_dialog import SettingsDialog
from .sign_in_dialog import SignInDialog
from .theme import TEXT_AIM, banner_colors, css, error_color, placeholder_color, readable, warning_fill
from .tray import Tray, make_tray

__all__ = ["MainWindow"]

log = logging.getLogger("tzbackup.ui")

class MainWindow(QMainWindow):
    """Thin face over :class:`AppContext`: renders rows, forwards clicks, shows what the engine reports."""

    quit_requested = Signal()  # an explicit Quit (menu, tray): the app ends even when hidden in the tray

    def __init__(
        self,
        ctx: AppContext,
        *,
        settings: QSettings,
        notifier: Notifier | None = None,
        open_folder: Callable[[Path], None] | None = None,
        icon: QIcon | None = None,
        clock: Clock = system_clock,
        tray: bool = True,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.ctx = ctx
        self.settings = settings
        self.notifier: Notifier = notifier or NullNotifier()
        self.open_folder = open_folder or _open_folder
        self.model = PersonalitiesModel(self)
        self.runs = RunController(ctx, self.model, settings, self, notifier=self.notifier, parent=self)
        self.tracker = self.runs.tracker  # the run's progress, which the rows and the bar show
        self.proxy = PersonalitiesProxy(self)
        self.proxy.setSourceModel(self.model)
        self.avatars = AvatarCache(ctx.config.data_dir / ".cache" / "avatars", ctx.download)
        self.sign_in_dialog: SignInDialog | None = None
        self.message_box: QMessageBox | None = None
        self._avatar_task: asyncio.Task[None] | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._count_task: asyncio.Task[None] | None = None
        #: memory totals shapes.inc told on request (Count Memories), kept across list reloads
        self._counted: dict[str, int] = {}
        self.last_row_menu: QMenu | None = None
        self.help_viewer: Any = None
        self._resume_sign_in_task: asyncio.Task[None] | None = None
        self._restore_checked: set[str] | None = None
        self._remote: list[Any] = []  # the last account list (ShapeSummary), merged with local backups
        self._account_ready = False  # the account list has arrived (the Back Up buttons wait for it)
        #: why the data folder cannot be used ("" when it can): a banner says it, the Back Up buttons wait
        self.data_dir_problem = ""
        self._quitting = False
        self.in_tray = False  # hidden to the tray (closing the window keeps scheduled backups running)
        self.settings_dialog: SettingsDialog | None = None
        self.tray: Tray | None = None
        self.files = ExportImport(self, lambda: self.ctx.config.data_dir, settings)
        self.files.imported.connect(self._on_imported)
        # = the app's display name (``__main__.display_name``), so Qt adds nothing to it
        self.setWindowTitle("tzbackup" + (" — demo" if ctx.config.demo else ""))
        if icon is not None:
            self.setWindowIcon(icon)
        self._schedule_paused = False
        self._build_ui()
        self._build_actions()
        self._apply_theme()
        self._install_log_handler()
        self._restore_settings()
        self._connect_run()
        self.check_data_dir()
        self.scheduler = BackupScheduler(self.runs, settings, hidden=self._hidden, clock=clock, parent=self)
        self.scheduler.status_changed.connect(self._show_schedule_status)
        if tray:
            self.use_tray(make_tray(self.runs, self.scheduler, icon or self.windowIcon(), self))
        # a weak reference: no window <-> context cycle, so the window is never freed by a garbage
        # collection that happens to run in a worker thread (Qt objects must die on the GUI thread)
        update = weakref.WeakMethod(self._update_account)
        self.ctx.on_credential_changed = lambda: _call_weak(update)
        self._update_account()
        self._update_buttons()

    # ================================================================================================
    # construction
    # ================================================================================================

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
        self.sign_in_button.clicked.connect(self.sign_in)
        self.sign_out_button = QPushButton("Sign &Out")
        self.sign_out_button.setObjectName("signOutButton")
        self.sign_out_button.clicked.connect(self.sign_out)
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
        self.refresh_button.clicked.connect(self.refresh)
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
        self.table.doubleClicked.connect(self._browse_row)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._row_menu_at)
        self.table.installEventFilter(self)
        self.table.viewport().installEventFilter(self)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setHighlightSections(False)
        header.setMinimumSectionSize(36)
        header.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.model.dataChanged.connect(self._on_model_changed)
        self.model.modelReset.connect(self._update_buttons)
        # after the reset's avatars are in (they widen the name column's hint)
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
        self.back_up_selected_button.clicked.connect(lambda: self.back_up_selected())
        self.back_up_all_button.clicked.connect(lambda: self.back_up_all())
        self.cancel_button.clicked.connect(lambda: self.cancel_backup())
        buttons.addWidget(self.log_toggle)
        self.schedule_label = ElidedLabel(objectName="scheduleLabel")
        self.schedule_label.setToolTip("Scheduled backups run Back Up All (File → Settings…)")
        self.resume_schedule_button = QPushButton("&Resume")
        self.resume_schedule_button.setObjectName("resumeScheduleButton")
        self.resume_schedule_button.setToolTip("Resume scheduled backups")
        self.resume_schedule_button.clicked.connect(lambda: self._resume_schedule())
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
        self._overall_timer.timeout.connect(self._update_overall)
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
        self.choose_data_dir_button.clicked.connect(lambda: self.choose_data_dir())
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
                background, text = banner_colors(palette, "info")
                text = readable(text, background, TEXT_AIM)
                self.demo_banner.setStyleSheet(
                    f"QLabel {{ background: {css(background)}; color: {css(text)}; padding: 6px 8px;"
                    " border-radius: 4px; }"
                )
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

    def _build_actions(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.sign_in_action = self._action(file_menu, "Sign &In…", self.sign_in, None, "signInAction")
        self.sign_out_action = self._action(file_menu, "Sign &Out", self.sign_out, None, "signOutAction")
        file_menu.addSeparator()
        self.refresh_action = self._action(
            file_menu, "&Refresh", self.refresh, QKeySequence.StandardKey.Refresh, "refreshAction"
        )
        self._action(file_menu, "Open &Data Folder", self._open_data_dir, None, "openDataAction")
        self._action(
            file_menu, "&Browse Backups…", lambda: self.browse_backups(), QKeySequence("Ctrl+Shift+O"),
            "browseAction",
        )
        # acts on the ticked rows, like Back Up Selected; its title says which ("Export Selected (Lilith)")
        self.export_menu = file_menu.addMenu("&Export Selected")
        self.export_menu.setObjectName("exportMenu")
        self.export_actions: dict[str, QAction] = {}
        for fmt, (text, _label, _filter) in EXPORT_FORMATS.items():
            self.export_actions[fmt] = self._action(
                self.export_menu, text, lambda f=fmt: self.export_selected(f), None, f"export_{fmt}Action"
            )
        self.import_action = self._action(
            file_menu, "&Import Backup…", self.import_backup, QKeySequence("Ctrl+I"), "importAction"
        )
        file_menu.addSeparator()
        self.settings_action = self._action(
            file_menu, "Se&ttings…", self.open_settings, QKeySequence("Ctrl+,"), "settingsAction"
        )
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        file_menu.addSeparator()
        self.quit_action = self._action(
            file_menu, "&Quit", self.quit_app, QKeySequence.StandardKey.Quit, "quitAction"
        )
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.refresh_action.setShortcut(QKeySequence("F5"))

        backup_menu = bar.addMenu("&Backup")
        self.back_up_selected_action = self._action(
            backup_menu,
            "Back Up &Selected",
            self.back_up_selected,
            QKeySequence("Ctrl+B"),
            "backUpSelectedAction",
        )
        self.back_up_all_action = self._action(
            backup_menu, "Back Up &All", self.back_up_all, QKeySequence("Ctrl+Shift+B"), "backUpAllAction"
        )
        self.cancel_action = self._action(
            backup_menu, "&Cancel", self.cancel_backup, QKeySequence("Ctrl+."), "cancelAction"
        )
        backup_menu.addSeparator()
        self._action(
            backup_menu,
            "Select A&ll",
            lambda: self.model.set_checked(None),
            QKeySequence("Ctrl+Shift+A"),
            "selectAllAction",
        )
        self._action(
            backup_menu,
            "Select &None",
            lambda: self.model.set_checked(set()),
            QKeySequence("Ctrl+Shift+N"),
            "selectNoneAction",
        )
        self.count_action = self._action(
            backup_menu, "C&ount Memories on shapes.inc", self.count_selected_memories,
            QKeySequence("Ctrl+M"), "countMemoriesAction",
        )
        self.count_action.setToolTip(
            "Ask shapes.inc how many memories the selected personalities have (one request each), "
            "to see how big a first backup will be"
        )
        backup_menu.addSeparator()
        # these act on the highlighted row (the keyboard cursor), and say which
        self.open_backup_action = self._action(
            backup_menu, "Open &Backup Folder", self._open_current, QKeySequence("Ctrl+O"), "openBackupAction"
        )
        self.browse_row_action = self._action(
            backup_menu, "Bro&wse This Backup", self._browse_current, QKeySequence("Ctrl+Return"),
            "browseRowAction",
        )
        backup_menu.aboutToShow.connect(self._update_row_actions)

        view_menu = bar.addMenu("&View")
        self._action(view_menu, "&Filter", self._focus_filter, QKeySequence.StandardKey.Find, "filterAction")
        self.log_action = self._action(view_menu, "Show &Log", None, QKeySequence("Ctrl+L"), "logAction")
        self.log_action.setCheckable(True)
        self.log_action.toggled.connect(self.log_toggle.setChecked)
        self.log_toggle.toggled.connect(self.log_action.setChecked)

        help_menu = bar.addMenu("&Help")
        self._action(
            help_menu, "Getting Your &Cookie", lambda: self.show_help(COOKIE_HELP), None, "cookieHelpAction"
        )
        self._action(
            help_menu, "&Documentation", lambda: self.show_help(DOCS_HELP),
            QKeySequence.StandardKey.HelpContents, "docsAction",
        )
        self._action(
            help_menu, "Copy Dia&gnostics", self.copy_diagnostics, None, "copyDiagnosticsAction"
        ).setToolTip("Versions, folders and the last errors, for a bug report (never your cookie)")
        help_menu.addSeparator()
        self._action(help_menu, "&About tzbackup", self._about, None, "aboutAction")

    def _action(self, menu: Any, text: str, slot: Any, shortcut: Any, name: str) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut is not None:
            action.setShortcut(shortcut if isinstance(shortcut, QKeySequence) else QKeySequence(shortcut))
        if slot is not None:
            action.triggered.connect(lambda _checked=False, s=slot: s())
        menu.addAction(action)
        self.addAction(action)
        return action

    def _install_log_handler(self) -> None:
        self._log_handler = PaneHandler(self.log_pane, self.ctx.secrets)
        for name in ("tzbackup", "tzbackup_gui"):
            logger = logging.getLogger(name)
            logger.addHandler(self._log_handler)
            if logger.level == logging.NOTSET or logger.level > logging.INFO:
                logger.setLevel(logging.INFO)

    def remove_log_handler(self) -> None:
        for name in ("tzbackup", "tzbackup_gui"):
            logging.getLogger(name).removeHandler(self._log_handler)

    # ================================================================================================
    # settings
    # ================================================================================================

    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if (
            isinstance(geometry, QByteArray | bytes) and not self.restoreGeometry(QByteArray(geometry))
        ) or not isinstance(geometry, QByteArray | bytes):
            self.resize(1000, 640)
        # only the sort order is kept: the column widths follow the window (see _fit_columns)
        sort = str(self.settings.value("table/sort", "") or "").split(",")
        if len(sort) == 2 and all(part.isdigit() for part in sort) and int(sort[0]) < len(COLUMNS):
            self.table.sortByColumn(int(sort[0]), Qt.SortOrder(int(sort[1])))
        splitter = self.settings.value("window/splitter")
        if isinstance(splitter, QByteArray | bytes):
            self.splitter.restoreState(QByteArray(splitter))
        self.log_toggle.setChecked(str(self.settings.value("window/log_visible", "false")).lower() == "true")
        checked = self.settings.value("table/checked")
        if checked is not None:
            items = [checked] if isinstance(checked, str) else list(checked)
            self._restore_checked = {str(s) for s in items if s}

    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        header = self.table.horizontalHeader()
        self.settings.setValue(
            "table/sort", f"{header.sortIndicatorSection()},{header.sortIndicatorOrder().value}"
        )
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.setValue("window/log_visible", self.log_toggle.isChecked())
        self.settings.setValue("table/checked", self.model.checked_slugs())
        self.settings.sync()

    # ================================================================================================
    # start-up, account
    # ================================================================================================

    async def start(self) -> None:
        """Show the local backups at once, then load the saved credential (or ask for one) and merge the
        account list when the service answers: a slow network never leaves the table empty."""
        _freeze_startup_heap()
        credential = asyncio.ensure_future(self.ctx.load_saved_credential())
        try:
            local = await self._read_local()
            self._show_local(local, provisional=self._maybe_signed_in(credential))
            signed_in = await credential
        finally:
            if not credential.done():
                credential.cancel()
        self.scheduler.start()
        if not signed_in:
            await self._load(account=False, local=local)
            self.overall_label.setText("Not signed in. Sign in to see your personalities.")
            await self._ask_sign_in()
            return
        await self._load(account=True, local=local)

    def _maybe_signed_in(self, loading: asyncio.Future[bool]) -> bool:
        """While the keyring is read: is a sign-in likely (a credential set, or one may be stored)?"""
        if self.ctx.credential is not None:
            return True
        if loading.done():
            return not loading.cancelled() and loading.exception() is None and bool(loading.result())
        return not self.ctx.config.demo and self.ctx.store.available()

    def _update_account(self) -> None:
        ctx = self.ctx
        if ctx.credential is None:
            self.account_label.setText(
                "<b>Not signed in.</b> Use <i>Sign In…</i> with your shapes.inc session cookie."
            )
        else:
            user = ctx.user or {}
            who = user.get("displayName") or user.get("username") or "checking…"
            handle = f" (@{user['username']})" if user.get("username") and user.get("displayName") else ""
            where = f" · session cookie {where_text(ctx.location)}" if ctx.location else ""
            self.account_label.setText(f"Signed in as <b>{_esc(str(who))}</b>{_esc(handle)}{_esc(where)}")
        signed_in = ctx.credential is not None
        self.sign_out_button.setVisible(signed_in and not ctx.config.demo)
        self.sign_out_action.setEnabled(signed_in and not ctx.config.demo)
        self.sign_in_button.setText("Sign &In Again…" if signed_in else "Sign &In…")
        self.sign_in_button.setVisible(not ctx.config.demo)
        self.sign_in_action.setEnabled(not ctx.config.demo)
        self._update_buttons()

    async def _sign_in_fn(self, credential: SessionCredential, session_only: bool) -> SignInResult:
        return await self.ctx.sign_in(credential, session_only=session_only)

    async def _ask_sign_in(self, resume_prompt: str = "") -> bool:
        """Open the sign-in dialog (``open``, not ``exec``) and wait; True when a new cookie is in use."""
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.raise_()
            return False
        dialog = SignInDialog(
            self._sign_in_fn,
            keyring_available=self.ctx.store.available() and not self.ctx.config.demo,
            keyring_name=self.ctx.store.describe_location() if self.ctx.store.available() else "",
            resume_prompt=resume_prompt,
            parent=self,
        )
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def finished(code: int) -> None:
            if not done.done():
                done.set_result(code)

        dialog.finished.connect(finished)
        self.sign_in_dialog = dialog
        dialog.open()
        try:
            code = await done
        finally:
            self.sign_in_dialog = None
            dialog.deleteLater()
        ok = code == SignInDialog.DialogCode.Accepted and dialog.result_info is not None
        if ok:
            self._update_account()
            if not resume_prompt:
                await self._load(account=True)
        return ok

    @async_slot()
    async def sign_in(self) -> None:
        await self._ask_sign_in()

    @async_slot()
    async def sign_out(self) -> None:
        if self.ctx.running:
            self.statusBar().showMessage("Cancel the backup before signing out.", 5000)
            return
        await self.ctx.sign_out()
        self._update_account()
        await self._load(account=False)

    # ================================================================================================
    # loading the table
    # ================================================================================================

    @async_slot()
    async def refresh(self) -> None:
        self.check_data_dir()
        if self.ctx.running:
            await self.reload_local()
            return
        await self._load(account=self.ctx.credential is not None)

    async def _load(self, *, account: bool, local: list[Any] | None = None) -> None:
        """Local backups first (read off the GUI thread), then the account list merged in when it arrives.

        The two reads run at the same time; the table shows the local rows as soon as they are read, so
        a slow service delays only the merge, never the list.
        """
        account = account and self.ctx.credential is not None
        self.overall_label.setText("Loading…")
        remote_task = asyncio.ensure_future(self._fetch_account()) if account else None
        try:
            if local is None:
                local = await self._read_local()
            if remote_task is None or not remote_task.done():
                self._show_local(local, provisional=account)
            if remote_task is None:
                self._remote = []
                self._account_ready = False
                self._apply_rows(merge_rows([], local))
                self.overall_label.setText("Not signed in.")
                return
            remote = await remote_task
        except AuthError as err:
            log.warning("The service did not accept the saved session: %s", err.message)
            self.overall_label.setText("Your session has ended. Sign in again.")
            self._account_ready = False
            self._apply_rows(merge_rows([], local or []))
            await self._ask_sign_in()
            return
        except TzBackupError as err:
            log.warning("Could not list your personalities: %s", err.message)
            self._account_ready = False
            self._apply_rows(merge_rows([], local or []))
            self.overall_label.setText("Could not reach your account; showing the local backups.")
            self.show_error(type(err).__name__, err.message, err.hint)
            return
        finally:
            if remote_task is not None and not remote_task.done():
                remote_task.cancel()
        self._remote = remote
        self._account_ready = True
        self._apply_rows(merge_rows(remote, local))
        n = len(self.model.owned_slugs())
        self.overall_label.setText(f"{n} personalit{'y' if n == 1 else 'ies'} on your account.")

    async def _fetch_account(self) -> list[Any]:
        """The signed-in user (once) and the account's personalities: two requests."""
        if self.ctx.user is None:
            await self.ctx.fetch_user()
            self._update_account()
        return await self.ctx.list_account()

    async def _read_local(self) -> list[Any]:
        """The local backups' metadata (``list_backups`` in a worker thread)."""
        try:
            return await self.ctx.list_local()
        except TzBackupError as err:
            log.warning("Could not read the local backups: %s", err.message)
            return []
        except OSError as err:  # an unreadable data folder: the banner says why
            log.warning("Could not read the local backups: %s", err.strerror or type(err).__name__)
            return []

    def _show_local(self, local: list[Any], *, provisional: bool) -> None:
        """Rows from the local metadata while the account list is on its way.

        ``provisional``: a sign-in is (probably) in place, so the backed-up personalities are shown as
        the account's until the service says otherwise (after a refresh, the last known account list is
        merged instead). The Back Up buttons wait for the real list.
        """
        if provisional and not self._remote:
            rows = merge_rows([], local)
            for row in rows:
                row.on_account = True
            self._account_ready = False
        else:
            rows = merge_rows(self._remote if provisional else [], local)
        self._apply_rows(rows, fetch_avatars=False)
        if provisional:
            n = len(rows)
            self.overall_label.setText(
                f"{n} local backup{'' if n == 1 else 's'} shown · checking your account…"
            )

    def _apply_rows(self, rows: list[Any], *, fetch_avatars: bool = True) -> None:
        for row in rows:  # a total counted on request stands until a backup brings its own
            if row.server_total is None and row.slug in self._counted and row.on_account:
                row.server_total = self._counted[row.slug]
        self.model.set_rows(rows)
        for row in rows:
            self.model.set_avatar(row.slug, initials_icon(row.display_name))
        if self._restore_checked is not None and any(r.on_account for r in rows):
            self.model.set_checked(self._restore_checked)
            self._restore_checked = None
        if fetch_avatars:
            self._start_avatars()
        self._update_buttons()

    async def reload_local(self) -> None:
        """After a run: new last-backup times and counts from the archive, account rows unchanged."""
        try:
            local = await self.ctx.list_local()
        except (TzBackupError, OSError):
            return
        remote_rows = [r for r in self.model.rows() if r.on_account]
        by_slug = {getattr(b, "slug", ""): b for b in local}
        by_id = {getattr(b, "shape_id", ""): b for b in local if getattr(b, "shape_id", "")}
        for row in remote_rows:
            backup = by_id.get(row.shape_id) or by_slug.get(row.slug)
            if backup is None:
                continue
            fresh = merge_rows([_Summary(row)], [backup])[0]
            self.model.update_row(
                row.slug,
                folder=fresh.folder,
                last_backup=fresh.last_backup,
                total_memories=fresh.total_memories,
                # the archive was just written: a total the service no longer reports is not kept
                server_total=fresh.server_total,
                live_at_last_full_walk=fresh.live_at_last_full_walk,
                last_status=fresh.last_status,
                pending_resume=fresh.pending_resume,
                unfinished_fetched=fresh.unfinished_fetched,
                problem=fresh.problem,
                failed_sections=fresh.failed_sections,
            )
            if fresh.pending_resume and self.tracker.kept(row.slug, fresh.unfinished_fetched):
                self.model.mark_dirty({row.slug})
        self.model.flush()

    def _start_avatars(self) -> None:
        if self._avatar_task is not None and not self._avatar_task.done():
            self._avatar_task.cancel()
        self._avatar_task = asyncio.ensure_future(self._load_avatars())

    async def _load_avatars(self) -> None:
        """Cached avatars at once; missing ones fetched one by one (paced), never during a backup."""
        pending = []
        for row in self.model.rows():
            if not row.avatar_url:
                continue
            icon = self.avatars.cached(row.avatar_url)
            if icon is not None:
                self.model.set_avatar(row.slug, icon)
            else:
                pending.append(row)
        for row in pending:
            if self.ctx.running or self.ctx.credential is None:
                return
            icon = await self.avatars.fetch(row.avatar_url)
            if icon is not None:
                self.model.set_avatar(row.slug, icon)

    # ================================================================================================
    # backups
    # ================================================================================================

    def back_up_selected(self) -> None:
        slugs = self.model.checked_slugs()
        if not slugs:
            self.statusBar().showMessage("Check the personalities to back up first.", 5000)
            return
        self.runs.start(slugs)

    def back_up_all(self) -> None:
        self.runs.start(None)

    @property
    def running(self) -> bool:
        """True from the click until the run has settled (see :class:`RunController`)."""
        return self.runs.running

    @property
    def settling(self) -> bool:
        """The last run's task is still finishing (reloading rows, showing its outcome, asking to sign in)."""
        return self.runs.settling

    @property
    def last_error(self) -> str:
        """The kind of the last problem the user was told about (for Copy Diagnostics)."""
        return self.runs.last_error

    @last_error.setter
    def last_error(self, kind: str) -> None:
        self.runs.last_error = kind

    def cancel_backup(self) -> None:
        self.runs.cancel()

    def _connect_run(self) -> None:
        """The run's signals: what it shows in the window (rows repaint through the model)."""
        self.runs.starting.connect(self._on_run_starting)
        self.runs.running_changed.connect(self._set_running)
        self.runs.state_changed.connect(self._update_buttons)
        self.runs.status_text.connect(self.overall_label.setText)
        self.runs.stopped.connect(self._update_tray)
        self.runs.refused.connect(self._show_refusal)
        self.runs.error_found.connect(self.show_error)
        self.runs.close_requested.connect(self.close)

    def _on_run_starting(self, _slugs: object, _scheduled: bool) -> None:
        if self._avatar_task is not None and not self._avatar_task.done():
            self._avatar_task.cancel()
        self.message_box = None

    def _show_refusal(self, text: str) -> None:
        self.statusBar().showMessage(text, 5000)

    async def sign_in_after_run(self, scheduled: bool) -> bool:
        """The session ended during a run (``RunHost``): True when a new sign-in lets the run go on."""
        if scheduled and self.scheduler.waiting_for_sign_in:
            # hidden in the tray / minimised: no dialog out of nowhere. The scheduler paused and
            # notified; the dialog opens when the user opens the window (or clicks the notification).
            log.info("The session ended during a scheduled backup; waiting for a new sign-in")
            if self.isVisible() and not self.isMinimized() and not self.in_tray:
                self._ask_sign_in_for_schedule()
            return False
        return await self._ask_sign_in(
            "Your shapes.inc session ended during the backup. Everything fetched so far is saved. "
            "Sign in again with a fresh cookie and the backup resumes where it stopped."
        )

    def _hidden(self) -> bool:
        """Nobody looks at the window: hidden in the tray, closed to the tray, or minimised."""
        return bool(self.in_tray or not self.isVisible() or self.isMinimized())

    def show_error(self, kind: str, message: str, hint: str) -> None:
        self.last_error = kind
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            ERROR_TITLES.get(kind, "Backup problem"),
            message,
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.setObjectName("errorBox")
        if hint:
            box.setInformativeText(hint)
        self.message_box = box
        box.open()

    def _set_running(self, running: bool) -> None:
        """The overall bar: the run's progress while it runs (from what a resumed walk already has); after
        it, 100 % only for a complete run, else where it stopped, in amber, saying why ("Stopped: you are
        offline", "Cancelled")."""
        self.overall_bar.setVisible(running or self.overall_bar.value() > 0 or bool(self.tracker.rows))
        if running:
            self._set_bar_state("")
            self.overall_bar.setValue(0)
            self._update_overall()
            self._overall_timer.start()
        else:
            self._overall_timer.stop()
            self._update_overall()
            text = self.tracker.bar_text()
            self._set_bar_state(text)
            if not text:
                self.overall_bar.setValue(self.overall_bar.maximum())
        self._update_buttons()

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

    def _update_overall(self) -> None:
        self.overall_bar.setValue(round(self.tracker.fraction() * 1000))
        if self.tracker.running and not self.runs.cancel_requested:
            self.overall_label.setText(self.tracker.summary())
            eta = self.tracker.eta_seconds()
            if eta is not None:
                self.overall_bar.setToolTip(f"About {format_duration(eta)} left at the current pace")

    def _ready_to_back_up(self) -> bool:
        signed_in = self.ctx.credential is not None
        return signed_in and not self.running and self._account_ready and not self.data_dir_problem

    def _update_buttons(self) -> None:
        running = self.running
        ready = self._ready_to_back_up()
        can_selected = ready and bool(self.model.checked_slugs())
        can_all = ready and bool(self.model.owned_slugs())
        self.back_up_selected_button.setEnabled(can_selected)
        self.back_up_selected_action.setEnabled(can_selected) if hasattr(
            self, "back_up_selected_action"
        ) else None
        self.back_up_all_button.setEnabled(can_all)
        if hasattr(self, "back_up_all_action"):
            self.back_up_all_action.setEnabled(can_all)
            self.cancel_action.setEnabled(running and not self.runs.cancel_requested)
        self.cancel_button.setEnabled(running and not self.runs.cancel_requested)
        self.refresh_button.setEnabled(not running)
        self.sign_out_button.setEnabled(not running)
        if hasattr(self, "export_menu"):
            self._update_row_actions()
        self._update_tray()

    def _on_model_changed(
        self, top: QModelIndex, bottom: QModelIndex, roles: list[int] | None = None
    ) -> None:
        if roles and Qt.ItemDataRole.CheckStateRole in roles:
            self._update_buttons()

    # ================================================================================================
    # small actions
    # ================================================================================================

    def _show_schedule_status(self, text: str) -> None:
        """ "Next backup: …" / "Scheduled backups paused after 3 failures: … [Resume]" in the window."""
        schedule = self.scheduler.schedule
        paused = schedule.active and (self.scheduler.state.paused or self.scheduler.waiting_for_sign_in)
        shown = text if schedule.active else ""
        metrics = self.schedule_label.fontMetrics()
        self.schedule_label.setText(metrics.elidedText(shown, Qt.TextElideMode.ElideRight, 520))
        self.schedule_label.setToolTip(shown or "Scheduled backups run Back Up All (File → Settings…)")
        self._schedule_paused = paused
        self._apply_theme()
        self.resume_schedule_button.setVisible(paused)
        waiting = self.scheduler.waiting_for_sign_in
        self.resume_schedule_button.setText("Sign &In…" if waiting else "&Resume")
        self.resume_schedule_button.setToolTip(
            "Sign in again to resume scheduled backups" if waiting else "Resume scheduled backups"
        )
        self._update_tray()

    def _resume_schedule(self) -> None:
        """Resume: a new sign-in when the session ended, else lift the pause after repeated failures."""
        if self.scheduler.waiting_for_sign_in:
            self._ask_sign_in_for_schedule()
        else:
            self.scheduler.resume()

    def _update_tray(self, summary: str = "") -> None:
        if self.tray is not None:
            self.tray.update_status(summary)

    def open_settings(self) -> None:
        """File → Settings… (non-modal ``open``; changes apply when the dialog is accepted)."""
        if self.settings_dialog is not None:
            self.settings_dialog.raise_()
            self.settings_dialog.activateWindow()
            return
        dialog = SettingsDialog(self)
        dialog.finished.connect(self._settings_closed)
        self.settings_dialog = dialog
        dialog.open()

    def _settings_closed(self, _code: int) -> None:
        dialog, self.settings_dialog = self.settings_dialog, None
        if dialog is not None:
            dialog.deleteLater()

    def set_data_dir(self, data_dir: Path) -> str:
        """Switch to another data folder (Settings, the banner): new avatar cache, status bar, rows reloaded.

        Returns why the folder cannot be used ("" when the switch happened); the current folder is then
        kept, nothing else changes."""
        if self.running:
            raise RuntimeError("cannot switch the data folder during a backup")
        problem = data_dir_problem(data_dir)
        if not problem:
            try:
                ensure_dir(data_dir)
            except TzBackupError as err:
                problem = str(err)
        if problem:
            log.warning("Data folder %s not used: %s", display_path(data_dir), problem)
            return problem
        self.ctx.config.data_dir = data_dir
        self.avatars = AvatarCache(data_dir / ".cache" / "avatars", self.ctx.download)
        log.info("Data folder: %s", display_path(data_dir))
        self.check_data_dir()
        self.refresh()
        return ""

    def check_data_dir(self) -> str:
        """Whether the data folder can be used now: the banner, the status bar and the buttons follow.
        Called at start-up, on a folder change and on every refresh (a drive may have been plugged in)."""
        data_dir = self.ctx.config.data_dir
        problem = data_dir_problem(data_dir)
        if problem != self.data_dir_problem:
            if problem:
                log.warning("The data folder %s cannot be used: %s", display_path(data_dir), problem)
            elif self.data_dir_problem:
                log.info("The data folder %s can be used again", display_path(data_dir))
        self.data_dir_problem = problem
        self.data_dir_banner_label.setText(
            f"<b>The data folder {_esc(display_path(data_dir))} cannot be used:</b> {_esc(problem)}.<br>"
            "Backing up is off until you choose another folder (or fix this one and press F5)."
            if problem else ""
        )
        self.data_dir_banner.setVisible(bool(problem))
        self.avatars.writable = not problem
        self.data_dir_label.setText(
            f"Data folder: {display_path(data_dir)}" + (" (cannot be used)" if problem else "")
        )
        self.data_dir_label.setToolTip(str(data_dir) + (f"\n{problem}" if problem else ""))
        self._update_buttons()
        return problem

    def choose_data_dir(self) -> None:
        """The banner's button: Settings, with the data folder field ready to change."""
        self.open_settings()
        dialog = self.settings_dialog
        if dialog is not None:
            dialog.focus_data_dir()

    def use_tray(self, tray: Tray | None) -> None:
        """Show the app in this tray icon (None: no tray); its Open, Quit and clicks come back here."""
        self.tray = tray
        if tray is not None:
            tray.open_requested.connect(self.show_from_tray)
            tray.quit_requested.connect(self.quit_app)
            tray.clicked.connect(self._tray_clicked)

    def _tray_clicked(self) -> None:
        if self.isVisible() and not self.in_tray:
            self.activateWindow()
        else:
            self.show_from_tray()

    def show_from_tray(self) -> None:
        """The tray's Open (or a click on its notification): bring the window back; when scheduled
        backups wait for a new sign-in, ask for it now that the user is looking."""
        self.in_tray = False
        self.showNormal()
        self.raise_()
        self.activateWindow()
        self._ask_sign_in_for_schedule()

    def changeEvent(self, event: QEvent) -> None:
        """Restoring a minimised window also opens a pending sign-in for the schedule; a new palette (the
        desktop switched to dark, or to high contrast) recolours what is derived from it."""
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_theme()
        if event.type() == QEvent.Type.WindowStateChange and not self.isMinimized() and self.isVisible():
            QTimer.singleShot(0, self._ask_sign_in_for_schedule)

    def _ask_sign_in_for_schedule(self) -> None:
        """Open the sign-in dialog when a scheduled run stopped for an ended session (once at a time)."""
        if not self.scheduler.waiting_for_sign_in or self.sign_in_dialog is not None or self.running:
            return
        if self._resume_sign_in_task is not None and not self._resume_sign_in_task.done():
            return
        self._resume_sign_in_task = asyncio.ensure_future(self._sign_in_for_schedule())

    async def _sign_in_for_schedule(self) -> None:
        ok = await self._ask_sign_in(
            "Your shapes.inc session ended during a scheduled backup, so scheduled backups are paused. "
            "Everything fetched so far is saved. Sign in again with a fresh cookie: the backup resumes "
            "where it stopped and the schedule goes on."
        )
        if ok:
            log.info("Signed in again: resuming the scheduled backup")
            self.scheduler.signed_in_again()

    def quit_app(self) -> None:
        """An explicit Quit (menu, Ctrl+Q, tray): close for good, also with a schedule and a tray."""
        self._quitting = True
        if self.in_tray and self.running:
            self.show_from_tray()  # "Stop the backup?" needs the window
        self.close()

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

    def _focus_filter(self) -> None:
        self.filter_edit.setFocus()
        self.filter_edit.selectAll()

    def _open_row(self, index: QModelIndex) -> None:
        slug = index.data(SlugRole)
        row = self.model.row_for(str(slug)) if slug else None
        if row is None:
            return
        if row.folder is None or not row.folder.exists():
            self.statusBar().showMessage(f"{row.display_name} has no local backup yet.", 5000)
            return
        self.open_folder(row.folder)

    def browse_backups(self, folder: str | None = None) -> None:
        """Open the offline browser on the data dir (on one personality when ``folder`` is given)."""
        from .browser_window import BrowserWindow

        self.browser = BrowserWindow()
        self.browser.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.browser.open_folder(self.ctx.config.data_dir, select=folder)
        self.browser.show()

    def _current_row(self) -> Any:
        """The highlighted row (the keyboard cursor), or None."""
        slug = self.table.currentIndex().data(SlugRole)
        return self.model.row_for(str(slug)) if slug else None

    def _ticked_rows(self) -> list[Any]:
        return [row for slug in self.model.checked_slugs() if (row := self.model.row_for(slug)) is not None]

    def export_selected(self, fmt: str) -> bool:
        """File → Export Selected: the ticked rows' backups as ``zip`` / ``markdown`` / ``card`` (one file
        dialog for one, a folder for several)."""
        return self.export_rows(self._ticked_rows(), fmt)

    def export_rows(self, rows: list[Any], fmt: str) -> bool:
        if not rows:
            self.statusBar().showMessage("Select (tick) the personalities to export first.", 5000)
            return False
        backed_up = [r for r in rows if r.folder is not None and r.folder.exists()]
        missing = [r.display_name for r in rows if r not in backed_up]
        if not backed_up:
            names = " and ".join(missing[:2]) + (f" and {len(missing) - 2} more" if len(missing) > 2 else "")
            have = "has" if len(missing) == 1 else "have"
            self.statusBar().showMessage(f"{names} {have} no local backup yet.", 5000)
            return False
        if len(rows) == 1:
            row = backed_up[0]
            return self.files.export(row.folder, fmt, row.display_name)
        return self.files.export_many([(r.folder, r.display_name) for r in backed_up], fmt, skipped=missing)

    def import_backup(self) -> bool:
        """File → Import Backup…: an exported zip, verified, merged into the data folder."""
        if self.running:
            self.statusBar().showMessage("Wait for the backup to finish before importing.", 5000)
            return False
        return self.files.import_zip()

    def _on_imported(self, _result: Any) -> None:
        self.refresh()

    def _browse_row(self, index: QModelIndex) -> None:
        row = self.model.row_for(str(index.data(SlugRole) or ""))
        if row is not None and row.folder is not None and row.folder.exists():
            self.browse_backups(row.folder.name)
        elif row is not None:
            self.statusBar().showMessage(f"{row.display_name} has no local backup yet.", 5000)

    def _open_current(self) -> None:
        self._open_row(self.table.currentIndex())

    def _browse_current(self) -> None:
        index = self.table.currentIndex()
        if index.isValid():
            self._browse_row(index)
        else:
            self.statusBar().showMessage("Highlight a personality first (the arrows move in the list).", 5000)

    def _update_row_actions(self) -> None:
        """The menu entries that act on the highlighted row name it; the export menu names the ticked rows."""
        row = self._current_row()
        name = f" of “{_menu_text(row.display_name)}”" if row is not None else ""
        self.open_backup_action.setText(f"Open &Backup Folder{name}")
        self.open_backup_action.setEnabled(row is not None)
        self.browse_row_action.setText(
            f"Bro&wse the Backup{name}" if row is not None else "Bro&wse This Backup"
        )
        self.browse_row_action.setEnabled(row is not None)
        ticked = self._ticked_rows()
        self.export_menu.setTitle(f"&Export Selected ({_who(ticked)})" if ticked else "&Export Selected")
        self.export_menu.setEnabled(bool(ticked))
        self.export_menu.setToolTip("" if ticked else "Tick the personalities to export first")
        self.count_action.setText(
            f"C&ount Memories on shapes.inc ({_who(ticked)})" if ticked else "C&ount Memories on shapes.inc"
        )
        self.count_action.setEnabled(bool(ticked) and self.ctx.credential is not None and not self.running)

    # --- the table from the keyboard, and its row menu ---------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The table: Space ticks the highlighted row, Return browses it, the Menu key and Shift+F10 open its
        menu (at the row, not at the pointer); on focus a row is highlighted so the focus shows. Its
        viewport's width re-fits the columns."""
        table: QTableView | None = getattr(self, "table", None)
        if table is not None and watched is table:
            if event.type() == QEvent.Type.KeyPress and self._table_key(event):  # type: ignore[arg-type]
                event.accept()
                return True
            menu_key = event.type() == QEvent.Type.ContextMenu and isinstance(event, QContextMenuEvent)
            if menu_key and event.reason() == QContextMenuEvent.Reason.Keyboard:  # type: ignore[attr-defined]
                # the Menu key (Qt sends it as a context menu event): the highlighted row's menu, at that row
                self._row_menu_for_current()
                event.accept()
                return True
            focus_in = event.type() == QEvent.Type.FocusIn
            if focus_in and not table.currentIndex().isValid() and self.proxy.rowCount() > 0:
                table.setCurrentIndex(self.proxy.index(0, COL_NAME))
        elif (table is not None and watched is table.viewport() and event.type() == QEvent.Type.Resize
              and hasattr(self, "_fit_timer")):
            self._fit_timer.start()
        return super().eventFilter(watched, event)

    def _table_key(self, event: QKeyEvent) -> bool:
        key, mods = event.key(), event.modifiers()
        plain = mods in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
        index = self.table.currentIndex()
        if key == Qt.Key.Key_Space and plain:
            self.toggle_row(index)
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and plain and index.isValid():
            self._browse_row(index)
            return True
        if key == Qt.Key.Key_F10 and mods == Qt.KeyboardModifier.ShiftModifier:  # the Menu key's twin
            self._row_menu_for_current()
            return True
        return False

    def toggle_row(self, index: QModelIndex) -> None:
        """Tick or untick the row of ``index`` (Space), whichever column the cursor is in."""
        if not index.isValid():
            return
        source = self.proxy.mapToSource(self.proxy.index(index.row(), COL_NAME))
        row = self.model.row_for(str(source.data(SlugRole) or ""))
        if row is None:
            return
        if not row.on_account:
            self.statusBar().showMessage(
                f"{row.display_name} is no longer on your account, so it cannot be backed up.", 5000
            )
            return
        state = Qt.CheckState.Unchecked if row.checked else Qt.CheckState.Checked
        self.model.setData(source, state.value, Qt.ItemDataRole.CheckStateRole)

    def _row_menu_at(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        self.table.setCurrentIndex(index)
        self.row_menu(index).popup(self.table.viewport().mapToGlobal(pos))

    def _row_menu_for_current(self) -> None:
        index = self.table.currentIndex()
        if not index.isValid():
            return
        rect = self.table.visualRect(index)
        self.table.scrollTo(index)
        self.row_menu(index).popup(self.table.viewport().mapToGlobal(rect.bottomLeft()))

    def row_menu(self, index: QModelIndex) -> QMenu:
        """The right-click (or Menu key) menu of a row. It acts on that row, or on all the ticked rows when
        the row is one of several ticked; every entry says which."""
        row = self.model.row_for(str(index.data(SlugRole) or ""))
        menu = QMenu(self)
        menu.setObjectName("rowMenu")
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.last_row_menu = menu
        if row is None:
            return menu
        ticked = self._ticked_rows()
        rows = ticked if row.checked and len(ticked) > 1 else [row]
        who = _who(rows)
        ready = self._ready_to_back_up()
        owned = [r.slug for r in rows if r.on_account]

        def add(text: str, slot: Callable[[], object], name: str, enabled: bool = True) -> QAction:
            action = menu.addAction(text)
            action.setObjectName(name)
            action.setEnabled(enabled)
            action.triggered.connect(lambda _checked=False: slot())
            return action

        add(f"&Back Up {who}", lambda: self.runs.start(owned), "rowBackUpAction", ready and bool(owned))
        single = len(rows) == 1
        has_backup = row.folder is not None and row.folder.exists()
        this = _who([row])  # what only one row can do: always the row under the menu, named
        add(f"Bro&wse the Backup of {this}", lambda: self._browse_row(index), "rowBrowseAction", has_backup)
        add(f"Open the Backup &Folder of {this}", lambda: self._open_row(index), "rowOpenFolderAction",
            has_backup)
        export = menu.addMenu(f"&Export {who}")
        export.setObjectName("rowExportMenu")
        for fmt, (text, _label, _filter) in EXPORT_FORMATS.items():
            action = export.addAction(text)
            action.setObjectName(f"rowExport_{fmt}Action")
            action.triggered.connect(lambda _checked=False, f=fmt: self.export_rows(rows, f))
        export.setEnabled(any(r.folder is not None and r.folder.exists() for r in rows))
        menu.addSeparator()
        add(f"C&ount Memories of {who}", lambda: self.count_memories(owned), "rowCountAction",
            bool(owned) and self.ctx.credential is not None and not self.running)
        if single and row.on_account:
            add("Untick" if row.checked else "Tick for Back Up Selected", lambda: self.toggle_row(index),
                "rowTickAction")
        copy = QApplication.clipboard().setText
        add(f"Copy the &Username ({_menu_text(row.slug)})", lambda: copy(row.slug), "rowCopyUsernameAction")
        return menu

    def _open_data_dir(self) -> None:
        data_dir = self.ctx.config.data_dir
        problem = self.check_data_dir()
        if not problem:
            try:
                ensure_dir(data_dir)  # not there yet (nothing backed up): made private, as a backup would
            except TzBackupError as err:
                problem = str(err)
        if problem:
            self.statusBar().showMessage(f"Cannot open {display_path(data_dir)}: {problem}.", 8000)
            return
        self.open_folder(data_dir)

    def show_help(self, link: str = DOCS_HELP) -> None:
        """Help → Documentation / Getting Your Cookie: the README in the app, at that section."""
        self.help_viewer = show_help(self, link)

    def copy_diagnostics(self) -> str:
        """Help → Copy Diagnostics: versions, folders, settings and the last errors on the clipboard, for a
        bug report. Never the cookie (nor anything else the app knows as secret: all of it is redacted)."""
        text = diagnostics_text(
            self.runs, self.settings, scheduler=self.scheduler, data_dir_problem=self.data_dir_problem,
            problems=list(self._log_handler.problems),
        )
        QApplication.clipboard().setText(text)
        self.statusBar().showMessage(
            "Diagnostics copied to the clipboard (no cookie in them). Paste them into your bug report.", 8000
        )
        return text

    def count_selected_memories(self) -> None:
        """Backup → Count Memories: for the ticked rows."""
        slugs = [r.slug for r in self._ticked_rows() if r.on_account]
        if not slugs:
            self.statusBar().showMessage("Select (tick) the personalities to count first.", 5000)
            return
        self.count_memories(slugs)

    def count_memories(self, slugs: list[str]) -> bool:
        """Ask shapes.inc how many memories these personalities have: one small request each (a page of one
        memory; its pagination says the total), paced like a backup. Only on demand: the account list has no
        counts, and a request per personality at every start would cost a large account a minute of
        requests. A service that does not say a total leaves "—"."""
        if self.running or self.ctx.credential is None:
            self.statusBar().showMessage(
                "Wait for the backup to finish." if self.running else "Sign in first.", 5000
            )
            return False
        if self._count_task is not None and not self._count_task.done():
            self.statusBar().showMessage("Already counting…", 3000)
            return False
        self._count_task = asyncio.ensure_future(self._count(slugs))
        return True

    async def _count(self, slugs: list[str]) -> None:
        told = unknown = 0
        for i, slug in enumerate(slugs, 1):
            row = self.model.row_for(slug)
            if row is None or not row.shape_id:
                continue
            if self.running:  # a backup started meanwhile: it reports the totals itself
                break
            self.overall_label.setText(f"Counting memories on shapes.inc: {i} of {len(slugs)}…")
            try:
                total = await self.ctx.count_memories(row.shape_id)
            except TzBackupError as err:
                log.warning("Could not count the memories of %s: %s", slug, err.message)
                self.overall_label.setText(f"Could not count the memories: {err.message}")
                return
            if total is None:
                unknown += 1
                continue
            told += 1
            self._counted[slug] = total
            self.model.update_row(slug, server_total=total)
        self.model.flush()
        if not self.running:
            parts = [f"Counted the memories of {plural(told, 'personality', 'personalities')}"]
            if unknown:
                parts.append(f"shapes.inc did not say for {unknown}")
            self.overall_label.setText("; ".join(parts) + ".")
        log.info("Counted memories on shapes.inc: %d told, %d not told", told, unknown)

    def _about(self) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "About tzbackup",
            "<b>tzbackup</b><br>Back up your shapes.inc personalities and their long-term "
            "memories to local JSON files, incrementally.<br><br>Your session cookie stays in "
            "your system keyring and is only ever sent to shapes.inc.",
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.setObjectName("aboutBox")
        self.message_box = box
        box.open()

    # ================================================================================================
    # closing
    # ================================================================================================

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing during a backup asks first, then cancels cleanly and closes when the run has stopped.

        With a schedule and a system tray, closing the window hides it to the tray (said once) so scheduled
        backups keep running; Quit (menu, Ctrl+Q, tray) ends the app.
        """
        if not self._quitting and self._hide_to_tray():
            event.ignore()
            return
        if self.running:
            event.ignore()
            if self.runs.close_after_run:
                return
            box = QMessageBox(
                QMessageBox.Icon.Question,
                "Stop the backup?",
                "A backup is running. Stop it and quit? Everything fetched so far is kept, and "
                "the next backup resumes where this one stopped.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                self,
            )
            box.setObjectName("confirmQuitBox")
            _name_button(box, QMessageBox.StandardButton.Yes, "&Stop Backup and Quit")
            _name_button(box, QMessageBox.StandardButton.No, "&Keep Running")
            box.setDefaultButton(QMessageBox.StandardButton.No)
            box.finished.connect(self._confirm_quit)
            self.message_box = box
            box.open()
            return
        self.save_settings()
        for task in (self._avatar_task, self._refresh_task):
            if task is not None and not task.done():
                task.cancel()
        self._clock_timer.stop()
        self.scheduler.stop()
        if self.tray is not None:
            self.tray.hide()
        self.remove_log_handler()
        self.in_tray = False
        event.accept()
        if self._quitting:
            self.quit_requested.emit()

    def _hide_to_tray(self) -> bool:
        """Hide instead of closing when a schedule is on and a tray icon exists; tell the user once."""
        if self.tray is None or not self.scheduler.schedule.active or not self.tray.visible():
            return False
        self.save_settings()
        self.in_tray = True
        self.hide()
        if str(self.settings.value("tray/told", "false")).lower() != "true":
            self.settings.setValue("tray/told", True)
            self.notifier.notify(
                "tzbackup keeps running",
                "Scheduled backups run while tzbackup is in the tray. Use Quit in the tray menu to stop.",
            )
        return True

    def _confirm_quit(self, code: int) -> None:
        if code != QMessageBox.StandardButton.Yes.value:
            self._quitting = False
        if code == QMessageBox.StandardButton.Yes.value:
            self._quitting = True
            self.runs.stop_and_close()
            self.overall_label.setText("Stopping the backup…")


class _Summary:
    """Adapter so :func:`merge_rows` can re-merge one existing row with fresh local data."""

    def __init__(self, row: Any) -> None:
        self.id, self.name, self.username, self.avatar = (
            row.shape_id,
            row.display_name,
            row.slug,
            row.avatar_url,
        )


_heap_frozen = False


def _freeze_startup_heap() -> None:
    """Move the objects start-up built (Qt bindings, modules, the window) out of the collector's reach.

    A full (generation 2) collection walks every tracked object while holding the GIL, whichever thread
    triggers it: with the start-up heap included it froze the event loop for 25-40 ms (up to 100 ms on a
    loaded machine) several times per large backup. Frozen, a full pass only walks what the run created.
    Once per process: freezing again later would also pin the garbage cycles of finished runs.
    """
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.freeze()


def _call_weak(method: weakref.WeakMethod[Callable[[], None]]) -> None:
    bound = method()
    if bound is not None:
        bound()


def _open_folder(path: Path) -> None:
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


#: the margin Qt's item views leave on each side of a cell's text (used to size columns for their widest text)
_CELL_MARGIN = 4


def _name_button(box: QMessageBox, which: QMessageBox.StandardButton, text: str) -> None:
    """A message box's button says what it does ("Stop Backup and Quit"), not Yes/No."""
    button = box.button(which)
    if button is not None:
        button.setText(text)


def _menu_text(text: str) -> str:
    """Text shown in a menu entry as it is ("&" is a mnemonic there)."""
    return text.replace("&", "&&")


def _who(rows: list[Any]) -> str:
    """ "“Lilith”" for one row, "3 Selected" for several: what a menu entry acts on."""
    if len(rows) == 1:
        return f"“{_menu_text(rows[0].display_name)}”"
    return f"{len(rows)} Selected"


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
